"""Every test that needs a GPU, in one place, behind one marker.

Each test is marked ``gpu("cuda")`` or ``gpu("mps")``; ``tests/conftest.py``
skips it where that device is missing ("needs a CUDA GPU", "needs an Apple
MPS device"). On a GPU machine: ``python -m pytest -m gpu tests/test_gpu.py``.
The codes and fitted dictionaries are compared with the CPU's.
"""

import numpy as np
import pytest

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning, greedy_l1_encode

from ._reference import unit_rows


@pytest.mark.gpu("cuda")
def test_cuda_fit_and_transform_match_the_cpu():
    # The whole fit runs on the GPU: float32 rounding there parts the two
    # fits after a dozen passes (atoms within ~0.02), so the objectives and
    # metrics are compared, and the GPU's transform with the CPU's coder on
    # the same dictionary. tol=0: both run every pass.
    X = make_sparse_linear(2000, 16, n_components=64, avg_active=3, random_state=0)
    X = X.astype(np.float32)
    kwargs = dict(n_components=64, max_iter=5, random_state=0, tol=0.0)
    cpu = GreedyL1DictionaryLearning(**kwargs).fit(X)
    gpu = GreedyL1DictionaryLearning(device="cuda", **kwargs).fit(X)
    np.testing.assert_allclose(
        gpu.history_["objective"], cpu.history_["objective"], rtol=5e-3
    )
    np.testing.assert_allclose(gpu.score(X), cpu.score(X), rtol=5e-3)
    np.testing.assert_allclose(gpu.components_, cpu.components_, atol=0.05)
    code = gpu.transform(X)
    assert code.dtype == np.float32
    np.testing.assert_allclose(
        code,
        greedy_l1_encode(X - gpu.mean_, gpu.components_, gpu.alpha_),
        atol=1e-3,
    )


@pytest.mark.gpu("cuda")
def test_cuda_large_dictionary_transform_matches_the_cpu(no_gram):
    rng = np.random.default_rng(5)
    D = rng.standard_normal((512, 16)).astype(np.float32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((300, 16)).astype(np.float32)
    np.testing.assert_allclose(
        greedy_l1_encode(X, D, 0.5, device="cuda"),
        greedy_l1_encode(X, D, 0.5),
        atol=1e-4,
    )


@pytest.mark.gpu("mps")
def test_mps_codes_float32_and_refuses_float64():
    rng = np.random.default_rng(6)
    D = np.eye(8, dtype=np.float32)
    X = rng.standard_normal((20, 8)).astype(np.float32)
    np.testing.assert_allclose(
        greedy_l1_encode(X, D, 0.5, device="mps"),
        greedy_l1_encode(X, D, 0.5),
        atol=1e-5,
    )
    # float64 data are coded in float32 there, and come back as float64.
    assert (
        greedy_l1_encode(X.astype(np.float64), D, 0.5, device="mps").dtype == np.float64
    )
    with pytest.raises(ValueError, match="float64"):
        greedy_l1_encode(X, D, 0.5, device="mps", dtype="float64")


@pytest.mark.gpu("cuda")
def test_cuda_engine_matches_cpu():
    rng = np.random.default_rng(2)
    D = unit_rows(rng, 64, 16)
    X = rng.standard_normal((100, 16))
    np.testing.assert_allclose(
        greedy_l1_encode(X, D, 2.0, device="cuda", dtype="float64"),
        greedy_l1_encode(X, D, 2.0),
        atol=1e-10,
    )
    # By default a GPU codes NumPy input in float32, returned in float64.
    code = greedy_l1_encode(X, D, 2.0, device="cuda")
    assert code.dtype == np.float64
    np.testing.assert_allclose(code, greedy_l1_encode(X, D, 2.0), atol=1e-4)


@pytest.mark.gpu("cuda")
@pytest.mark.parametrize("dictionary_step", ["mod", "gradient"])
def test_cuda_whole_fit_matches_the_cpu_objective(dictionary_step):
    # The whole fit runs on the GPU (tests/decomposition/test_device_fit.py
    # runs the same torch code on CPU tensors).
    X = make_sparse_linear(3000, 16, n_components=64, avg_active=3, random_state=1)
    X = X.astype(np.float32)
    kwargs = dict(n_components=64, max_iter=5, random_state=0, tol=0.0)
    kwargs["dictionary_step"] = dictionary_step
    cpu = GreedyL1DictionaryLearning(**kwargs).fit(X)
    gpu = GreedyL1DictionaryLearning(device="cuda", **kwargs).fit(X)
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(
        gpu.history_["objective"], cpu.history_["objective"], rtol=5e-3
    )
    np.testing.assert_allclose(gpu.score(X), cpu.score(X), rtol=5e-3)
    assert isinstance(gpu.components_, np.ndarray)
    assert gpu.components_.dtype == np.float32


@pytest.mark.gpu("cuda")
def test_cuda_partial_fit_continues_a_cuda_fit():
    X = make_sparse_linear(2000, 16, n_components=64, avg_active=3, random_state=2)
    dl = GreedyL1DictionaryLearning(64, max_iter=3, random_state=0, device="cuda")
    dl.fit(X)
    n_iter = dl.n_iter_
    dl.partial_fit(X[:500])
    assert dl.n_iter_ == n_iter + 1
    assert dl.components_.dtype == np.float64
    assert np.isfinite(dl.history_["objective"]).all()
