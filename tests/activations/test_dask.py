"""Out-of-core activations: lazy dask arrays and zarr caches, on tiny models.

dask and zarr are optional (the ``dask`` extra): the module is skipped
without them. Checked against ``transform``, the in-memory reference.
"""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from skfeatsparse.activations import (
    ActivationCache,
    TransformerActivations,
    _extraction,
    cache_activations,
)
from skfeatsparse.decomposition import GreedyL1DictionaryLearning

from .test_transformer import TEXTS

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
zarr = pytest.importorskip("zarr")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.xdist_group("dask")

# Chunks sort their texts into batches by length on their own, so a text can
# share a batch (and its padding) with other texts than in ``transform``: the
# sums inside the model may round differently. One chunk is exactly equal.
TOL = dict(rtol=1e-6, atol=1e-6)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # As in test_transformer.py: threads only slow tiny models down.
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


def fitted(model_dir, **params):
    return TransformerActivations(str(model_dir), **params).fit()


@pytest.fixture
def count_forward(monkeypatch):
    """How many batches went through the model so far."""
    calls = []
    batch_rows = _extraction.batch_rows

    def counting(*args, **kwargs):
        calls.append(1)
        return batch_rows(*args, **kwargs)

    monkeypatch.setattr(_extraction, "batch_rows", counting)
    return calls


# -- TransformerActivations.to_dask -----------------------------------------


def test_to_dask_is_lazy_with_known_chunks_and_equals_transform(
    tiny_model_dir, count_forward
):
    act = fitted(tiny_model_dir, batch_size=2)
    expected = act.transform(TEXTS)
    text_index = act.provenance(TEXTS).text_index
    del count_forward[:]
    X = act.to_dask(TEXTS, texts_per_chunk=3)
    assert not count_forward  # nothing ran through the model
    assert isinstance(X, da.Array)
    assert X.shape == expected.shape and X.dtype == np.float32
    rows_per_chunk = tuple(
        int(np.isin(text_index, range(i, i + 3)).sum()) for i in range(0, 7, 3)
    )
    assert X.chunks == (rows_per_chunk, (act.hidden_size_,))
    np.testing.assert_allclose(X.compute(), expected, **TOL)
    assert count_forward
    # Blocks are usable one at a time.
    lo, hi = rows_per_chunk[0], sum(rows_per_chunk[:2])
    np.testing.assert_allclose(X.blocks[1].compute(), expected[lo:hi], **TOL)
    # One chunk: the same batches as transform, the very same floats.
    one_chunk = act.to_dask(TEXTS, texts_per_chunk=7).compute()
    np.testing.assert_array_equal(one_chunk, expected)
    assert act.to_dask(TEXTS).numblocks == (1, 1)  # default: 16 * batch_size texts


@pytest.mark.parametrize("pooling", ["mean", "last"])
def test_to_dask_pooled_gives_one_row_per_text(tiny_bert_dir, pooling):
    act = fitted(tiny_bert_dir, pooling=pooling, layer=1)
    X = act.to_dask(TEXTS, texts_per_chunk=2)
    assert X.chunks == ((2, 2, 2, 1), (act.hidden_size_,))
    np.testing.assert_allclose(X.compute(), act.transform(TEXTS), **TOL)


def test_to_dask_several_layers_share_one_forward_pass(tiny_model_dir, count_forward):
    act = fitted(tiny_model_dir, batch_size=2)
    expected = act.transform_layers(TEXTS, [0, -1, 1])
    arrays = act.to_dask(TEXTS, layers=[0, -1, 1], texts_per_chunk=4)
    assert list(arrays) == [0, -1, 1]
    del count_forward[:]
    computed = dask.compute(*arrays.values())
    assert len(count_forward) == 2 + 2  # per chunk of 4 texts: 2 batches of 2
    for (layer, X), values in zip(arrays.items(), computed):
        assert isinstance(X, da.Array) and X.chunks[0] == arrays[0].chunks[0]
        np.testing.assert_allclose(values, expected[layer], **TOL)
    single = act.to_dask(TEXTS, layers=[2], texts_per_chunk=4)
    assert list(single) == [2]
    np.testing.assert_allclose(single[2].compute(), expected[-1], **TOL)


