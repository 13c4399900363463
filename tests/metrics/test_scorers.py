"""skfeatsparse.metrics: the paper's sparsity metrics (Sec. 3), arrays and scorers."""

import copy
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import (
    avg_coef_norm,
    explained_variance,
    final_loss,
    make_avg_coef_norm_scorer,
    neg_avg_coef_norm,
    neg_final_loss,
    neg_nonzero_count,
    neg_normalized_loss,
    nonzero_count,
    normalized_loss,
    sparsity_metrics,
    sparsity_report,
    sparsity_scores,
)

from .._reference import assert_reports_close, unit_rows

SCALE_INVARIANT = (
    "normalized_loss",
    "avg_coef_norm",
    "nonzero_count",
    "explained_variance",
)
SCORERS = {
    "normalized_loss": normalized_loss,
    "avg_coef_norm": avg_coef_norm,
    "nonzero_count": nonzero_count,
    "final_loss": final_loss,
    "explained_variance": explained_variance,
}
NEG_SCORERS = {
    "normalized_loss": neg_normalized_loss,
    "avg_coef_norm": neg_avg_coef_norm,
    "nonzero_count": neg_nonzero_count,
    "final_loss": neg_final_loss,
}

# Few iterations on small data: the greedy coder hits its step cap; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _estimator(**params):
    defaults = {"n_components": 24, "max_iter": 4, "alpha_rounds": 2, "random_state": 0}
    return GreedyL1DictionaryLearning(**{**defaults, **params})


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clone(estimator).fit(X)


@pytest.fixture(scope="module")
def X():
    return make_sparse_linear(
        400, 8, n_components=16, avg_active=2, noise=0.05, random_state=0
    )


@pytest.fixture(scope="module")
def fitted(X):
    return _fit(_estimator(), X)


# ------------------------------------------------------- hand-computed cases
def test_metrics_of_a_perfect_reconstruction_by_hand():
    code = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]])
    r = sparsity_metrics(code, code, np.eye(3), alpha=0.5)
    assert r["max_coef"] == pytest.approx(1.5)  # mean of the row maxima 1 and 2
    assert r["avg_coef_norm"] == pytest.approx(4 / 1.5)  # mean row sum 4
    assert r["final_loss"] == pytest.approx(0.5 * 4)  # no error, alpha * mean L1
    assert r["normalized_loss"] == pytest.approx(2 / (0.5 * 1.5))
    assert r["nonzero_count"] == pytest.approx(2.5)
    assert r["explained_variance"] == pytest.approx(1.0)
    assert r["alpha"] == 0.5 and r["n_samples"] == 2


def test_metrics_with_reconstruction_error_by_hand():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    code = np.array([[0.5, 0.0], [0.0, 1.0]])
    r = sparsity_metrics(X, code, np.eye(2), alpha=1.0)
    # squared errors 0.25 and 1; L1 norms 0.5 and 1; maxima 0.5 and 1
    assert r["final_loss"] == pytest.approx((0.25 + 0.5 + 1 + 1) / 2)
    assert r["max_coef"] == pytest.approx(0.75)
    assert r["avg_coef_norm"] == pytest.approx(1.0)
    assert r["normalized_loss"] == pytest.approx(1.375 / 0.75)
    assert r["nonzero_count"] == pytest.approx(1.0)
    # total sum of squares about the mean (0.5, 1): 0.25 * 2 + 1 * 2 = 2.5
    assert r["explained_variance"] == pytest.approx(1 - 1.25 / 2.5)


def test_non_orthogonal_dictionary_by_hand():
    s = 1 / np.sqrt(2)
    components = np.array([[1.0, 0.0], [s, s]])
    X, code = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])
    r = sparsity_metrics(X, code, components, alpha=2.0)
    # reconstruction (1 + s, s): squared error 2 s^2 = 1; L = 1 + 2 * 2
    assert r["final_loss"] == pytest.approx(5.0)
    assert r["normalized_loss"] == pytest.approx(5.0 / 2.0)
    assert r["avg_coef_norm"] == pytest.approx(2.0)


def test_avg_coef_norm_with_p2_by_hand():
    code = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]])
    r = sparsity_metrics(code, code, np.eye(3), alpha=0.5, p=2)
    # mean sum of squares (2 + 12) / 2 = 7 over max_coef^2 = 2.25
    assert r["avg_coef_norm"] == pytest.approx(7 / 2.25)
    s2 = sparsity_metrics(code, code, np.eye(3), alpha=0.5, p=0.5)["avg_coef_norm"]
    assert s2 == pytest.approx(np.mean([2, 3 * np.sqrt(2)]) / np.sqrt(1.5))


