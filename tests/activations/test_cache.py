"""cache_activations and ActivationCache: activations stored on disk (npy), read
back equal to ``transform`` (zarr caches: tests/activations/test_dask.py)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import skfeatsparse
from skfeatsparse.activations import (
    ActivationCache,
    TransformerActivations,
    _extraction,  # noqa: I001
    cache_activations,
)

from .test_transformer import ATOL, TEXTS, fitted

pytest.importorskip("torch")
pytest.importorskip("transformers")


def test_cache_round_trip_equals_transform(tiny_model_dir, tmp_path):
    act = fitted(tiny_model_dir, batch_size=2)
    cache = cache_activations(act, TEXTS, tmp_path / "cache", layers=[0, -1])
    expected = act.transform_layers(TEXTS, [0, -1])
    for layer, same_as in [(0, 0), (-1, -1), (2, -1)]:  # 2 is the last of 3
        assert isinstance(cache[layer], np.memmap)
        np.testing.assert_allclose(cache[layer], expected[same_as], atol=ATOL)
    reopened = ActivationCache(tmp_path / "cache")
    assert len(reopened) == len(expected[0]) and reopened.layers == (0, 2)
    prov, expected_prov = reopened.provenance, act.provenance(TEXTS)
    for field in ("text_index", "position", "token_id", "token", "start", "end"):
        np.testing.assert_array_equal(
            getattr(prov, field), getattr(expected_prov, field)
        )
    streamed = np.concatenate(list(reopened.iter_batches(0, batch_size=5)))
    np.testing.assert_allclose(streamed, expected[0], atol=ATOL)
    shuffled = list(
        reopened.iter_batches(-1, batch_size=5, shuffle=True, random_state=0)
    )
    assert sum(map(len, shuffled)) == len(expected[0])
    with pytest.raises(KeyError, match="not in this cache"):
        reopened[1]


def test_cache_refuses_to_overwrite_unless_asked(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    cache_activations(act, TEXTS, tmp_path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        cache_activations(act, TEXTS[:2], tmp_path)
    assert len(cache_activations(act, TEXTS[:2], tmp_path, overwrite=True)) == len(
        act.transform(TEXTS[:2])
    )


def test_cache_fits_an_unfitted_transformer_and_pools(tiny_bert_dir, tmp_path):
    act = TransformerActivations(str(tiny_bert_dir), pooling="mean")
    cache = cache_activations(act, TEXTS, tmp_path)
    np.testing.assert_allclose(cache[-1], act.transform(TEXTS), atol=ATOL)
    assert list(cache.provenance.token) == [""] * len(TEXTS)


def test_incomplete_cache_is_rejected(tiny_bert_dir, tmp_path):
    cache_activations(fitted(tiny_bert_dir), TEXTS, tmp_path)
    meta_file = tmp_path / "metadata.json"
    meta_file.write_text(
        meta_file.read_text().replace('"complete": true', '"complete": false')
    )
    with pytest.raises(ValueError, match="incomplete"):
        ActivationCache(tmp_path)
    with pytest.raises(FileNotFoundError, match="cache_activations"):
        ActivationCache(tmp_path / "nothing-here")


def _cache_files(directory):
    return sorted(p.name for p in directory.iterdir())


def test_overwrite_never_deletes_files_it_did_not_write(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    user = {
        "metadata.json": b'{"experiment": "mine", "format": 1}',
        "my_results.npy": b"not ours",
        "config.json": b"{}",
    }
    for name, content in user.items():
        (tmp_path / name).write_bytes(content)
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match="config.json.*my_results.npy"):
            cache_activations(act, TEXTS, tmp_path, overwrite=overwrite)
    assert _cache_files(tmp_path) == sorted(user)
    assert all((tmp_path / n).read_bytes() == c for n, c in user.items())
    # No leftovers (temporary folders are named after the target).
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.*"))
    # A cache of ours with a user's file added is not ours to delete either.
    ours = tmp_path / "ours"
    cache_activations(act, TEXTS, ours)
    (ours / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt"):
        cache_activations(act, TEXTS[:2], ours, overwrite=True)
    assert (ours / "notes.txt").read_text() == "keep me"
    assert len(ActivationCache(ours)) == len(act.transform(TEXTS))


def test_overwrite_replaces_an_old_cache_cleanly(tiny_bert_dir, tmp_path):
    act = fitted(tiny_bert_dir)
    path = tmp_path / "cache"
    cache_activations(act, TEXTS, path, layers=[0, 1, 2])
    # An older release's cache: its metadata lists no files; its names tell.
    meta = json.loads((path / "metadata.json").read_text())
    for key in ("files", "writer"):
        meta.pop(key, None)
    (path / "metadata.json").write_text(json.dumps(meta))
    new = cache_activations(act, TEXTS[:2], path, layers=[1], overwrite=True)
    assert new.layers == (1,) and len(new) == len(act.transform(TEXTS[:2]))
    assert _cache_files(path) == sorted(new.metadata["files"])
    assert "layer_001.npy" in new.metadata["files"]
    assert not (path / "layer_000.npy").exists()
    assert _cache_files(tmp_path) == ["cache"]


_CACHE_WRITER = """
import json, pathlib, sys, time
import torch
torch.set_num_threads(1)
from skfeatsparse.activations import TransformerActivations, cache_activations
model, target, texts, ready, go, overwrite = sys.argv[1:]
act = TransformerActivations(model, batch_size=1).fit()
texts = json.loads(pathlib.Path(texts).read_text())
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():
    time.sleep(0.005)
