"""The data, fitted estimator and constants the dask tests share
(tests/decomposition/test_dask.py, tests/metrics/test_dask.py); the ``client``
fixture, a two-process cluster, is in tests/conftest.py.

tests/decomposition/conftest.py and tests/metrics/conftest.py import the fixtures
(module scope: each test module fits its own).
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning

N_SAMPLES, N_FEATURES, N_COMPONENTS, CHUNK = 600, 8, 32, 200
# Generous: this small dictionary has near-duplicate atoms, and capped codes
# would only add ConvergenceWarnings.
PARAMS = dict(n_components=N_COMPONENTS, max_steps=1024, random_state=0)


@pytest.fixture(scope="module")
def X():
    return make_sparse_linear(N_SAMPLES, N_FEATURES, avg_active=2, random_state=0)


@pytest.fixture(scope="module")
def Xd(X):
    da = pytest.importorskip("dask.array")
    # The feature axis split too: the estimator must rechunk it.
    return da.from_array(X, chunks=(CHUNK, N_FEATURES // 2))


@pytest.fixture(scope="module")
def dl(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GreedyL1DictionaryLearning(max_iter=5, **PARAMS).fit(X)


def _blocks(X):
    return [X[start : start + CHUNK] for start in range(0, X.shape[0], CHUNK)]
