"""Sites: submodule outputs read by forward hooks, on tiny BERT, GPT-2 and Llama.

The reference is the obvious implementation: one text at a time through the
model with a plain forward hook on the module, special tokens masked.
"""

import numpy as np
import pytest
from sklearn.base import clone

from skfeatsparse.activations import TransformerActivations, cache_activations
from skfeatsparse.activations._sites import hidden_state_modules, match_sites

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = [
    "The cat sat on the mat.",
    "A dog barked at the moon, then slept until the quick brown fox jumped.",
    "Sparse features!",
    "Language models turn tokens into vectors.",
]
ATOL = 1e-5
# Per family: a block's output (hidden state 1), the module giving the last
# hidden state, an attention module (tuple output), an MLP's hidden layer.
FAMILIES = {
    "bert": dict(block="encoder.layer.0", last="encoder.layer.1",
                 attention="encoder.layer.0.attention",
                 hidden_layer="encoder.layer.0.intermediate", hidden_width=37),
    "gpt2": dict(block="h.0", last="ln_f", attention="h.0.attn",
                 hidden_layer="h.0.mlp.act", hidden_width=128),
    "llama": dict(block="layers.0", last="norm", attention="layers.0.self_attn",
                  hidden_layer="layers.0.mlp.act_fn", hidden_width=48),
}  # fmt: skip


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tiny_bert_dir, tiny_gpt2_dir, tiny_llama_dir):
    dirs = {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir, "llama": tiny_llama_dir}
    return request.param, dirs[request.param], FAMILIES[request.param]


def reference_site_rows(model_dir, texts, site):
    """A site's rows the slow way: a plain hook, one text per forward pass."""
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    module = dict(model.named_modules())[site]
    seen = []

    def hook(module, args, output):
        seen.append(output[0] if isinstance(output, tuple) else output)

    handle = module.register_forward_hook(hook)
    rows = []
    try:
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
            special = enc.pop("special_tokens_mask")[0].bool()
            seen.clear()
            with torch.inference_mode():
                model(**enc)
            rows.append(seen[0][0][~special].reshape(int((~special).sum()), -1))
    finally:
        handle.remove()
    return torch.cat(rows).numpy()


def test_site_rows_equal_a_plain_hook(family):
    _, model_dir, names = family
    for key in ("block", "attention", "hidden_layer"):  # attention: a tuple
        act = TransformerActivations(str(model_dir), site=names[key]).fit()
        expected = reference_site_rows(model_dir, TEXTS, names[key])
        np.testing.assert_allclose(act.transform(TEXTS), expected, atol=ATOL)


def test_sites_equal_hidden_states_where_they_coincide(family):
    _, model_dir, names = family
    hidden = TransformerActivations(str(model_dir)).fit().transform_layers(TEXTS)
    for site, layer in ((names["block"], 1), (names["last"], 2)):
        X = TransformerActivations(str(model_dir), site=site).fit().transform(TEXTS)
        np.testing.assert_allclose(X, hidden[layer], atol=ATOL)


def test_an_mlp_hidden_layer_has_its_own_width(family):
    _, model_dir, names = family
    act = TransformerActivations(str(model_dir), site=names["hidden_layer"]).fit()
    assert act.site_sizes_ == {names["hidden_layer"]: names["hidden_width"]}
    assert act.transform(TEXTS).shape[1] == names["hidden_width"]
    assert act.get_feature_names_out()[-1] == (
        f"{names['hidden_layer']}_{names['hidden_width'] - 1}"
    )


def test_several_sites_come_from_one_forward_pass_per_batch(tiny_bert_dir):
    act = TransformerActivations(
        str(tiny_bert_dir), site="encoder.layer.*.intermediate", batch_size=2
    ).fit()
    calls = []
    handle = act.model_.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        together = act.transform_sites(TEXTS)
    finally:
        handle.remove()
    assert len(calls) == 2  # 4 texts in batches of 2
    assert list(together) == [f"encoder.layer.{i}.intermediate" for i in (0, 1)]
    for name, X in together.items():
        alone = TransformerActivations(str(tiny_bert_dir), site=name).fit()
        np.testing.assert_allclose(X, alone.transform(TEXTS), atol=ATOL)


def test_sites_and_layers_together_in_iter_batches_and_to_dask(tiny_gpt2_dir):
    act = TransformerActivations(str(tiny_gpt2_dir), batch_size=2).fit()
    sites = act.transform_sites(TEXTS, ["h.*.mlp"])
    layers = act.transform_layers(TEXTS, [1])
    batches = list(act.iter_batches(TEXTS, layers=[1], sites=["h.*.mlp"]))
    assert set(batches[0]) == {1, "h.0.mlp", "h.1.mlp"}
    for key, X in {**sites, **layers}.items():
        np.testing.assert_allclose(np.concatenate([b[key] for b in batches]), X)
    pytest.importorskip("dask")
    arrays = act.to_dask(TEXTS, sites="h.1.mlp", texts_per_chunk=3)
    np.testing.assert_allclose(arrays["h.1.mlp"].compute(), sites["h.1.mlp"], atol=ATOL)


