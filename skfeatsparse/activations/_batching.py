"""How a corpus goes through the model: planned, batched by length, reordered.

The internals of :class:`TransformerActivations`, kept apart from its public
methods: count each text's rows in a cheap tokenizer-only pass (checking every
text and warning about truncation once), sort texts into batches of similar
length to cut padding, run the batches and write each text's rows at its
offset, so the output follows the texts' order whatever the batch order.
"""

import warnings
from numbers import Integral

import numpy as np

from ._tokens import (
    TokenProvenance,
    batch_rows,
    keep_positions,
    pad_token_id,
    tokenize,
)

_TOKENIZE_CHUNK = 1024  # texts tokenized per call in the planning pass


class _BatchedExtraction:
    """Mixin: extraction internals over a fitted ``TransformerActivations``.

    Needs the fitted ``model_``, ``tokenizer_``, ``n_hidden_states_``,
    ``hidden_size_`` and ``max_length_``, and the parameters ``batch_size``,
    ``pooling``, ``include_special_tokens`` and ``verbose``.
    """

    def _normalize_layers(self, layers):
        """``[(given, index in range(n_hidden_states_))]``, or a clear error."""
        n = self.n_hidden_states_
        if layers is None:
            layers = range(n)
        elif isinstance(layers, Integral):
            layers = [layers]
        pairs = []
        for layer in layers:
            if not isinstance(layer, Integral) or isinstance(layer, bool):
                raise TypeError(f"layer indices must be ints, got {layer!r}.")
            if not -n <= layer < n:
                raise ValueError(
                    f"layer={layer} is out of range: the model has {n} hidden "
                    f"states (0 = embedding output, {n - 1} = last layer); use an "
                    f"index in [{-n}, {n - 1}]."
                )
            pairs.append((int(layer), int(layer) % n))
        if not pairs:
            raise ValueError("layers is empty; name at least one layer.")
        return pairs

    def _tokenize(self, texts, offsets=False):
        """Encoding, row positions per text, and how many were truncated."""
        enc, n_truncated = tokenize(
            self.tokenizer_, texts, max_length=self.max_length_, offsets=offsets
        )
        return enc, keep_positions(enc, self.include_special_tokens), n_truncated

    def _provenance(self, enc, keep, text_index):
        return TokenProvenance.from_encoding(
            self.tokenizer_, self.pooling, enc, keep, text_index
        )

    def _plan(self, texts):
        """Rows and sequence length per text; warns once about truncation."""
        counts = np.empty(len(texts), np.int64)
        lengths = np.empty(len(texts), np.int64)
        n_truncated = 0
        for start in range(0, len(texts), _TOKENIZE_CHUNK):
            enc, keep, n_long = self._tokenize(texts[start : start + _TOKENIZE_CHUNK])
            n_truncated += n_long
            for j, (ids, kept) in enumerate(zip(enc["input_ids"], keep)):
                if len(kept) == 0:
                    raise ValueError(
                        f"X[{start + j}] ({texts[start + j]!r:.50}) has no tokens "
                        "left once special tokens are dropped; remove it or set "
                        "include_special_tokens=True."
                    )
                counts[start + j] = len(kept) if self.pooling is None else 1
                lengths[start + j] = len(ids)
        if n_truncated:
            warnings.warn(
                f"{n_truncated} of {len(texts)} texts were longer than "
                f"max_length={self.max_length_} tokens and were truncated; their "
                "later tokens give no rows. Split long texts, or raise max_length "
                "(up to the model's limit).",
                UserWarning,
                stacklevel=3,
            )
        return counts, lengths

    def _sorted_batches(self, ids, lengths):
        # Longest first: similar lengths share a batch (little padding), and an
        # out-of-memory error shows up in the first batch, not the last.
        order = np.asarray(ids)[np.argsort(-lengths, kind="stable")]
        starts = range(0, len(order), self.batch_size)
        return [order[i : i + self.batch_size] for i in starts]

    def _progress_bar(self, n_texts):
        from tqdm.auto import tqdm

        return tqdm(total=n_texts, unit="text", disable=not self.verbose)

    def _iter_forward(self, texts, layers, batches, with_provenance=False, bar=None):
        """Yield ``(text indices, {layer: rows}, provenance)`` per batch."""
        pad_id = pad_token_id(self.tokenizer_)
        for idx in batches:
            enc, keep, _ = self._tokenize([texts[i] for i in idx], with_provenance)
            rows = batch_rows(
                self.model_,
                enc["input_ids"],
                keep,
                layers,
                pooling=self.pooling,
                pad_id=pad_id,
            )
            prov = self._provenance(enc, keep, idx) if with_provenance else None
            if bar is not None:
                bar.update(len(idx))
            yield idx, rows, prov

    def _rows_in_order(self, texts, ids, pairs, counts, lengths, bar=None):
        """``{layer: rows}`` of the texts ``ids`` (a range), in text order."""
        wanted = sorted({n for _, n in pairs})
        ids = np.arange(ids.start, min(ids.stop, len(texts)))
        offsets = np.concatenate([[0], np.cumsum(counts[ids])])
        shape = (offsets[-1], self.hidden_size_)
        out = {n: np.empty(shape, np.float32) for n in wanted}
        batches = self._sorted_batches(ids, lengths[ids])
        for idx, rows, _ in self._iter_forward(texts, wanted, batches, bar=bar):
            # Batches run in length order; each text's rows go to its offset.
            ranges = [np.arange(offsets[i], offsets[i + 1]) for i in idx - ids[0]]
            dest = np.concatenate(ranges)
            for n in wanted:
                out[n][dest] = rows[n]
        return out

    def _provenance_of(self, texts, ids):
        ids = np.arange(ids.start, min(ids.stop, len(texts)))
        enc, keep, _ = self._tokenize([texts[i] for i in ids], offsets=True)
        return self._provenance(enc, keep, ids)
