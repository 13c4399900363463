"""recovery_scores and dictionary_similarity: Hungarian-matched |cosines|."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.metrics import dictionary_similarity, recovery_scores

from .._reference import unit_rows

SEEDS = st.integers(0, 2**32 - 1)


@settings(max_examples=20, deadline=None)
@given(SEEDS)
def test_similarity_is_one_for_the_same_atoms_in_any_order_sign_and_scale(seed):
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((12, 5))
    order = rng.permutation(12)
    signs = rng.choice([-1.0, 1.0], size=(12, 1))
    scales = rng.uniform(0.1, 10, size=(12, 1))
    assert dictionary_similarity(D, signs * scales * D[order]) == pytest.approx(1.0)


@settings(max_examples=20, deadline=None)
@given(SEEDS)
def test_similarity_is_symmetric_and_permutation_invariant(seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((10, 6)), rng.standard_normal((7, 6))
    value = dictionary_similarity(A, B)
    assert 0 <= value <= 1
    assert dictionary_similarity(B, A) == pytest.approx(value)
    assert dictionary_similarity(A[rng.permutation(10)], B) == pytest.approx(value)


def test_similarity_of_random_dictionaries_is_low():
    rng = np.random.default_rng(0)
    value = dictionary_similarity(unit_rows(rng, 256, 256), unit_rows(rng, 256, 256))
    assert value < 0.25


def test_similarity_matches_one_to_one():
    # Both atoms of B are near the first atom of A: only one may be matched to it.
    A = np.eye(2)
    B = np.array([[1.0, 0.0], [1.0, 0.01]])
    assert dictionary_similarity(A, B) == pytest.approx(
        (1 + 0.01 / np.hypot(1, 0.01)) / 2
    )


def test_similarity_rejects_other_dimensions_and_zero_atoms():
    with pytest.raises(ValueError, match="3 features but components_b has 4"):
        dictionary_similarity(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="1 all-zero rows"):
        dictionary_similarity(np.zeros((1, 3)), np.ones((2, 3)))


def test_recovery_of_the_truth_itself_is_perfect():
    _, D, C = make_sparse_linear(300, 8, return_components=True, random_state=0)
    order = np.random.default_rng(1).permutation(D.shape[0])
    scores = recovery_scores(-D[order], D, code=C[:, order], true_code=C)
    assert scores["mcc"] == pytest.approx(1.0)
    assert scores["mean_max_cosine"] == pytest.approx(1.0)
    assert scores["support_precision"] == scores["support_recall"] == 1.0
    assert scores["support_f1"] == 1.0


def test_mcc_matches_each_true_feature_to_a_distinct_atom():
    # Two true features, a learned dictionary with the first one twice and a
    # far atom: mean_max_cosine may share atoms, mcc may not.
    true = np.eye(2)
    learned = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]])
    scores = recovery_scores(learned, true)
    assert scores["mean_max_cosine"] == pytest.approx((1.0 + 0.8) / 2)
    assert scores["mcc"] == pytest.approx((1.0 + 0.8) / 2)
    learned = np.array([[1.0, 0.0], [1.0, 0.0]])
    scores = recovery_scores(learned, true)
    assert scores["mean_max_cosine"] == pytest.approx(0.5)
    assert scores["mcc"] == pytest.approx(0.5)
    assert scores["n_matched"] == 2


def test_more_learned_atoms_than_true_features_leaves_extra_atoms_unmatched():
    rng = np.random.default_rng(0)
    true = unit_rows(rng, 4, 6)
    learned = np.vstack([unit_rows(rng, 5, 6), true[::-1]])
    scores = recovery_scores(learned, true)
    assert scores["mcc"] == pytest.approx(1.0)
    assert scores["n_matched"] == 4


def test_support_scores_count_entries_of_matched_columns():
    true = np.eye(2)
    learned = np.array([[0.0, 1.0], [1.0, 0.0], [0.7, 0.7]])  # atom 1 = feature 0
    true_code = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    # Learned code: feature 0 (column 1) found in rows 0, 2; feature 1 (column 0)
    # in row 2; the unmatched column 2 is ignored.
    code = np.array([[0.0, 1.0, 5.0], [0.0, 0.0, 5.0], [1.0, 1.0, 5.0]])
    scores = recovery_scores(learned, true, code=code, true_code=true_code)
    # found entries: (0, f0), (2, f0), (2, f1); true: (0,f0) (1,f0) (1,f1) (2,f1)
    assert scores["support_precision"] == pytest.approx(2 / 3)
    assert scores["support_recall"] == pytest.approx(2 / 4)
    assert scores["support_f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_halved_codes_keep_their_support():
    _, D, C = make_sparse_linear(200, 8, return_components=True, random_state=0)
    assert recovery_scores(D, D, code=C / 2, true_code=C)["support_f1"] == 1.0


def test_empty_learned_support_scores_zero():
    _, D, C = make_sparse_linear(50, 4, return_components=True, random_state=0)
    scores = recovery_scores(D, D, code=np.zeros_like(C), true_code=C)
    assert scores["support_precision"] == scores["support_f1"] == 0.0


def test_recovery_needs_both_codes_with_matching_shapes():
    D = np.eye(3)
    with pytest.raises(ValueError, match="Give both code and true_code"):
        recovery_scores(D, D, code=np.ones((2, 3)))
    with pytest.raises(ValueError, match="code has 2 columns"):
        recovery_scores(D, D, code=np.ones((2, 2)), true_code=np.ones((2, 3)))
    with pytest.raises(ValueError, match="code has 2 rows but true_code 4"):
        recovery_scores(D, D, code=np.ones((2, 3)), true_code=np.ones((4, 3)))