def test_to_dask_graph_holds_the_transformer_once(tiny_gpt2_dir):
    act = fitted(tiny_gpt2_dir, batch_size=2)
    expected = act.transform(TEXTS)  # a forward pass before pickling
    X = act.to_dask(TEXTS, texts_per_chunk=1)  # 7 chunks
    assert X.numblocks[0] == 7
    size, model_size = len(pickle.dumps(X)), len(pickle.dumps(act))
    assert size < 1.5 * model_size
    # What a distributed scheduler does: the graph travels pickled.
    restored = pickle.loads(pickle.dumps(X))
    np.testing.assert_allclose(restored.compute(), expected, **TOL)
    # Pickling left the transformer itself working.
    np.testing.assert_array_equal(act.transform(TEXTS), expected)


def test_to_dask_to_zarr_stores_the_activations(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    X = act.to_dask(TEXTS, texts_per_chunk=3)
    # zarr needs regular chunks: rechunk the per-text chunks first.
    X.rechunk((16, -1)).to_zarr(str(tmp_path / "acts.zarr"))
    stored = zarr.open_array(str(tmp_path / "acts.zarr"), mode="r")
    assert stored.chunks == (16, act.hidden_size_)
    np.testing.assert_allclose(stored[:], act.transform(TEXTS), **TOL)


# -- zarr caches and ActivationCache.to_dask --------------------------------


@pytest.mark.parametrize("window_batches", [1, 16])
def test_zarr_cache_round_trip_equals_npy_cache(
    tiny_model_dir, tmp_path, window_batches, monkeypatch
):
    # Windows of 2 texts (several windows, chunks straddling them) or one.
    monkeypatch.setattr(_extraction, "WINDOW_BATCHES", window_batches)
    act = fitted(tiny_model_dir, batch_size=2)
    npy = cache_activations(act, TEXTS, tmp_path / "npy", layers=[0, -1])
    written = cache_activations(
        act, TEXTS, tmp_path / "zarr", layers=[0, -1], format="zarr", chunk_rows=16
    )
    expected = act.transform_layers(TEXTS, [0, -1])
    reopened = ActivationCache(tmp_path / "zarr")
    assert written.storage == reopened.storage == "zarr" and npy.storage == "npy"
    assert len(reopened) == len(npy) == len(expected[0])
    assert reopened.layers == npy.layers == (0, 2)
    assert "zarr" in repr(reopened)
    for layer, same_as in [(0, 0), (-1, -1), (2, -1)]:
        stored = reopened[layer]
        assert isinstance(stored, zarr.Array)
        assert stored.chunks == (16, act.hidden_size_) and stored.dtype == np.float32
        np.testing.assert_allclose(stored[:], expected[same_as], **TOL)
        np.testing.assert_allclose(stored[:], npy[layer], **TOL)
    if window_batches == 16:  # one window: transform's batches exactly
        np.testing.assert_array_equal(reopened[0][:], npy[0])
    for field in ("text_index", "position", "token_id", "token", "start", "end"):
        np.testing.assert_array_equal(
            getattr(reopened.provenance, field), getattr(npy.provenance, field)
        )
    meta, npy_meta = reopened.metadata, npy.metadata
    assert meta.pop("storage") == "zarr" and meta.pop("chunk_rows") == 16
    assert meta.pop("format") != npy_meta.pop("format")
    files = {p.name for p in (tmp_path / "zarr").iterdir()}
    assert sorted(meta.pop("files")) == sorted(files)  # every file, listed
    assert npy_meta.pop("files") == sorted(n.replace(".zarr", ".npy") for n in files)
    assert meta == npy_meta
    assert {p.name for p in (tmp_path / "npy").iterdir()} == {
        n.replace(".zarr", ".npy") for n in files
    }
    with pytest.raises(KeyError, match="not in this cache"):
        reopened[1]


def test_iter_batches_on_a_zarr_cache(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    cache = cache_activations(act, TEXTS, tmp_path, format="zarr", chunk_rows=8)
    expected = act.transform(TEXTS)
    batches = list(cache.iter_batches(batch_size=5))
    assert all(b.dtype == np.float32 and isinstance(b, np.ndarray) for b in batches)
    assert [len(b) for b in batches[:-1]] == [5] * (len(batches) - 1)
    np.testing.assert_array_equal(np.concatenate(batches), cache[-1][:])
    np.testing.assert_allclose(np.concatenate(batches), expected, **TOL)
    shuffled = list(cache.iter_batches(-1, batch_size=5, shuffle=True, random_state=0))
    assert sum(map(len, shuffled)) == len(expected)
    assert sorted(map(bytes, np.concatenate(shuffled))) == sorted(
        map(bytes, np.concatenate(batches))
    )


@pytest.mark.parametrize("format", ["npy", "zarr"])
def test_cache_to_dask_is_lazy_and_equals_the_cache(tiny_bert_dir, tmp_path, format):
    act = fitted(tiny_bert_dir)
    cache = cache_activations(
        act, TEXTS * 3, tmp_path, layers=[0, -1], format=format, chunk_rows=32
    )
    for layer in (0, -1):
        X = cache.to_dask(layer, chunks=10)
        assert isinstance(X, da.Array) and X.dtype == np.float32
        assert X.shape == cache[layer].shape and X.chunks[1] == (act.hidden_size_,)
        assert set(X.chunks[0][:-1]) == {10}
        assert len(pickle.dumps(X)) < X.nbytes  # a recipe, not the data
        np.testing.assert_array_equal(X.compute(), cache[layer][:])
        batches = cache.iter_batches(layer, batch_size=10)
        for i, batch in enumerate(batches):
            np.testing.assert_array_equal(X.blocks[i].compute(), batch)
    default = cache.to_dask()  # the transformer's layer, the store's chunks
    expected_rows = 32 if format == "zarr" else len(cache)
    assert default.chunks[0][0] == expected_rows
    np.testing.assert_array_equal(default.compute(), cache[-1][:])
    mean = default.mean(axis=0).compute()  # block by block
    np.testing.assert_allclose(mean, cache[-1][:].mean(0), rtol=1e-5, atol=1e-6)


# A random tiny model's activations are not sparse: the greedy coder hits its
# step cap on some rows, the same ones in both runs.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("format", ["npy", "zarr"])
def test_partial_fit_over_dask_blocks_equals_in_memory_batches(
    tiny_bert_dir, tmp_path, format
):
    act = fitted(tiny_bert_dir)
    cache = cache_activations(act, TEXTS * 4, tmp_path, format=format)
    X = cache.to_dask(chunks=48)
    assert X.numblocks[0] >= 3
    from_blocks = GreedyL1DictionaryLearning(16, random_state=0)
    for i in range(X.numblocks[0]):
        from_blocks.partial_fit(X.blocks[i].compute())
    in_memory = GreedyL1DictionaryLearning(16, random_state=0)
    for batch in cache.iter_batches(batch_size=48):
        in_memory.partial_fit(batch)
    np.testing.assert_array_equal(from_blocks.components_, in_memory.components_)
    assert from_blocks.alpha_ == in_memory.alpha_


def test_overwrite_switches_between_formats(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    cache_activations(act, TEXTS, tmp_path, layers=[0, 1], format="zarr")
    npy = cache_activations(act, TEXTS[:3], tmp_path, overwrite=True)
    assert npy.storage == "npy" and not list(tmp_path.glob("*.zarr"))
    cache = cache_activations(act, TEXTS, tmp_path, overwrite=True, format="zarr")
    assert not list(tmp_path.glob("layer_*.npy"))
    assert json.loads((tmp_path / "metadata.json").read_text())["n_texts"] == 7
    np.testing.assert_allclose(cache[-1][:], act.transform(TEXTS), **TOL)


def test_interrupted_zarr_write_leaves_the_old_cache(
    tiny_bert_dir, tmp_path, monkeypatch
):
    act = fitted(tiny_bert_dir, batch_size=2)
    old = cache_activations(act, TEXTS, tmp_path / "c", layers=[0, 1])
    before = np.array(old[1])
    batch_rows, calls = _extraction.batch_rows, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return batch_rows(*args, **kwargs)

    monkeypatch.setattr(_extraction, "WINDOW_BATCHES", 1)  # zarr chunks written
    monkeypatch.setattr(_extraction, "batch_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache_activations(
            act, TEXTS, tmp_path / "c", format="zarr", chunk_rows=2, overwrite=True
        )
    reopened = ActivationCache(tmp_path / "c")
    assert reopened.storage == "npy" and reopened.layers == (0, 1)
    np.testing.assert_array_equal(reopened[1], before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


# -- errors -----------------------------------------------------------------


def test_bad_inputs_are_clear_errors(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    with pytest.raises(ValueError, match=r"out of range.*\[-3, 2\]"):
        act.to_dask(TEXTS, layers=[0, 5])
    with pytest.raises(TypeError, match="layer indices must be ints"):
        act.to_dask(TEXTS, layers=["last"])
    with pytest.raises(TypeError, match=r"X\[1\] is a int"):
        act.to_dask(["text", 3])  # checked now, not when computed
    with pytest.raises(TypeError, match="single str"):
        act.to_dask("one text")
    with pytest.raises(ValueError, match=r"X\[1\] is empty"):
        act.to_dask(["text", ""])
    with pytest.raises(
        ValueError,
        match=(
            r"'texts_per_chunk' parameter of TransformerActivations.to_dask"
            r" must be an int in the range \[1, inf\)"
        ),
    ):
        act.to_dask(TEXTS, texts_per_chunk=0)
    with pytest.raises(
        ValueError,
        match=(
            r"'format' parameter of cache_activations"  # a set: either order
            r" must be a str among \{'(npy|zarr)', '(npy|zarr)'\}"
        ),
    ):
        cache_activations(act, TEXTS, tmp_path / "h5", format="hdf5")
    assert not (tmp_path / "h5").exists()
    with pytest.raises(
        ValueError,
        match=(
            r"'chunk_rows' parameter of cache_activations"
            r" must be an int in the range \[1, inf\)"
        ),
    ):
        cache_activations(act, TEXTS, tmp_path / "z", format="zarr", chunk_rows=0)
    cache = cache_activations(act, TEXTS, tmp_path / "zarr", format="zarr")
    with pytest.raises(KeyError, match=r"not in this cache.*layers \[2\]"):
        cache.to_dask(0)
    with pytest.raises(KeyError, match="not in this cache"):
        list(cache.iter_batches(7))
    with pytest.raises(
        ValueError,
        match=(
            r"'chunks' parameter of ActivationCache.to_dask"
            r" must be an int in the range \[1, inf\)"
        ),
    ):
        cache.to_dask(chunks=(10, 32))


def test_to_dask_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        TransformerActivations("default").to_dask(TEXTS)


def test_missing_dask_or_zarr_says_how_to_install(tiny_bert_dir, tmp_path, monkeypatch):
    act = fitted(tiny_bert_dir)
    npy = cache_activations(act, TEXTS, tmp_path / "npy")
    stored = cache_activations(act, TEXTS, tmp_path / "zarr", format="zarr")
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(ImportError, match=r"needs zarr.*skfeatsparse\[dask\]"):
        cache_activations(act, TEXTS, tmp_path / "other", format="zarr")
    assert not (tmp_path / "other").exists()
    with pytest.raises(ImportError, match=r"skfeatsparse\[dask\]"):
        stored[-1]
    npy[-1]  # npy caches need neither
    list(npy.iter_batches())
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"to_dask needs dask.*skfeatsparse\[dask\]"):
        act.to_dask(TEXTS)
    with pytest.raises(ImportError, match=r"to_dask needs dask.*skfeatsparse\[dask\]"):
        npy.to_dask()


def test_import_does_not_load_dask_or_zarr():
    code = (
        "import sys, skfeatsparse.activations; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'zarr', 'distributed')]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
