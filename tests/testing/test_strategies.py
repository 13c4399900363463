"""skfeatsparse.testing's hypothesis strategies: sparse_linear_data, control_data."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfeatsparse.testing import control_data, sparse_linear_data


@settings(max_examples=10, deadline=None)
@given(sparse_linear_data(n_samples=(50, 80), n_features=(3, 6), noise=0.0))
def test_sparse_linear_data_respects_bounds_and_ground_truth(data):
    n, d = data.X.shape
    assert 50 <= n <= 80 and 3 <= d <= 6
    assert d <= data.components.shape[0] <= 4 * d
    assert 1e-3 <= data.scale <= 1e3 and (data.code >= 0).all()
    # Noiseless: X is the centred code @ components, scale included.
    clean = data.code @ data.components
    centred = clean - clean.mean(axis=0)
    np.testing.assert_allclose(data.X, centred, atol=1e-9 * data.scale)


@settings(max_examples=10, deadline=None)
@given(control_data(n_samples=40, n_features=st.just(3), scale=(0.5, 2.0)))
def test_control_data_draws_one_of_the_three_controls(data):
    assert data.kind in {"gaussian", "heavy_tailed", "rademacher"}
    assert data.X.shape == (40, 3) and 0.5 <= data.scale <= 2.0


def _draw_once(strategy):
    @settings(max_examples=1, database=None)
    @given(strategy)
    def draw(data):
        pass

    draw()


def test_strategies_reject_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of"):
        _draw_once(control_data(kind="uniform"))
    with pytest.raises(ValueError, match="n_features must satisfy"):
        _draw_once(sparse_linear_data(n_features=(5, 2)))
