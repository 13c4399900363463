"""scikit-learn's own estimator checks on every estimator of the package."""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfeatsparse.activations import TransformerActivations
from skfeatsparse.decomposition import GreedyL1DictionaryLearning

from . import _models


def _tiny_bert():
    """The tiny random BERT, saved once in the temp folder and reused.

    parametrize_with_checks needs its estimators when the module is collected,
    before any fixture runs. The path is the same in every process (xdist
    workers must collect the same test ids): named after the builder's source,
    built aside and renamed into place, so concurrent builders do not clash.
    """
    digest = hashlib.sha256(Path(_models.__file__).read_bytes()).hexdigest()[:12]
    user = getattr(os, "getuid", lambda: "user")()
    target = Path(tempfile.gettempdir()) / f"skfeatsparse-tiny-bert-{user}-{digest}"
    if not (target / "config.json").exists():
        staging = tempfile.mkdtemp(prefix=target.name + "-", dir=target.parent)
        _models.save_tiny_model("bert", staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process got there first
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


_TINY_BERT = _tiny_bert()


def _estimators():
    # Small, quick settings: the checks fit dozens of times on tiny data.
    return [
        GreedyL1DictionaryLearning(n_components=8, max_iter=5, random_state=0),
        TransformerActivations(_TINY_BERT, batch_size=8),
    ]


def _expected_failed_checks(estimator):
    # None. TransformerActivations takes a list of strings: its tags say
    # input_tags.string=True, two_d_array=False, and scikit-learn then yields
    # only the checks that do not feed it numeric 2-D arrays (the API checks,
    # below); none of the yielded checks is expected to fail.
    return {}


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# scikit-learn skips every other check for an estimator without 2-D array
# input, data-free API checks included: those are run here by hand on the text
# transformer. Left out, as inapplicable, are the checks that fit on numeric
# 2-D arrays (check_positive_only_tag_during_fit and all the data checks).
_TEXT_API_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_repr",
    "check_valid_tag_types",
    "check_estimator_tags_renamed",
    "check_mixin_order",
]


@pytest.mark.parametrize("check", _TEXT_API_CHECKS)
def test_text_transformer_api_checks(check):
    estimator = TransformerActivations(_TINY_BERT, batch_size=8)
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)
