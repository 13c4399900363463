"""The coding step: greedy_l1_encode against the paper's rule (Appendix C)."""

import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import (
    GreedyL1DictionaryLearning,
    _greedy,
    greedy_l1_encode,
)
from skfeatsparse.metrics import sparsity_report

from .._reference import greedy_l1_reference, objective, unit_rows


@st.composite
def coding_problems(draw):
    """A random dictionary, sparse-ish data on it, and a penalty."""
    seed = draw(st.integers(0, 2**32 - 1))
    n_features = draw(st.integers(2, 12))
    n_components = draw(st.integers(1, 40))
    n_samples = draw(st.integers(1, 30))
    rng = np.random.default_rng(seed)
    D = unit_rows(rng, n_components, n_features)
    code = rng.uniform(size=(n_samples, n_components)) * (
        rng.uniform(size=(n_samples, n_components)) < 3 / n_components
    )
    X = code @ D + 0.1 * rng.standard_normal((n_samples, n_features))
    scale = draw(st.floats(1e-3, 1e3))
    alpha = draw(st.floats(0.05, 2.0)) * scale
    return X * scale, D, alpha


def _encode(X, D, alpha, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return greedy_l1_encode(X, D, alpha, **kwargs)


@settings(max_examples=60, deadline=None)
@given(coding_problems())
def test_codes_are_non_negative(problem):
    X, D, alpha = problem
    assert (_encode(X, D, alpha) >= 0).all()


@settings(max_examples=60, deadline=None)
@given(coding_problems())
def test_at_termination_no_atom_exceeds_half_alpha(problem):
    X, D, alpha = problem
    code, n_steps = _encode(X, D, alpha, max_steps=10_000, return_n_steps=True)
    finished = n_steps < 10_000
    dots = (X - code @ D) @ D.T
    # The stopping rule is c <= rtol * alpha / 2 on Gram-updated correlations:
    # allow that and float drift relative to the data's size.
    slack = 1e-9 * alpha / 2 + 1e-9 * np.abs(X).max()
    assert (dots[finished] <= alpha / 2 + slack).all()


@settings(max_examples=60, deadline=None)
@given(coding_problems())
def test_fast_kernel_equals_reference_loop(problem):
    X, D, alpha = problem
    expected = greedy_l1_reference(X, D, alpha, max_steps=64)
    got = _encode(X, D, alpha, max_steps=64)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9 * np.abs(X).max())


@settings(max_examples=30, deadline=None)
@given(coding_problems())
def test_blockwise_engine_without_gram_equals_reference(problem):
    X, D, alpha = problem
    limit = _greedy.GRAM_MAX_BYTES
    _greedy.GRAM_MAX_BYTES = 0  # force the on-the-fly Gram-row path
    try:
        got = _encode(X, D, alpha, max_steps=64)
    finally:
        _greedy.GRAM_MAX_BYTES = limit
    expected = greedy_l1_reference(X, D, alpha, max_steps=64)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-9 * np.abs(X).max())


@settings(max_examples=60, deadline=None)
@given(coding_problems(), st.floats(1e-3, 1e3))
def test_scaling_data_and_alpha_scales_the_code(problem, c):
    X, D, alpha = problem
    np.testing.assert_allclose(
        _encode(c * X, D, c * alpha),
        c * _encode(X, D, alpha),
        rtol=1e-7,
        atol=1e-9 * c * np.abs(X).max(),
    )


