"""Dask arrays and the estimator: lazy transform, fit streamed through partial_fit
(the metrics on dask arrays: tests/metrics/test_dask.py).

Every computation runs on a two-process ``distributed`` cluster (the ``client``
fixture of tests/conftest.py), so the estimator really travels to other
processes; results are
compared with the in-memory path.
"""

import contextlib
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils import check_random_state

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

from skfeatsparse.datasets import make_sparse_linear  # noqa: E402
from skfeatsparse.decomposition import GreedyL1DictionaryLearning  # noqa: E402
from skfeatsparse.metrics import (  # noqa: E402
    normalized_loss,
    sparsity_report,
)
from skfeatsparse.utils import is_dask_array  # noqa: E402

from .._dask_data import CHUNK, N_COMPONENTS, N_FEATURES, N_SAMPLES, PARAMS, _blocks  # noqa: E402

pytestmark = pytest.mark.xdist_group("dask")


def _explode(block):
    raise AssertionError("a block was computed while building a lazy result")


# ----------------------------------------------------------------- helpers
def test_is_dask_array_and_import_without_dask(X, Xd):
    assert is_dask_array(Xd)
    assert not is_dask_array(X)
    assert not is_dask_array(Xd.compute())
    assert not is_dask_array([[1.0, 2.0]])
    code = (
        "import sys, numpy as np; import skfeatsparse, skfeatsparse.decomposition, "
        "skfeatsparse.metrics, skfeatsparse.utils as d\n"
        "from skfeatsparse.datasets import make_sparse_linear\n"
        "from skfeatsparse.decomposition import GreedyL1DictionaryLearning as G\n"
        "X = make_sparse_linear(100, 4, random_state=0)\n"
        "G(8, max_iter=1, alpha_warmup=()).fit(X).transform(X)\n"
        "assert not d.is_dask_array(X)\n"
        "bad = sorted(m for m in sys.modules if m == 'dask' or m.startswith('dask.'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------- transform
def test_transform_is_lazy(dl, Xd):
    poisoned = Xd.map_blocks(_explode, dtype=Xd.dtype)
    code = dl.transform(poisoned)
    assert isinstance(code, da.Array)
    report = sparsity_report(dl, poisoned)
    assert all(
        isinstance(v, da.Array) or key == "max_atom_cosine"  # from the dictionary
        for key, v in report.items()
    )
    assert report["firing_frequency"].shape == (N_COMPONENTS,)
    assert isinstance(dl.inverse_transform(code), da.Array)
    with pytest.raises(AssertionError, match="a block was computed"):
        code.compute()


def test_transform_blockwise_equals_numpy(client, dl, X, Xd):
    code = dl.transform(Xd)
    assert code.chunks == ((CHUNK,) * 3, (N_COMPONENTS,))
    assert code.dtype == np.float64
    result = code.compute()
    assert result.dtype == np.float64
    # Each block runs the numpy transform on its rows: bitwise the same.
    assert_array_equal(result, np.vstack([dl.transform(b) for b in _blocks(X)]))
    # The whole array at once differs at most by how BLAS rounds a row block.
    assert_allclose(result, dl.transform(X), rtol=0, atol=1e-12)
    assert (result > 0).sum() > N_SAMPLES  # not trivially all zero


def test_transform_dtypes(client, dl, X):
    X32 = X.astype(np.float32)
    code = dl.transform(da.from_array(X32, chunks=CHUNK))
    assert code.dtype == np.float32
    expected = np.vstack([dl.transform(b) for b in _blocks(X32)])
    assert_array_equal(code.compute(), expected)
    Xint = np.round(X * 10).astype(np.int64)
    code = dl.transform(da.from_array(Xint, chunks=CHUNK))
    assert code.dtype == dl.transform(Xint).dtype == np.float64
    expected = np.vstack([dl.transform(b) for b in _blocks(Xint)])
    assert_array_equal(code.compute(), expected)


def test_estimator_is_one_graph_key(dl, X):
    # A large dictionary (4096 atoms, 256 KiB): built lazily, never computed.
    big = GreedyL1DictionaryLearning(**PARAMS)
    big.__dict__.update(vars(dl))
    atoms = np.random.default_rng(0).standard_normal((4096, N_FEATURES))
    big.components_ = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    Xd = da.from_array(X, chunks=20)  # 30 blocks
    for lazy in (
        big.transform(Xd),
        sparsity_report(big, Xd)["final_loss"],
        big.inverse_transform(da.zeros((600, 4096), chunks=20)),
    ):
        graph = dict(lazy.__dask_graph__())
        coder_keys = [k for k in graph if isinstance(k, str) and "-coder-" in k]
        assert len(coder_keys) == 1
        coder = coder_keys[0]
        users = [k for k in graph if coder in getattr(graph[k], "dependencies", ())]
        assert len(users) == 30
        # components_ is serialised once, in the coder's key, not in the tasks.
        assert len(pickle.dumps(graph[coder])) > big.components_.nbytes
        assert max(len(pickle.dumps(graph[k])) for k in users) < 20_000
    # The same fitted estimator gives the same key: graphs can share it.
    assert big.transform(Xd).name == big.transform(Xd).name
    assert big.transform(Xd).name != dl.transform(Xd).name


def test_inverse_transform(client, dl, X, Xd):
    code = dl.transform(Xd)
    X_hat = dl.inverse_transform(code)
    assert isinstance(X_hat, da.Array)
    assert X_hat.chunks == ((CHUNK,) * 3, (N_FEATURES,))
    numpy_code = code.compute()
    result = X_hat.compute()
    assert result.dtype == X_hat.dtype == np.float64
    expected = [dl.inverse_transform(c) for c in _blocks(numpy_code)]
    assert_array_equal(result, np.vstack(expected))
    assert_allclose(result, dl.inverse_transform(numpy_code), rtol=1e-12, atol=1e-14)
    # code chunked along the atoms too
    split = da.from_array(numpy_code, chunks=(150, 8))
    assert_allclose(
        dl.inverse_transform(split).compute(), result, rtol=1e-12, atol=1e-14
    )


# ----------------------------------------------------------------- metrics


# ------------------------------------------------------------------ errors
def test_input_errors(client, dl, X):
    message = (
        "X has 5 features, but GreedyL1DictionaryLearning is expecting 8 features "
        "as input."
    )
    wrong = da.from_array(X[:, :5], chunks=CHUNK)
    with pytest.raises(ValueError, match=message):
        dl.transform(wrong)
    with pytest.raises(ValueError, match=message):
        sparsity_report(dl, wrong)
    with pytest.raises(ValueError, match=message):
        normalized_loss(dl, wrong)
    with pytest.raises(ValueError, match="Expected a 2D dask array"):
        dl.transform(da.from_array(X[:, 0], chunks=CHUNK))
    with pytest.raises(ValueError, match="Expected a 2D dask array"):
        dl.inverse_transform(da.zeros((2, 3, N_COMPONENTS)))
    with pytest.raises(ValueError, match="real numeric dtype"):
        dl.transform(da.from_array(X.astype(complex), chunks=CHUNK))
    with pytest.raises(ValueError, match="dictionary has 32 atoms"):
        dl.inverse_transform(da.zeros((4, 5)))
    with pytest.raises(NotFittedError):
        GreedyL1DictionaryLearning().transform(da.from_array(X, chunks=CHUNK))
    nan = X.copy()
    nan[450, 3] = np.nan
    code = dl.transform(da.from_array(nan, chunks=CHUNK))  # eager checks pass
    with pytest.raises(ValueError, match="NaN"):
        code.compute()
    inf = X.copy()
    inf[10, 0] = np.inf
    report = sparsity_report(dl, da.from_array(inf, chunks=CHUNK))
    with pytest.raises(ValueError, match="infinity"):
        dask.compute(report)


# ----------------------------------------------------------------- fitting
def _reference_fit(X, n_epochs, **params):
    """partial_fit on the same blocks, shuffled as fit does, in memory."""
    rng = check_random_state(params["random_state"])
    reference = GreedyL1DictionaryLearning(**params)
    blocks = _blocks(X)
    for _ in range(n_epochs):
        for i in rng.permutation(len(blocks)):
            reference.partial_fit(blocks[i])
    return reference


def _assert_same_fit(a, b):
    assert_array_equal(a.components_, b.components_)
    assert_array_equal(a.mean_, b.mean_)
    assert a.alpha_ == b.alpha_
    assert a.n_iter_ == b.n_iter_
    for key in b.history_:
        if key != "time":
            assert_array_equal(a.history_[key], b.history_[key], err_msg=key)


@pytest.mark.parametrize("scheduler", ["distributed", "synchronous"])
def test_fit_streams_partial_fit(client, X, Xd, scheduler):
    params = dict(max_iter=3, tol=0.0, **PARAMS)
    dl = GreedyL1DictionaryLearning(**params)
    dl.fit(X[:, :6])  # fitted on other data first: fit(Xd) starts afresh
    context = dask.config.set(scheduler=scheduler)
    if scheduler == "distributed":  # the client's futures, next block prefetched
        context = contextlib.nullcontext()
    with context:
        assert dl.fit(Xd) is dl
    n_epochs = 3  # tol=0: no early stop
    assert dl.n_iter_ == 3 * n_epochs
    assert dl.n_features_in_ == N_FEATURES
    reference = _reference_fit(X, n_epochs, **params)
    _assert_same_fit(dl, reference)
    # the blocks were shuffled: an unshuffled stream gives another dictionary
    in_order = GreedyL1DictionaryLearning(**params)
    for _ in range(n_epochs):
        for block in _blocks(X):
            in_order.partial_fit(block)
    assert not np.array_equal(in_order.components_, dl.components_)
    # and the fit is usable
    assert_allclose(dl.score(Xd), dl.score(X), rtol=1e-12)


def test_fit_stops_early(client, X, Xd):
    params = dict(max_iter=10, tol=0.5, alpha=0.05, **PARAMS)
    dl = GreedyL1DictionaryLearning(**params).fit(Xd)
    assert dl.n_iter_ == 2 * 3  # two epochs: the second barely moves the objective
    _assert_same_fit(dl, _reference_fit(X, 2, **params))


def test_partial_fit_dask(client, X, Xd):
    dl = GreedyL1DictionaryLearning(**PARAMS)
    dl.partial_fit(Xd).partial_fit(Xd)
    reference = GreedyL1DictionaryLearning(**PARAMS)
    for _ in range(2):
        for block in _blocks(X):
            reference.partial_fit(block)
    _assert_same_fit(dl, reference)
    with pytest.raises(ValueError, match="X has 5 features"):
        dl.partial_fit(da.from_array(X[:, :5], chunks=CHUNK))


def test_fit_errors(X):
    with pytest.raises(ValueError, match="Expected a 2D dask array"):
        GreedyL1DictionaryLearning().fit(da.from_array(X[:, 0], chunks=CHUNK))
    nan = X.copy()
    nan[450, 3] = np.nan
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match="NaN"):
            GreedyL1DictionaryLearning(**PARAMS).fit(da.from_array(nan, chunks=CHUNK))


