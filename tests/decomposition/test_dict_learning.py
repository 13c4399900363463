"""GreedyL1DictionaryLearning: the paper's dictionary learning as an estimator."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import sparsity_report


@pytest.fixture(scope="module")
def planted():
    """Easy sparse-linear data: 16-d, 32 true atoms, 2 active on average."""
    X, components, code = make_sparse_linear(
        3000,
        16,
        n_components=32,
        avg_active=2,
        noise=0.05,
        return_components=True,
        random_state=0,
    )
    return X, components, code


def _fit(X, **params):
    params = {"n_components": 48, "random_state": 0, "max_iter": 15, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GreedyL1DictionaryLearning(**params).fit(X)


def _recovered(learned, true, threshold=0.9):
    return float(((learned @ true.T).max(axis=0) > threshold).mean())


def test_recovers_the_planted_dictionary(planted):
    X, components, _ = planted
    dl = _fit(X)
    assert _recovered(dl.components_, components) >= 0.9


def test_components_have_unit_rows_and_codes_are_non_negative(planted):
    X, _, _ = planted
    dl = _fit(X)
    np.testing.assert_allclose(np.linalg.norm(dl.components_, axis=1), 1.0, rtol=1e-10)
    assert (dl.transform(X) >= 0).all()


def test_default_dictionary_is_eight_times_n_features(planted):
    X, _, _ = planted
    dl = _fit(X[:500], n_components=None, max_iter=2)
    assert dl.components_.shape == (8 * 16, 16)


@settings(max_examples=8, deadline=None)
@given(st.floats(1e-3, 1e3))
def test_fitting_scaled_data_scales_alpha_and_keeps_components(planted, c):
    X = planted[0][:600]
    base = _fit(X, max_iter=4, alpha_rounds=2)
    scaled = _fit(c * X, max_iter=4, alpha_rounds=2)
    np.testing.assert_allclose(
        scaled.components_, base.components_, rtol=1e-6, atol=1e-8
    )
    np.testing.assert_allclose(scaled.alpha_, c * base.alpha_, rtol=1e-6)
    np.testing.assert_allclose(scaled.mean_, c * base.mean_, rtol=1e-6, atol=1e-9 * c)


def test_same_random_state_same_result_and_different_differs(planted):
    X = planted[0][:800]
    a, b = _fit(X, max_iter=3), _fit(X, max_iter=3)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.alpha_ == b.alpha_
    other = _fit(X, max_iter=3, random_state=1)
    assert not np.allclose(a.components_, other.components_)


def test_float32_stays_float32(planted):
    X = planted[0][:800].astype(np.float32)
    dl = _fit(X, max_iter=3)
    assert dl.components_.dtype == np.float32
    assert dl.transform(X).dtype == np.float32
    assert dl.inverse_transform(dl.transform(X)).dtype == np.float32


def test_pickle_and_clone_round_trip(planted):
    X = planted[0][:800]
    dl = _fit(X, max_iter=3)
    restored = pickle.loads(pickle.dumps(dl))
    np.testing.assert_array_equal(restored.transform(X), dl.transform(X))
    fresh = clone(dl)
    assert fresh.get_params() == dl.get_params()
    assert not hasattr(fresh, "components_")


def test_history_records_every_pass(planted):
    X = planted[0]
    dl = _fit(X, alpha=0.1, alpha_warmup=(), max_iter=8, tol=0.0)
    assert dl.n_iter_ == 8
    for values in dl.history_.values():
        assert len(values) == dl.n_iter_
    assert (dl.history_["alpha"] == 0.1).all()
    # Alternating minimisation at a fixed penalty: the objective goes down.
    assert dl.history_["objective"][-1] < dl.history_["objective"][0]


def test_tol_stops_a_round_early(planted):
    X = planted[0]
    dl = _fit(X, alpha=0.1, alpha_warmup=(), max_iter=50, tol=0.05)
    assert dl.n_iter_ < 50


def test_warmup_rounds_end_at_the_warmup_tolerance(planted, monkeypatch):
    # With tol=0 the target round runs while the objective falls; a warm-up
    # round ends at the first pass that gains _WARMUP_TOL or less.
    from skfeatsparse.decomposition import _dict_learning

    monkeypatch.setattr(_dict_learning, "_WARMUP_TOL", 1e-2)
    dl = _fit(planted[0], alpha=0.1, alpha_warmup=(3.0,), max_iter=30, tol=0.0)
    warm = dl.history_["objective"][np.isclose(dl.history_["alpha"], 0.3)]
    assert 2 <= warm.size < 30
    gains = -np.diff(warm) / warm[:-1]
    assert (gains[:-1] > 1e-2).all()
    assert gains[-1] <= 1e-2


def test_auto_alpha_settles_at_the_ratio_of_the_max_coefficient(planted):
    X = planted[0]
    dl = _fit(X, max_iter=10)
    dl.transform_alpha = None
    report = sparsity_report(dl, X)
    assert dl.alpha_ == pytest.approx(0.1 * report["max_coef"], rel=0.05)


def test_warmup_rounds_start_at_larger_alpha(planted):
    X = planted[0]
    dl = _fit(X, max_iter=3, tol=0.0)
    alphas = np.unique(dl.history_["alpha"])[::-1]
    assert alphas.size >= 4  # three warm-up rounds, then the target
    assert alphas[0] > 2 * dl.alpha_


def test_fixed_alpha_is_annealed_from_the_warmup_multiples(planted):
    dl = _fit(planted[0], alpha=0.1, max_iter=2, tol=0.0)
    np.testing.assert_allclose(np.unique(dl.history_["alpha"]), [0.1, 0.15, 0.25, 0.4])
    assert dl.alpha_ == 0.1


def test_gradient_dictionary_step_also_learns(planted):
    X, components, _ = planted
    dl = _fit(X, dictionary_step="gradient", batch_size=500, max_iter=20)
    assert dl.history_["objective"][-1] < dl.history_["objective"][0]
    assert _recovered(dl.components_, components) >= 0.5


def test_dead_atoms_are_reseeded_and_counted():
    # 30 samples in a 4-d subspace and 40 atoms: the 10 atoms that cannot be
    # drawn from samples start as random directions, which nobody uses.
    rng = np.random.default_rng(0)
    directions = np.linalg.qr(rng.standard_normal((8, 4)))[0].T
    X = rng.uniform(size=(30, 4)) @ directions
    dl = _fit(X, n_components=40, alpha=0.05, max_iter=3, tol=0.0, center=False)
    assert dl.n_resampled_ > 0
    assert dl.history_["n_resampled"].sum() == dl.n_resampled_
    assert np.isfinite(dl.components_).all()
    np.testing.assert_allclose(np.linalg.norm(dl.components_, axis=1), 1.0, rtol=1e-10)


def test_partial_fit_on_a_stream_of_batches_learns(planted):
    X, components, _ = planted
    dl = GreedyL1DictionaryLearning(n_components=48, random_state=0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        dl.partial_fit(X[rng.choice(X.shape[0], 300, replace=False)])
    assert dl.n_iter_ == 30
    assert dl.history_["objective"][-5:].mean() < dl.history_["objective"][:5].mean()
    assert _recovered(dl.components_, components) >= 0.6
    np.testing.assert_allclose(dl.mean_, X.mean(axis=0), atol=0.05)


def test_partial_fit_continues_a_fit(planted):
    X = planted[0]
    dl = _fit(X, max_iter=3)
    n_iter = dl.n_iter_
    dl.partial_fit(X[:200])
    assert dl.n_iter_ == n_iter + 1
    assert len(dl.history_["objective"]) == n_iter + 1


def test_center_subtracts_the_training_mean(planted):
    X = planted[0] + 5.0
    assert np.allclose(_fit(X, max_iter=2).mean_, X.mean(axis=0))
    assert (_fit(X, max_iter=2, center=False).mean_ == 0).all()


def test_transform_alpha_controls_the_coding_penalty(planted):
    X = planted[0]
    dl = _fit(X, max_iter=5)
    dense = clone(dl).set_params(transform_alpha=dl.alpha_ / 4)
    dense.__dict__.update({k: v for k, v in vars(dl).items() if k.endswith("_")})
    assert np.count_nonzero(dense.transform(X)) > np.count_nonzero(dl.transform(X))


def test_inverse_transform_reconstructs(planted):
    X = planted[0]
    dl = _fit(X)
    X_hat = dl.inverse_transform(dl.transform(X))
    assert 1 - ((X - X_hat) ** 2).sum() / ((X - X.mean(0)) ** 2).sum() > 0.9
    with pytest.raises(ValueError, match="columns but the dictionary has 48 atoms"):
        dl.inverse_transform(np.zeros((2, 5)))


def test_score_is_minus_the_normalized_loss(planted):
    X = planted[0]
    dl = _fit(X, max_iter=5)
    assert dl.score(X) == pytest.approx(-sparsity_report(dl, X)["normalized_loss"])
    assert dl.score(X) < 0


def test_feature_names_and_pandas_output(planted):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(planted[0][:500], columns=[f"unit{i}" for i in range(16)])
    dl = _fit(X, n_components=6, max_iter=2).set_output(transform="pandas")
    assert list(dl.feature_names_in_) == list(X.columns)
    out = dl.transform(X)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == [f"greedyl1dictionarylearning{i}" for i in range(6)]


def test_verbose_shows_a_progress_bar(planted, capsys):
    _fit(planted[0][:300], max_iter=2, verbose=True)
    assert "passes" in capsys.readouterr().err


@pytest.mark.parametrize(
    "X, error, match",
    [
        (np.array([[np.nan, 1.0], [0.0, 1.0]]), ValueError, "NaN"),
        (np.array([[np.inf, 1.0], [0.0, 1.0]]), ValueError, "infinity"),
        (np.ones(5), ValueError, "Expected 2D array, got 1D array"),
        (np.ones((0, 3)), ValueError, "0 sample"),
    ],
)
def test_bad_training_data_raises_clear_errors(X, error, match):
    with pytest.raises(error, match=match):
        GreedyL1DictionaryLearning().fit(X)


def test_wrong_number_of_features_at_transform(planted):
    dl = _fit(planted[0][:300], max_iter=2)
    with pytest.raises(
        ValueError,
        match="X has 3 features, but GreedyL1DictionaryLearning is expecting 16",
    ):
        dl.transform(np.ones((2, 3)))


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        GreedyL1DictionaryLearning().transform(np.ones((2, 3)))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": "adaptive"}, "'alpha' parameter"),
        ({"alpha": -1.0}, "'alpha' parameter"),
        ({"n_components": 0}, "'n_components' parameter"),
        ({"dictionary_step": "ksvd"}, "'dictionary_step' parameter"),
        ({"tol": -1}, "'tol' parameter"),
    ],
)
def test_invalid_parameters_raise_clear_errors(params, match):
    with pytest.raises(ValueError, match=match):
        GreedyL1DictionaryLearning(**params).fit(np.ones((4, 2)))


def test_mod_refuses_a_dictionary_too_large_before_any_work():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="dictionary_step='gradient'"):
        GreedyL1DictionaryLearning(20000).fit(X)
    with pytest.raises(ValueError, match="dictionary_step='gradient'"):
        GreedyL1DictionaryLearning(20000).partial_fit(X)


def test_float16_activations_are_upcast_to_float32():
    X = make_sparse_linear(800, 8, n_components=32, avg_active=2, random_state=0)
    dl = GreedyL1DictionaryLearning(32, max_iter=3, random_state=0)
    dl.fit(X.astype(np.float16))
    assert dl.components_.dtype == np.float32
    code = dl.transform(X.astype(np.float16))
    assert code.dtype == np.float32
    np.testing.assert_allclose(
        code, dl.transform(X.astype(np.float16).astype(np.float32)), atol=0
    )


_FIT_THEN = """
import warnings
import numpy as np
from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
warnings.simplefilter("ignore")
X = make_sparse_linear(2000, 16, avg_active=2, random_state=0)
dl = GreedyL1DictionaryLearning(64, max_iter=3, random_state=0).fit(X)
expected = dl.transform(X)
"""


def _run_script(script, timeout, **env):
    """Run ``script`` in a fresh interpreter (this checkout first on its path)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": path, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_transform_in_a_fork_pool_after_fit_finishes():
    # A child forked after the fit cannot use the parent's OpenMP/MKL thread
    # pools: before, every worker hung and Pool.map waited for ever.
    script = _FIT_THEN + (
        "import multiprocessing\n"
        "def work(rows):\n"
        "    return dl.transform(X[rows])\n"
        "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
        "    parts = pool.map(work, np.array_split(np.arange(2000), 4))\n"
        "print(np.allclose(np.vstack(parts), expected))\n"
    )
    result = _run_script(script, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_concurrent_transforms_under_numba_workqueue_layer():
    # The workqueue layer aborts the process when two threads launch parallel
    # kernels at once (dask's threaded scheduler does).
    script = _FIT_THEN + (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    parts = list(pool.map(lambda _: dl.transform(X), range(12)))\n"
        "import numba\n"
        "print(numba.threading_layer(), all(np.allclose(p, expected) for p in parts))\n"
    )
    result = _run_script(script, timeout=120, NUMBA_THREADING_LAYER="workqueue")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "workqueue True"


@pytest.mark.parametrize("n_new", [5, 50])
def test_a_small_partial_fit_after_fit_refines_instead_of_replacing(n_new):
    # fit leaves the sufficient statistics of its last pass, so a small batch
    # weighs as the few samples it is: before, the MOD step solved from the
    # batch alone (held-out normalized loss 2.1 -> 4.9 on 50 rows, 7.6 on 5)
    # and atoms the batch did not use were re-seeded.
    X = make_sparse_linear(
        4500, 16, n_components=32, avg_active=2, noise=0.05, random_state=0
    )
    train, new, held_out = X[:4000], X[4000 : 4000 + n_new], X[4100:]
    dl = _fit(train, max_iter=30)
    loss, components, alpha = -dl.score(held_out), dl.components_.copy(), dl.alpha_
    dl.partial_fit(new)
    assert abs(-dl.score(held_out) - loss) < 0.1 * loss
    assert np.abs(dl.components_ - components).max() < 0.1
    assert abs(dl.alpha_ - alpha) < 0.02 * alpha
    assert dl.n_resampled_ == dl.history_["n_resampled"].sum()


def test_set_params_alpha_between_partial_fits_takes_effect(planted):
    X = planted[0]
    dl = GreedyL1DictionaryLearning(n_components=48, alpha=0.1, random_state=0)
    dl.partial_fit(X[:300])
    assert dl.alpha_ == 0.1
    dl.set_params(alpha=0.05).partial_fit(X[300:600])
    assert dl.alpha_ == 0.05
    assert dl.history_["alpha"].tolist() == [0.1, 0.05]


def test_the_docstring_example_raises_no_capped_step_warning():
    # Before, 12% of its samples reached max_steps (a ConvergenceWarning at fit
    # and at transform) though uncapped coding changes their objectives by less
    # than 1e-5: the pursuit was in its tail of vanishing steps.
    X = make_sparse_linear(2000, 16, avg_active=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        dl = GreedyL1DictionaryLearning(64, random_state=0).fit(X)
        dl.transform(X)
        sparsity_report(dl, X)


def test_a_binding_step_cap_still_warns_with_advice(planted):
    X = planted[0]
    with pytest.warns(
        ConvergenceWarning, match=r"raise max_steps \(e\.g\. max_steps=2\)"
    ):
        dl = GreedyL1DictionaryLearning(48, max_steps=1, max_iter=2, random_state=0)
        dl.fit(X)
    with pytest.warns(ConvergenceWarning, match=r"of 3000 samples .* transform_alpha"):
        dl.transform(X)


def test_batch_size_does_not_change_what_is_learned():
    # The first penalty came from the first batch_size rows: atoms differed
    # by 0.5 between batch_size 4096 and 333.
    X = make_sparse_linear(
        5000, 16, n_components=32, avg_active=2, noise=0.05, random_state=0
    )
    big, small = (_fit(X, max_iter=8, batch_size=b) for b in (4096, 333))
    np.testing.assert_allclose(small.components_, big.components_, atol=1e-10)
    assert small.alpha_ == pytest.approx(big.alpha_, rel=1e-10)


def test_sorted_rows_start_from_the_same_penalty_as_shuffled_rows(planted):
    # The first penalty came from the first rows: on rows sorted by norm it
    # was 3x too small.
    X = planted[0]
    order = np.argsort(np.linalg.norm(X, axis=1))
    shuffled = np.random.default_rng(1).permutation(X.shape[0])
    fits = [_fit(X[rows], max_iter=8, batch_size=333) for rows in (order, shuffled)]
    first = [dl.history_["alpha"][0] for dl in fits]
    assert first[0] == pytest.approx(first[1], rel=0.05)
    assert fits[0].alpha_ == pytest.approx(fits[1].alpha_, rel=0.02)


def test_values_too_large_to_square_say_so_and_how_to_rescale(planted):
    # Before: "Input contains NaN" (the squares overflowed).
    X = planted[0] * 1e200
    with pytest.raises(ValueError, match=r"too large to square in float64.*Rescale"):
        GreedyL1DictionaryLearning(48).fit(X)
    dl = _fit(planted[0], max_iter=2)
    with pytest.raises(ValueError, match=r"too large to square in float64"):
        dl.transform(X)


def test_huge_float32_data_fit_as_well_as_unit_scale_data():
    # Before: normalized loss 42.7 instead of 4.18, with only overflow warnings.
    X = make_sparse_linear(2000, 16, avg_active=2, random_state=0)
    X = X.astype(np.float32)
    reference = _fit(X, n_components=32, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        huge = _fit(X * np.float32(1e19), n_components=32, max_iter=5)
        loss = -huge.score(X * np.float32(1e19))
    assert huge.components_.dtype == huge.mean_.dtype == np.float32
    assert loss == pytest.approx(-reference.score(X), rel=0.05)


@pytest.mark.parametrize("warmup", [(-1.0,), (2.0, np.nan), ("a",)])
def test_bad_alpha_warmup_is_named_in_the_error(planted, warmup):
    # Before, blamed on alpha ("alpha must be a positive finite number").
    with pytest.raises(ValueError, match=r"alpha_warmup must hold positive finite"):
        GreedyL1DictionaryLearning(48, alpha_warmup=warmup).fit(planted[0])
