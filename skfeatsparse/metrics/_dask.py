"""The metrics of dask arrays: per-block statistics merged in a tree, lazily.

Every block runs the in-memory code (:func:`code_statistics` on arrays, or the
coder's ``iter_transform`` through
:func:`~skfeatsparse.decomposition._objective.coded_sums`); the blocks'
:class:`CodeStatistics` are merged with :meth:`CodeStatistics.merge` in a tree
and the total turned into the report by :meth:`CodeStatistics.report`: only
the order of the additions differs from the in-memory path. The report is a
dict of 0-d dask arrays, all from one graph (``dask.compute(report)`` codes
the data once).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ..decomposition._dask import coder_key
from ..decomposition._objective import coded_sums
from ..utils import check_dask_array, import_dask_array, is_dask_array, reduce_blocks
from ._statistics import CodeStatistics, check_shapes, code_statistics, max_atom_cosine


def _report_shapes(stats, options, n_components):
    """Keys and shapes of the report, in its order (from a one-row dummy)."""
    dummy = CodeStatistics(**{**stats, "n_resamples": min(stats["n_resamples"], 2)})
    dummy.add(np.ones((1, 1)), np.ones((1, n_components)), np.ones((1, 1)))
    report = _report(dummy, 1.0, np.eye(n_components, 1), options)
    return {key: np.shape(value) for key, value in report.items()}


def _dtype(key):
    return np.dtype(
        np.int64 if key in ("n_samples", "dead_atoms", "dense_atoms") else np.float64
    )


def _report(total, alpha, components, options):
    report = total.report(alpha, **options)
    report["max_atom_cosine"] = max_atom_cosine(components)
    return report


def _report_arrays(total, alpha, components, options):
    report = _report(total, alpha, components, options)
    return {k: np.asarray(v, _dtype(k)) for k, v in report.items()}


def _lazy_report(total, alpha, components, n_components, stats, options):
    """The report of a Delayed ``CodeStatistics``: a dict of dask arrays.

    0-d for the metrics, 1-d for ``firing_frequency`` and the ``_ci`` pairs.
    """
    from dask import delayed

    da = import_dask_array()
    report = delayed(_report_arrays, pure=True)(total, alpha, components, options)
    return {
        key: da.from_delayed(report[key], shape=shape, dtype=_dtype(key))
        for key, shape in _report_shapes(stats, options, n_components).items()
    }


def _coder_block(block, coder, stats, start):
    return coded_sums(coder, block, CodeStatistics(**stats), start=start)


def coder_report(coder, X, alpha, *, stats, options):
    """Lazy report of coding the dask array ``X`` with a fitted ``coder``.

    ``X`` is checked here (without computing it); NaN, infinity and all-zero
    codes raise when the report is computed. ``stats`` are the settings of
    :class:`CodeStatistics`, ``options`` those of its ``report``.
    """
    from dask import delayed

    X = check_dask_array(X, n_features=coder.n_features_in_, estimator=coder)
    total = reduce_blocks(
        [X], _coder_block, coder_key(coder), stats,
        combine=CodeStatistics.merge, offsets=True,
    )  # fmt: skip
    components = delayed(coder.components_, pure=True)
    n_components = coder.components_.shape[0]
    return _lazy_report(total, alpha, components, n_components, stats, options)


def _as_dask(A, rows, name):
    """``A`` as a dask array whose row chunks are ``rows`` (a dask array's chunks)."""
    da = import_dask_array()
    if not is_dask_array(A):
        sparse = sp.issparse(A)
        A = sp.csr_matrix(A) if sparse else np.asarray(A)
        if A.ndim != 2:
            raise ValueError(f"Expected a 2D array for {name}, got {A.ndim}D.")
        if A.shape[0] != sum(rows):  # the shape check of the caller will say so
            rows = (A.shape[0],)
        return da.from_array(A, chunks=(rows, A.shape[1]), asarray=not sparse)
    A = check_dask_array(A, name=name)
    if tuple(A.chunks[0]) != tuple(rows):
        if any(np.isnan(c) for c in (*A.chunks[0], *rows)):
            raise ValueError(
                "X and code have unknown chunk sizes that differ; call "
                "compute_chunk_sizes() on them first."
            )
        if A.shape[0] == sum(rows):
            A = A.rechunk({0: rows})
    return A


def _arrays_block(X, code, components, stats, start):
    return code_statistics(X, code, components, start=start, **stats)


def sparsity_metrics(X, code, components, alpha, *, stats, options):
    """Lazy :func:`skfeatsparse.metrics.sparsity_metrics` when any input is dask.

    ``X`` or ``code`` (or both) may be dask arrays; the other may be a NumPy
    array (or, for ``code``, a SciPy sparse matrix). ``components`` may be a
    NumPy or a dask array; it reaches the blocks as one graph key. ``alpha``
    and the settings are checked by the caller.

    Returns
    -------
    report : dict of 0-d dask.array.Array
    """
    from dask import delayed

    if is_dask_array(X):
        X = check_dask_array(X)
        code = _as_dask(code, X.chunks[0], "code")
    elif is_dask_array(code):
        code = check_dask_array(code, name="code")
        X = _as_dask(X, code.chunks[0], "X")
    else:  # only the dictionary is a dask array: one block
        X = np.asarray(X)
        X = _as_dask(X, X.shape[:1], "X")
        code = _as_dask(code, X.chunks[0], "code")
    if is_dask_array(components):
        components = check_dask_array(components, name="components")
        shape = components.shape
        components = components.rechunk(-1).to_delayed().ravel()[0]
    else:
        components = check_array(components, dtype=np.float64)
        shape = components.shape
        components = delayed(components, pure=True)
    check_shapes(X.shape, code.shape, shape)
    if code.numblocks[1] != 1:
        code = code.rechunk({1: -1})
    total = reduce_blocks(
        [X, code], _arrays_block, components, stats,
        combine=CodeStatistics.merge, offsets=True,
    )  # fmt: skip
    return _lazy_report(total, float(alpha), components, shape[0], stats, options)