def test_all_zero_samples_count_with_max_zero():
    code = np.array([[0.0, 0.0], [2.0, 0.0]])
    r = sparsity_metrics(code, code, np.eye(2), alpha=1.0)
    assert r["max_coef"] == pytest.approx(1.0)
    assert r["nonzero_count"] == pytest.approx(0.5)
    assert r["avg_coef_norm"] == pytest.approx(1.0)


def test_sparse_code_gives_the_same_metrics_as_dense():
    rng = np.random.default_rng(0)
    code = rng.uniform(size=(30, 12)) * (rng.uniform(size=(30, 12)) < 0.2)
    code[:, 0] += 0.1
    components = unit_rows(rng, 12, 5)
    X = code @ components + 0.01 * rng.standard_normal((30, 5))
    for p in (1, 2):
        dense = sparsity_metrics(X, code, components, 0.3, p=p)
        sparse = sparsity_metrics(X, sp.csr_matrix(code), components, 0.3, p=p)
        assert_reports_close(sparse, dense)


# ------------------------------------------------------ hypothesis properties
@st.composite
def codes(draw):
    """Non-negative sparse codes, a unit-row dictionary and a penalty."""
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 12))
    d = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.floats(0.05, 1.0))
    code = rng.exponential(size=(n, k)) * (rng.uniform(size=(n, k)) < density)
    code[0, 0] = 1.0  # at least one active feature: the metrics are defined
    return code, unit_rows(rng, k, d), draw(st.floats(1e-3, 1e3)), rng


@settings(max_examples=50, deadline=None)
@given(codes())
def test_normalized_loss_equals_s1_when_reconstruction_is_perfect(case):
    code, components, alpha, _ = case
    r = sparsity_metrics(code @ components, code, components, alpha)
    assert r["normalized_loss"] == pytest.approx(r["avg_coef_norm"], rel=1e-9)


@settings(max_examples=30, deadline=None)
@given(codes())
def test_array_metrics_ignore_sample_order(case):
    code, components, alpha, rng = case
    X = code @ components + rng.standard_normal((code.shape[0], components.shape[1]))
    order = rng.permutation(code.shape[0])
    before = sparsity_metrics(X, code, components, alpha)
    after = sparsity_metrics(X[order], code[order], components, alpha)
    assert_reports_close(after, before, rtol=1e-10)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_scorer_metrics_ignore_sample_order(fitted, X, seed):
    order = np.random.default_rng(seed).permutation(X.shape[0])
    before, after = sparsity_report(fitted, X), sparsity_report(fitted, X[order])
    for name in (*SCALE_INVARIANT, "final_loss", "max_coef"):
        assert after[name] == pytest.approx(before[name], rel=1e-9)


@settings(max_examples=5, deadline=None)
@given(st.floats(1e-3, 1e3))
def test_scale_invariant_metrics_survive_scaling_through_the_whole_fit(fitted, X, c):
    # alpha="auto" makes the penalty proportional to the data: fitting and
    # measuring c * X gives the same metrics, and final_loss scales with c^2.
    base = sparsity_report(fitted, X)
    scaled = sparsity_report(_fit(_estimator(), c * X), c * X)
    for name in SCALE_INVARIANT:
        assert scaled[name] == pytest.approx(base[name], rel=1e-6), name
    assert scaled["final_loss"] == pytest.approx(c**2 * base["final_loss"], rel=1e-6)
    assert scaled["alpha"] == pytest.approx(c * base["alpha"], rel=1e-6)


# ------------------------------------------------------------------ scorers
def test_scorers_equal_the_report_entries(fitted, X):
    report = sparsity_report(fitted, X)
    for name, scorer in SCORERS.items():
        assert scorer(fitted, X) == pytest.approx(report[name], rel=1e-12), name
        assert scorer.__name__ == name
    assert sparsity_scores(fitted, X) == pytest.approx({k: report[k] for k in SCORERS})


def test_neg_scorers_negate(fitted, X):
    for name, scorer in NEG_SCORERS.items():
        assert scorer(fitted, X) == pytest.approx(-SCORERS[name](fitted, X), rel=1e-12)
        assert scorer.__name__ == "neg_" + name


def test_avg_coef_norm_scorer_for_other_p(fitted, X):
    s2 = make_avg_coef_norm_scorer(p=2)
    expected = sparsity_report(fitted, X, p=2)["avg_coef_norm"]
    assert s2(fitted, X) == pytest.approx(expected, rel=1e-12)
    assert avg_coef_norm(fitted, X, p=2) == pytest.approx(expected, rel=1e-12)
    # As make_scorer: greater_is_better=False negates the metric (a loss).
    neg_s2 = make_avg_coef_norm_scorer(p=2, greater_is_better=False)
    assert neg_s2(fitted, X) == pytest.approx(-expected)
    assert neg_s2.__name__ == "neg_avg_coef_norm_p2"
    with pytest.raises(ValueError, match="p must be positive"):
        make_avg_coef_norm_scorer(p=0)


