"""Dask arrays, recognised and checked without importing dask where it is absent.

:func:`is_dask_array` looks at the module of the class, so the numpy code paths
never import dask; the other helpers import it on first use, with a clear error
when it is missing (the optional ``dask`` extra). The algorithms that run on
dask arrays live beside the code they serve (``decomposition/_dask.py``,
``metrics/_dask.py``, ``activations/_dask.py``); these helpers know none of them.
"""

import numpy as np

from ._optional import optional_import


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


def graph_key(obj, prefix):
    """``obj`` as a single dask graph key that every block can depend on.

    ``dask.delayed(obj, pure=True)`` under a name derived from its contents,
    so a large object (a dictionary, a model) is serialised once per graph,
    not once per task, and two graphs built from the same object share it.

    Parameters
    ----------
    obj : object
        Picklable.
    prefix : str
        Start of the key's name.

    Returns
    -------
    key : dask.delayed.Delayed
    """
    from dask import delayed
    from dask.base import tokenize

    return delayed(obj, pure=True, traverse=False, name=f"{prefix}-{tokenize(obj)}")


def reduce_blocks(arrays, block_fn, *args, combine, split_every=8, offsets=False):
    """``block_fn`` on each row block of ``arrays``, combined in a tree: one Delayed.

    Parameters
    ----------
    arrays : list of dask.array.Array
        Same row chunks, each with its columns in one chunk; block ``i`` of
        every array is passed to the ``i``-th call.
    block_fn : callable
        ``block_fn(block_0, ..., block_k, *args)`` returns a partial result
        (e.g. running sums). ``args`` may hold Delayed objects (graph keys).
    combine : callable
        ``combine(a, b)`` merges two partial results into one.
    split_every : int, default=8
        Partial results merged per task of the tree.
    offsets : bool, default=False
        Also pass ``start=``, the index of the block's first row (the row
        chunks must be known).

    Returns
    -------
    result : dask.delayed.Delayed
    """
    from dask import delayed

    columns = [a.to_delayed().ravel() for a in arrays]
    kwargs = [{} for _ in columns[0]]
    if offsets:
        rows = arrays[0].chunks[0]
        if any(np.isnan(r) for r in rows):
            raise ValueError(
                "the dask array has unknown chunk sizes; call compute_chunk_sizes() "
                "on it first."
            )
        starts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int)
        kwargs = [{"start": int(s)} for s in starts]
    parts = [
        delayed(block_fn, pure=True)(*blocks, *args, **kw)
        for blocks, kw in zip(zip(*columns), kwargs)
    ]
    while len(parts) > 1:
        parts = [
            delayed(_combine_all, pure=True)(combine, *parts[i : i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


def _combine_all(combine, first, *rest):
    for part in rest:
        first = combine(first, part)
    return first


def compute_values(mapping):
    """``mapping`` with its dask values computed together (one pass), else as is.

    Parameters
    ----------
    mapping : dict
        Values that may be 0-d dask arrays (a lazy report).

    Returns
    -------
    dict
        The same keys; Python numbers in place of 0-d dask arrays.
    """
    if not any(is_dask_array(value) for value in mapping.values()):
        return mapping
    import dask

    (computed,) = dask.compute(mapping)
    return {
        key: value.item() if getattr(value, "ndim", None) == 0 else value
        for key, value in computed.items()
    }


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
