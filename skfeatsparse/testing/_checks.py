"""Property checks for any sparse coder, in the spirit of sklearn's ``check_estimator``.

A *sparse coder* here is any estimator with ``fit``, ``transform`` (returning
the code, shape (n_samples, n_components)) and ``components_`` (shape
(n_components, n_features)). Each check is a function ``check_xxx(name,
estimator)`` that clones the estimator, fits it on small data (drawn with
hypothesis where the property is a "for all"), and raises ``AssertionError``
when the property fails, or :class:`unittest.SkipTest` when it does not apply.

To measure the paper's metrics on a coder that is not ours, the checks need
two conventions:

* **The penalty.** Our objective is ``||x - code @ components_||^2 + alpha *
  ||code||_1``. The metrics are evaluated at the penalty ``transform`` codes
  with: ``transform_alpha`` if the estimator has one set, else ``alpha_``,
  else its ``alpha`` parameter. scikit-learn's dictionary learners
  (``DictionaryLearning``, ``MiniBatchDictionaryLearning``, ``SparseCoder``)
  minimise ``0.5 * ||x - code @ components_||^2 + alpha * ||code||_1`` instead:
  twice that is our objective at ``2 * alpha``, so for them the penalty is
  ``2 * transform_alpha`` (``2 * alpha`` when ``transform_alpha`` is None).
* **The centring.** If the estimator has ``mean_`` (ours subtracts the training
  mean), the data are centred with it before the metrics see them.

Non-negative codes are checked only where promised: by the ``positive``
argument of :func:`check_sparse_coder`, else by a ``positive_code`` parameter
(scikit-learn's dictionary learners), else for
:class:`~skfeatsparse.decomposition.GreedyL1DictionaryLearning`, whose codes are
non-negative by construction.

Two checks hold for any coder of the L1 objective and catch codes that are
wrong though every scale-invariant metric of them looks right (codes off by a
factor keep S_1, N_0 and the normalized loss's ratios):
:func:`check_no_atom_lowers_the_objective` (no atom's correlation with the
residual above ``alpha / 2``) and
:func:`check_rescaled_codes_do_not_lower_the_objective` (codes times 0.9 or
1.1 are not better). scikit-learn's ``DictionaryLearning`` and
``MiniBatchDictionaryLearning`` with ``positive_code=True``,
``fit_algorithm="cd"`` and ``transform_algorithm="lasso_cd"`` pass both (at
our penalty ``2 * alpha``) and every other check except
:func:`check_scale_equivariance` and :func:`check_scale_invariant_metrics`,
which a fixed ``alpha`` fails by design.

The whole suite takes about 19 s on ``GreedyL1DictionaryLearning(32,
max_iter=5)`` on one core (measured; plus a few seconds to compile its
kernels on first use).

Hypothesis runs with few examples, ``derandomize=True`` (the same examples
every run, like scikit-learn's fixed seeds) and no shrinking (each example is
a fit), so a full run on a small estimator takes seconds.
"""

import re
import warnings
from dataclasses import dataclass
from functools import partial
from unittest import SkipTest

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from ..datasets import make_sparse_linear
from ..decomposition import GreedyL1DictionaryLearning
from ..metrics import coding_penalty, sparsity_metrics
from ._strategies import control_data, sparse_linear_data

# Relative tolerances: an estimator that is equivariant in exact arithmetic
# passes these comfortably; a fixed penalty misses them by orders of magnitude.
SCALE_RTOL = 1e-3
ORDER_RTOL = 1e-6
# The one-atom steps left by a coder may lower its objective by this share.
KKT_RTOL = 1e-4
# Rescaling the codes by 0.9 or 1.1 may lower the objective by this share.
RESCALE_RTOL = 1e-6
# Recovery of the generator's true S_1 on easy data (d=16, a=2).
S1_RTOL = 0.25
# Metrics that do not change when X is multiplied by c > 0 (final_loss does).
SCALE_INVARIANT_METRICS = (
    "normalized_loss",
    "avg_coef_norm",
    "nonzero_count",
    "explained_variance",
)


def _settings(max_examples):
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate),
        print_blob=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.nested_given,
        ],
    )


