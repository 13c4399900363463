"""skfeatsparse.testing: the sparsity check suite, on our estimator and sklearn's."""

import subprocess
import sys
from unittest import SkipTest

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import DictionaryLearning, MiniBatchDictionaryLearning

from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.testing import (
    CHECKS,
    check_no_atom_lowers_the_objective,
    check_non_negative_codes,
    check_rescaled_codes_do_not_lower_the_objective,
    check_sparse_coder,
    coding_penalty,
    parametrize_with_sparsity_checks,
)

# scikit-learn's non-negative coder. Its default fit and transform algorithms
# (lars, omp) do not support positive_code; coordinate descent does. Its
# objective is 0.5 ||x - code V||^2 + alpha ||code||_1: our penalty 2 * alpha.
SKLEARN_CODER = MiniBatchDictionaryLearning(
    n_components=32,
    alpha=0.1,
    positive_code=True,
    fit_algorithm="cd",
    transform_algorithm="lasso_cd",
    max_iter=5,
    random_state=0,
)


@parametrize_with_sparsity_checks(
    [GreedyL1DictionaryLearning(n_components=32, max_iter=5, random_state=0)]
)
def test_greedy_l1_dictionary_learning_passes_every_sparsity_check(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def sklearn_report():
    return check_sparse_coder(SKLEARN_CODER, raise_on_failure=False)


def test_report_on_sklearn_minibatch_dictionary_learning(sklearn_report):
    # With a fixed alpha, the codes (and so the "scale-invariant" metrics) of
    # c * X are not c times those of X: a finding, not a bug in the checks.
    # Everything else holds, S_1 recovery included (at our penalty 2 * alpha).
    failed = {name for name, r in sklearn_report.items() if r.status == "failed"}
    assert failed == {"check_scale_equivariance", "check_scale_invariant_metrics"}
    assert set(sklearn_report) == {check.__name__ for check in CHECKS}
    assert all(r.passed for n, r in sklearn_report.items() if n not in failed)


def test_scale_failure_says_what_changed_and_why(sklearn_report):
    codes = sklearn_report["check_scale_equivariance"].message
    assert "not scale-equivariant" in codes and "c * X with c=" in codes
    assert "fixed penalty alpha" in codes
    assert "Failing test case" in codes  # hypothesis' falsifying example
    metrics = sklearn_report["check_scale_invariant_metrics"].message
    assert "normalized_loss" in metrics and "->" in metrics


def test_raise_on_failure_raises_the_check_error():
    with pytest.raises(AssertionError, match="not scale-equivariant"):
        check_sparse_coder(SKLEARN_CODER, checks=["check_scale_equivariance"])


def test_non_negativity_is_checked_only_where_promised():
    signed = MiniBatchDictionaryLearning(n_components=8, positive_code=False)
    report = check_sparse_coder(signed, checks=[check_non_negative_codes])
    assert report["check_non_negative_codes"].status == "skipped"
    assert "positive=True" in report["check_non_negative_codes"].message
    with pytest.raises(SkipTest):
        check_non_negative_codes("Greedy", GreedyL1DictionaryLearning(), positive=False)


class _UncheckedCoder(TransformerMixin, BaseEstimator):
    """Atoms = the first samples, codes = positive correlations; validates nothing."""

    def __init__(self, n_components=8, alpha=0.1):
        self.n_components = n_components
        self.alpha = alpha

    def fit(self, X, y=None):
        atoms = np.asarray(X)[: self.n_components]
        self.components_ = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
        return self

    def transform(self, X):
        return np.maximum(np.asarray(X) @ self.components_.T - self.alpha / 2, 0)


def test_checks_catch_a_coder_that_validates_nothing():
    report = check_sparse_coder(
        _UncheckedCoder(),
        checks=["check_fit_rejects_non_finite", "check_transform_before_fit"],
        raise_on_failure=False,
    )
    non_finite = report["check_fit_rejects_non_finite"].message
    assert "accepted X containing nan silently" in non_finite
    assert "expected NotFittedError" in report["check_transform_before_fit"].message


def test_unknown_check_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown check 'check_magic'"):
        check_sparse_coder(SKLEARN_CODER, checks=["check_magic"])


def test_parametrize_ids_and_expected_failures():
    mark = parametrize_with_sparsity_checks(
        [SKLEARN_CODER],
        expected_failed_checks={"check_scale_equivariance": "fixed alpha"},
    )
    names, params = mark.args
    assert names == "estimator, check"
    assert len(params) == len(CHECKS)
    ids = [p.id for p in params]
    assert ids[0].startswith("MiniBatchDictionaryLearning(alpha=0.1,")
    assert ids[0].endswith("-check_fitted_attributes")
    xfailed = [p.id.rsplit("-", 1)[1] for p in params if p.marks]
    assert xfailed == ["check_scale_equivariance"]


def test_coding_penalty_maps_sklearn_alpha_to_ours():
    assert coding_penalty(MiniBatchDictionaryLearning(alpha=0.1)) == 0.2
    sklearn_coder = MiniBatchDictionaryLearning(alpha=0.1, transform_alpha=0.3)
    assert coding_penalty(sklearn_coder) == 0.6
    assert coding_penalty(GreedyL1DictionaryLearning(alpha=0.5)) == 0.5
    assert coding_penalty(GreedyL1DictionaryLearning(transform_alpha=0.2)) == 0.2
    with pytest.raises(TypeError, match="Cannot tell the L1 penalty"):
        coding_penalty(GreedyL1DictionaryLearning())  # alpha="auto", unfitted


def test_importing_the_package_does_not_import_testing_nor_testing_pytest():
    code = (
        "import sys, skfeatsparse\n"
        "assert 'skfeatsparse.testing' not in sys.modules\n"
        "import skfeatsparse.testing\n"
        "assert 'pytest' not in sys.modules, 'pytest imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _HalvedCodes(TransformerMixin, BaseEstimator):
    """A fitted coder whose transform returns half of its correct codes."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y=None):
        self.estimator_ = clone(self.estimator).fit(X)
        self.components_ = self.estimator_.components_
        self.mean_ = self.estimator_.mean_
        self.alpha_ = self.estimator_.alpha_
        return self

    def transform(self, X):
        return self.estimator_.transform(X) / 2


HALVED = _HalvedCodes(GreedyL1DictionaryLearning(32, max_iter=5, random_state=0))
L1_CHECKS = [
    "check_no_atom_lowers_the_objective",
    "check_rescaled_codes_do_not_lower_the_objective",
]


def test_a_coder_returning_half_its_codes_fails_the_l1_checks():
    report = check_sparse_coder(HALVED, checks=L1_CHECKS, raise_on_failure=False)
    kkt = report["check_no_atom_lowers_the_objective"]
    assert kkt.status == "failed"
    assert "are not minimisers" in kkt.message and "x alpha / 2" in kkt.message
    rescale = report["check_rescaled_codes_do_not_lower_the_objective"]
    assert rescale.status == "failed"
    assert "codes times 1.1 lower the objective" in rescale.message
    assert "the best factor is 1.9" in rescale.message


def test_the_halved_coder_passes_the_scale_and_s1_checks():
    # Why the L1 checks are needed: S_1 and N_0 do not see a factor.
    others = [c.__name__ for c in CHECKS if c.__name__ not in L1_CHECKS]
    checks = ["check_scale_equivariance", "check_recovers_true_s1"]
    assert set(checks) <= set(others)
    report = check_sparse_coder(HALVED, checks=checks, raise_on_failure=False)
    assert all(r.passed for r in report.values()), report


@pytest.mark.parametrize(
    "coder",
    [
        SKLEARN_CODER,
        DictionaryLearning(
            n_components=32,
            alpha=0.1,
            positive_code=True,
            fit_algorithm="cd",
            transform_algorithm="lasso_cd",
            max_iter=5,
            random_state=0,
        ),
    ],
    ids=["MiniBatchDictionaryLearning", "DictionaryLearning"],
)
def test_sklearn_lasso_coders_pass_the_l1_checks_at_twice_their_alpha(coder):
    report = check_sparse_coder(coder, checks=L1_CHECKS, raise_on_failure=False)
    assert all(r.passed for r in report.values()), report


def test_l1_checks_read_the_penalty_a_coder_codes_with():
    # Coding at transform_alpha while claiming alpha_ = 4 x that: caught.
    class _WrongPenalty(_HalvedCodes):
        def fit(self, X, y=None):
            super().fit(X)
            self.alpha_ = 4 * self.estimator_.alpha_
            return self

        def transform(self, X):
            return self.estimator_.transform(X)

    wrong = _WrongPenalty(GreedyL1DictionaryLearning(32, max_iter=5, random_state=0))
    with pytest.raises(AssertionError, match="codes times 0.9 lower the objective"):
        check_rescaled_codes_do_not_lower_the_objective("Wrong", wrong)
    check_no_atom_lowers_the_objective("Wrong", wrong)  # a larger alpha: no gain