@settings(max_examples=40, deadline=None)
@given(coding_problems(), st.integers(1, 8))
def test_objective_never_increases_over_the_coding_steps(problem, steps):
    X, D, alpha = problem
    before = objective(X, np.zeros((X.shape[0], D.shape[0])), D, alpha)
    shorter = objective(X, _encode(X, D, alpha, max_steps=steps), D, alpha)
    longer = objective(X, _encode(X, D, alpha, max_steps=steps + 1), D, alpha)
    tol = 1e-9 * before
    assert shorter <= before + tol
    assert longer <= shorter + tol


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-7), (np.float32, 1e-4)])
@pytest.mark.parametrize("n_components", [_greedy.MAX_BLOCK - 1, 333, 1024])
def test_kernel_equals_reference_across_search_blocks(dtype, rtol, n_components):
    # Correlations are updated and their maxima kept block by block:
    # dictionaries smaller than a block, with a ragged last block, and of
    # whole blocks must all agree with the one-sample reference loop, in both
    # dtypes; and rows in several of the kernel's chunks (coded in place).
    rng = np.random.default_rng(n_components)
    n_samples = 2 * _greedy._KERNEL_CHUNK + 5
    D = unit_rows(rng, n_components, 24)
    truth = rng.uniform(size=(n_samples, n_components)) * (
        rng.uniform(size=(n_samples, n_components)) < 4 / n_components
    )
    X = truth @ D + 0.01 * rng.standard_normal((n_samples, 24))
    expected = greedy_l1_reference(X, D, 0.2, rtol=1e-4, max_steps=96)
    got = _encode(X.astype(dtype), D.astype(dtype), 0.2, rtol=1e-4, max_steps=96)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("copies", [(3, 4), (5, 300), (250, 301)])
def test_exactly_tied_atoms_go_to_the_first_index(dtype, copies):
    # Duplicate atoms tie exactly at every step; like np.argmax, the greedy
    # step must take the first of them, within a search block or across two.
    rng = np.random.default_rng(9)
    D = unit_rows(rng, 320, 16)
    D[copies[1]] = D[copies[0]]
    X = 2.0 * D[copies[0]][None] + 0.3 * D[7][None]
    code = greedy_l1_encode(X.astype(dtype), D.astype(dtype), 0.1)
    assert code[0, copies[0]] > 1.5
    assert code[0, copies[1]] == 0
    np.testing.assert_allclose(
        code, greedy_l1_reference(X, D, 0.1), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_max_reduction_is_the_exact_maximum(dtype):
    from numba import njit

    from skfeatsparse.utils import vector_max

    @njit(fastmath={"nnan", "nsz", "reassoc"})
    def largest(x):
        best = x[0]
        for i in range(x.size):
            best = vector_max(best, x[i])
        return best

    rng = np.random.default_rng(10)
    for size in (1, 7, 1000):
        x = rng.standard_normal(size).astype(dtype)
        assert largest(x) == x.max()
        assert largest(-np.abs(x)) == (-np.abs(x)).max()


def test_float32_stays_float32_and_matches_float64():
    rng = np.random.default_rng(0)
    D = unit_rows(rng, 30, 8)
    X = rng.standard_normal((50, 8))
    code32 = greedy_l1_encode(X.astype(np.float32), D, 2.0)
    assert code32.dtype == np.float32
    np.testing.assert_allclose(code32, greedy_l1_encode(X, D, 2.0), atol=1e-4)


def test_torch_tensor_in_torch_tensor_out():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    D = unit_rows(rng, 30, 8)
    X = rng.standard_normal((20, 8))
    code = greedy_l1_encode(torch.from_numpy(X), torch.from_numpy(D), 2.0)
    assert isinstance(code, torch.Tensor)
    np.testing.assert_allclose(code.numpy(), greedy_l1_encode(X, D, 2.0))


def test_batch_size_does_not_change_the_code():
    rng = np.random.default_rng(3)
    D = unit_rows(rng, 40, 10)
    X = rng.standard_normal((101, 10))
    # Equal up to the last bits the matrix product rounds differently per block.
    np.testing.assert_allclose(
        greedy_l1_encode(X, D, 2.0, batch_size=7),
        greedy_l1_encode(X, D, 2.0),
        atol=1e-12,
    )


def test_near_duplicate_atoms_terminate_without_hitting_the_cap():
    # The literal "c <= 0" rule can bounce between near-duplicate atoms for
    # ever; the relative tolerance must stop it.
    rng = np.random.default_rng(4)
    base = unit_rows(rng, 1, 16)[0]
    twin = base + 1e-9 * unit_rows(rng, 1, 16)[0]
    D = np.vstack([base, twin / np.linalg.norm(twin), unit_rows(rng, 10, 16)])
    X = 3 * base[None] + 0.01 * rng.standard_normal((200, 16))
    _, n_steps = greedy_l1_encode(X, D, 0.1, max_steps=500, return_n_steps=True)
    assert n_steps.max() < 500


def test_cap_on_steps_warns_and_says_how_many():
    rng = np.random.default_rng(5)
    D = unit_rows(rng, 40, 10)
    X = rng.standard_normal((20, 10))
    with pytest.warns(ConvergenceWarning, match=r"of 20 samples reached max_steps=2"):
        code, n_steps = greedy_l1_encode(X, D, 1e-3, max_steps=2, return_n_steps=True)
    assert n_steps.max() == 2
    assert (np.count_nonzero(code, axis=1) <= 2).all()


def test_identity_dictionary_gives_soft_threshold_of_the_largest_entry():
    code = greedy_l1_encode(np.array([[3.0, 1.0, -2.0]]), np.eye(3), alpha=1.0)
    # step 1: atom 0, 3 - 0.5 = 2.5; residual (0.5, 1, -2): atom 1, 1 - 0.5 = 0.5;
    # residual (0.5, 0.5, -2): best dot 0.5 -> coefficient 0 -> stop.
    np.testing.assert_allclose(code, [[2.5, 0.5, 0.0]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": 0.0}, "alpha must be a positive"),
        ({"alpha": -1.0}, "alpha must be a positive"),
        ({"alpha": float("nan")}, "alpha must be a positive"),
        (
            {"max_steps": 0},
            (
                r"'max_steps' parameter of greedy_l1_encode"
                r" must be an int in the range \[1, inf\)"
            ),
        ),
        (
            {"batch_size": 0},
            (
                r"'batch_size' parameter of greedy_l1_encode"
                r" must be an int in the range \[1, inf\)"
            ),
        ),
        (
            {"rtol": -0.1},
            (
                r"'rtol' parameter of greedy_l1_encode"
                r" must be a float in the range \[0.0, 1.0\)"
            ),
        ),
    ],
)
def test_invalid_arguments_raise_clear_errors(kwargs, match):
    args = {"alpha": 1.0, **kwargs}
    alpha = args.pop("alpha")
    with pytest.raises(ValueError, match=match):
        greedy_l1_encode(np.ones((2, 3)), np.eye(3), alpha, **args)


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[np.nan, 1.0, 0.0]]), "NaN"),
        (np.array([[np.inf, 1.0, 0.0]]), "infinity"),
        (np.ones(3), "2D array"),
        (np.ones((0, 3)), "0 sample"),
        (np.ones((2, 4)), "X has 4 features but components has 3"),
    ],
)
def test_bad_data_raises_clear_errors(X, match):
    with pytest.raises(ValueError, match=match):
        greedy_l1_encode(X, np.eye(3), 1.0)