try:
    cache_activations(act, texts, target, overwrite=overwrite == "1")
except FileExistsError as exc:
    print(exc)
    sys.exit(3)
"""


def test_two_processes_caching_into_one_folder_leave_a_consistent_cache(
    tiny_bert_dir, tmp_path
):
    # Both start writing at once. The second replaces whatever is there
    # (overwrite=True); the first does not (overwrite=False): if it finishes
    # first it is replaced, if second it must fail. Either way the cache is
    # the second's, whole, whichever order the renames happen in.
    inputs = [
        [f"The cat number {i} sat on the mat." for i in range(150)],
        [f"A dog barked {i} times at the moon, then slept." for i in range(90)],
    ]
    work, target = tmp_path / "work", tmp_path / "out" / "cache"
    work.mkdir()
    root = str(Path(skfeatsparse.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
    procs = []
    for k, texts in enumerate(inputs):
        (work / f"texts{k}.json").write_text(json.dumps(texts))
        args = [tiny_bert_dir, target, work / f"texts{k}.json", work / f"ready{k}"]
        args += [work / "go", str(k)]  # overwrite: False, then True
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _CACHE_WRITER, *map(str, args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    deadline = time.monotonic() + 120
    while not all((work / f"ready{k}").exists() for k in range(2)):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (work / "go").touch()
    (rc0, out0, err0), (rc1, out1, err1) = [
        (p.wait(timeout=120), *p.communicate()) for p in procs
    ]
    assert rc1 == 0, err1
    assert rc0 == 0 or (rc0 == 3 and "overwrite=True" in out0), (out0, err0)
    cache = ActivationCache(target)  # opens, and is the second writer's, whole
    act = fitted(tiny_bert_dir)
    expected = act.transform(inputs[1])
    assert cache.metadata["n_texts"] == len(inputs[1])
    assert len(cache) == len(expected) == len(cache[-1])
    np.testing.assert_allclose(cache[-1], expected, atol=ATOL)
    prov, expected_prov = cache.provenance, act.provenance(inputs[1])
    for field in ("text_index", "position", "token_id", "token", "start", "end"):
        np.testing.assert_array_equal(
            getattr(prov, field), getattr(expected_prov, field)
        )
    assert _cache_files(target.parent) == ["cache"]  # no temporary folders left


def test_a_cache_that_cannot_be_moved_into_place_is_an_error(tmp_path):
    from skfeatsparse.activations import _cache

    # The written folder vanished (say, a cleaner removed it): no endless retry.
    with pytest.raises(OSError, match="could not move the cache written in"):
        _cache._publish(tmp_path / "gone", tmp_path / "cache", overwrite=False)
    assert not (tmp_path / "cache").exists()


def test_interrupted_cache_write_leaves_the_old_cache_or_nothing(
    tiny_bert_dir, tmp_path, monkeypatch
):
    act = fitted(tiny_bert_dir, batch_size=2)
    old = cache_activations(act, TEXTS, tmp_path / "old")
    before = np.array(old[-1])
    batch_rows = _extraction.batch_rows
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return batch_rows(*args, **kwargs)

    monkeypatch.setattr(_extraction, "batch_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache_activations(act, TEXTS[:5], tmp_path / "old", overwrite=True)
    np.testing.assert_array_equal(ActivationCache(tmp_path / "old")[-1], before)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        cache_activations(act, TEXTS, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert _cache_files(tmp_path) == ["old"]
