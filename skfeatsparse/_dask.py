"""Support for ``dask.array.Array`` input (the optional ``dask`` extra).

Nothing here imports dask at module level: ``import skfeatsparse`` must work,
and stay fast, without it. :func:`is_dask_array` recognises a dask array by
the module of its class, so the numpy code paths never import dask either;
the other helpers import it on first use, with a clear error if it is missing.

Design
------
* ``transform``, ``inverse_transform`` and the metrics are built blockwise
  (:func:`dask.array.map_blocks`) over row blocks, with the feature axis in one
  chunk. Every block runs the estimator's own numpy code path, so a block's
  result is that of the in-memory path on the same rows.
* The estimator reaches the blocks as *one* graph key: a lightweight fitted
  copy (:func:`coder_key`) wrapped in ``dask.delayed(..., pure=True)``, which
  :func:`dask.array.map_blocks` accepts as an argument and turns into a
  dependency of every block. A large ``components_`` is therefore serialised
  once per graph, not once per task, and two graphs built from the same fitted
  estimator share the key.
* The metrics sum the terms of ``CodeStatistics`` per block into
  one small row (:func:`_statistics_row`), add the rows with a dask tree
  reduction and turn the total into the report with the in-memory
  ``CodeStatistics.report``: only the order of the additions differs.
* ``fit`` and ``partial_fit`` stream the row blocks through the numpy
  ``partial_fit`` (:func:`stream_partial_fit`), one computed block at a time
  (and, with a ``distributed`` client, the next one computed meanwhile).
"""

import copy
import importlib
import warnings

import numpy as np

# Per-sample sums of CodeStatistics packed into a row, followed by ``x_sum``.
_SCALARS = ("n_samples", "sq_error", "l1", "lp", "max_coef", "nonzero", "x_sq")
# Fitted state a coder does not need to code blocks: left out of its copy.
_NOT_FOR_CODING = ("history_", "feature_names_in_", "_history", "_statistics", "_rng")


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array``, without importing dask.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    bool
        True for dask arrays (and their subclasses), False otherwise, whether
        or not dask is installed.

    Examples
    --------
    >>> import numpy as np
    >>> is_dask_array(np.zeros((2, 2)))
    False
    """
    for cls in type(X).__mro__:
        module = getattr(cls, "__module__", None) or ""
        if cls.__name__ == "Array" and (
            module == "dask.array"
            or module.startswith(("dask.array.", "dask._array_expr"))
        ):
            return True
    return False


def optional_import(module, feature):
    """Import an optional dependency, or say which extra installs it.

    Parameters
    ----------
    module : str
        Module to import (``"dask.array"``, ``"zarr"``, ...).
    feature : str
        What needs it, for the error message.

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        raise ImportError(
            f"{feature} needs {package}, an optional dependency of skfeatsparse: "
            'pip install "skfeatsparse[dask]" installs dask, distributed and zarr.'
        ) from exc


def import_dask_array():
    """``dask.array``, or an ImportError saying how to install it."""
    return optional_import("dask.array", "Dask array input")


def check_dask_array(X, *, name="X", n_features=None, estimator=None):
    """Validate what can be validated about a dask array without computing it.

    Checks that it is 2-D, has a known number of columns and a numeric (or
    boolean) dtype and, where given, ``n_features`` columns. NaN and infinite
    values can only be found by computing: the blocks check them.

    Parameters
    ----------
    X : dask.array.Array
        The array.
    name : str, default="X"
        Its name in error messages.
    n_features : int, default=None
        Number of columns required; ``None`` checks nothing.
    estimator : estimator instance, default=None
        Named in the message about the number of columns.

    Returns
    -------
    X : dask.array.Array
        ``X`` rechunked so that its columns are one chunk.

    Raises
    ------
    ValueError
        If ``X`` is not 2-D, its dtype is not numeric or its number of
        columns is unknown or wrong.
    """
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array for {name}, got a {X.ndim}D one instead "
            f"(shape {X.shape}). Reshape it with {name}.reshape(-1, 1) if it has "
            f"a single feature or {name}.reshape(1, -1) if it is a single sample."
        )
    dtype = np.dtype(X.dtype)
    if dtype.kind not in "biuf":
        raise ValueError(
            f"The dask array {name} must have a real numeric dtype, got {dtype}."
        )
    if np.isnan(X.shape[1]):
        raise ValueError(
            f"The dask array {name} has an unknown number of columns; call "
            f"{name}.compute_chunk_sizes() first."
        )
    if n_features is not None and X.shape[1] != n_features:
        owner = type(estimator).__name__ if estimator is not None else "the estimator"
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {owner} is expecting "
            f"{n_features} features as input."
        )
    if X.numblocks[1] != 1:
        X = X.rechunk({1: -1})
    return X


