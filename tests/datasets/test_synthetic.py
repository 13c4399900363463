"""The synthetic data generators (paper, Appendix D)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfeatsparse.datasets import (
    make_gaussian,
    make_heavy_tailed,
    make_rademacher,
    make_sparse_linear,
)

GENERATORS = [make_sparse_linear, make_gaussian, make_heavy_tailed, make_rademacher]
CONTROLS = [make_gaussian, make_heavy_tailed, make_rademacher]
# Tolerances are this many standard errors of the tested statistic.
Z = 5


def _sparse_linear(n_samples=2000, n_features=16, **params):
    return make_sparse_linear(
        n_samples, n_features, return_components=True, random_state=0, **params
    )


@pytest.mark.parametrize("make", GENERATORS)
def test_output_is_float64_of_requested_shape(make):
    X = make(50, 7, random_state=0)
    assert X.shape == (50, 7)
    assert X.dtype == np.float64


def test_components_and_code_shapes_default_to_four_times_n_features():
    X, components, code = _sparse_linear(30, 5)
    assert X.shape == (30, 5)
    assert components.shape == (20, 5)
    assert code.shape == (30, 20)
    assert components.dtype == code.dtype == np.float64


def test_n_components_sets_the_number_of_ground_truth_features():
    _, components, code = _sparse_linear(30, 5, n_components=11, avg_active=3)
    assert components.shape == (11, 5)
    assert code.shape == (30, 11)


@pytest.mark.parametrize("make", GENERATORS)
def test_same_seed_same_output_different_seed_different_output(make):
    np.testing.assert_array_equal(
        make(40, 6, random_state=3), make(40, 6, random_state=3)
    )
    assert not np.array_equal(make(40, 6, random_state=3), make(40, 6, random_state=4))


def test_components_are_unit_rows():
    _, components, _ = _sparse_linear()
    np.testing.assert_allclose(np.linalg.norm(components, axis=1), 1.0, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n_samples=st.integers(1, 30),
    n_features=st.integers(1, 12),
    active_share=st.floats(0.01, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_code_is_nonnegative_below_one_and_shapes_hold(
    n_samples, n_features, active_share, seed
):
    n_components = 4 * n_features
    X, components, code = make_sparse_linear(
        n_samples,
        n_features,
        avg_active=active_share * n_components,
        return_components=True,
        random_state=seed,
    )
    assert X.shape == (n_samples, n_features)
    assert components.shape == (n_components, n_features)
    assert code.shape == (n_samples, n_components)
    assert np.all(code >= 0) and np.all(code < 1)
    assert np.all(np.isfinite(X))


def test_mean_active_count_is_avg_active():
    n_samples, n_components, avg_active = 4000, 64, 5.0
    _, _, code = _sparse_linear(n_samples, 16, avg_active=avg_active)
    # Active counts are Binomial(n_components, p), independent across samples.
    p = avg_active / n_components
    std_error = np.sqrt(n_components * p * (1 - p) / n_samples)
    assert abs((code > 0).sum(axis=1).mean() - avg_active) < Z * std_error


def test_active_coefficients_are_uniform_on_zero_one():
    _, _, code = _sparse_linear(avg_active=5.0)
    active = code[code > 0]
    # Uniform(0, 1): mean 1/2, variance 1/12.
    assert abs(active.mean() - 0.5) < Z * np.sqrt(1 / 12 / active.size)
    assert abs(np.mean(active < 0.25) - 0.25) < Z * np.sqrt(0.25 * 0.75 / active.size)


def test_without_noise_or_centering_X_is_code_times_components():
    X, components, code = _sparse_linear(noise=0.0, center=False)
    np.testing.assert_allclose(X, code @ components, rtol=1e-12, atol=1e-12)


def test_centering_happens_before_noise():
    X, components, code = _sparse_linear(noise=0.0, center=True)
    clean = code @ components
    np.testing.assert_allclose(X, clean - clean.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)


def test_noise_variance_is_avg_active_noise_squared_over_n_features():
    n_features, avg_active, noise = 16, 4.0, 0.3
    X, components, code = _sparse_linear(
        n_features=n_features, avg_active=avg_active, noise=noise
    )
    clean = code @ components
    residual = X - (clean - clean.mean(axis=0))
    variance = avg_active * noise**2 / n_features
    # Sample variance of N Gaussians has relative standard error sqrt(2 / N).
    assert abs(np.mean(residual**2) / variance - 1) < Z * np.sqrt(2 / residual.size)
    assert abs(residual.mean()) < Z * np.sqrt(variance / residual.size)


@pytest.mark.parametrize("make", [make_gaussian, make_rademacher])
def test_control_covariance_is_identity(make):
    n_samples, n_features = 20000, 8
    X = make(n_samples, n_features, random_state=0)
    # Entries of the sample covariance have variance at most 2 / n_samples here.
    cov = np.cov(X, rowvar=False)
    np.testing.assert_allclose(cov, np.eye(n_features), atol=Z * np.sqrt(2 / n_samples))


def test_rademacher_entries_are_exactly_plus_or_minus_one():
    X = make_rademacher(200, 9, random_state=0)
    assert set(np.unique(X)) == {-1.0, 1.0}


def test_heavy_tailed_mean_squared_norm_is_n_features():
    X = make_heavy_tailed(1000, 8, random_state=0)
    assert np.mean(np.sum(X**2, axis=1)) == pytest.approx(8, rel=1e-12)


def test_heavy_tailed_directions_are_isotropic():
    n_samples, n_features = 20000, 8
    X = make_heavy_tailed(n_samples, n_features, random_state=0)
    directions = X / np.linalg.norm(X, axis=1, keepdims=True)
    # Uniform directions on the sphere have second moment I / n_features.
    second_moment = directions.T @ directions / n_samples
    np.testing.assert_allclose(
        second_moment, np.eye(n_features) / n_features, atol=0.01
    )


def test_heavy_tailed_norms_are_cauchy_distributed():
    norms = np.linalg.norm(make_heavy_tailed(20000, 8, random_state=0), axis=1)
    # The quartile ratio of |Cauchy| is tan(3 pi / 8) / tan(pi / 8), whatever
    # the scale; a Gaussian's norm in 8 dimensions would give about 1.6.
    q25, q75 = np.quantile(norms, [0.25, 0.75])
    expected = np.tan(3 * np.pi / 8) / np.tan(np.pi / 8)
    assert q75 / q25 == pytest.approx(expected, rel=0.1)


@pytest.mark.parametrize("make", GENERATORS)
@pytest.mark.parametrize(
    "params, name",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"n_features": 8.0}, "n_features"),
        ({"random_state": "seed"}, "random_state"),
    ],
)
def test_bad_shape_or_seed_is_rejected_naming_the_parameter(make, params, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make(**{"n_samples": 10, "n_features": 4, **params})


@pytest.mark.parametrize(
    "params, name",
    [
        ({"noise": -0.1}, "noise"),
        ({"avg_active": 0}, "avg_active"),
        ({"avg_active": -1.0}, "avg_active"),
        ({"avg_active": 17}, "avg_active=17 exceeds n_components=16"),
        ({"n_components": 2, "avg_active": 3}, "exceeds n_components=2"),
        ({"n_components": 0}, "n_components"),
        ({"center": "yes"}, "center"),
    ],
)
def test_bad_sparse_linear_parameter_is_rejected_naming_it(params, name):
    with pytest.raises((ValueError, TypeError), match=name):
        make_sparse_linear(10, 4, **params)


def test_avg_active_may_equal_n_components():
    _, _, code = make_sparse_linear(
        10, 2, n_components=3, avg_active=3, return_components=True, random_state=0
    )
    assert np.all(code > 0)
