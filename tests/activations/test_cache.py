"""cache_activations and ActivationCache: activations stored on disk (npy), read
back equal to ``transform`` (zarr caches: tests/activations/test_dask.py)."""

import numpy as np
import pytest

from skfeatsparse.activations import (
    ActivationCache,
    TransformerActivations,
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
