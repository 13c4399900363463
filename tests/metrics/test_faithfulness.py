"""faithfulness: the model's output with a site spliced, on tiny BERT, GPT-2, Llama.

A perfect reconstruction must change nothing, a reconstruction that *is* the
mean must score as mean ablation, and a fitted dictionary must lose less than
mean ablation; the numbers are checked against direct computations.
"""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from skfeatsparse.activations import TransformerActivations
from skfeatsparse.decomposition import GreedyL1DictionaryLearning, from_decoder
from skfeatsparse.metrics import faithfulness
from skfeatsparse.metrics._faithfulness import model_kind

from .._models import TRAINING_SENTENCES

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HELD_OUT = [
    "The quick brown fox sat on the mat and looked at the moon.",
    "A dog barked.",
    "Sparse features are directions in activation space, layer by layer.",
    "We measure sparsity with a normalized loss!",
    "Is the cat sparser than the dog?",
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


class Identity(TransformerMixin, BaseEstimator):
    """A stub coder: ``inverse_transform(transform(h)) == h`` exactly."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X

    def inverse_transform(self, code):
        return code


class Constant(Identity):
    """A stub whose reconstruction of every row is ``value``."""

    def __init__(self, value=None):
        self.value = value

    def inverse_transform(self, code):
        return np.broadcast_to(self.value, code.shape)


class FlipHalf(Identity):
    """A stub whose reconstruction flips the sign of the first half of the columns."""

    def inverse_transform(self, code):
        out = np.array(code)
        out[:, : out.shape[1] // 2] *= -1
        return out


@pytest.fixture(scope="module", params=["bert", "gpt2", "llama"])
def family(request, tiny_bert_dir, tiny_gpt2_dir, tiny_llama_dir):
    dirs = {"bert": tiny_bert_dir, "gpt2": tiny_gpt2_dir, "llama": tiny_llama_dir}
    sites = {"bert": "encoder.layer.0.intermediate", "gpt2": "h.0.mlp",
             "llama": "layers.0.self_attn"}  # fmt: skip
    return request.param, str(dirs[request.param]), sites[request.param]


@pytest.fixture(scope="module")
def trained_gpt2_dir(tiny_gpt2_dir, tmp_path_factory):
    """The tiny GPT-2 trained a little on next-token prediction, with its LM head
    (tied): a model whose predictions mean ablation can hurt."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_gpt2_dir)
    config = transformers.AutoConfig.from_pretrained(tiny_gpt2_dir)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    ids = [torch.tensor(tokenizer(t)["input_ids"]) for t in TRAINING_SENTENCES]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(60):
        for seq in ids:
            loss = model(input_ids=seq[None], labels=seq[None]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    directory = tmp_path_factory.mktemp("trained-gpt2")
    model.eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # undefined 'recovered'
        return function(*args, **kwargs)


def test_the_model_kind_is_probed_not_assumed(family, tiny_bert_dir):
    kind, model_dir, _ = family
    act = TransformerActivations(model_dir).fit()
    assert model_kind(act.model_, act.tokenizer_) == (
        "encoder" if kind == "bert" else "causal"
    )


def test_a_perfect_reconstruction_changes_nothing(family):
    kind, model_dir, site = family
    act = TransformerActivations(model_dir, batch_size=2).fit()
    for where in (dict(layer=1), dict(layer=-1), dict(site=site)):
        scores = _quiet(faithfulness, act, Identity(), HELD_OUT, **where)
        if kind == "bert":
            assert scores["kind"] == "encoder"
            assert scores["cosine_spliced"] == pytest.approx(1.0, abs=1e-6)
            assert scores["sentence_cosine_spliced"] == pytest.approx(1.0, abs=1e-6)
            assert scores["cosine_ablated"] < 1.0
        else:
            assert scores["kind"] == "causal"
            assert scores["ce_spliced"] == pytest.approx(scores["ce_clean"], abs=1e-6)
            assert scores["kl_spliced"] == pytest.approx(0.0, abs=1e-6)
            assert scores["kl_ablated"] > 1e-6
        assert scores["n_spliced"] > 0


def test_an_identity_like_greedy_dictionary_changes_nothing(tiny_gpt2_dir):
    act = TransformerActivations(str(tiny_gpt2_dir)).fit()
    eye = np.eye(act.hidden_size_, dtype=np.float32)
    dl = from_decoder(np.vstack([eye, -eye]), alpha=1e-9)  # atoms +-e_i
    scores = _quiet(faithfulness, act, dl, HELD_OUT, layer=1)
    assert scores["ce_spliced"] == pytest.approx(scores["ce_clean"], abs=1e-5)
    assert scores["kl_spliced"] == pytest.approx(0.0, abs=1e-6)


def test_a_reconstruction_that_is_the_mean_scores_as_mean_ablation(family):
    kind, model_dir, site = family
    act = TransformerActivations(model_dir).fit()
    for where in (dict(layer=1), dict(site=site)):
        key = where.get("layer", where.get("site"))
        rows = (
            act.transform_layers(HELD_OUT, [key])[key]
            if "layer" in where
            else act.transform_sites(HELD_OUT, [key])[key]
        )
        mean = rows.mean(axis=0)
        scores = _quiet(faithfulness, act, Constant(mean), HELD_OUT, **where)
        default_mean = _quiet(faithfulness, act, Constant(mean), HELD_OUT,
                              mean=None, **where)  # fmt: skip
        pairs = (
            [("cosine_spliced", "cosine_ablated"),
             ("sentence_cosine_spliced", "sentence_cosine_ablated")]
            if kind == "bert"
            else [("ce_spliced", "ce_ablated"), ("kl_spliced", "kl_ablated")]
        )  # fmt: skip
        for spliced, ablated in pairs:
            assert scores[spliced] == pytest.approx(scores[ablated], abs=1e-5)
            assert default_mean[ablated] == pytest.approx(scores[ablated], abs=1e-5)
        if np.isfinite(scores["recovered"]):
            assert scores["recovered"] == pytest.approx(0.0, abs=1e-4)


def test_token_cosine_counts_every_real_token_and_no_padding(tiny_bert_dir):
    # Splicing the last hidden state makes the final states the reconstruction
    # itself at the spliced (non-special) tokens; special tokens stay clean.
    act = TransformerActivations(str(tiny_bert_dir), batch_size=3).fit()
    scores = faithfulness(act, FlipHalf(), HELD_OUT, layer=-1)
    full = TransformerActivations(str(tiny_bert_dir), include_special_tokens=True)
    full.fit()
    H = full.transform(HELD_OUT)
    prov = full.provenance(HELD_OUT)
    special = np.isin(prov.token_id, full.tokenizer_.all_special_ids)
    F = FlipHalf().inverse_transform(H)
    cos = np.where(
        special,
        1.0,
        (H * F).sum(1) / np.linalg.norm(H, axis=1) / np.linalg.norm(F, axis=1),
    )
    assert scores["n_tokens"] == len(H) and scores["n_spliced"] == (~special).sum()
    assert scores["cosine_spliced"] == pytest.approx(cos.mean(), abs=1e-5)
    per_text = []
    for i in range(len(HELD_OUT)):
        h, f = (
            H[prov.text_index == i].mean(0),
            np.where(special[:, None], H, F)[prov.text_index == i].mean(0),
        )
        per_text.append(h @ f / np.linalg.norm(h) / np.linalg.norm(f))
    assert scores["sentence_cosine_spliced"] == pytest.approx(
        np.mean(per_text), abs=1e-5
    )


def test_scores_do_not_depend_on_batching(family):
    _, model_dir, _ = family
    act = TransformerActivations(model_dir).fit()
    mean = np.zeros(act.hidden_size_)
    one = _quiet(faithfulness, act, FlipHalf(), HELD_OUT, layer=1, mean=mean,
                 batch_size=1)  # fmt: skip
    many = _quiet(
        faithfulness, act, FlipHalf(), HELD_OUT, layer=1, mean=mean, batch_size=5
    )  # fmt: skip  (padding in every batch)
    for key, value in one.items():
        if isinstance(value, float) and np.isfinite(value):
            # 'recovered' divides by the ablation's small loss: looser.
            rel = 1e-2 if "recovered" in key else 1e-4
            assert many[key] == pytest.approx(value, rel=rel, abs=1e-6), key


def test_cross_entropy_is_next_token_prediction(trained_gpt2_dir):
    act = TransformerActivations(str(trained_gpt2_dir)).fit()  # base model, tied
    scores = _quiet(faithfulness, act, Identity(), HELD_OUT, layer=1)
    lm = transformers.GPT2LMHeadModel.from_pretrained(trained_gpt2_dir).eval()
    total = n = 0
    for text in HELD_OUT:
        ids = torch.tensor(act.tokenizer_(text)["input_ids"])[None]
        if ids.shape[1] > 1:
            with torch.inference_mode():
                loss = lm(input_ids=ids, labels=ids).loss
            total += float(loss) * (ids.shape[1] - 1)
            n += ids.shape[1] - 1
    assert scores["n_predictions"] == n
    assert scores["ce_clean"] == pytest.approx(total / n, rel=1e-5)
    # The same through the LM head (a loaded GPT2LMHeadModel): same numbers.
    with_head = TransformerActivations(lm, tokenizer=str(trained_gpt2_dir)).fit()
    same = _quiet(faithfulness, with_head, Identity(), HELD_OUT, site="transformer.h.0")
    assert same["ce_clean"] == pytest.approx(scores["ce_clean"], rel=1e-5)
    assert same["ce_ablated"] == pytest.approx(scores["ce_ablated"], rel=1e-5)


def test_a_fitted_dictionary_loses_less_than_mean_ablation(trained_gpt2_dir):
    act = TransformerActivations(str(trained_gpt2_dir), layer=1).fit()
    X = act.transform(TRAINING_SENTENCES * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl = GreedyL1DictionaryLearning(128, random_state=0, max_iter=30).fit(X)
    scores = faithfulness(act, dl, HELD_OUT)
    assert scores["ce_ablated"] > scores["ce_clean"] + 0.1  # the site matters
    assert scores["kl_spliced"] < scores["kl_ablated"] / 2
    assert (
        scores["loss_recovered"]
        == scores["recovered"]
        == pytest.approx(
            (scores["ce_ablated"] - scores["ce_spliced"])
            / (scores["ce_ablated"] - scores["ce_clean"])
        )
    )
    assert scores["recovered"] > 0.5


def test_an_encoder_dictionary_loses_less_than_mean_ablation(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir), layer=1).fit()
    X = act.transform(TRAINING_SENTENCES * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl = GreedyL1DictionaryLearning(128, random_state=0, max_iter=30).fit(X)
    scores = faithfulness(act, dl, HELD_OUT)
    assert scores["cosine_spliced"] > scores["cosine_ablated"]
    assert scores["sentence_cosine_spliced"] > scores["sentence_cosine_ablated"]
    assert (
        scores["recovered"]
        == scores["cosine_recovered"]
        == pytest.approx(
            1 - (1 - scores["cosine_spliced"]) / (1 - scores["cosine_ablated"])
        )
    )
    assert scores["recovered"] > 0.5


def test_bad_requests_are_clear_errors(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir)).fit()
    with pytest.raises(ValueError, match="layer or site, not both"):
        faithfulness(act, Identity(), HELD_OUT, layer=1, site="encoder.layer.0")
    with pytest.raises(ValueError, match="Close matches: 'encoder.layer.0.output'"):
        faithfulness(act, Identity(), HELD_OUT, site="encoder.layers.0.output")
    with pytest.raises(ValueError, match="matches 2 modules"):
        faithfulness(act, Identity(), HELD_OUT, site="encoder.layer.*")
    pooled = TransformerActivations(str(tiny_bert_dir), pooling="mean")
    with pytest.raises(ValueError, match="pooling=None"):
        faithfulness(pooled, Identity(), HELD_OUT)
    with pytest.raises(ValueError, match="kind must be one of"):
        faithfulness(act, Identity(), HELD_OUT, kind="seq2seq")


def test_an_ablation_that_loses_nothing_gives_nan_with_a_warning(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir)).fit()
    # The ablation "mean" is the first text's own row: nothing changes.
    text = ["the"]
    row = act.transform_layers(text, [1])[1]
    assert row.shape[0] == 1
    with pytest.warns(RuntimeWarning, match="recovered is undefined"):
        scores = faithfulness(act, Identity(), text, layer=1, mean=row[0])
    assert np.isnan(scores["recovered"])