# ------------------------------------------------------------------ helpers
def _fresh(estimator):
    """An unfitted clone with a fixed seed, so two fits differ only by their data."""
    estimator = clone(estimator)
    if estimator.get_params(deep=False).get("random_state", 0) is None:
        estimator.set_params(random_state=0)
    return estimator


def _fit(estimator, X):
    with warnings.catch_warnings():
        # Tiny data often stop iterative solvers early; irrelevant to these checks.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _fresh(estimator).fit(X)


def _transform(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        code = estimator.transform(X)
    return code.toarray() if hasattr(code, "toarray") else np.asarray(code)


def _metrics(estimator, X, code=None):
    """The paper's metrics of ``X`` under a fitted coder (see the module docstring)."""
    if code is None:
        code = _transform(estimator, X)
    mean = getattr(estimator, "mean_", None)
    Xc = X - mean if mean is not None else X
    return sparsity_metrics(Xc, code, estimator.components_, coding_penalty(estimator))


def _promises_positive_code(estimator, positive):
    if positive is not None:
        return bool(positive)
    params = estimator.get_params(deep=False)
    if "positive_code" in params:
        return bool(params["positive_code"])
    return isinstance(estimator, GreedyL1DictionaryLearning)


def _rel_diff(a, b):
    """Frobenius distance of ``a`` and ``b`` over the larger norm (0 if both are 0)."""
    scale = max(float(np.linalg.norm(b)), float(np.linalg.norm(a)))
    return float(np.linalg.norm(a - b)) / scale if scale > 0 else 0.0


def _format(report):
    return ", ".join(f"{k}={report[k]:.6g}" for k in SCALE_INVARIANT_METRICS)


# Powers of two, so that c * X is exact in floating point and an equivariant
# algorithm gives exactly c times its results: other factors round, and an
# ill-conditioned step (a least-squares dictionary step over near-duplicate
# atoms on noise-free data) amplifies that rounding far beyond any tolerance,
# which says nothing about equivariance. 2**2 to 2**10, either way.
_SCALES = st.tuples(st.integers(2, 10), st.booleans()).map(
    lambda t: 2.0 ** (t[0] if t[1] else -t[0])
)


# ------------------------------------------------------------------- checks
def check_fitted_attributes(name, estimator):
    """``fit`` returns self; ``components_`` and the code have matching shapes."""
    X = make_sparse_linear(300, 8, n_components=16, avg_active=2, random_state=0)
    est = _fresh(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert est.fit(X) is est, f"{name}.fit(X) must return the estimator itself."
    components = np.asarray(est.components_)
    assert components.ndim == 2 and components.shape[1] == 8, (
        f"{name}.components_ must have shape (n_components, n_features=8), got "
        f"{components.shape}."
    )
    code = _transform(est, X)
    assert code.shape == (300, components.shape[0]), (
        f"{name}.transform(X) must have shape (n_samples, n_components) = "
        f"{(300, components.shape[0])}, got {code.shape}."
    )
    assert np.isfinite(code).all(), f"{name}.transform(X) returned non-finite codes."


def check_non_negative_codes(name, estimator, positive=None):
    """Codes are >= 0 on sparse-linear and control data, where that is promised.

    Strict: even -1e-18 fails, as the metrics count it as an active feature.
    """
    if not _promises_positive_code(estimator, positive):
        raise SkipTest(
            f"{name} does not promise non-negative codes (no positive_code=True); "
            "pass positive=True to check them anyway."
        )

    @_settings(max_examples=3)
    @given(st.one_of(sparse_linear_data(scale=(1e-2, 1e2)), control_data()))
    def codes_are_non_negative(data):
        code = _transform(_fit(estimator, data.X), data.X)
        negative = code < 0
        assert not negative.any(), (
            f"{name} promises non-negative codes, but {int(negative.sum())} of "
            f"{code.size} entries are negative (the most negative is "
            f"{code.min():.3g}, the largest code {np.abs(code).max():.3g}). "
            "Round-off negatives count as active features in nonzero_count: "
            "clip them (np.maximum(code, 0))."
        )

    codes_are_non_negative()


def check_scale_equivariance(name, estimator):
    """Fit on ``c * X``, then code ``c * X``: the codes are ``c`` times those of ``X``.

    This is what makes the paper's metrics scale-invariant through the whole
    fit. A fixed penalty ``alpha`` cannot pass: it must scale with the data.
    """

    @_settings(max_examples=3)
    @given(sparse_linear_data(scale=1.0), _SCALES)
    def codes_scale_with_the_data(data, c):
        X = data.X
        code = _transform(_fit(estimator, X), X)
        code_c = _transform(_fit(estimator, c * X), c * X)
        error = _rel_diff(code_c, c * code)
        assert error <= SCALE_RTOL, (
            f"{name} is not scale-equivariant: fitted on c * X with c={c:.4g}, its "
            f"codes of c * X differ from c times its codes of X by {error:.3g} "
            f"(relative Frobenius norm; tolerance {SCALE_RTOL:g}). Its sparsity "
            "metrics then depend on the units of X. A fixed penalty alpha does this; "
            "scale the penalty with the data (as alpha='auto' does)."
        )

    codes_scale_with_the_data()


def check_scale_invariant_metrics(name, estimator):
    """Fit and measure on ``c * X``: the scale-invariant metrics are unchanged.

    Normalized loss, S_1, N_0 and explained variance, to ``SCALE_RTOL``.
    """

    @_settings(max_examples=3)
    @given(sparse_linear_data(scale=1.0), _SCALES)
    def metrics_ignore_the_scale(data, c):
        X = data.X
        before = _metrics(_fit(estimator, X), X)
        try:
            after = _metrics(_fit(estimator, c * X), c * X)
        except ValueError as error:
            raise AssertionError(
                f"{name} fitted and measured on c * X with c={c:.4g}: {error} "
                f"(on X: {_format(before)})."
            ) from error
        changed = {
            k: (before[k], after[k])
            for k in SCALE_INVARIANT_METRICS
            if not np.isclose(after[k], before[k], rtol=SCALE_RTOL, atol=0)
        }
        assert not changed, (
            f"{name}'s scale-invariant metrics change when X is multiplied by "
            f"c={c:.4g} before fitting (relative tolerance {SCALE_RTOL:g}): "
            + ", ".join(f"{k} {a:.6g} -> {b:.6g}" for k, (a, b) in changed.items())
            + ". The penalty must scale with the data (as alpha='auto' does)."
        )

    metrics_ignore_the_scale()


def check_sample_order_invariance(name, estimator):
    """Permuting the rows of ``X`` leaves the metrics of their codes unchanged."""

    @_settings(max_examples=3)
    @given(sparse_linear_data(scale=1.0), st.integers(0, 2**32 - 1))
    def metrics_ignore_the_order(data, seed):
        X = data.X
        est = _fit(estimator, X)
        order = np.random.default_rng(seed).permutation(X.shape[0])
        before, after = _metrics(est, X), _metrics(est, X[order])
        changed = {
            k: (before[k], after[k])
            for k in (*SCALE_INVARIANT_METRICS, "final_loss")
            if not np.isclose(after[k], before[k], rtol=ORDER_RTOL, atol=0)
        }
        assert not changed, (
            f"{name}'s metrics depend on the order of the samples it codes "
            f"(relative tolerance {ORDER_RTOL:g}): "
            + ", ".join(f"{k} {a:.9g} -> {b:.9g}" for k, (a, b) in changed.items())
            + ". transform must code each sample on its own."
        )

    metrics_ignore_the_order()


def check_recovers_true_s1(name, estimator):
    """On easy sparse-linear data (d=16, 32 features, a=2), S_1 is the true S_1 +- 25%.

    The true S_1 is that of the generator's own code, ``code.sum(1).mean() /
    code.max(1).mean()`` (about 1.8 here, below a/2 = 1: see
    :func:`~skfeatsparse.datasets.make_sparse_linear`).
    """
    X, _, code = make_sparse_linear(
        2000,
        16,
        n_components=32,
        avg_active=2,
        noise=0.05,
        return_components=True,
        random_state=0,
    )
    true_s1 = float(code.sum(axis=1).mean() / code.max(axis=1).mean())
    report = _metrics(_fit(estimator, X), X)
    s1 = report["avg_coef_norm"]
    assert abs(s1 - true_s1) <= S1_RTOL * true_s1, (
        f"{name} measures S_1={s1:.3g} on easy sparse-linear data whose true S_1 is "
        f"{true_s1:.3g} (tolerance {S1_RTOL:.0%}; normalized loss "
        f"{report['normalized_loss']:.3g}, N_0 {report['nonzero_count']:.3g}, at "
        f"penalty {report['alpha']:.3g}). Check n_components (an overcomplete "
        "dictionary is needed, e.g. 4 x n_features) and the penalty."
    )


def _coded(estimator, X):
    """``(X as coded, code, components, alpha)`` in float64, for the L1 checks."""
    code = _transform(estimator, X).astype(np.float64)
    mean = getattr(estimator, "mean_", None)
    Xc = np.asarray(X, dtype=np.float64)
    if mean is not None:
        Xc = Xc - np.asarray(mean, dtype=np.float64)
    components = np.asarray(estimator.components_, dtype=np.float64)
    return Xc, code, components, coding_penalty(estimator)


def _l1_objective(Xc, code, components, alpha):
    """Total ``||x - code @ components||^2 + alpha * ||code||_1`` over samples."""
    residual = Xc - code @ components
    return float(np.einsum("ij,ij->", residual, residual)) + alpha * float(
        np.abs(code).sum()
    )


def check_no_atom_lowers_the_objective(name, estimator, positive=None):
    """No atom's correlation with the residual exceeds ``alpha / 2`` (KKT, one atom).

    For any coder of ``min ||x - code @ components_||^2 + alpha * ||code||_1``
    (with ``code >= 0`` where non-negative codes are promised), at its
    minimiser no atom ``d`` has ``<residual, d> > alpha / 2`` (``|<residual,
    d>|`` for signed codes): else adding ``t = (<residual, d> - alpha / 2) /
    ||d||^2`` of it would lower the sample's objective by ``t^2 ||d||^2``.
    The greedy pursuit stops only when this holds (up to its ``rtol`` and its
    step cap), a Lasso solver at convergence. The tolerance: those one-atom
    gains, each sample's best, sum to at most ``KKT_RTOL`` times the
    objective. A coder whose codes are off by a factor fails by orders of
    magnitude (halved codes: about 0.4 of the objective).
    """
    signed = not _promises_positive_code(estimator, positive)

    @_settings(max_examples=3)
    @given(sparse_linear_data(scale=(1e-2, 1e2)))
    def no_atom_lowers_the_objective(data):
        Xc, code, D, alpha = _coded(_fit(estimator, data.X), data.X)
        correlation = (Xc - code @ D) @ D.T
        if signed:
            correlation = np.abs(correlation)
        norms = np.linalg.norm(D, axis=1)
        step = (correlation - alpha / 2) / np.where(norms > 0, norms, np.inf)
        best = np.maximum(step.max(axis=1), 0.0)
        gain, objective = float(best @ best), _l1_objective(Xc, code, D, alpha)
        worst = float(correlation.max() / (alpha / 2))
        assert gain <= KKT_RTOL * objective, (
            f"{name}'s codes are not minimisers of ||x - code @ components_||^2 + "
            f"alpha * ||code||_1 at its penalty alpha={alpha:.4g}: an atom's "
            f"correlation with a residual reaches {worst:.4g} x alpha / 2, and one "
            f"more step on the best atom of each sample would lower the objective by "
            f"{gain / objective:.3g} of itself (tolerance {KKT_RTOL:g}). Check "
            "that transform codes at the penalty coding_penalty reads "
            "(transform_alpha, alpha_ or alpha) and runs to convergence."
        )

    no_atom_lowers_the_objective()


def check_rescaled_codes_do_not_lower_the_objective(name, estimator):
    """Multiplying every code by ``t`` in {0.9, 1.1} does not lower the objective.

    Along ``t -> t * code`` the L1 objective is a parabola whose minimum is at
    ``t = 1`` for an exact minimiser; a coder off by a factor (codes halved,
    doubled, coded at another penalty) loses to one of the two 10% steps.
    The steps, not the optimal ``t``, are tested, as the greedy pursuit's codes
    are slightly too large for it (the optimal ``t`` is about 0.97, a gain of
    about 1% of the objective, on the check's data), which a 10% step does
    not exploit. The objective may fall by ``RESCALE_RTOL`` (relative).
    """

    @_settings(max_examples=3)
    @given(sparse_linear_data(scale=(1e-2, 1e2)))
    def rescaling_does_not_help(data):
        Xc, code, D, alpha = _coded(_fit(estimator, data.X), data.X)
        objective = _l1_objective(Xc, code, D, alpha)
        fitted = code @ D
        norm = float(np.einsum("ij,ij->", fitted, fitted))
        best_t = (
            (float(np.einsum("ij,ij->", Xc, fitted)) - alpha * np.abs(code).sum() / 2)
            / norm
            if norm > 0
            else 1.0
        )
        for t in (0.9, 1.1):
            rescaled = _l1_objective(Xc, t * code, D, alpha)
            assert rescaled >= objective * (1 - RESCALE_RTOL), (
                f"{name}'s codes times {t:g} lower the objective ||x - code @ "
                f"components_||^2 + alpha * ||code||_1 at its penalty "
                f"alpha={alpha:.4g} from {objective:.6g} to {rescaled:.6g}: the "
                f"codes are off by a factor (the best factor is {best_t:.3g}). "
                "Check that transform codes at the penalty coding_penalty reads "
                "(sklearn's learners: 2 x transform_alpha) and returns the codes "
                "unscaled."
            )

    rescaling_does_not_help()


def _raises(name, call, what, *needles):
    """Run ``call``; it must raise ValueError mentioning every needle (any case)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            call()
    except ValueError as error:
        message = str(error)
        missing = [n for n in needles if n.lower() not in message.lower()]
        assert not missing, (
            f"{name} raised ValueError on {what}, but its message {message!r} does "
            f"not mention {missing}."
        )
        return
    except Exception as error:
        raise AssertionError(
            f"{name} raised {type(error).__name__} on {what}; expected ValueError."
        ) from error
    raise AssertionError(f"{name} accepted {what} silently; expected a ValueError.")


def check_fit_rejects_non_finite(name, estimator):
    """``fit`` on data with a NaN or an infinity raises ValueError saying so."""
    X = make_sparse_linear(100, 8, n_components=16, avg_active=2, random_state=0)
    for value, needle in ((np.nan, "NaN"), (np.inf, "inf")):
        bad = X.copy()
        bad[3, 2] = value
        fit = partial(_fresh(estimator).fit, bad)
        _raises(name, fit, f"X containing {value}", needle)


def check_fit_rejects_1d(name, estimator):
    """``fit`` on a 1-D array raises ValueError asking for 2-D input."""
    x = make_sparse_linear(100, 1, n_components=4, avg_active=1, random_state=0).ravel()
    _raises(name, lambda: _fresh(estimator).fit(x), "a 1-D X", "2D")


def check_transform_rejects_wrong_n_features(name, estimator):
    """``transform`` with other n_features than ``fit``: ValueError naming both."""
    X = make_sparse_linear(200, 7, n_components=14, avg_active=2, random_state=0)
    est = _fit(estimator, X)
    _raises(
        name,
        lambda: est.transform(X[:, :5]),
        "X with 5 features after fitting on 7",
        "5",
        "7",
    )


def check_transform_before_fit(name, estimator):
    """``transform`` before ``fit`` raises scikit-learn's NotFittedError."""
    X = make_sparse_linear(20, 4, n_components=8, avg_active=2, random_state=0)
    try:
        _fresh(estimator).transform(X)
    except NotFittedError:
        return
    except Exception as error:
        raise AssertionError(
            f"{name}.transform before fit raised {type(error).__name__}: {error}; "
            "expected NotFittedError (sklearn.utils.validation.check_is_fitted)."
        ) from error
    raise AssertionError(f"{name}.transform before fit returned instead of raising.")


CHECKS = (
    check_fitted_attributes,
    check_non_negative_codes,
    check_scale_equivariance,
    check_scale_invariant_metrics,
    check_sample_order_invariance,
    check_recovers_true_s1,
    check_no_atom_lowers_the_objective,
    check_rescaled_codes_do_not_lower_the_objective,
    check_fit_rejects_non_finite,
    check_fit_rejects_1d,
    check_transform_rejects_wrong_n_features,
    check_transform_before_fit,
)


# ------------------------------------------------------------------ runners
@dataclass(frozen=True)
class CheckResult:
    """Outcome of one check: ``status`` is "passed", "failed" or "skipped"."""

    check: str
    status: str
    message: str = ""

    @property
    def passed(self):
        return self.status == "passed"


def _yield_checks(estimator, checks=None, positive=None):
    """``(check_name, partial(check, name))`` for the selected checks."""
    by_name = {check.__name__: check for check in CHECKS}
    if checks is None:
        checks = CHECKS
    selected = []
    for check in checks:
        key = check if isinstance(check, str) else getattr(check, "__name__", None)
        if key not in by_name:
            raise ValueError(f"Unknown check {check!r}; choose from {sorted(by_name)}.")
        selected.append(by_name[key])
    name = type(estimator).__name__
    for check in selected:
        bound = partial(check, name)
        if check in (check_non_negative_codes, check_no_atom_lowers_the_objective):
            bound = partial(check, name, positive=positive)
        yield check.__name__, bound


def check_sparse_coder(estimator, *, checks=None, positive=None, raise_on_failure=True):
    """Run the sparsity property checks on a sparse coder.

    Parameters
    ----------
    estimator : estimator instance
        Unfitted; anything with ``fit``, ``transform`` and ``components_``.
        Each check fits a clone (with ``random_state=0`` if it was None).
    checks : iterable of check functions or names, default=None
        Which checks to run; ``None`` runs all of :data:`CHECKS`, in order.
    positive : bool, default=None
        Whether codes are promised non-negative; ``None`` decides from a
        ``positive_code`` parameter, or ``True`` for GreedyL1DictionaryLearning.
    raise_on_failure : bool, default=True
        Re-raise the first failing check's exception (like scikit-learn's
        ``check_estimator``). ``False`` runs every check and reports.

    Returns
    -------
    report : dict of str to CheckResult
        For every check by name: ``status`` ("passed", "failed", "skipped") and
        ``message`` (the failure or skip reason).

    Examples
    --------
    >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
    >>> from skfeatsparse.testing import check_sparse_coder
    >>> est = GreedyL1DictionaryLearning(32, max_iter=3, random_state=0)
    >>> report = check_sparse_coder(est, checks=["check_transform_before_fit"])
    >>> report["check_transform_before_fit"].status
    'passed'
    """
    report = {}
    for check_name, check in _yield_checks(estimator, checks, positive):
        try:
            check(estimator)
        except SkipTest as skip:
            report[check_name] = CheckResult(check_name, "skipped", str(skip))
        except Exception as error:
            if raise_on_failure:
                raise
            report[check_name] = CheckResult(check_name, "failed", _message(error))
        else:
            report[check_name] = CheckResult(check_name, "passed")
    return report


def _message(error):
    text = f"{type(error).__name__}: {error}"
    # Hypothesis attaches the falsifying example as a note: keep it.
    return "\n".join([text, *getattr(error, "__notes__", ())])


def _estimator_id(estimator):
    return re.sub(r"\s", "", str(estimator))


def parametrize_with_sparsity_checks(
    estimators, *, positive=None, expected_failed_checks=None
):
    """A ``pytest.mark.parametrize`` over every (estimator, check) pair.

    Like :func:`sklearn.utils.estimator_checks.parametrize_with_checks`: the
    test receives ``estimator`` and ``check`` and calls ``check(estimator)``.

    Parameters
    ----------
    estimators : list of estimator instances
    positive : bool, default=None
        As in :func:`check_sparse_coder`.
    expected_failed_checks : dict or callable, default=None
        ``{check_name: reason}``, or a callable taking an estimator and
        returning one; those pairs are marked ``xfail(strict=True)``, so a
        check that starts passing is noticed.

    Returns
    -------
    decorator : pytest.mark.parametrize

    Examples
    --------
    >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
    >>> from skfeatsparse.testing import parametrize_with_sparsity_checks
    >>> @parametrize_with_sparsity_checks([GreedyL1DictionaryLearning(32, max_iter=5)])
    ... def test_sparsity_checks(estimator, check):
    ...     check(estimator)
    """
    import pytest  # only test code needs pytest

    params = []
    for estimator in estimators:
        expected = expected_failed_checks or {}
        if callable(expected):
            expected = expected(estimator) or {}
        for check_name, check in _yield_checks(estimator, positive=positive):
            marks = []
            if check_name in expected:
                reason = expected[check_name]
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            params.append(
                pytest.param(
                    estimator,
                    check,
                    marks=marks,
                    id=f"{_estimator_id(estimator)}-{check_name}",
                )
            )
    return pytest.mark.parametrize("estimator, check", params)
