"""Activations extracted once to disk, memory-mapped, with their provenance.

``cache_activations`` extracts a corpus once into ``.npy`` files (the rows of
each layer and their :class:`TokenProvenance`), or with ``format="zarr"`` each
layer into a chunked zarr array; ``ActivationCache`` reads them back
(``np.memmap`` or zarr arrays, or lazy dask arrays) and streams row batches
for ``partial_fit``, so neither step needs the corpus's activations in memory.
dask and zarr are optional (the ``dask`` extra) and imported only when used.
"""

import hashlib
import json
import os
import secrets
import shutil
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ..utils import optional_import
from ._corpus import check_texts
from ._extraction import Extraction, ordered_keys
from ._storage import NpyRows, NpyWriter, ZarrWriter, layer_file
from ._tokens import TokenProvenance

# metadata["format"] by storage. Version 1: ``.npy`` layers. Version 2 adds
# metadata["storage"] ("zarr"); npy caches are still written as version 1, so
# older releases read them, and reject zarr caches as of an unknown format.
_FORMATS = {"npy": 1, "zarr": 2}
_INT_FIELDS = ("text_index", "position", "token_id", "start", "end")
# metadata["writer"]: who wrote the cache; metadata["files"]: every name in it.
# A folder is replaced (overwrite=True) only if it holds nothing else.
_WRITER = "skfeatsparse.cache_activations"
# Keys of every cache's metadata, also those written before "writer"/"files".
_LEGACY_KEYS = {"format", "layers", "n_rows", "n_texts", "hidden_size", "texts_sha1"}
_PUBLISH_ATTEMPTS = 100  # renames tried while other writers change the target


def _fingerprint(texts):
    digest = hashlib.sha1()
    for text in texts:
        digest.update(text.encode() + b"\n")
    return digest.hexdigest()


def _cache_files(layers, storage, sites=()):
    """The names a cache of ``layers`` (and ``sites``) in ``storage`` consists of."""
    names = ["metadata.json", "tokens.json"] + [f"{f}.npy" for f in _INT_FIELDS]
    names += [layer_file(str(n), storage) for n in sites]
    return sorted(names + [layer_file(int(n), storage) for n in layers])


