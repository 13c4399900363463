"""What the metrics need of a coder: the fitted final step, and its penalty."""

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def final_coder(estimator, X):
    """The fitted sparse coder at the end of ``estimator`` and ``X`` as it sees it.

    ``estimator`` is a coder with ``iter_transform`` (a fitted
    :class:`~skfeatsparse.decomposition.GreedyL1DictionaryLearning`) or a
    fitted :class:`~sklearn.pipeline.Pipeline` ending in one; ``X`` is pushed
    through the earlier steps.
    """
    final = estimator
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
    if not (hasattr(final, "iter_transform") and hasattr(final, "inverse_transform")):
        raise TypeError(
            "Expected a fitted GreedyL1DictionaryLearning or a Pipeline ending in "
            f"one, got {type(final).__name__}: the sparsity metrics need the "
            "dictionary and the penalty of the final step. For other coders, use "
            "sparsity_metrics(X, code, components, alpha)."
        )
    check_is_fitted(final)
    if isinstance(estimator, Pipeline) and len(estimator.steps) > 1:
        X = estimator[:-1].transform(X)
    return final, X


def coding_penalty(estimator):
    """The penalty, in our objective's convention, at which ``estimator`` codes.

    Our objective is ``||x - code @ components_||^2 + alpha * ||code||_1``.
    The penalty is ``transform_alpha`` if set, else ``alpha_``, else the
    ``alpha`` parameter. scikit-learn's dictionary learners
    (``DictionaryLearning``, ``MiniBatchDictionaryLearning``, ``SparseCoder``)
    minimise ``0.5 * ||x - code @ components_||^2 + alpha * ||code||_1``
    instead: twice that is our objective at ``2 * alpha``, so for them the
    penalty is ``2 * transform_alpha`` (``2 * alpha`` when it is None).

    Parameters
    ----------
    estimator : estimator instance
        A sparse coder.

    Returns
    -------
    alpha : float

    Examples
    --------
    >>> from sklearn.decomposition import MiniBatchDictionaryLearning
    >>> from skfeatsparse.metrics import coding_penalty
    >>> coding_penalty(MiniBatchDictionaryLearning(alpha=0.1))
    0.2
    """
    from sklearn.decomposition import (
        DictionaryLearning,
        MiniBatchDictionaryLearning,
        SparseCoder,
    )

    params = estimator.get_params(deep=False)
    alpha = params.get("transform_alpha")
    sklearn_coders = DictionaryLearning | MiniBatchDictionaryLearning | SparseCoder
    if isinstance(estimator, sklearn_coders):
        # As their transform: transform_alpha, else alpha (SparseCoder: 1.0).
        if alpha is None:
            alpha = params.get("alpha", 1.0)
        return 2.0 * float(alpha)
    if alpha is None:
        alpha = getattr(estimator, "alpha_", None)
    if alpha is None:
        alpha = params.get("alpha")
    if not isinstance(alpha, int | float | np.number) or isinstance(alpha, bool):
        raise TypeError(
            f"Cannot tell the L1 penalty {type(estimator).__name__} codes with: it "
            "has no numeric transform_alpha, alpha_ or alpha. Give it an alpha_ "
            "attribute holding the penalty of ||x - code @ components_||^2 + "
            "alpha * ||code||_1."
        )
    return float(alpha)