def coder_key(estimator):
    """A lightweight fitted copy of ``estimator`` as a single dask graph key.

    The copy shares the fitted arrays (no copy of ``components_``) and leaves
    out what coding does not need (``history_``, the statistics of
    ``partial_fit``, feature names: blocks are plain arrays). It is wrapped in
    ``dask.delayed(..., pure=True)`` under a name derived from its contents,
    so every block depends on the same key.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Fitted.

    Returns
    -------
    coder : dask.delayed.Delayed
    """
    from dask import delayed
    from dask.base import tokenize

    coder = copy.copy(estimator)
    for attribute in _NOT_FOR_CODING:
        coder.__dict__.pop(attribute, None)
    name = f"{type(estimator).__name__.lower()}-coder-{tokenize(coder)}"
    return delayed(coder, pure=True, traverse=False, name=name)


def _transform_block(block, coder, dtype):
    return coder.transform(block).astype(dtype, copy=False)


def _inverse_transform_block(block, coder):
    return coder.inverse_transform(block)


def transform(estimator, X, *, dtype):
    """Lazy ``estimator.transform`` of a dask array, block by block.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Fitted (checked by the caller).
    X : dask.array.Array of shape (n_samples, n_features)
        Checked by the caller (:func:`check_dask_array`: columns in one chunk).
    dtype : dtype
        Of the codes, as the numpy path gives them.

    Returns
    -------
    code : dask.array.Array of shape (n_samples, n_components)
        Chunks ``(X.chunks[0], (n_components,))``.
    """
    dtype = np.dtype(dtype)
    n_components = estimator.components_.shape[0]
    return X.map_blocks(
        _transform_block, coder_key(estimator), dtype,
        chunks=(X.chunks[0], (n_components,)), dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype), token="greedy-l1-transform",
    )


def inverse_transform(estimator, code):
    """Lazy ``estimator.inverse_transform`` of a dask array of codes.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Fitted (checked by the caller).
    code : dask.array.Array of shape (n_samples, n_components)

    Returns
    -------
    X_original : dask.array.Array of shape (n_samples, n_features)
        Chunks ``(code.chunks[0], (n_features,))``.
    """
    import_dask_array()
    n_components, n_features = estimator.components_.shape
    code = check_dask_array(code, name="code")
    if code.shape[1] != n_components:
        raise ValueError(
            f"The code has {code.shape[1]} columns but the dictionary has "
            f"{n_components} atoms."
        )
    # The dtype of the numpy path, from a one-row probe (O(size of the dictionary)).
    dtype = estimator.inverse_transform(
        np.zeros((1, n_components), dtype=code.dtype)
    ).dtype
    return code.map_blocks(
        _inverse_transform_block, coder_key(estimator),
        chunks=(code.chunks[0], (n_features,)), dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype), token="greedy-l1-inverse-transform",
    )


# ------------------------------------------------------------------ metrics
def _statistics_row(stats, n_features):
    """A block's ``CodeStatistics`` sums as one row ``(1, 7 + n_features)``."""
    x_sum = np.zeros(n_features) if stats.x_sum is None else stats.x_sum
    scalars = [float(getattr(stats, name)) for name in _SCALARS]
    return np.concatenate([scalars, x_sum])[None, :]


