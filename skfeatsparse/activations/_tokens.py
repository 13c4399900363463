"""Tokens in, rows out: one batch at a time, and where each row comes from.

The calls activation extraction makes on a loaded tokenizer and model:
tokenize without padding, choose the positions that become rows, run one
right-padded batch under ``torch.inference_mode()`` and pick out its rows.
``TokenProvenance`` records which text and which token each row comes from
(the paper's Appendix G "max activating tokens"). torch is imported inside the
functions, so importing this module stays cheap.
"""

import inspect
from dataclasses import dataclass, fields
from numbers import Integral

import numpy as np

from ._sites import capture_sites, site_rows


def tokenize(tokenizer, texts, *, max_length=None, offsets=False):
    """Token ids and special-token masks of ``texts``, no padding.

    Texts are plain text: a ``"[SEP]"`` or ``"<s>"`` typed in one is split into
    ordinary tokens (``split_special_tokens=True``), never read as the
    tokenizer's special token; only the tokenizer's own special tokens
    (``[CLS] ... [SEP]``) are marked special. Texts longer than
    ``max_length`` tokens are truncated (special tokens kept). Returns the
    encoding as a dict of lists and the number of texts truncated, which only
    a second look at the long ones can tell; a text the tokenizer cannot
    shorten to ``max_length`` is a ValueError.
    """
    kwargs = dict(
        add_special_tokens=True,
        return_special_tokens_mask=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        split_special_tokens=True,
        verbose=False,
    )
    if offsets and getattr(tokenizer, "is_fast", False):
        kwargs["return_offsets_mapping"] = True
    enc = dict(tokenizer(list(texts), truncation=False, **kwargs))
    lengths = [len(ids) for ids in enc["input_ids"]]
    long = [i for i, n in enumerate(lengths) if max_length and n > max_length]
    if long:  # only these are tokenized again, truncated
        short = tokenizer(
            [texts[i] for i in long], truncation=True, max_length=max_length, **kwargs
        )
        for j, i in enumerate(long):
            if len(short["input_ids"][j]) > max_length:
                raise ValueError(
                    f"the tokenizer could not truncate text {i} ({texts[i]!r:.50}, "
                    f"{lengths[i]} tokens) to max_length={max_length} tokens: it "
                    f"adds {tokenizer.num_special_tokens_to_add(pair=False)} "
                    "special tokens to every text. Use a max_length at least "
                    "one more than that."
                )
            for key in enc:
                enc[key][i] = short[key][j]
    return enc, len(long)


def keep_positions(enc, include_special_tokens=False):
    """Per text, the token positions that become rows."""
    if include_special_tokens:
        return [np.arange(len(ids)) for ids in enc["input_ids"]]
    return [np.flatnonzero(np.asarray(m) == 0) for m in enc["special_tokens_mask"]]


def pad_token_id(tokenizer):
    """The id to pad with: pad, else eos (GPT-2 has no pad token), else 0.

    Any valid id will do: padding is masked and never becomes a row.
    """
    for pad in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if pad is not None:
            return int(pad)


def hidden_states(model, input_ids, attention_mask):
    """All hidden states of one padded batch, under ``torch.inference_mode()``."""
    import torch

    # Encoder-decoder models (T5, BART): the encoder's hidden states.
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    kwargs = {"output_hidden_states": True, "return_dict": True}
    if "use_cache" in inspect.signature(model.forward).parameters:
        kwargs["use_cache"] = False  # no key/value cache needed
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(
            input_ids=torch.as_tensor(input_ids, device=device),
            attention_mask=torch.as_tensor(attention_mask, device=device).long(),
            **kwargs,
        )
    if getattr(out, "hidden_states", None) is None:
        raise TypeError(
            f"{type(model).__name__} returned no hidden_states with "
            "output_hidden_states=True; pass a base model (AutoModel), not a "
            "pipeline or a model without hidden states."
        )
    return out.hidden_states


def pad_batch(input_ids, keep, pad_id):
    """Right-padded ``(ids, attention mask, kept)`` arrays of token-id lists.

    ``kept[j, t]`` marks the positions ``keep[j]`` that become rows.
    """
    n_texts, width = len(input_ids), max(map(len, input_ids))
    ids = np.full((n_texts, width), pad_id, np.int64)
    mask = np.zeros((n_texts, width), np.int64)
    kept = np.zeros((n_texts, width), bool)
    for j, (seq, pos) in enumerate(zip(input_ids, keep)):
        ids[j, : len(seq)] = seq
        mask[j, : len(seq)] = 1
        kept[j, pos] = True
    return ids, mask, kept


