"""How a corpus goes through the model: planned, batched by length, reordered.

:class:`Extraction` holds what extraction needs (model, tokenizer and the
batching settings) and does the work for :class:`TransformerActivations`, the
on-disk cache and the dask graph alike: count each text's rows in a cheap
tokenizer-only pass (checking every text and warning about truncation once),
sort texts into batches of similar length to cut padding, run the batches and
write each text's rows at its offset, so the output follows the texts' order
whatever the batch order; windows of texts for streaming; provenance.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from ._sites import match_sites
from ._tokens import (
    TokenProvenance,
    batch_rows,
    keep_positions,
    pad_token_id,
    tokenize,
)

TOKENIZE_CHUNK = 1024  # texts tokenized per call in the planning pass
WINDOW_BATCHES = 16  # streaming sorts windows of this many batches by length


def normalize_layers(layers, n_hidden_states):
    """``[(given, index in range(n_hidden_states))]``, or a clear error."""
    n = n_hidden_states
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


def ordered_keys(pairs):
    """The distinct keys of ``pairs``: layers (ints) ascending, then sites (paths)."""
    keys = list(dict.fromkeys(n for _, n in pairs))
    layers = sorted(k for k in keys if not isinstance(k, str))
    return layers + [k for k in keys if isinstance(k, str)]


@dataclass(frozen=True, eq=False)
class Extraction:
    """A loaded model and tokenizer with the settings that say how to batch them.

    Build it from a fitted ``TransformerActivations`` with :meth:`of`.
    """

    model: object
    tokenizer: object
    n_hidden_states: int
    hidden_size: int
    max_length: int
    batch_size: int
    pooling: str
    include_special_tokens: bool
    verbose: bool
    # Output width of each site (module path) used so far, probed on first use.
    site_widths: dict = field(default_factory=dict)

    @classmethod
    def of(cls, transformer):
        """The extraction of a fitted ``TransformerActivations`` (its public state)."""
        return cls(
            model=transformer.model_,
            tokenizer=transformer.tokenizer_,
            n_hidden_states=transformer.n_hidden_states_,
            hidden_size=transformer.hidden_size_,
            max_length=transformer.max_length_,
            batch_size=transformer.batch_size,
            pooling=transformer.pooling,
            include_special_tokens=transformer.include_special_tokens,
            verbose=transformer.verbose,
            site_widths=dict(getattr(transformer, "site_sizes_", {})),
        )

    @property
    def window_texts(self):
        """Texts per streaming window: ``WINDOW_BATCHES * batch_size``."""
        return WINDOW_BATCHES * self.batch_size

    def normalize_layers(self, layers):
        """``[(given, index in range(n_hidden_states))]``, or a clear error."""
        return normalize_layers(layers, self.n_hidden_states)

    def normalize_sites(self, sites):
        """``[(path, path)]`` for the modules the patterns ``sites`` name.

        Unknown patterns are a ValueError naming close matches; the output
        width of each new site is probed with one tiny forward pass.
        """
        names = match_sites(self.model, sites)
        new = [name for name in names if name not in self.site_widths]
        if new:
            pad = pad_token_id(self.tokenizer)
            rows = batch_rows(self.model, [[pad, pad]], [np.arange(2)], new)
            self.site_widths.update({n: int(rows[n].shape[1]) for n in new})
        return [(name, name) for name in names]

    def normalize(self, layers=None, sites=None):
        """The pairs of ``layers`` (hidden-state indices) and ``sites`` together."""
        pairs = [] if layers is None else self.normalize_layers(layers)
        return pairs + ([] if sites is None else self.normalize_sites(sites))

    def width(self, key):
        """Output columns of a layer (the hidden size) or a site (probed)."""
        if not isinstance(key, str):
            return self.hidden_size
        if key not in self.site_widths:
            self.normalize_sites(key)
        return self.site_widths[key]

    def tokenize(self, texts, offsets=False):
        """Encoding, row positions per text, and how many were truncated."""
        enc, n_truncated = tokenize(
            self.tokenizer, texts, max_length=self.max_length, offsets=offsets
        )
        return enc, keep_positions(enc, self.include_special_tokens), n_truncated

    def _provenance(self, enc, keep, text_index):
        return TokenProvenance.from_encoding(
            self.tokenizer, self.pooling, enc, keep, text_index
        )

    def plan(self, texts):
        """Rows and sequence length per text; warns once about truncation."""
        counts = np.empty(len(texts), np.int64)
        lengths = np.empty(len(texts), np.int64)
        n_truncated = 0
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            enc, keep, n_long = self.tokenize(texts[start : start + TOKENIZE_CHUNK])
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
                f"max_length={self.max_length} tokens and were truncated; their "
                "later tokens give no rows. Split long texts, or raise max_length "
                "(up to the model's limit).",
                UserWarning,
                stacklevel=3,
            )
        return counts, lengths

    def sorted_batches(self, ids, lengths):
        # Longest first: similar lengths share a batch (little padding), and an
        # out-of-memory error shows up in the first batch, not the last.
        order = np.asarray(ids)[np.argsort(-lengths, kind="stable")]
        starts = range(0, len(order), self.batch_size)
        return [order[i : i + self.batch_size] for i in starts]

    def progress_bar(self, n_texts):
        from tqdm.auto import tqdm

        return tqdm(total=n_texts, unit="text", disable=not self.verbose)

    def iter_forward(self, texts, layers, batches, with_provenance=False, bar=None):
        """Yield ``(text indices, {layer: rows}, provenance)`` per batch."""
        pad_id = pad_token_id(self.tokenizer)
        for idx in batches:
            enc, keep, _ = self.tokenize([texts[i] for i in idx], with_provenance)
            rows = batch_rows(
                self.model,
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

    def rows_in_order(self, texts, ids, pairs, counts, lengths, bar=None):
        """``{key: rows}`` (layers, sites) of the texts ``ids`` (a range), in order."""
        wanted = ordered_keys(pairs)
        ids = np.arange(ids.start, min(ids.stop, len(texts)))
        offsets = np.concatenate([[0], np.cumsum(counts[ids])])
        out = {n: np.empty((offsets[-1], self.width(n)), np.float32) for n in wanted}
        batches = self.sorted_batches(ids, lengths[ids])
        for idx, rows, _ in self.iter_forward(texts, wanted, batches, bar=bar):
            # Batches run in length order; each text's rows go to its offset.
            ranges = [np.arange(offsets[i], offsets[i + 1]) for i in idx - ids[0]]
            dest = np.concatenate(ranges)
            for n in wanted:
                out[n][dest] = rows[n]
        return out

    def windows(self, texts, pairs, counts, lengths, bar=None):
        """Yield ``(ids, {layer: rows})`` for consecutive windows of texts.

        A window is ``WINDOW_BATCHES * batch_size`` texts, sorted by length
        into batches and put back in order: memory is one window's rows,
        whatever the corpus length. ``ids`` is the window's range of texts.
        """
        for start in range(0, len(texts), self.window_texts):
            ids = range(start, min(start + self.window_texts, len(texts)))
            yield ids, self.rows_in_order(texts, ids, pairs, counts, lengths, bar)

    def provenance_of(self, texts, ids):
        """:class:`TokenProvenance` of the texts ``ids`` (a range)."""
        ids = np.arange(ids.start, min(ids.stop, len(texts)))
        enc, keep, _ = self.tokenize([texts[i] for i in ids], offsets=True)
        return self._provenance(enc, keep, ids)