def _statistics_from_row(row, p):
    from .decomposition._objective import CodeStatistics

    values = dict(zip(_SCALARS, row[: len(_SCALARS)].tolist()))
    values["n_samples"] = int(round(values["n_samples"]))
    return CodeStatistics(p=p, x_sum=np.array(row[len(_SCALARS) :]), **values)


def _report_keys(p):
    """The keys of ``CodeStatistics.report``, in its order (from a dummy report)."""
    from .decomposition._objective import CodeStatistics

    dummy = CodeStatistics(p=p, n_samples=1, max_coef=1.0, x_sum=np.zeros(1))
    return tuple(dummy.report(1.0))


def _report_row(total, alpha, p):
    report = _statistics_from_row(total, p).report(alpha)
    return np.array([report[key] for key in _report_keys(p)], dtype=np.float64)


def _lazy_report(rows, alpha, p):
    """The report from per-block statistics rows: a dict of 0-d dask arrays."""
    total = rows.sum(axis=0)  # a tree reduction over the blocks
    keys = _report_keys(p)
    vector = total.map_blocks(
        _report_row, alpha, p, chunks=((len(keys),),), dtype=np.float64,
        meta=np.empty((0,), dtype=np.float64), token="sparsity-report",
    )
    report = {key: vector[i] for i, key in enumerate(keys)}
    if "n_samples" in report:
        report["n_samples"] = report["n_samples"].astype(np.int64)
    return report


def _coder_statistics_block(block, coder, p):
    stats = coder._code_statistics(block, p=p)
    return _statistics_row(stats, block.shape[1])


def sparsity_report(estimator, X, *, p=1.0):
    """Lazy ``estimator.sparsity_report`` of a dask array.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Fitted (checked by the caller).
    X : dask.array.Array of shape (n_samples, n_features)
        Checked by the caller (:func:`check_dask_array`: columns in one chunk).
    p : float, default=1.0
        Exponent of ``avg_coef_norm``.

    Returns
    -------
    report : dict of 0-d dask.array.Array
        The keys of the in-memory report. The error for all-zero codes is
        raised when the report is computed.
    """
    width = len(_SCALARS) + X.shape[1]
    rows = X.map_blocks(
        _coder_statistics_block, coder_key(estimator), p,
        chunks=((1,) * X.numblocks[0], (width,)), dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64), token="greedy-l1-code-statistics",
    )
    return _lazy_report(rows, estimator._transform_alpha, p)


def _metrics_block(X, code, components, p):
    from .decomposition._objective import code_statistics

    return _statistics_row(code_statistics(X, code, components, p=p), X.shape[1])


def _as_dask(A, rows, name):
    """``A`` as a dask array whose row chunks are ``rows`` (a dask array's chunks)."""
    da = import_dask_array()
    if not is_dask_array(A):
        import scipy.sparse as sp

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
    da = import_dask_array()
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
        from sklearn.utils import check_array

        components = check_array(components, dtype=np.float64)
        shape = components.shape
        components = delayed(components, pure=True)
    from .decomposition._objective import check_shapes

    check_shapes(X.shape, code.shape, shape)
    if code.numblocks[1] != 1:
        code = code.rechunk({1: -1})
    width = len(_SCALARS) + X.shape[1]
    rows = da.map_blocks(
        _metrics_block, X, code, components, p,
        chunks=((1,) * X.numblocks[0], (width,)), dtype=np.float64,
        meta=np.empty((0, 0), dtype=np.float64), token="sparsity-statistics",
    )
    return _lazy_report(rows, float(alpha), p)


def compute_report(report):
    """``report`` with its dask values computed together (one pass), else as is.

    Parameters
    ----------
    report : dict
        From ``sparsity_report`` or ``sparsity_metrics``.

    Returns
    -------
    report : dict
        The same keys; numbers in place of 0-d dask arrays.
    """
    if not any(is_dask_array(value) for value in report.values()):
        return report
    import dask

    (computed,) = dask.compute(report)
    return {key: value.item() if hasattr(value, "item") else value
            for key, value in computed.items()}