# ------------------------------------------------------------- dask-ml
def test_dask_ml_incremental(client, X, Xd):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    inc = wrappers.Incremental(
        GreedyL1DictionaryLearning(**PARAMS), shuffle_blocks=False
    )
    Xd = Xd.rechunk({1: -1})  # dask-ml hands partial_fit the chunks as they are
    inc.fit(Xd)
    reference = GreedyL1DictionaryLearning(**PARAMS)
    for block in _blocks(X):
        reference.partial_fit(block)
    _assert_same_fit(inc.estimator_, reference)
    code = inc.transform(Xd)
    assert isinstance(code, da.Array)
    expected = np.vstack([reference.transform(b) for b in _blocks(X)])
    assert_array_equal(code.compute(), expected)
    assert_allclose(reference.transform(Xd).compute(), expected, rtol=0, atol=0)


def test_fit_memory_does_not_grow_with_the_number_of_blocks():
    # Streaming: a fit over 4x the blocks peaks no higher (numpy allocations,
    # traced), while the in-memory fit, which copies the centred data, does.
    import tracemalloc

    X = make_sparse_linear(32000, 32, n_components=64, avg_active=3, random_state=0)

    def peak(fit_input):
        dl = GreedyL1DictionaryLearning(64, max_iter=1, alpha_warmup=(), random_state=0)
        tracemalloc.start()
        try:
            with warnings.catch_warnings(), dask.config.set(scheduler="synchronous"):
                warnings.simplefilter("ignore", ConvergenceWarning)
                dl.fit(fit_input)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(da.from_array(X[:4000], chunks=(2000, -1)))  # imports and compilation
    peak(X[:4000])
    small, large = (
        peak(da.from_array(X[:n], chunks=(2000, -1))) for n in (8000, 32000)
    )
    assert large < 1.25 * small
    in_memory = [peak(X[:n]) for n in (8000, 32000)]
    assert in_memory[1] > 2 * in_memory[0]
    assert large < in_memory[1] / 2
