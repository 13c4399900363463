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

from numbers import Integral, Real

import numpy as np

from ..decomposition._objective import coded_sums
from ..utils import compute_values, is_dask_array
from . import _dask
from ._coders import coding_penalty, final_coder
from ._statistics import METRICS, CodeStatistics, code_statistics, max_atom_cosine

_REPORT_PARAMETERS = """\
    p : float, default=1.0
        Exponent of ``avg_coef_norm`` (the paper's S_p).
    confidence : float in (0, 1) or None, default=None
        Also give, for each metric ``m`` (and ``max_coef``), ``m + "_ci"``: a
        ``(low, high)`` bootstrap interval at this level (e.g. 0.95). It comes
        from the same coding pass: the per-sample terms are resampled
        (Poisson bootstrap over rows, ``n_resamples`` times) and each metric,
        a ratio of means, recomputed; no refitting. It covers the sampling of
        the rows measured, *not* the randomness of the fit (the dictionary's
        seed, its training rows): compare fits with other seeds for that.
    n_resamples : int, default=1000
        Bootstrap resamples for ``confidence``.
    random_state : int, default=0
        Seed of the bootstrap weights (each row's weights depend only on it
        and the row's index, so the interval does not depend on batching).
    dense_threshold : float, default=0.1
        An atom used by more than this share of the samples counts as dense."""

_REPORT_KEYS = """\
    report : dict
        The metrics ``normalized_loss``, ``avg_coef_norm``, ``nonzero_count``,
        ``final_loss``, ``explained_variance``, and ``max_coef``, ``alpha``,
        ``n_samples``; per atom, from the same pass: ``firing_frequency``
        (array of shape (n_components,): share of the samples using each
        atom), ``dead_atoms`` (atoms no sample used), ``dense_atoms`` (atoms
        used by more than ``dense_threshold`` of the samples) and
        ``max_atom_cosine`` (largest cosine between two atoms: near 1 for
        near-duplicates); with ``confidence``, ``<metric>_ci`` pairs."""


def _settings(p, confidence, n_resamples, random_state, dense_threshold):
    """Checked settings: those of ``CodeStatistics`` and those of its report."""
    _check_p(p)
    if confidence is not None and not (
        isinstance(confidence, Real) and 0 < confidence < 1
    ):
        raise ValueError(
            f"confidence must be a number in (0, 1) such as 0.95, got {confidence!r}."
        )
    if not (isinstance(n_resamples, Integral) and n_resamples >= 1):
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}.")
    if not (isinstance(random_state, Integral) and random_state >= 0):
        raise ValueError(
            f"random_state must be a non-negative int, got {random_state!r}."
        )
    if not (isinstance(dense_threshold, Real) and 0 < dense_threshold <= 1):
        raise ValueError(f"dense_threshold must be in (0, 1], got {dense_threshold!r}.")
    stats = dict(
        p=float(p),
        n_resamples=int(n_resamples) if confidence is not None else 0,
        random_state=int(random_state),
    )
    return stats, dict(confidence=confidence, dense_threshold=float(dense_threshold))


def sparsity_report(
    estimator,
    X,
    y=None,
    *,
    p=1.0,
    confidence=None,
    n_resamples=1000,
    random_state=0,
    dense_threshold=0.1,
):
    """Every metric of the paper from one coding pass over ``X``.

    Parameters
    ----------
    estimator : GreedyL1DictionaryLearning or Pipeline ending in one
        Fitted.
    X : array-like of shape (n_samples, n_features) or what the pipeline takes
        Data to code at the estimator's ``transform_alpha``. A
        ``dask.array.Array`` (as the final step sees it) gives a lazy report.
        Measure on rows the dictionary was not fitted on: in-sample values
        are biased low (the dictionary partly memorises its training rows).
    y : ignored
    {parameters}

    Returns
    -------
    {keys}
        For dask input the values are dask arrays, summed block by block with
        a tree reduction: ``float(value)`` computes one, ``dask.compute(report)``
        all of them in one pass. The ValueError for all-zero codes is then
        raised at compute time.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
    >>> from skfeatsparse.metrics import sparsity_report
    >>> X = make_sparse_linear(2000, 8, avg_active=2, random_state=0)
    >>> dl = GreedyL1DictionaryLearning(32, random_state=0).fit(X[:1000])
    >>> report = sparsity_report(dl, X[1000:], confidence=0.95)
    >>> low, high = report["normalized_loss_ci"]
    >>> bool(low < report["normalized_loss"] < high)
    True
    """
    stats, options = _settings(
        p, confidence, n_resamples, random_state, dense_threshold
    )
    final, X = final_coder(estimator, X)
    alpha = coding_penalty(final)
    if is_dask_array(X):
        return _dask.coder_report(final, X, alpha, stats=stats, options=options)
    report = coded_sums(final, X, CodeStatistics(**stats)).report(alpha, **options)
    report["max_atom_cosine"] = max_atom_cosine(final.components_)
    return report


def sparsity_metrics(
    X,
    code,
    components,
    alpha,
    *,
    p=1.0,
    confidence=None,
    n_resamples=1000,
    random_state=0,
    dense_threshold=0.1,
):
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
    {parameters}

    Returns
    -------
    {keys}
        Lazy (dask arrays as values) when any of ``X``, ``code`` and
        ``components`` is a dask array, with NaN checks and the error for
        all-zero codes at compute time.

    Examples
    --------
    >>> import numpy as np
    >>> from skfeatsparse.metrics import sparsity_metrics
    >>> code = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]])  # 2 and 3 equal features
    >>> X = code  # perfect reconstruction on the identity dictionary
    >>> r = sparsity_metrics(X, code, np.eye(3), alpha=0.5)
    >>> r["max_coef"], r["avg_coef_norm"], r["normalized_loss"]
    (1.5, 2.6666666666666665, 2.6666666666666665)
    >>> r["firing_frequency"].tolist(), r["dead_atoms"], r["max_atom_cosine"]
    ([1.0, 1.0, 0.5], 0, 0.0)
    """
    stats, options = _settings(
        p, confidence, n_resamples, random_state, dense_threshold
    )
    if any(is_dask_array(a) for a in (X, code, components)):
        _check_alpha(alpha)
        return _dask.sparsity_metrics(
            X, code, components, alpha, stats=stats, options=options
        )
    total = code_statistics(X, code, components, **stats)
    _check_alpha(alpha)
    report = total.report(alpha, **options)
    report["max_atom_cosine"] = max_atom_cosine(components)
    return report


for _function in (sparsity_report, sparsity_metrics):
    # the placeholders sit indented like the lines around them
    _function.__doc__ = _function.__doc__.format(
        parameters=_REPORT_PARAMETERS.lstrip(), keys=_REPORT_KEYS.lstrip()
    )


def _check_p(p):
    if not (isinstance(p, Real) and np.isfinite(p) and p > 0):
        raise ValueError(f"p must be positive, got {p!r}.")


def _check_alpha(alpha):
    if not (isinstance(alpha, Real) and np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}.")


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
