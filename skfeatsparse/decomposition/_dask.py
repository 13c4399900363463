"""Dask arrays for the dictionary learner: lazy transforms and a streamed fit.

* ``transform`` and ``inverse_transform`` are built blockwise
  (:func:`dask.array.map_blocks`) over row blocks, with the feature axis in one
  chunk. Every block runs the estimator's own numpy ``transform``, so a block's
  result is that of the in-memory path on the same rows.
* The estimator reaches the blocks as *one* graph key: a fitted copy holding
  only what coding needs (:func:`coding_copy`), wrapped by
  :func:`~skfeatsparse.utils.graph_key`. A large ``components_`` is serialised
  once per graph, not once per task.
* ``fit`` and ``partial_fit`` stream the row blocks through a step the
  estimator gives (its own ``partial_fit``, or for ``fit`` one that starts from
  a fresh initialisation), one computed block at a time
  (:func:`stream_partial_fit`).

Only the estimator's public methods and fitted attributes are used here.
"""

import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from ..utils import (
    check_dask_array,
    graph_key,
    import_dask_array,
    iter_blocks,
    reduce_blocks,
)
from ._objective import ObjectiveSums, coded_sums

# The fitted attributes ``transform`` and ``inverse_transform`` read.
_CODING_STATE = ("components_", "mean_", "alpha_", "n_features_in_")


def coding_copy(estimator):
    """A fitted copy of ``estimator`` with only what coding needs.

    Its parameters and the fitted attributes ``transform`` reads (the arrays
    are shared, not copied); no history, no sufficient statistics of
    ``partial_fit``, no feature names (blocks are plain arrays).

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Fitted.

    Returns
    -------
    coder : GreedyL1DictionaryLearning
    """
    coder = clone(estimator)
    for name in _CODING_STATE:
        setattr(coder, name, getattr(estimator, name))
    return coder


def coder_key(estimator):
    """:func:`coding_copy` of ``estimator`` as a single dask graph key."""
    return graph_key(
        coding_copy(estimator), f"{type(estimator).__name__.lower()}-coder"
    )


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
        Checked by the caller (columns in one chunk).
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
    )  # fmt: skip


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
    )  # fmt: skip


def _objective_block(block, coder):
    return coded_sums(coder, block, ObjectiveSums())


def objective_sums(estimator, X):
    """Lazy :class:`ObjectiveSums` of coding a dask array, block by block.

    Returns a ``dask.delayed.Delayed``; each block is coded where it is
    (on the workers of a ``distributed`` cluster) and the sums are merged
    in a tree.
    """
    return reduce_blocks(
        [X], _objective_block, coder_key(estimator), combine=ObjectiveSums.merge
    )


def stream_partial_fit(
    estimator, X, *, step, fresh=False, n_epochs=1, rng=None, tol=None, alpha_rtol=0.02
):
    """Pass the row blocks of a dask array to ``step``, one computed block at a time.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning
        Read for its ``n_features_in_`` (if fitted), ``history_`` and ``alpha_``
        after each step.
    X : dask.array.Array of shape (n_samples, n_features)
        Checked here; blocks are computed one at a time
        (:func:`~skfeatsparse.utils.iter_blocks`).
    step : callable
        ``step(block, first)``: one ``partial_fit`` on a numpy block; ``first``
        is True for the first block of the stream.
    fresh : bool, default=False
        The stream starts a new fit: ``X`` need not match a previous fit's
        number of features.
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
    n_features = None if fresh else getattr(estimator, "n_features_in_", None)
    X = check_dask_array(X, n_features=n_features, estimator=estimator)
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={X.shape}); need at least 1."
        )
    n_blocks = X.numblocks[0]
    previous, first = None, True
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
                step(block, first)
            first = False
            for warning in caught:
                if issubclass(warning.category, ConvergenceWarning):
                    capped.append(str(warning.message))
                else:
                    warnings.warn_explicit(
                        warning.message, warning.category, warning.filename,
                        warning.lineno,
                    )  # fmt: skip
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
