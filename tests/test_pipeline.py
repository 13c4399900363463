"""End to end, as users write it: texts -> activations -> dictionary -> metrics."""

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline

from skfeatsparse.activations import TransformerActivations
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import neg_normalized_loss, normalized_loss, sparsity_report

from .activations.test_transformer import TEXTS as SHORT_TEXTS
from .activations.test_transformer import fitted

TEXTS = [
    f"the {a} cat saw {b} dogs near the river bank"
    for a in ("small", "big", "old", "young", "quick", "lazy")
    for b in ("two", "three", "many", "few", "some")
]


@pytest.fixture()
def pipe(tiny_bert_dir):
    return Pipeline(
        [
            ("act", TransformerActivations(str(tiny_bert_dir), batch_size=8)),
            (
                "dl",
                GreedyL1DictionaryLearning(n_components=24, max_iter=3, random_state=0),
            ),
        ]
    )


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_pipeline_fits_on_a_list_of_strings(pipe):
    pipe.fit(TEXTS)
    code = pipe.transform(TEXTS[:3])
    tokens = pipe[0].transform(TEXTS[:3])
    assert code.shape == (tokens.shape[0], 24)
    assert (code >= 0).all()
    report = sparsity_report(pipe, TEXTS)
    assert report["normalized_loss"] == pytest.approx(normalized_loss(pipe, TEXTS))


def test_cross_val_score_folds_over_texts(pipe):
    scores = cross_val_score(pipe, TEXTS, scoring=normalized_loss, cv=KFold(3))
    assert scores.shape == (3,)
    assert np.isfinite(scores).all() and (scores > 0).all()


def test_grid_search_over_the_layer(pipe):
    search = GridSearchCV(
        pipe, {"act__layer": [0, -1]}, scoring=neg_normalized_loss, cv=KFold(2)
    )
    search.fit(TEXTS)
    assert search.best_params_["act__layer"] in (0, -1)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert (search.cv_results_["mean_test_score"] < 0).all()


def test_pipeline_cross_validation_and_grid_search_over_texts(tiny_bert_dir):
    pipe = Pipeline(
        [
            ("act", TransformerActivations(str(tiny_bert_dir))),
            ("pca", PCA(n_components=2)),
        ]
    )
    n_tokens = len(fitted(tiny_bert_dir).transform(SHORT_TEXTS))
    assert pipe.fit(SHORT_TEXTS).transform(SHORT_TEXTS).shape == (n_tokens, 2)
    scores = cross_val_score(pipe, SHORT_TEXTS * 2, cv=2)
    assert np.isfinite(scores).all()
    search = GridSearchCV(pipe, {"act__layer": [0, -1]}, cv=2).fit(SHORT_TEXTS * 2)
    assert search.best_params_["act__layer"] in (0, -1)
