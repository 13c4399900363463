"""Activations extracted once to disk, memory-mapped, with their provenance.

``cache_activations`` extracts a corpus once into ``.npy`` files (the rows of
each layer and their :class:`TokenProvenance`); ``ActivationCache`` reads them
back as ``np.memmap`` arrays and streams row batches for ``partial_fit``, so
neither step needs the corpus's activations in memory.
"""

import hashlib
import json
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._corpus import check_texts
from ._tokens import TokenProvenance

_FORMAT = 1
_INT_FIELDS = ("text_index", "position", "token_id", "start", "end")


def _fingerprint(texts):
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode() + b"\n")
    return digest.hexdigest()


def _layer_file(layer):
    return f"layer_{layer:03d}.npy"


class _NpyWriter:
    """A preallocated ``.npy`` file written by row blocks (no array in memory)."""

    def __init__(self, path, shape, dtype):
        header = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
        self._offset = header.offset
        self._dtype = np.dtype(dtype)
        self._row_bytes = self._dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
        del header
        self._file = open(path, "r+b")

    def write(self, row, block):
        self._file.seek(self._offset + row * self._row_bytes)
        self._file.write(np.ascontiguousarray(block, dtype=self._dtype).tobytes())

    def close(self):
        self._file.close()


def cache_activations(transformer, X, path, *, layers=None, overwrite=False):
    """Extract activations once into memory-mapped ``.npy`` files.

    A first pass tokenizes the texts to count the rows, so each file is
    preallocated; batches (sorted by length, as in ``transform``) then write
    their rows in place. Memory stays that of one batch, whatever the corpus
    length. The rows are exactly those of ``transformer.transform(X)``.

    Parameters
    ----------
    transformer : TransformerActivations
        Fitted in place first (loading the model) if it is not fitted yet.
    X : list of str
        The texts.
    path : str or path-like
        A directory to create (or an empty one). It receives
        ``layer_<i>.npy`` per layer, one ``.npy`` per provenance field,
        ``tokens.json`` and ``metadata.json``.
    layers : list of int or None, default=None
        Hidden states to store, all from one forward pass; ``None`` stores
        ``transformer.layer``.
    overwrite : bool, default=False
        Replace an existing cache at ``path``.

    Returns
    -------
    cache : ActivationCache
        The cache, opened for reading.

    Examples
    --------
    >>> act = TransformerActivations("default")  # doctest: +SKIP
    >>> cache = cache_activations(act, texts, "acts", layers=range(7))  # doctest: +SKIP
    >>> for X_batch in cache.iter_batches(layer=3, batch_size=4096):  # doctest: +SKIP
    ...     dictionary.partial_fit(X_batch)
    """
    texts = check_texts(X)
    try:
        check_is_fitted(transformer)
    except NotFittedError:
        transformer.fit()
    if layers is None:
        layers = [transformer.layer_]
    pairs = transformer._normalize_layers(layers)
    wanted = sorted({n for _, n in pairs})
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{str(path)!r} is not empty; open an existing cache with "
                "ActivationCache(path), pass overwrite=True, or choose a new directory."
            )
        if not (path / "metadata.json").is_file():
            raise FileExistsError(
                f"{str(path)!r} holds files that are not an activation cache; "
                "refusing to overwrite them. Choose a new directory."
            )
        for old in path.iterdir():
            if old.suffix in {".npy", ".json"}:
                old.unlink()
    path.mkdir(parents=True, exist_ok=True)

    counts, lengths = transformer._plan(texts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_rows = int(offsets[-1])
    metadata = {
        "format": _FORMAT,
        "complete": False,
        "model": str(getattr(transformer.model_, "name_or_path", "")),
        "layers": wanted,
        "default_layer": transformer.layer_,
        "n_hidden_states": transformer.n_hidden_states_,
        "n_rows": n_rows,
        "n_texts": len(texts),
        "hidden_size": transformer.hidden_size_,
        "pooling": transformer.pooling,
        "include_special_tokens": transformer.include_special_tokens,
        "max_length": transformer.max_length_,
        "texts_sha1": _fingerprint(texts),
    }
    (path / "metadata.json").write_text(json.dumps(metadata, indent=2))
    shape = (n_rows, transformer.hidden_size_)
    writers = {n: _NpyWriter(path / _layer_file(n), shape, np.float32) for n in wanted}
    for f in _INT_FIELDS:
        writers[f] = _NpyWriter(path / f"{f}.npy", (n_rows,), np.int64)
    vocab = {}
    batches = transformer._sorted_batches(range(len(texts)), lengths)
    try:
        with transformer._progress_bar(len(texts)) as bar:
            forward = transformer._iter_forward(texts, wanted, batches, True, bar)
            for idx, rows, prov in forward:
                blocks = {**rows, **{f: getattr(prov, f) for f in _INT_FIELDS}}
                row = 0
                for i in idx:  # each text's rows are one block at its offset
                    for key, writer in writers.items():
                        writer.write(offsets[i], blocks[key][row : row + counts[i]])
                    row += counts[i]
                vocab.update(zip(prov.token_id.tolist(), prov.token.tolist()))
    finally:
        for writer in writers.values():
            writer.close()
    vocab.pop(-1, None)
    tokens = {str(k): v for k, v in sorted(vocab.items())}  # ids in ascending order
    (path / "tokens.json").write_text(json.dumps(tokens))
    metadata["complete"] = True
    (path / "metadata.json").write_text(json.dumps(metadata, indent=2))
    return ActivationCache(path)


class ActivationCache:
    """Activations written by :func:`cache_activations`, memory-mapped.

    Parameters
    ----------
    path : str or path-like
        The cache directory.

    Attributes
    ----------
    path : pathlib.Path
        The directory.
    metadata : dict
        What was extracted: model, layers, pooling, row and text counts, ...
    layers : tuple of int
        The stored hidden-state indices (non-negative).

    Examples
    --------
    >>> cache = ActivationCache("acts")  # doctest: +SKIP
    >>> X = cache[-1]  # np.memmap of shape (n_rows, hidden_size)  # doctest: +SKIP
    """

    def __init__(self, path):
        self.path = Path(path)
        meta_file = self.path / "metadata.json"
        if not meta_file.is_file():
            raise FileNotFoundError(
                f"no activation cache at {str(self.path)!r} (metadata.json is "
                "missing); create one with cache_activations(transformer, X, path)."
            )
        self.metadata = json.loads(meta_file.read_text())
        if self.metadata.get("format") != _FORMAT or not self.metadata.get("complete"):
            raise ValueError(
                f"the activation cache at {str(self.path)!r} is incomplete or of an "
                "unknown format (was extraction interrupted?); rebuild it with "
                "cache_activations(..., overwrite=True)."
            )
        self.layers = tuple(self.metadata["layers"])

    def __len__(self):
        return self.metadata["n_rows"]

    def __repr__(self):
        m = self.metadata
        return (
            f"ActivationCache({str(self.path)!r}: {m['n_rows']} rows x "
            f"{m['hidden_size']}, layers {list(self.layers)}, model {m['model']!r})"
        )

    def _layer_index(self, layer):
        if layer is None:
            layer = self.metadata["default_layer"]
        n = self.metadata["n_hidden_states"]
        valid = isinstance(layer, Integral) and -n <= layer < n
        if not valid or layer % n not in self.layers:
            raise KeyError(
                f"layer {layer!r} is not in this cache; it holds layers "
                f"{list(self.layers)} (of {n} hidden states). Re-extract with "
                "cache_activations(..., layers=[...])."
            )
        return int(layer) % n

    def __getitem__(self, layer):
        """The activations of ``layer``, a read-only ``np.memmap``."""
        return np.load(self.path / _layer_file(self._layer_index(layer)), mmap_mode="r")

    @property
    def provenance(self):
        """:class:`TokenProvenance` of the rows (integer arrays memory-mapped)."""
        arrays = {
            f: np.load(self.path / f"{f}.npy", mmap_mode="r") for f in _INT_FIELDS
        }
        vocab = json.loads((self.path / "tokens.json").read_text())
        keys = np.array([int(k) for k in vocab], dtype=np.int64)  # sorted on write
        names = np.array([""] + list(vocab.values()), dtype=object)
        ids = np.asarray(arrays["token_id"])
        # Row i's token: the string stored for its id; "" where the id is -1.
        token = names[np.where(ids >= 0, np.searchsorted(keys, ids) + 1, 0)]
        return TokenProvenance(token=token, **arrays)

    def iter_batches(
        self, layer=None, *, batch_size=4096, shuffle=False, random_state=None
    ):
        """Yield the rows of ``layer`` in batches, as in-memory float32 arrays.

        Parameters
        ----------
        layer : int or None, default=None
            A stored layer; ``None`` is the transformer's ``layer`` at caching.
        batch_size : int, default=4096
            Rows per batch (the last one may be smaller).
        shuffle : bool, default=False
            Visit the batches (contiguous blocks of rows) in random order.
        random_state : int, RandomState instance or None, default=None
            Seed of the shuffle.

        Yields
        ------
        X_batch : ndarray of shape (<= batch_size, hidden_size), dtype float32
        """
        if not isinstance(batch_size, Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        path = self.path / _layer_file(self._layer_index(layer))
        data = np.load(path, mmap_mode="r")
        offset, (n_rows, width), dtype = data.offset, data.shape, data.dtype
        del data
        starts = np.arange(0, n_rows, batch_size)
        if shuffle:
            starts = check_random_state(random_state).permutation(starts)
        # Plain reads, not the memmap: mapped pages would count towards the
        # process's memory until the whole file had been read once.
        with open(path, "rb") as f:
            for start in starts:
                n = min(batch_size, n_rows - start)
                f.seek(offset + int(start) * width * dtype.itemsize)
                yield np.fromfile(f, dtype=dtype, count=n * width).reshape(n, width)
