"""The paper's sparsity metrics (Sec. 3) as scikit-learn scorers and array functions.

Scorers have scikit-learn's signature ``scorer(estimator, X, y=None) -> float``
and accept a fitted :class:`~skfeatsparse.decomposition.GreedyL1DictionaryLearning`
or a fitted :class:`~sklearn.pipeline.Pipeline` ending in one (``X`` is pushed
through the earlier steps first). They return the metric itself -- lower
normalized loss means sparser -- so ``cross_val_score(..., scoring=normalized_loss)``
prints the paper's numbers; the ``neg_*`` variants are for model selection,
where scikit-learn maximises.

Dask arrays: :func:`sparsity_report` and :func:`sparsity_metrics` take
``dask.array.Array`` input and return lazy reports (0-d dask arrays as
values, summed block by block); the scorers compute them (one pass) and
return floats, as scikit-learn's scorer contract asks.
"""

from numbers import Real

import numpy as np

from ..decomposition._objective import coded_sums
from ..utils import compute_values, is_dask_array
from . import _dask
from ._coders import coding_penalty, final_coder
from ._statistics import METRICS, CodeStatistics, code_statistics


def sparsity_report(estimator, X, y=None, *, p=1.0):
    """Every metric of the paper from one coding pass over ``X``.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning or Pipeline ending in one
        Fitted.
    X : array-like of shape (n_samples, n_features) or what the pipeline takes
        Data to code at the estimator's ``transform_alpha``. A
        ``dask.array.Array`` (as the final step sees it) gives a lazy report.
    y : ignored
    p : float, default=1.0
        Exponent of ``avg_coef_norm`` (the paper's S_p).

    Returns
    -------
    report : dict
        ``normalized_loss``, ``avg_coef_norm``, ``nonzero_count``,
        ``final_loss``, ``explained_variance``, ``max_coef``, ``alpha``,
        ``n_samples``. For dask input the values are 0-d dask arrays, summed
        block by block with a tree reduction: ``float(value)`` computes one,
        ``dask.compute(report)`` all of them in one pass. The ValueError for
        all-zero codes is then raised at compute time.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
    >>> from skfeatsparse.metrics import sparsity_report
    >>> X = make_sparse_linear(1000, 8, avg_active=2, random_state=0)
    >>> dl = GreedyL1DictionaryLearning(32, random_state=0).fit(X)
    >>> sorted(sparsity_report(dl, X))[:3]
    ['alpha', 'avg_coef_norm', 'explained_variance']
    """
    _check_p(p)
    final, X = final_coder(estimator, X)
    alpha = coding_penalty(final)
    if is_dask_array(X):
        return _dask.coder_report(final, X, alpha, p=p)
    return coded_sums(final, X, CodeStatistics(p=p)).report(alpha)


def sparsity_metrics(X, code, components, alpha, *, p=1.0):
    """The paper's metrics from arrays, without an estimator.

    Parameters
    ----------
    X : array-like or dask.array.Array of shape (n_samples, n_features)
        The data as the coder saw it (already centred if the coder centres).
    code : array-like, sparse matrix or dask.array.Array of shape \
            (n_samples, n_components)
        Codes of ``X``, non-negative for the paper's coder.
    components : array-like or dask.array.Array of shape (n_components, n_features)
        The dictionary, one atom per row.
    alpha : float
        The penalty (the paper's lambda) the objective is evaluated at, > 0.
    p : float, default=1.0
        Exponent of ``avg_coef_norm``.

    Returns
    -------
    report : dict
        As :func:`sparsity_report`; lazy (0-d dask arrays as values) when any
        of ``X``, ``code`` and ``components`` is a dask array, with NaN checks
        and the error for all-zero codes at compute time.

    Examples
    --------
    >>> import numpy as np
    >>> from skfeatsparse.metrics import sparsity_metrics
    >>> code = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]])  # 2 and 3 equal features
    >>> X = code  # perfect reconstruction on the identity dictionary
    >>> r = sparsity_metrics(X, code, np.eye(3), alpha=0.5)
    >>> r["max_coef"], r["avg_coef_norm"], r["normalized_loss"]
    (1.5, 2.6666666666666665, 2.6666666666666665)
    """
    if any(is_dask_array(a) for a in (X, code, components)):
        _check_penalty(alpha, p)
        return _dask.sparsity_metrics(X, code, components, alpha, p=p)
    stats = code_statistics(X, code, components, p=p)
    _check_penalty(alpha, p)
    return stats.report(alpha)