def test_kernel_output_pickles():
    code = greedy_l1_encode(np.ones((2, 3)), np.eye(3), 0.5)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(code)), code)


def test_very_large_dictionary_codes_without_a_gram_matrix():
    # 65536 atoms: the Gram matrix (32 GiB) is never formed, and blocks of
    # samples shrink so the correlations stay bounded.
    rng = np.random.default_rng(6)
    D = unit_rows(rng, 65536, 8)
    X = 3 * D[[5, 70000 % 65536, 123]] + 0.01 * rng.standard_normal((3, 8))
    code = greedy_l1_encode(X, D, 1.0, max_steps=20)
    expected = greedy_l1_reference(X, D, 1.0, max_steps=20)
    np.testing.assert_allclose(code, expected, rtol=1e-7, atol=1e-9)


def test_block_rows_caps_the_codes_of_a_block():
    assert _greedy.block_rows(4096, 2048, 4) == 4096
    # 65536 float32 atoms: 1024 rows of codes are the 256 MiB cap.
    assert _greedy.block_rows(4096, 65536, 4) == 1024
    assert _greedy.block_rows(4096, 65536, 8) == 512
    assert _greedy.block_rows(4096, 10**9, 8) == 1


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


def test_bfloat16_tensor_is_coded_in_float32():
    torch = pytest.importorskip("torch")
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


def test_torch_engine_streams_numpy_blocks_into_the_output():
    torch = pytest.importorskip("torch")
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


_ENCODE_SCRIPT = """
import numpy as np
import skfeatsparse.decomposition as d
from skfeatsparse.decomposition import _dictionary_step
X = np.array([[2.0, 0.5, -1.0]])
print(d.greedy_l1_encode(X, np.eye(3), alpha=1.0).tolist())
code = np.array([[1.0, 0.0, 2.0]])
print(_dictionary_step.sufficient_statistics(code, X)[0].tolist())
"""


