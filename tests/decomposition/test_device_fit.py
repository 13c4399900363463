"""The whole fit on a torch device (_device_fit), run here on torch's CPU device.

``torch_engine`` sends ``device="cpu"`` fits down the device path: the same
torch code a GPU runs, on CPU tensors. Each result is compared with the
compiled CPU path's; tests/test_gpu.py repeats the comparison on CUDA.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import (
    GreedyL1DictionaryLearning,
    _device_fit,
    _dict_learning,
    _dictionary_step,
)

torch = pytest.importorskip("torch")


def _use_torch_engine(monkeypatch):
    """From here on, fits with device="cpu" take the device path on torch's CPU."""
    monkeypatch.setattr(_dict_learning, "fit_device", lambda _: torch.device("cpu"))


@pytest.fixture
def torch_engine(monkeypatch):
    _use_torch_engine(monkeypatch)


@pytest.fixture(scope="module")
def data():
    X = make_sparse_linear(800, 8, n_components=24, avg_active=2, random_state=0)
    return X.astype(np.float32)


def _fit(X, **params):
    params = {"n_components": 32, "random_state": 0, "max_iter": 6, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GreedyL1DictionaryLearning(**params).fit(X)


@pytest.mark.parametrize("dictionary_step", ["mod", "gradient"])
def test_device_fit_matches_the_compiled_cpu_fit(data, monkeypatch, dictionary_step):
    params = dict(dictionary_step=dictionary_step, tol=0.0)  # every pass
    cpu = _fit(data, **params)
    _use_torch_engine(monkeypatch)
    device = _fit(data, **params)
    assert device.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(device.alpha_, cpu.alpha_, rtol=1e-3)
    np.testing.assert_allclose(
        device.history_["objective"], cpu.history_["objective"], rtol=1e-3
    )
    np.testing.assert_allclose(
        device.history_["nonzero_count"], cpu.history_["nonzero_count"], rtol=0.02
    )
    np.testing.assert_allclose(device.components_, cpu.components_, atol=0.02)
    np.testing.assert_allclose(device.score(data), cpu.score(data), rtol=1e-3)


def test_device_fit_leaves_numpy_state_in_the_data_dtype(data, torch_engine):
    dl = _fit(data.astype(np.float64))
    assert isinstance(dl.components_, np.ndarray)
    assert dl.components_.dtype == np.float64
    assert not hasattr(dl, "_device_components")
    assert all(
        not isinstance(v, torch.Tensor) for v in dl._statistics.values()
    )  # picklable without torch, usable by a CPU partial_fit
    np.testing.assert_allclose(np.linalg.norm(dl.components_, axis=1), 1, rtol=1e-6)
    again = pickle.loads(pickle.dumps(dl))
    np.testing.assert_array_equal(again.transform(data), dl.transform(data))


def test_device_pass_never_codes_on_the_host(data, torch_engine, monkeypatch):
    def host_coding(*args, **kwargs):
        raise AssertionError("the device fit called the host's coding path")

    monkeypatch.setattr(_dict_learning, "_code_pass", host_coding)
    monkeypatch.setattr(_dict_learning, "sufficient_statistics", host_coding)
    monkeypatch.setattr(_dict_learning, "mod_step", host_coding)
    assert _fit(data, max_iter=2).n_iter_ > 0


def test_partial_fit_on_the_device_matches_the_cpu(data, monkeypatch):
    def stream(dl):
        for start in range(0, 800, 200):
            dl.partial_fit(data[start : start + 200])
        return dl

    cpu = stream(GreedyL1DictionaryLearning(32, random_state=0))
    _use_torch_engine(monkeypatch)
    device = stream(GreedyL1DictionaryLearning(32, random_state=0))
    np.testing.assert_allclose(device.alpha_, cpu.alpha_, rtol=1e-3)
    np.testing.assert_allclose(
        device.history_["objective"], cpu.history_["objective"], rtol=1e-3
    )
    np.testing.assert_allclose(
        device._statistics["gram"], cpu._statistics["gram"], rtol=1e-3, atol=1e-3
    )


def test_dead_atoms_are_reseeded_on_the_device_as_on_the_cpu(monkeypatch):
    # As in test_dict_learning: 10 random atoms nobody uses in a 4-d subspace.
    rng = np.random.default_rng(0)
    directions = np.linalg.qr(rng.standard_normal((8, 4)))[0].T
    X = (rng.uniform(size=(30, 4)) @ directions).astype(np.float32)
    params = dict(n_components=40, alpha=0.05, max_iter=1, center=False)
    cpu = _fit(X, **params)
    _use_torch_engine(monkeypatch)
    device = _fit(X, **params)
    assert device.n_resampled_ > 0
    np.testing.assert_array_equal(
        device.history_["n_resampled"], cpu.history_["n_resampled"]
    )
    # (The atoms themselves are not compared: 40 atoms on 30 samples leave
    # the least-squares step to its ridge, where float32 and float64 part.)
    np.testing.assert_allclose(
        device.history_["objective"], cpu.history_["objective"], rtol=1e-2
    )
    np.testing.assert_allclose(np.linalg.norm(device.components_, axis=1), 1, 1e-6)


def test_mod_step_matches_the_numpy_step():
    rng = np.random.default_rng(1)
    code = sp.random(200, 12, density=0.3, random_state=1) @ sp.diags(
        np.r_[np.ones(11), 0.0]
    )  # the last atom unused: its row comes back as it was
    X = rng.standard_normal((200, 5))
    components = rng.standard_normal((12, 5))
    gram, cross = _dictionary_step.sufficient_statistics(code, X)
    expected = _dictionary_step.mod_step(gram, cross, components)
    got = _device_fit.mod_step(
        torch.from_numpy(gram), torch.from_numpy(cross), torch.from_numpy(components)
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(got[-1].numpy(), components[-1])


def test_mod_step_falls_back_to_the_pseudo_inverse(monkeypatch):
    # Where Cholesky fails (a numerically singular system) the eigenvalue
    # route solves it; on a regular system that is the same solution.
    rng = np.random.default_rng(3)
    code = sp.random(100, 8, density=0.5, random_state=3)
    X = rng.standard_normal((100, 4))
    gram, cross = _dictionary_step.sufficient_statistics(code, X)
    components = rng.standard_normal((8, 4))
    expected = _dictionary_step.mod_step(gram, cross, components)

    def failing(A):
        return A, torch.ones((), dtype=torch.int32)

    monkeypatch.setattr(torch.linalg, "cholesky_ex", failing)
    got = _device_fit.mod_step(
        torch.from_numpy(gram), torch.from_numpy(cross), torch.from_numpy(components)
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_gradient_step_matches_the_numpy_step():
    rng = np.random.default_rng(2)
    code = sp.random(100, 10, density=0.3, random_state=2, format="csr")
    X = rng.standard_normal((100, 6))
    components = rng.standard_normal((10, 6))
    expected = _dictionary_step.gradient_step(code, X, components.copy(), 0.7)
    got = _device_fit.gradient_step(
        torch.from_numpy(code.toarray()).to_sparse(),
        torch.from_numpy(X),
        torch.from_numpy(components.copy()),
        0.7,
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_fit_device_is_none_only_for_the_compiled_cpu_path():
    assert _device_fit.fit_device("cpu") is None
    assert _device_fit.fit_device("cpu:0") == torch.device("cpu", 0)
    with pytest.raises(ValueError, match="not a torch device"):
        _device_fit.fit_device("gpu")


@pytest.mark.parametrize("density", [0.02, 0.6])
def test_code_gram_adds_code_t_code_sparse_or_dense(monkeypatch, density):
    # 0.02: a few atoms per row, summed pair by pair (in chunks of rows);
    # 0.6: dense codes, one matrix product.
    monkeypatch.setattr(_device_fit, "_GRAM_PAIRS", 50)
    code = sp.random(300, 64, density=density, random_state=4).toarray()
    code = torch.from_numpy(code.astype(np.float32))
    gram = torch.ones(64, 64, dtype=torch.float64)  # added to, not replaced
    _device_fit.add_code_gram(gram, code, code > 0)
    expected = 1 + code.double().T @ code.double()
    np.testing.assert_allclose(gram.numpy(), expected.numpy(), rtol=1e-6)