def test_scorers_accept_a_pipeline_ending_in_the_estimator(X):
    pipe = make_pipeline(StandardScaler(), _estimator())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X)
    expected = sparsity_report(pipe[-1], pipe[:-1].transform(X))
    nl = expected["normalized_loss"]
    assert normalized_loss(pipe, X) == pytest.approx(nl, rel=1e-12)
    assert sparsity_scores(pipe, X)["avg_coef_norm"] == pytest.approx(
        expected["avg_coef_norm"], rel=1e-12
    )


def test_cross_val_score_prints_the_papers_numbers(X):
    cv = KFold(3)
    scores = cross_val_score(_estimator(), X, scoring=normalized_loss, cv=cv)
    expected = [
        normalized_loss(_fit(_estimator(), X[train]), X[test])
        for train, test in cv.split(X)
    ]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert (scores > 0).all()


def test_cross_validate_with_a_dict_of_scorers(X):
    result = cross_validate(
        _estimator(), X, cv=2, scoring={"nl": normalized_loss, "s1": avg_coef_norm}
    )
    assert np.isfinite(result["test_nl"]).all() and np.isfinite(result["test_s1"]).all()
    assert (result["test_nl"] > 0).all()


def test_cross_validate_with_all_metrics_from_one_pass(X):
    result = cross_validate(_estimator(), X, cv=2, scoring=sparsity_scores)
    for name in SCORERS:
        assert np.isfinite(result[f"test_{name}"]).all(), name


def test_grid_search_maximises_neg_normalized_loss(X):
    search = GridSearchCV(
        _estimator(), {"n_components": [8, 24]}, scoring=neg_normalized_loss, cv=2
    ).fit(X)
    assert search.best_params_["n_components"] in (8, 24)
    best = search.cv_results_["mean_test_score"].max()
    assert search.best_score_ == pytest.approx(best)
    assert search.best_score_ < 0


# ------------------------------------------------------------------- errors
def test_unfitted_estimator_or_pipeline_raises_not_fitted(X):
    with pytest.raises(NotFittedError):
        normalized_loss(_estimator(), X)
    with pytest.raises(NotFittedError):
        sparsity_scores(make_pipeline(StandardScaler(), _estimator()), X)


def test_pipeline_not_ending_in_our_estimator_raises_type_error(X):
    pipe = make_pipeline(StandardScaler(), PCA(4)).fit(X)
    match = "Pipeline ending in one, got PCA.*sparsity_metrics"
    with pytest.raises(TypeError, match=match):
        normalized_loss(pipe, X)
    with pytest.raises(TypeError, match="got PCA"):
        avg_coef_norm(PCA(4).fit(X), X)


def test_all_zero_codes_raise_instead_of_nan(fitted, X):
    silent = clone(fitted).set_params(transform_alpha=1e6)
    silent.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    with pytest.raises(ValueError, match="all zero"):
        normalized_loss(silent, X)
    with pytest.raises(ValueError, match="all zero"):
        sparsity_metrics(X, np.zeros((X.shape[0], 3)), np.eye(3, 8), alpha=1.0)


@pytest.mark.parametrize(
    "shapes, match",
    [
        (((5, 4), (6, 3), (3, 4)), "Shapes do not match"),  # code rows != samples
        (((5, 4), (5, 2), (3, 4)), "Shapes do not match"),  # code cols != atoms
        (((5, 4), (5, 3), (3, 6)), "components has 6 features but X has 4"),
        (((5,), (5, 3), (3, 4)), "Expected 2D array"),
    ],
)
def test_bad_shapes_in_sparsity_metrics_raise(shapes, match):
    X, code, components = (np.ones(shape) for shape in shapes)
    with pytest.raises(ValueError, match=match):
        sparsity_metrics(X, code, components, alpha=1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 0.0}, "alpha must be a positive finite number, got 0.0"),
        ({"alpha": np.inf}, "alpha must be a positive finite number, got inf"),
        ({"alpha": "auto"}, "alpha must be a positive finite number, got 'auto'"),
        ({"alpha": 1.0, "p": -1}, "p must be positive"),
    ],
)
def test_bad_alpha_or_p_in_sparsity_metrics_raise(kwargs, match):
    code = np.eye(3)
    with pytest.raises(ValueError, match=match):
        sparsity_metrics(code, code, np.eye(3), **kwargs)


# ------------------------------------------ intervals and per-atom diagnostics
INTERVALS = (*SCALE_INVARIANT, "final_loss", "max_coef")