def _our_files(folder):
    """The names a cache of ours at ``folder`` wrote, or None if it is not ours."""
    try:
        meta = json.loads((folder / "metadata.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    files = meta.get("files")
    if meta.get("writer") == _WRITER and isinstance(files, list):
        return {str(name) for name in files} | {"metadata.json"}
    # Written before "writer" and "files": known by its keys, files by its names.
    storage = meta.get("storage", "npy")
    if not _LEGACY_KEYS <= meta.keys() or _FORMATS.get(storage) != meta["format"]:
        return None
    try:
        return set(_cache_files(meta["layers"], storage))
    except (TypeError, ValueError):
        return None


def _not_empty_error(path):
    return FileExistsError(
        f"{str(path)!r} is not empty; open an existing cache with "
        "ActivationCache(path), pass overwrite=True, or choose a new directory."
    )


def _check_replaceable(path):
    """Raise unless ``path`` holds a cache of ours and nothing else."""
    entries = sorted(entry.name for entry in path.iterdir())
    ours = _our_files(path)
    foreign = entries if ours is None else [e for e in entries if e not in ours]
    if foreign:
        what = (
            "files that are not an activation cache"
            if ours is None
            else "files that are not part of its activation cache"
        )
        raise FileExistsError(
            f"{str(path)!r} holds {what}: {', '.join(foreign)}; refusing to "
            "overwrite them (overwrite=True replaces only a cache written by "
            "cache_activations, nothing else). Move them away, or choose a new "
            "directory."
        )


def _check_target(path, overwrite):
    """Fail before any extraction if ``path`` cannot receive a cache."""
    if os.path.lexists(path) and not path.is_dir():
        raise FileExistsError(
            f"{str(path)!r} exists and is not a directory; choose a new directory."
        )
    if path.is_dir() and any(path.iterdir()):
        _check_replaceable(path)  # a folder of other files: say so, even then
        if not overwrite:
            raise _not_empty_error(path)


def _sibling(path, kind, create=False):
    """A new name beside ``path`` (a new empty directory if ``create``)."""
    while True:
        tag = f"{os.getpid()}-{secrets.token_hex(4)}"
        candidate = path.parent / f".{path.name}.{kind}-{tag}"
        if not create:
            if not os.path.lexists(candidate):
                return candidate
            continue  # pragma: no cover - 32 random bits collide
        try:
            candidate.mkdir()
        except FileExistsError:  # pragma: no cover
            continue
        return candidate


def _publish(tmp, path, overwrite):
    """Move the finished cache ``tmp`` to ``path`` by renames, all or nothing.

    A rename of a directory is atomic: ``path`` is at every moment missing,
    the old cache or the new one, whole, never a mix of two writers. An old
    cache is moved aside first, checked to hold nothing but what its metadata
    lists (else it is moved back and the error names the other files), and
    deleted once the new one is in place.
    """
    error = None
    for _ in range(_PUBLISH_ATTEMPTS):
        try:
            os.rename(tmp, path)  # also replaces an empty directory (POSIX)
            return
        except OSError as exc:
            error = exc
            if not os.path.lexists(path):
                continue  # moved away meanwhile by another writer
            if not path.is_dir():
                raise
        if not any(path.iterdir()):  # Windows: rename never replaces a directory
            try:
                path.rmdir()
            except OSError:
                pass
            continue
        if not overwrite:
            _check_replaceable(path)
            raise _not_empty_error(path)
        aside = _sibling(path, "old")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        try:
            _check_replaceable(aside)
        except FileExistsError as exc:
            message = str(exc).replace(str(aside), str(path))
            try:
                os.rename(aside, path)
            except OSError:
                message += (
                    f" They are kept in {str(aside)!r}: another writer filled "
                    f"{str(path)!r} before they could be moved back."
                )
            raise FileExistsError(message) from None
        try:
            os.rename(tmp, path)
        except OSError:
            if path.is_dir():  # another writer's cache came first: replace it too
                shutil.rmtree(aside, ignore_errors=True)
                continue
            try:
                os.rename(aside, path)  # the old cache back where it was
            except OSError:
                pass
            raise
        shutil.rmtree(aside, ignore_errors=True)
        return
    raise OSError(
        f"could not move the cache written in {str(tmp)!r} to {str(path)!r} in "
        f"{_PUBLISH_ATTEMPTS} attempts (last error: {error}); other processes "
        "kept changing it, or the folder cannot be renamed. Cache to a "
        "directory of its own."
    ) from error


@validate_params(
    {
        "layers": ["array-like", Integral, None],
        "sites": ["array-like", str, None],
        "overwrite": ["boolean"],
        "format": [StrOptions(set(_FORMATS))],
        "chunk_rows": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def cache_activations(
    transformer,
    X,
    path,
    *,
    layers=None,
    sites=None,
    overwrite=False,
    format="npy",
    chunk_rows=4096,
):
    """Extract activations once into memory-mapped ``.npy`` files or zarr arrays.

    A first pass tokenizes the texts to count the rows, so each layer's array
    is allocated at its final size. With ``format="npy"`` batches (sorted by
    length, as in ``transform``) then write their rows in place; with
    ``format="zarr"`` windows of ``16 * batch_size`` texts are extracted in
    order (as ``iter_batches`` does) and written chunk by chunk, each chunk
    once. Memory stays that of one batch (one window and one chunk for zarr),
    whatever the corpus length. The rows are those of
    ``transformer.transform(X)`` (for zarr, to float tolerance: batches are
    sorted by length within a window, not over the whole corpus).

    Parameters
    ----------
    transformer : TransformerActivations
        Fitted in place first (loading the model) if it is not fitted yet.
    X : list of str
        The texts.
    path : str or path-like
        A directory to create (or an empty one). It receives the activations
        of each layer (``layer_<i>.npy``, or a zarr array ``layer_<i>.zarr``),
        one ``.npy`` per provenance field, ``tokens.json`` and
        ``metadata.json`` (which lists these files). They are written into a
        private folder beside ``path`` (``.<name>.partial-*``) and renamed
        into place when complete: an interrupted write leaves ``path`` as it
        was, and of two processes writing to one ``path`` one wins whole
        (the other raises FileExistsError, or with ``overwrite=True`` the
        later replaces the earlier).
    layers : list of int or None, default=None
        Hidden states to store, all from one forward pass; with ``sites``
        also None, ``transformer.layer`` (or the modules of
        ``transformer.site`` when it is set).
    sites : str, list of str or None, default=None
        Module paths or globs (see ``TransformerActivations(site=...)``) whose
        outputs to store, from the same forward passes: ``site_<path>.npy``
        (or ``.zarr``); read back with ``cache["encoder.layer.3.output"]``.
    overwrite : bool, default=False
        Replace an existing cache at ``path``. Only a folder holding a cache
        written by this function and nothing else is replaced; any other
        file there is a FileExistsError naming it, and nothing is deleted.
    format : {"npy", "zarr"}, default="npy"
        How the activations are stored: ``.npy`` files (read back as
        ``np.memmap``), or zarr arrays chunked by ``chunk_rows`` rows and
        compressed (needs zarr: ``pip install "skfeatsparse[dask]"``).
        Provenance and metadata are ``.npy`` and JSON either way.
    chunk_rows : int, default=4096
        Rows per zarr chunk (each chunk has all ``hidden_size`` columns).
        Ignored for ``"npy"``.

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
    >>> cache = cache_activations(act, texts, "z", format="zarr")  # doctest: +SKIP
    >>> cache.to_dask()  # lazy, chunked like the store  # doctest: +SKIP
    """
    zarr = None
    if format == "zarr":
        zarr = optional_import("zarr", "cache_activations(..., format='zarr')")
    texts = check_texts(X)
    path = Path(os.path.realpath(os.path.expanduser(path)))
    _check_target(path, overwrite)  # before any work
    try:
        check_is_fitted(transformer)
    except NotFittedError:
        transformer.fit()
    extraction = Extraction.of(transformer)
    default_site = None
    if layers is None and sites is None:
        if transformer.site is not None:
            sites = transformer.sites_
            default_site = sites[0] if len(sites) == 1 else None
        else:
            layers = [transformer.layer_]
    pairs = extraction.normalize(layers, sites)
    wanted = ordered_keys(pairs)
    stored_layers = [n for n in wanted if not isinstance(n, str)]
    stored_sites = [n for n in wanted if isinstance(n, str)]

    counts, lengths = extraction.plan(texts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    n_rows = int(offsets[-1])
    metadata = {
        "format": _FORMATS[format],
        "writer": _WRITER,
        "complete": True,  # metadata.json is written last, in the private folder
        "model": str(getattr(transformer.model_, "name_or_path", "")),
        "layers": stored_layers,
        "default_layer": transformer.layer_,
        "n_hidden_states": transformer.n_hidden_states_,
        "n_rows": n_rows,
        "n_texts": len(texts),
        "hidden_size": transformer.hidden_size_,
        "pooling": transformer.pooling,
        "include_special_tokens": transformer.include_special_tokens,
        "max_length": transformer.max_length_,
        "texts_sha1": _fingerprint(texts),
        "files": _cache_files(stored_layers, format, stored_sites),
    }
    if stored_sites:  # absent otherwise: older readers see the cache unchanged
        metadata.update(
            sites=stored_sites,
            site_widths={n: extraction.width(n) for n in stored_sites},
            default_site=default_site,
        )
    if format == "zarr":
        metadata.update(storage="zarr", chunk_rows=int(chunk_rows))
    # Written in a private folder beside `path`, renamed into place when whole:
    # an interrupted write or another process never leaves a mixed cache there.
    path.parent.mkdir(parents=True, exist_ok=True)
    plan = dict(counts=counts, lengths=lengths, offsets=offsets, zarr=zarr)
    plan.update(n_rows=n_rows, chunk_rows=int(chunk_rows))
    plan.update(widths={n: extraction.width(n) for n in wanted})
    tmp = _sibling(path, "partial", create=True)
    try:
        _write_cache(extraction, texts, tmp, format, pairs, wanted, metadata, plan)
        _publish(tmp, path, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already once published
    return ActivationCache(path)


def _write_cache(extraction, texts, path, format, pairs, wanted, metadata, plan):
    """Every file of the cache into the folder ``path``, ``metadata.json`` last."""
    writers = {}
    for f in _INT_FIELDS:
        writers[f] = NpyWriter(path / f"{f}.npy", (metadata["n_rows"],), np.int64)
    vocab = {}
    try:
        with extraction.progress_bar(len(texts)) as bar:
            plan = dict(plan, bar=bar)
            if format == "npy":
                _write_npy(extraction, texts, path, wanted, plan, writers, vocab)
            else:
                write = ZarrWriter(
                    plan["zarr"], path, wanted, plan["n_rows"], plan["widths"],
                    plan["chunk_rows"],
                )  # fmt: skip
                _write_in_order(extraction, texts, pairs, plan, write, writers, vocab)
    finally:
        for writer in writers.values():
            writer.close()
    vocab.pop(-1, None)
    tokens = {str(k): v for k, v in sorted(vocab.items())}  # ids in ascending order
    (path / "tokens.json").write_text(json.dumps(tokens))
    (path / "metadata.json").write_text(json.dumps(metadata, indent=2))
    written = sorted(entry.name for entry in path.iterdir())
    if written != metadata["files"]:  # pragma: no cover - a bug of ours
        raise RuntimeError(f"the cache holds {written}, not {metadata['files']}.")


def _write_npy(extraction, texts, path, wanted, plan, writers, vocab):
    """Batches sorted by length over the corpus, each text's rows at its offset."""
    counts, offsets = plan["counts"], plan["offsets"]
    for n in wanted:  # added to `writers`: the caller closes them, even on error
        shape = (plan["n_rows"], plan["widths"][n])
        writers[n] = NpyWriter(path / layer_file(n), shape, np.float32)
    batches = extraction.sorted_batches(range(len(texts)), plan["lengths"])
    forward = extraction.iter_forward(texts, wanted, batches, True, plan["bar"])
    for idx, rows, prov in forward:
        blocks = {**rows, **{f: getattr(prov, f) for f in _INT_FIELDS}}
        row = 0
        for i in idx:  # each text's rows are one block at its offset
            for key, writer in writers.items():
                writer.write(offsets[i], blocks[key][row : row + counts[i]])
            row += counts[i]
        vocab.update(zip(prov.token_id.tolist(), prov.token.tolist()))


def _write_in_order(extraction, texts, pairs, plan, write, writers, vocab):
    """Windows of texts in order (as ``iter_batches``), rows to ``write``."""
    counts, lengths, bar = plan["counts"], plan["lengths"], plan["bar"]
    for ids, rows in extraction.windows(texts, pairs, counts, lengths, bar):
        prov = extraction.provenance_of(texts, ids)
        for f, writer in writers.items():
            writer.write(plan["offsets"][ids.start], getattr(prov, f))
        vocab.update(zip(prov.token_id.tolist(), prov.token.tolist()))
        write(rows)


class ActivationCache:
    """Activations written by :func:`cache_activations`, memory-mapped or zarr.

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
    sites : tuple of str
        The stored sites (module paths); ``cache[path]`` reads one.
    storage : {"npy", "zarr"}
        How the activations are stored (``cache_activations``' ``format``).

    Examples
    --------
    >>> cache = ActivationCache("acts")  # doctest: +SKIP
    >>> X = cache[-1]  # np.memmap of shape (n_rows, hidden_size)  # doctest: +SKIP
    >>> X = cache.to_dask(-1, chunks=4096)  # lazy dask array  # doctest: +SKIP
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
        self.storage = self.metadata.get("storage", "npy")
        known = _FORMATS.get(self.storage) == self.metadata.get("format")
        if not known or not self.metadata.get("complete"):
            raise ValueError(
                f"the activation cache at {str(self.path)!r} is incomplete or of an "
                "unknown format (was extraction interrupted?); rebuild it with "
                "cache_activations(..., overwrite=True)."
            )
        self.layers = tuple(self.metadata["layers"])
        self.sites = tuple(self.metadata.get("sites", ()))

    def __len__(self):
        return self.metadata["n_rows"]

    def __repr__(self):
        m = self.metadata
        return (
            f"ActivationCache({str(self.path)!r}: {m['n_rows']} rows x "
            f"{m['hidden_size']}, layers {list(self.layers)}"
            + (f", sites {list(self.sites)}" if self.sites else "")
            + f", model {m['model']!r}"
            + (", zarr)" if self.storage == "zarr" else ")")
        )

    def _layer_index(self, layer):
        if layer is None:
            layer = self.metadata.get("default_site") or self.metadata["default_layer"]
        if isinstance(layer, str):
            if layer not in self.sites:
                raise KeyError(
                    f"site {layer!r} is not in this cache; it holds sites "
                    f"{list(self.sites)}. Re-extract with "
                    "cache_activations(..., sites=[...])."
                )
            return layer
        n = self.metadata["n_hidden_states"]
        valid = isinstance(layer, Integral) and -n <= layer < n
        if not valid or layer % n not in self.layers:
            raise KeyError(
                f"layer {layer!r} is not in this cache; it holds layers "
                f"{list(self.layers)} (of {n} hidden states). Re-extract with "
                "cache_activations(..., layers=[...])."
            )
        return int(layer) % n

    def _layer_path(self, layer):
        return self.path / layer_file(self._layer_index(layer), self.storage)

    def _open_zarr(self, layer, feature):
        path = self._layer_path(layer)  # a bad layer is a KeyError first
        zarr = optional_import("zarr", feature)
        return zarr.open_array(str(path), mode="r")

    def __getitem__(self, layer):
        """The activations of ``layer``, read-only and not read into memory.

        A ``np.memmap`` for an ``"npy"`` cache, a ``zarr.Array`` for a
        ``"zarr"`` one; both have shape ``(n_rows, hidden_size)`` and slice
        into in-memory arrays.
        """
        if self.storage == "zarr":
            return self._open_zarr(layer, "reading a zarr ActivationCache")
        return np.load(self._layer_path(layer), mmap_mode="r")

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

    @validate_params(
        {
            "batch_size": [Interval(Integral, 1, None, closed="left")],
            "shuffle": ["boolean"],
            "random_state": ["random_state"],
        },
        prefer_skip_nested_validation=True,
    )
    def iter_batches(
        self, layer=None, *, batch_size=4096, shuffle=False, random_state=None
    ):
        """Yield the rows of ``layer`` in batches, as in-memory float32 arrays.

        Parameters
        ----------
        layer : int, str or None, default=None
            A stored layer or site (module path); ``None`` is the
            transformer's ``layer`` (or single ``site``) at caching.
        batch_size : int, default=4096
            Rows per batch (the last one may be smaller). For a zarr cache, a
            multiple of its ``chunk_rows`` reads each chunk once.
        shuffle : bool, default=False
            Visit the batches (contiguous blocks of rows) in random order.
        random_state : int, RandomState instance or None, default=None
            Seed of the shuffle.

        Yields
        ------
        X_batch : ndarray of shape (<= batch_size, hidden_size), dtype float32
        """
        if self.storage == "zarr":
            rows = self._open_zarr(layer, "reading a zarr ActivationCache")
        else:
            rows = NpyRows(self._layer_path(layer))
        n_rows = rows.shape[0]
        starts = np.arange(0, n_rows, batch_size)
        if shuffle:
            starts = check_random_state(random_state).permutation(starts)
        for start in starts:
            stop = min(int(start) + batch_size, n_rows)
            yield np.asarray(rows[int(start) : stop], dtype=np.float32)

    @validate_params(
        {"chunks": [Interval(Integral, 1, None, closed="left"), None]},
        prefer_skip_nested_validation=True,
    )
    def to_dask(self, layer=None, *, chunks=None):
        """The activations of ``layer`` as a lazy dask array; nothing is read yet.

        Each block is read from disk when computed (``da.from_zarr`` over a
        zarr cache; for an ``"npy"`` cache, ``da.from_array`` over a reader
        that pickles as its file name, so a distributed scheduler ships no
        data). Needs dask (``pip install "skfeatsparse[dask]"``).

        Parameters
        ----------
        layer : int, str or None, default=None
            A stored layer or site (module path); ``None`` is the
            transformer's ``layer`` (or single ``site``) at caching.
        chunks : int or None, default=None
            Rows per block; each block has all ``hidden_size`` columns.
            ``None`` means the zarr chunks of a zarr cache, 4096 rows for npy.

        Returns
        -------
        X : dask.array.Array of shape (n_rows, hidden_size), dtype float32
            Block ``i`` is rows ``i * chunks`` to ``(i + 1) * chunks``, the
            ``i``-th batch of ``iter_batches(layer, batch_size=chunks)``.

        Examples
        --------
        >>> X = cache.to_dask(3, chunks=4096)  # doctest: +SKIP
        >>> for i in range(X.numblocks[0]):  # doctest: +SKIP
        ...     dictionary.partial_fit(X.blocks[i].compute())
        >>> X.mean(axis=0).compute()  # one pass, block by block  # doctest: +SKIP
        """
        path = self._layer_path(layer)  # a bad layer is a KeyError first
        da = optional_import("dask.array", "ActivationCache.to_dask")
        from dask.base import tokenize

        key = self._layer_index(layer)
        widths = self.metadata.get("site_widths", {})
        width = widths[key] if isinstance(key, str) else self.metadata["hidden_size"]
        # Names from the file, its time stamp and the chunks: a rebuilt cache
        # never reuses the blocks of an old one.
        written = (self.path / "metadata.json").stat().st_mtime_ns
        stamp = (str(path.resolve()), written, self.metadata)
        if self.storage == "zarr":
            z = self._open_zarr(layer, "ActivationCache.to_dask")
            rows = int(chunks or z.chunks[0])
            name = f"activation-cache-{tokenize(stamp, rows)}"
            return da.from_zarr(z, chunks=(rows, width), name=name)
        rows = int(chunks or 4096)
        return da.from_array(
            NpyRows(path),
            chunks=(rows, width),
            name=f"activation-cache-{tokenize(stamp, rows)}",
            asarray=True,
            fancy=False,
            meta=np.empty((0, 0), np.float32),
        )