# ------------------------------------------------------------------ fitting
def _active_client():
    """The ``distributed`` client dask computes with now, or None.

    None without distributed, without a client, or when another scheduler is
    configured (``dask.config.set(scheduler="synchronous")``, say).
    """
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    from dask.base import get_scheduler

    return client if get_scheduler() == client.get else None


def iter_blocks(X, order):
    """Yield the row blocks ``X.blocks[i]`` for ``i`` in ``order``, as numpy arrays.

    One block is computed at a time. With an active ``distributed`` client the
    next block is computed on the cluster while the caller works on the
    current one, so at most two blocks are in memory here.

    Parameters
    ----------
    X : dask.array.Array
        2-D, with its columns in one chunk.
    order : sequence of int
        Block indices.

    Yields
    ------
    block : ndarray
    """
    client = _active_client()
    if client is None:
        for i in order:
            yield np.asarray(X.blocks[int(i)].compute())
        return
    pending = None
    try:
        for j, i in enumerate(order):
            current = pending
            if current is None:
                current = client.compute(X.blocks[int(i)])
            pending = None
            if j + 1 < len(order):
                pending = client.compute(X.blocks[int(order[j + 1])])
            block = current.result()
            del current
            yield np.asarray(block)
    finally:
        if pending is not None:
            pending.cancel()


def stream_partial_fit(
    estimator, X, *, n_epochs=1, rng=None, tol=None, alpha_rtol=0.02
):
    """Run ``estimator.partial_fit`` on the row blocks of a dask array.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
    X : dask.array.Array of shape (n_samples, n_features)
        Checked here; blocks are computed one at a time (see :func:`iter_blocks`).
    n_epochs : int, default=1
        Passes over the blocks.
    rng : RandomState or None, default=None
        Shuffles the block order at every epoch; ``None`` keeps the order.
    tol : float, default=None
        Stop after an epoch whose sample-weighted mean objective (from
        ``history_``) changed by at most ``tol`` relative to the previous
        epoch's while ``alpha_`` moved by at most ``alpha_rtol`` (relative).
        ``None`` never stops early.
    alpha_rtol : float, default=0.02

    Returns
    -------
    estimator
    """
    from sklearn.exceptions import ConvergenceWarning

    n_features = None
    if hasattr(estimator, "components_"):
        n_features = estimator.n_features_in_
    X = check_dask_array(X, n_features=n_features, estimator=estimator)
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}); need at least 1."
        )
    n_blocks = X.numblocks[0]
    previous = None
    capped = []
    for _ in range(n_epochs):
        order = np.arange(n_blocks) if rng is None else rng.permutation(n_blocks)
        alpha_start = getattr(estimator, "alpha_", None)
        weighted, n_rows = 0.0, 0
        for block in iter_blocks(X, order):
            if block.shape[0] == 0:
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                estimator.partial_fit(block)
            for warning in caught:
                if issubclass(warning.category, ConvergenceWarning):
                    capped.append(str(warning.message))
                else:
                    warnings.warn_explicit(
                        warning.message, warning.category, warning.filename,
                        warning.lineno,
                    )
            weighted += float(estimator.history_["objective"][-1]) * block.shape[0]
            n_rows += block.shape[0]
        current = weighted / max(n_rows, 1)
        if tol is not None and previous is not None:
            alpha_moved = abs(estimator.alpha_ - alpha_start) > alpha_rtol * alpha_start
            if abs(previous - current) <= tol * abs(previous) and not alpha_moved:
                break
        previous = current
    if capped:
        warnings.warn(
            f"{len(capped)} of the partial_fit passes over the blocks of the dask "
            f"array warned, the last one: {capped[-1]}",
            ConvergenceWarning,
            stacklevel=3,
        )
    return estimator