def batch_rows(model, input_ids, keep, layers, *, pooling=None, pad_id=0):
    """Rows of each layer (an int) or site (a module path) for one batch.

    Sequences are right-padded and masked, so a causal model's real tokens
    never see padding and a bidirectional one's attention ignores it;
    ``keep[j]`` lists the positions of text ``j`` that become rows.
    """
    import torch

    ids, mask, kept = pad_batch(input_ids, keep, pad_id)
    n_texts, width = ids.shape
    # Hidden states by index, sites (module paths, str) by forward hook.
    sites = [key for key in layers if isinstance(key, str)]
    with capture_sites(model, sites) as captured:
        hidden = hidden_states(model, ids, mask)
    kept = torch.as_tensor(kept, device=hidden[0].device)
    rows = {}
    for layer in layers:
        if isinstance(layer, str):
            h = site_rows(layer, captured[layer], n_texts, width)
        else:
            h = hidden[layer]
        if pooling is None:
            r = h[kept]  # row-major: text by text, token by token
        elif pooling == "mean":
            weights = kept.unsqueeze(-1).float()
            r = (h.float() * weights).sum(1) / weights.sum(1)
        else:
            pos = [p[0] if pooling == "first" else p[-1] for p in keep]
            pos = torch.as_tensor(pos, device=h.device)
            r = h[torch.arange(n_texts, device=h.device), pos]
        rows[layer] = np.ascontiguousarray(r.float().cpu().numpy())
    return rows


@dataclass(frozen=True, eq=False)
class TokenProvenance:
    """Where each activation row comes from: arrays aligned with the rows.

    Attributes
    ----------
    text_index : ndarray of int64
        Index of the row's text in ``X``.
    position : ndarray of int64
        Position of the token in the tokenized sequence (special tokens
        included), -1 for ``pooling="mean"``.
    token_id : ndarray of int64
        The token's id, -1 for ``pooling="mean"``.
    token : ndarray of str objects
        The tokenizer's string for the token (e.g. ``"##ing"``, ``"Ġthe"``),
        ``""`` for ``pooling="mean"``.
    start, end : ndarray of int64
        Character span of the token in its text (``text[start:end]``); -1
        where the tokenizer gives no offsets (slow tokenizers, special tokens
        have ``start == end``) or for ``pooling="mean"``.

    Examples
    --------
    >>> prov = act.provenance(texts)  # doctest: +SKIP
    >>> prov[0]  # doctest: +SKIP
    {'text_index': 0, 'position': 1, 'token_id': 1996, 'token': 'the', ...}
    >>> prov.to_frame().head()  # doctest: +SKIP
    """

    text_index: np.ndarray
    position: np.ndarray
    token_id: np.ndarray
    token: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def __len__(self):
        return len(self.text_index)

    def __getitem__(self, key):
        """One row as a dict of scalars, or a slice/mask/index as a new record."""
        if isinstance(key, Integral):
            row = {f: getattr(self, f)[key] for f in self._names()}
            return {f: v if f == "token" else int(v) for f, v in row.items()}
        return TokenProvenance(**{f: getattr(self, f)[key] for f in self._names()})

    @classmethod
    def _names(cls):
        return [f.name for f in fields(cls)]

    def to_dict(self):
        """The arrays as a dict, e.g. for ``pandas.DataFrame(prov.to_dict())``."""
        return {f: getattr(self, f) for f in self._names()}

    def to_frame(self):
        """The arrays as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    @classmethod
    def concat(cls, parts):
        """Concatenate records, in order."""
        names = cls._names()
        return cls(**{f: np.concatenate([getattr(p, f) for p in parts]) for f in names})

    @classmethod
    def from_encoding(cls, tokenizer, pooling, enc, keep, text_index):
        """Provenance of tokenized texts; ``keep`` lists each text's row positions."""
        if pooling is not None:
            pick = {"mean": slice(0, 0), "first": slice(0, 1), "last": slice(-1, None)}
            keep = [p[pick[pooling]] for p in keep]
        counts = [len(p) if pooling is None else 1 for p in keep]
        n_rows = sum(counts)
        position, token_id, start, end = np.full((4, n_rows), -1, np.int64)
        offsets = enc.get("offset_mapping")
        row = 0
        for j, (pos, n) in enumerate(zip(keep, counts)):
            if len(pos):
                position[row : row + n] = pos
                token_id[row : row + n] = np.asarray(enc["input_ids"][j])[pos]
                if offsets is not None:
                    span = np.asarray(offsets[j], np.int64).reshape(-1, 2)[pos]
                    start[row : row + n], end[row : row + n] = span[:, 0], span[:, 1]
            row += n
        token = np.full(len(token_id), "", dtype=object)
        known = token_id >= 0
        token[known] = tokenizer.convert_ids_to_tokens(token_id[known].tolist())
        text_index = np.repeat(np.asarray(text_index, np.int64), counts)
        return cls(text_index, position, token_id, token, start, end)