@pytest.fixture(scope="module")
def held_out():
    X = make_sparse_linear(
        3000, 8, n_components=16, avg_active=2, noise=0.05, random_state=1
    )
    return _fit(_estimator(), X[:1000]), X[1000:]


def test_intervals_contain_the_estimate_and_narrow_with_more_rows(held_out):
    dl, X = held_out
    full = sparsity_report(dl, X, confidence=0.95, n_resamples=300)
    small = sparsity_report(dl, X[:200], confidence=0.95, n_resamples=300)
    for name in INTERVALS:
        low, high = full[f"{name}_ci"]
        assert low <= full[name] <= high, name
        small_low, small_high = small[f"{name}_ci"]
        assert high - low < small_high - small_low, name
    low, high = full["normalized_loss_ci"]
    assert low < high  # a real spread, not a point
    wider = sparsity_report(dl, X, confidence=0.99, n_resamples=300)
    assert wider["normalized_loss_ci"][0] <= low
    assert wider["normalized_loss_ci"][1] >= high


def test_intervals_do_not_depend_on_batching(held_out):
    # each row's bootstrap weights come from its index: blocks of 137 rows
    # resample exactly as one block does
    dl, X = held_out
    one = sparsity_report(dl, X, confidence=0.9, n_resamples=50)
    batched = copy.deepcopy(dl).set_params(batch_size=137)
    assert_reports_close(
        sparsity_report(batched, X, confidence=0.9, n_resamples=50), one, rtol=1e-9
    )
    # another seed of the bootstrap moves the interval, not the estimate
    other = sparsity_report(dl, X, confidence=0.9, n_resamples=50, random_state=1)
    assert other["normalized_loss"] == one["normalized_loss"]
    assert other["normalized_loss_ci"] != one["normalized_loss_ci"]


def test_bootstrap_interval_matches_the_normal_approximation_for_a_mean():
    # nonzero_count is a plain mean: its 95% interval is about +-1.96 s/sqrt(n)
    rng = np.random.default_rng(0)
    n, k = 4000, 20
    code = rng.exponential(size=(n, k)) * (rng.uniform(size=(n, k)) < 0.2)
    code[:, 0] += 0.5
    components = unit_rows(rng, k, 6)
    X = code @ components
    r = sparsity_metrics(X, code, components, 0.1, confidence=0.95, n_resamples=1000)
    counts = (code != 0).sum(axis=1)
    half = 1.96 * counts.std() / np.sqrt(n)
    low, high = r["nonzero_count_ci"]
    assert (high - low) / 2 == pytest.approx(half, rel=0.15)
    assert (low + high) / 2 == pytest.approx(counts.mean(), abs=half / 3)


def test_per_atom_counts_by_hand():
    code = np.array([[1.0, 0.0, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.5]])
    components = np.eye(4)
    components[3] = [0.6, 0.8, 0.0, 0.0]  # cosine 0.8 with atom 1
    r = sparsity_metrics(code @ components, code, components, 0.5, dense_threshold=0.5)
    assert_allclose = np.testing.assert_allclose
    assert_allclose(r["firing_frequency"], [1.0, 1 / 3, 0.0, 1 / 3])
    assert r["dead_atoms"] == 1
    assert r["dense_atoms"] == 1  # only atom 0 fires in more than half the rows
    assert r["max_atom_cosine"] == pytest.approx(0.8)
    assert sparsity_metrics(code, sp.csr_matrix(code), np.eye(4), 0.5)[
        "firing_frequency"
    ].tolist() == pytest.approx([1.0, 1 / 3, 0.0, 1 / 3])


def test_explained_variance_is_stable_for_data_far_from_the_origin():
    # an uncentred coder on data offset by 1e7: the naive sum of squares minus
    # n * mean^2 cancels to noise; the shifted sums keep the true value.
    rng = np.random.default_rng(0)
    n, d = 2000, 4
    X = rng.standard_normal((n, d)) + 1e7
    components = np.eye(d)
    code = np.zeros((n, d))  # reconstructs nothing: EV = 1 - ||X||^2 / TSS
    code[:, 0] = 1.0
    r = sparsity_metrics(X, code, components, 0.1)
    residual = X - code @ components
    expected = 1 - (residual**2).sum() / ((X - X.mean(axis=0)) ** 2).sum()
    assert expected < -1e12
    assert r["explained_variance"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"p": -1}, "p must be positive"),
        ({"confidence": 1.5}, "confidence must be a number in"),
        ({"confidence": 0.9, "n_resamples": 0}, "n_resamples must be a positive"),
        ({"dense_threshold": 0}, "dense_threshold must be in"),
        ({"random_state": -3}, "random_state must be a non-negative"),
    ],
)
def test_bad_report_settings_raise(fitted, X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        sparsity_report(fitted, X, **kwargs)