def test_a_star_matches_one_path_component_and_two_stars_any(tiny_bert_dir):
    model = transformers.AutoModel.from_pretrained(tiny_bert_dir)
    assert match_sites(model, "encoder.layer.*.output") == [
        "encoder.layer.0.output",
        "encoder.layer.1.output",
    ]  # not encoder.layer.0.attention.output
    deep = match_sites(model, "encoder.**.output")
    assert "encoder.layer.0.attention.output" in deep
    assert "encoder.layer.1.output" in deep
    assert match_sites(model, ["encoder.layer.1", "encoder.layer.*"]) == [
        "encoder.layer.1",
        "encoder.layer.0",
    ]  # patterns in order, each path once


def test_an_unknown_site_is_a_clear_error_with_close_matches(tiny_bert_dir):
    with pytest.raises(ValueError, match="Close matches: 'encoder.layer.0.output'"):
        TransformerActivations(str(tiny_bert_dir), site="encoder.layers.*.output").fit()
    with pytest.raises(ValueError, match="top-level modules: 'embeddings'"):
        TransformerActivations(str(tiny_bert_dir), site="qqq").fit()
    act = TransformerActivations(str(tiny_bert_dir)).fit()
    with pytest.raises(ValueError, match="matches no submodule"):
        act.transform_sites(TEXTS, ["h.*.mlp"])


def test_transform_of_a_glob_of_several_modules_is_a_clear_error(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir), site="encoder.layer.*").fit()
    assert act.sites_ == ["encoder.layer.0", "encoder.layer.1"]
    with pytest.raises(ValueError, match="matches 2 modules.*transform_sites"):
        act.transform(TEXTS)


def test_a_site_that_is_not_per_token_is_a_clear_error(tiny_bert_dir):
    with pytest.raises(ValueError, match="not a per-token module"):
        TransformerActivations(str(tiny_bert_dir), site="pooler").fit()


def test_site_is_a_plain_parameter(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir), site="encoder.layer.0")
    assert act.get_params()["site"] == "encoder.layer.0"
    assert clone(act).site == "encoder.layer.0"
    assert not hasattr(act, "sites_")  # nothing happens before fit


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("bert", {0: "embeddings.LayerNorm", 1: "encoder.layer.0.output.LayerNorm",
                  2: "encoder.layer.1.output.LayerNorm"}),
        ("gpt2", {0: "drop", 1: "h.0", 2: "ln_f"}),
        ("llama", {0: "embed_tokens", 1: "layers.0", 2: "norm"}),
    ],
)  # fmt: skip
def test_each_hidden_state_is_produced_by_a_known_module(
    kind, expected, tiny_bert_dir, tiny_gpt2_dir, tiny_llama_dir
):
    model_dir = {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir, "llama": tiny_llama_dir}
    model = transformers.AutoModel.from_pretrained(model_dir[kind]).eval()
    ids = np.array([[5, 6, 7, 8], [9, 10, 11, 0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert hidden_state_modules(model, [0, 1, 2], ids, mask) == expected


@pytest.mark.parametrize("format", ["npy", "zarr"])
def test_cache_stores_sites_beside_layers(tiny_bert_dir, tmp_path, format):
    if format == "zarr":
        pytest.importorskip("zarr")
    act = TransformerActivations(
        str(tiny_bert_dir), site="encoder.layer.0.intermediate"
    )
    act.fit()
    cache = cache_activations(
        act, TEXTS, tmp_path / "c", layers=[1], sites=["encoder.layer.*.output"],
        format=format,
    )  # fmt: skip
    assert cache.layers == (1,)
    assert cache.sites == ("encoder.layer.0.output", "encoder.layer.1.output")
    expected = act.transform_sites(TEXTS, ["encoder.layer.*.output"])
    for name, X in expected.items():
        np.testing.assert_allclose(np.asarray(cache[name]), X, atol=ATOL)
        np.testing.assert_allclose(np.concatenate(list(cache.iter_batches(name))), X)
    with pytest.raises(KeyError, match="site 'encoder.layer.0.intermediate' is not"):
        cache["encoder.layer.0.intermediate"]
    # Without layers or sites: the transformer's own site, the default key.
    own = cache_activations(act, TEXTS, tmp_path / "own", format=format)
    assert own.layers == () and own.sites == ("encoder.layer.0.intermediate",)
    np.testing.assert_allclose(np.asarray(own[None]), act.transform(TEXTS), atol=ATOL)
    np.testing.assert_array_equal(
        own.provenance.token_id, act.provenance(TEXTS).token_id
    )