def _check_p(p):
    if not (isinstance(p, Real) and np.isfinite(p) and p > 0):
        raise ValueError(f"p must be positive, got {p!r}.")


def _check_penalty(alpha, p):
    if not (isinstance(alpha, Real) and np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}.")
    _check_p(p)


def _make_scorer(metric, sign):
    def scorer(estimator, X, y=None, **kwargs):
        return sign * float(sparsity_report(estimator, X, **kwargs)[metric])

    prefix = "neg_" if sign < 0 else ""
    scorer.__name__ = scorer.__qualname__ = prefix + metric
    scorer.__module__ = __name__
    meaning = "Minus the" if sign < 0 else "The"
    scorer.__doc__ = (
        f"{meaning} ``{metric}`` of ``X`` under a fitted estimator (a scorer).\n\n"
        "``scorer(estimator, X, y=None)``; ``estimator`` is a fitted\n"
        "GreedyL1DictionaryLearning or a Pipeline ending in one. See\n"
        ":func:`sparsity_report` for the definitions. A dask array ``X`` is\n"
        "coded block by block; the score is computed and returned as a float."
        + ("\n\nFor model selection: greater is better." if sign < 0 else "")
    )
    return scorer


normalized_loss = _make_scorer("normalized_loss", 1)
avg_coef_norm = _make_scorer("avg_coef_norm", 1)
nonzero_count = _make_scorer("nonzero_count", 1)
final_loss = _make_scorer("final_loss", 1)
explained_variance = _make_scorer("explained_variance", 1)
neg_normalized_loss = _make_scorer("normalized_loss", -1)
neg_avg_coef_norm = _make_scorer("avg_coef_norm", -1)
neg_nonzero_count = _make_scorer("nonzero_count", -1)
neg_final_loss = _make_scorer("final_loss", -1)


def make_avg_coef_norm_scorer(p=1.0, *, greater_is_better=True):
    """A scorer for the average coefficient norm S_p with another exponent ``p``.

    Parameters
    ----------
    p : float, default=1.0
        The exponent, > 0.
    greater_is_better : bool, default=True
        As in :func:`sklearn.metrics.make_scorer`: True returns S_p itself (as
        :func:`avg_coef_norm` does); False returns minus S_p (a lower S_p,
        sparser codes, then scores higher), for model selection.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, named ``avg_coef_norm_p<p>``
        (``neg_avg_coef_norm_p<p>`` when ``greater_is_better=False``).

    Examples
    --------
    >>> from skfeatsparse.metrics import make_avg_coef_norm_scorer
    >>> s2 = make_avg_coef_norm_scorer(p=2)
    >>> s2.__name__
    'avg_coef_norm_p2'
    """
    _check_p(p)
    sign = 1 if greater_is_better else -1

    def scorer(estimator, X, y=None):
        return sign * float(sparsity_report(estimator, X, p=p)["avg_coef_norm"])

    scorer.__name__ = ("neg_" if sign < 0 else "") + f"avg_coef_norm_p{p:g}"
    return scorer


def sparsity_scores(estimator, X, y=None):
    """All five metrics from one coding pass, for ``cross_validate(scoring=...)``.

    A callable scorer returning a dict: scikit-learn reports each key as its
    own score, and the data are coded once instead of five times (also for a
    dask array ``X``: the lazy report is computed in one pass).
    """
    report = compute_values(sparsity_report(estimator, X))
    return {name: float(report[name]) for name in METRICS}