def _unwritable(path):
    """Make the tree at ``path`` unwritable, even for root: every
    ``__pycache__`` (where numba's in-tree cache goes) becomes a plain file."""
    import os
    import shutil
    import stat

    for directory, subdirectories, _ in os.walk(path):
        for name in list(subdirectories):
            if name == "__pycache__":
                shutil.rmtree(os.path.join(directory, name))
                subdirectories.remove(name)
        with open(os.path.join(directory, "__pycache__"), "w"):
            pass
    for directory, _, files in os.walk(path, topdown=False):
        for name in files:
            os.chmod(os.path.join(directory, name), stat.S_IRUSR)
        os.chmod(directory, stat.S_IRUSR | stat.S_IXUSR)


def test_imports_and_codes_from_a_read_only_install(tmp_path):
    # Numba's cache=True raises "no locator available" at import when neither
    # the package directory, NUMBA_CACHE_DIR nor ~/.cache can be written:
    # caching must fall back to compiling in memory.
    import os
    import shutil
    import stat
    import subprocess
    import sys
    from pathlib import Path

    import skfeatsparse

    site = tmp_path / "site"
    shutil.copytree(
        Path(skfeatsparse.__file__).parent,
        site / "skfeatsparse",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    _unwritable(site)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # HOME and caches below a file: none can be created
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env.update(
        HOME=str(blocker / "home"),
        XDG_CACHE_HOME=str(blocker / "cache"),
        PYTHONPATH=str(site),
        PYTHONDONTWRITEBYTECODE="1",
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", _ENCODE_SCRIPT],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        for directory, _, _ in os.walk(site):
            os.chmod(directory, stat.S_IRWXU)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "[[1.5, 0.0, 0.0]]",
        "[[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [2.0, 0.0, 4.0]]",
    ]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_route_of_the_fit_gives_the_dense_codes(dtype):
    # The fit's route (greedy_csr: non-zeros counted by the pursuit, CSR
    # filled from a reused dense block) must give exactly greedy_l1_encode's
    # codes, with sorted indices, whatever the reused block held before.
    rng = np.random.default_rng(3)
    D = unit_rows(rng, 333, 24).astype(dtype)
    truth = rng.uniform(size=(150, 333)) * (rng.uniform(size=(150, 333)) < 0.02)
    X = (truth @ D + 0.01 * rng.standard_normal((150, 24))).astype(dtype)
    out = np.full((150, 333), np.nan, dtype)  # stale contents must not leak
    gram = D @ D.T
    code, n_steps = _greedy.greedy_csr(
        X, D, 0.2, gram=_greedy.kernel_gram(D, gram), max_steps=96, out=out
    )
    expected, expected_steps = _encode(
        X, D, 0.2, gram=gram, max_steps=96, return_n_steps=True
    )
    assert code.dtype == dtype and code.has_canonical_format
    np.testing.assert_array_equal(code.toarray(), expected)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(n_steps, expected_steps)
    assert code.nnz == np.count_nonzero(expected) > 150


def test_kernel_gram_pads_rows_to_whole_blocks_and_codes_agree():
    # 200 atoms: rows padded with zeros to 256; a user's (k, k) Gram matrix,
    # the padded form and none at all code alike; other shapes are refused.
    rng = np.random.default_rng(4)
    D = unit_rows(rng, 200, 16)
    X = rng.standard_normal((40, 16))
    padded = _greedy.kernel_gram(D)
    assert padded.shape == (200, _greedy.kernel_width(200)) == (200, 256)
    np.testing.assert_allclose(padded[:, :200], D @ D.T, atol=1e-12)
    assert not padded[:, 200:].any()
    assert _greedy.kernel_gram(D, padded) is padded
    expected = _encode(X, D, 0.3)
    np.testing.assert_allclose(_encode(X, D, 0.3, gram=D @ D.T), expected, atol=1e-12)
    np.testing.assert_allclose(_encode(X, D, 0.3, gram=padded), expected, atol=1e-12)
    with pytest.raises(ValueError, match="gram has shape"):
        _encode(X, D, 0.3, gram=np.zeros((200, 201)))
