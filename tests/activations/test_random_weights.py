"""weights="random": the same architecture freshly initialised (the
random-weights control), on the tiny random models."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skfeatsparse.activations import TransformerActivations, token_embeddings
from skfeatsparse.activations._loading import random_weights_model
from skfeatsparse.studies import random_weights_model as studies_random_weights

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

TEXTS = ["The cat sat on the mat.", "Sparse features!", "A dog barked."]


def test_random_weights_same_shapes_different_values(tiny_model_dir):
    pretrained = TransformerActivations(str(tiny_model_dir), layer=-1).fit()
    random = TransformerActivations(
        str(tiny_model_dir), layer=-1, weights="random", random_state=3
    ).fit()
    assert type(random.model_) is type(pretrained.model_)
    assert random.model_.config.to_dict() == pretrained.model_.config.to_dict()
    assert random.tokenizer_.get_vocab() == pretrained.tokenizer_.get_vocab()
    assert not random.model_.training
    assert (random.n_hidden_states_, random.hidden_size_) == (
        pretrained.n_hidden_states_,
        pretrained.hidden_size_,
    )
    X, R = pretrained.transform(TEXTS), random.transform(TEXTS)
    assert X.shape == R.shape and R.dtype == np.float32
    assert np.isfinite(R).all()
    assert not np.allclose(X, R, atol=1e-3)
    np.testing.assert_array_equal(
        pretrained.provenance(TEXTS).token_id, random.provenance(TEXTS).token_id
    )


def test_random_weights_are_deterministic_for_the_seed(tiny_bert_dir):
    def rows(seed, source=str(tiny_bert_dir)):
        act = TransformerActivations(source, weights="random", random_state=seed)
        return act.fit().transform(TEXTS)

    before = torch.random.get_rng_state()
    a, b, c = rows(3), rows(3), rows(4)
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c, atol=1e-3)
    # A loaded model gives the same fresh draw as its directory.
    model = transformers.AutoModel.from_pretrained(tiny_bert_dir)
    act = TransformerActivations(model, tokenizer=str(tiny_bert_dir))
    np.testing.assert_array_equal(
        act.set_params(weights="random", random_state=3).fit().transform(TEXTS), a
    )
    # and the draw is what random_weights_model gives with that seed
    expected = random_weights_model(model, 3).get_input_embeddings().weight
    np.testing.assert_array_equal(
        act.model_.get_input_embeddings().weight.detach().numpy(),
        expected.detach().numpy(),
    )


def test_random_state_none_or_generator_draws_a_seed(tiny_bert_dir):
    rng = np.random.RandomState(0)
    a = TransformerActivations(str(tiny_bert_dir), weights="random", random_state=rng)
    b = clone(a).set_params(random_state=np.random.RandomState(0))
    np.testing.assert_array_equal(a.fit().transform(TEXTS), b.fit().transform(TEXTS))
    c = TransformerActivations(str(tiny_bert_dir), weights="random", random_state=None)
    assert c.fit().transform(TEXTS).shape == a.transform(TEXTS).shape


def test_token_embeddings_with_random_weights(tiny_model_dir):
    pretrained = token_embeddings(str(tiny_model_dir))
    random = token_embeddings(str(tiny_model_dir), weights="random", random_state=5)
    again = token_embeddings(str(tiny_model_dir), weights="random", random_state=5)
    model = transformers.AutoModel.from_pretrained(tiny_model_dir)
    from_model = token_embeddings(model, weights="random", random_state=5)
    assert random.shape == pretrained.shape and random.dtype == np.float32
    np.testing.assert_array_equal(random, again)
    np.testing.assert_array_equal(random, from_model)
    assert not np.allclose(random, pretrained)
    act = TransformerActivations(str(tiny_model_dir), weights="random", random_state=5)
    np.testing.assert_array_equal(token_embeddings(act.fit().model_), random)
    with pytest.raises(ValueError, match="weights must be"):
        token_embeddings(str(tiny_model_dir), weights="untrained")


def test_weights_parameters_clone_and_validate(tiny_bert_dir):
    act = TransformerActivations(str(tiny_bert_dir), weights="random", random_state=7)
    params = clone(act).get_params()
    assert params["weights"] == "random" and params["random_state"] == 7
    assert params["gguf_file"] is None
    defaults = TransformerActivations("x").get_params()
    assert (defaults["weights"], defaults["random_state"]) == ("pretrained", 0)
    for bad in ({"weights": "untrained"}, {"random_state": "seed"}):
        with pytest.raises(InvalidParameterError):
            TransformerActivations(str(tiny_bert_dir), **bad).fit()


def test_studies_use_the_one_random_weights_model():
    assert studies_random_weights is random_weights_model
