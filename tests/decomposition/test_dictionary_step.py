"""Large dictionaries, half precision and devices (the scaling paths)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import (
    GreedyL1DictionaryLearning,
    _greedy,
    greedy_l1_encode,
)
from skfeatsparse.decomposition._dictionary_step import gradient_step
from skfeatsparse.metrics import sparsity_report

torch = pytest.importorskip("torch")
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU"
)
needs_mps = pytest.mark.skipif(
    not torch.backends.mps.is_available(), reason="needs an Apple MPS device"
)


def _sparse_code(rng, n, m, density=0.1):
    code = sp.random(n, m, density=density, random_state=rng, format="csr")
    code.data = np.abs(code.data) + 0.1
    return code


def test_gradient_step_equals_the_dense_formula():
    # The step from the sparse code is D + (lr / L) C^T (X - C D) with L the
    # top eigenvalue of C^T C, computed here the plain dense way.
    rng = np.random.default_rng(0)
    code = _sparse_code(rng, 200, 40)
    code[:, 7] = 0  # an unused atom keeps its row
    code.eliminate_zeros()
    X = rng.standard_normal((200, 12))
    D = rng.standard_normal((40, 12))
    C = code.toarray()
    L = np.linalg.eigvalsh(C.T @ C).max()
    expected = D + (0.7 / L) * (C.T @ X - C.T @ C @ D)
    got = gradient_step(code, X, D.copy(), 0.7, n_iter=200)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(got[7], D[7])


def test_gradient_step_lowers_the_least_squares_error():
    rng = np.random.default_rng(1)
    code = _sparse_code(rng, 300, 50, density=0.05)
    X = rng.standard_normal((300, 10))
    D = rng.standard_normal((50, 10))

    def error(D):
        return np.linalg.norm(X - code @ D) ** 2

    before = error(D)
    assert error(gradient_step(code, X, D.copy(), 1.0)) < before


def test_gradient_step_with_an_empty_code_changes_nothing():
    D = np.random.default_rng(2).standard_normal((5, 3))
    out = gradient_step(sp.csr_matrix((4, 5)), np.ones((4, 3)), D.copy(), 1.0)
    np.testing.assert_array_equal(out, D)


def test_mod_refuses_a_dictionary_too_large_before_any_work():
    X = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="dictionary_step='gradient'"):
        GreedyL1DictionaryLearning(20000).fit(X)
    with pytest.raises(ValueError, match="dictionary_step='gradient'"):
        GreedyL1DictionaryLearning(20000).partial_fit(X)


def test_block_rows_caps_the_codes_of_a_block():
    assert _greedy.block_rows(4096, 2048, 4) == 4096
    # 65536 float32 atoms: 1024 rows of codes are the 256 MiB cap.
    assert _greedy.block_rows(4096, 65536, 4) == 1024
    assert _greedy.block_rows(4096, 65536, 8) == 512
    assert _greedy.block_rows(4096, 10**9, 8) == 1


@pytest.fixture
def no_gram(monkeypatch):
    """Take the large-dictionary route at small sizes: no Gram matrix, and
    blocks capped at 64 KiB of codes (a few rows)."""
    monkeypatch.setattr(_greedy, "GRAM_MAX_BYTES", 0)
    monkeypatch.setattr(_greedy, "BLOCK_MAX_BYTES", 1 << 16)


def _fit_gradient(X):
    dl = GreedyL1DictionaryLearning(
        64, dictionary_step="gradient", max_iter=4, batch_size=500, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return dl.fit(X)


def test_large_dictionary_route_gives_the_same_fit_and_codes(no_gram):
    # The block-vectorised engine with Gram rows computed on demand (deduplicated
    # per step) and 64-row blocks must learn what the Gram-matrix kernel learns.
    X = make_sparse_linear(1000, 16, n_components=64, avg_active=3, random_state=0)
    route = _fit_gradient(X)
    code = route.transform(X)
    assert _greedy.block_rows(500, 64, 8) == 128
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_greedy, "GRAM_MAX_BYTES", 1 << 30)
        mp.setattr(_greedy, "BLOCK_MAX_BYTES", 1 << 28)
        kernel = _fit_gradient(X)
        kernel_code = kernel.transform(X)
    np.testing.assert_allclose(route.components_, kernel.components_, atol=1e-8)
    np.testing.assert_allclose(code, kernel_code, atol=1e-8)
    np.testing.assert_allclose(
        route.history_["objective"], kernel.history_["objective"]
    )
    assert sparsity_report(route, X)["normalized_loss"] == pytest.approx(
        sparsity_report(kernel, X)["normalized_loss"], rel=1e-9
    )


def test_on_demand_gram_rows_match_the_gram_matrix(no_gram):
    rng = np.random.default_rng(3)
    D = rng.standard_normal((300, 12))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    # Repeated samples make many samples pick the same atom in a step.
    X = np.repeat(rng.standard_normal((10, 12)), 7, axis=0)
    code, steps = greedy_l1_encode(X, D, 0.5, return_n_steps=True)
    reference = greedy_l1_encode(X, D, 0.5, gram=D @ D.T)
    np.testing.assert_allclose(code, reference, atol=1e-10)
    assert steps.min() >= 1


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


def test_bfloat16_tensor_is_coded_in_float32():
    rng = np.random.default_rng(4)
    D = np.eye(6)
    X = torch.tensor(rng.standard_normal((9, 6)), dtype=torch.bfloat16)
    code = greedy_l1_encode(X, D, 0.2)
    assert code.dtype == torch.float32
    expected = greedy_l1_encode(X.float().numpy(), D.astype(np.float32), 0.2)
    np.testing.assert_array_equal(code.numpy(), expected)


@pytest.mark.parametrize("device", ["gpu", "cuda:99", "tpu"])
def test_unknown_or_missing_devices_fail_clearly_before_work(device):
    X = np.random.default_rng(0).standard_normal((50, 4))
    with pytest.raises(ValueError, match="device="):
        GreedyL1DictionaryLearning(8, device=device).fit(X)
    with pytest.raises(ValueError, match="device="):
        greedy_l1_encode(X, np.eye(4), 0.5, device=device)


@needs_cuda
def test_cuda_fit_and_transform_match_the_cpu():
    X = make_sparse_linear(2000, 16, n_components=64, avg_active=3, random_state=0)
    X = X.astype(np.float32)
    kwargs = dict(n_components=64, max_iter=5, random_state=0)
    cpu = GreedyL1DictionaryLearning(**kwargs).fit(X)
    gpu = GreedyL1DictionaryLearning(device="cuda", **kwargs).fit(X)
    np.testing.assert_allclose(gpu.components_, cpu.components_, atol=1e-3)
    np.testing.assert_allclose(gpu.transform(X), cpu.transform(X), atol=1e-3)
    assert gpu.transform(X).dtype == np.float32


@needs_cuda
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


@needs_mps
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


def test_torch_engine_streams_numpy_blocks_into_the_output():
    # The GPU route for numpy input: blocks go to the device one at a time and
    # their codes come back into one numpy array (exercised here on the CPU).
    rng = np.random.default_rng(7)
    D = rng.standard_normal((40, 6))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((103, 6))
    out = np.zeros((103, 40))
    code, steps = _greedy._encode_torch(
        X, torch.from_numpy(D), None, 0.25, 1e-9 * 0.25, 200, 16, out=out
    )
    assert code is out and isinstance(steps, np.ndarray) and steps.shape == (103,)
    reference, ref_steps = greedy_l1_encode(
        X, D, 0.5, max_steps=200, return_n_steps=True
    )
    np.testing.assert_allclose(code, reference, atol=1e-10)
    np.testing.assert_array_equal(steps, ref_steps)
    # A tensor stays a tensor, codes and all.
    code_t, steps_t = _greedy._encode_torch(
        torch.from_numpy(X), torch.from_numpy(D), None, 0.25, 1e-9 * 0.25, 200, 16
    )
    np.testing.assert_allclose(code_t.numpy(), reference, atol=1e-10)


def test_dtype_sets_the_precision_and_codes_keep_the_input_dtype():
    rng = np.random.default_rng(8)
    D = rng.standard_normal((30, 5))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((50, 5))
    code = greedy_l1_encode(X, D, 0.4, dtype="float32")
    assert code.dtype == np.float64
    expected = greedy_l1_encode(X.astype(np.float32), D.astype(np.float32), 0.4)
    np.testing.assert_array_equal(code, expected.astype(np.float64))
    # float32 data coded in float64: the float64 code, returned as float32.
    code64 = greedy_l1_encode(X.astype(np.float32), D, 0.4, dtype="float64")
    assert code64.dtype == np.float32
    np.testing.assert_array_equal(
        code64,
        greedy_l1_encode(X.astype(np.float32).astype(np.float64), D, 0.4).astype(
            np.float32
        ),
    )
    with pytest.raises(ValueError, match="dtype must be"):
        greedy_l1_encode(X, D, 0.4, dtype="int8")
