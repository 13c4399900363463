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
from ._statistics import CodeStatistics, check_shapes, code_statistics


def _report_keys(p):
    """The keys of ``CodeStatistics.report``, in its order (from a dummy report)."""
    dummy = CodeStatistics(p=p, n_samples=1, max_coef=1.0, x_sum=np.zeros(1))
    return tuple(dummy.report(1.0))


def _dtype(key):
    return np.dtype(np.int64 if key == "n_samples" else np.float64)


def _report_arrays(total, alpha):
    return {k: np.asarray(v, _dtype(k)) for k, v in total.report(alpha).items()}


def _lazy_report(total, alpha, p):
    """The report of a Delayed ``CodeStatistics``: a dict of 0-d dask arrays."""
    from dask import delayed

    da = import_dask_array()
    report = delayed(_report_arrays, pure=True)(total, alpha)
    return {
        key: da.from_delayed(report[key], shape=(), dtype=_dtype(key))
        for key in _report_keys(p)
    }


def _coder_block(block, coder, p):
    return coded_sums(coder, block, CodeStatistics(p=p))


def coder_report(coder, X, alpha, *, p=1.0):
    """Lazy report of coding the dask array ``X`` with a fitted ``coder``.

    ``X`` is checked here (without computing it); NaN, infinity and all-zero
    codes raise when the report is computed.
    """
    X = check_dask_array(X, n_features=coder.n_features_in_, estimator=coder)
    total = reduce_blocks(
        [X], _coder_block, coder_key(coder), p, combine=CodeStatistics.merge
    )
    return _lazy_report(total, alpha, p)


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


def _arrays_block(X, code, components, p):
    return code_statistics(X, code, components, p=p)


def sparsity_metrics(X, code, components, alpha, *, p=1.0):
    """Lazy :func:`skfeatsparse.metrics.sparsity_metrics` when any input is dask.

    ``X`` or ``code`` (or both) may be dask arrays; the other may be a NumPy
    array (or, for ``code``, a SciPy sparse matrix). ``components`` may be a
    NumPy or a dask array; it reaches the blocks as one graph key. ``alpha``
    and ``p`` are checked by the caller.

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
        [X, code], _arrays_block, components, p, combine=CodeStatistics.merge
    )
    return _lazy_report(total, float(alpha), p)
