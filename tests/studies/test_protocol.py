"""skfeatsparse.studies._protocol: held-out rows, controls and verdicts."""

import numpy as np
import pytest

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.metrics import sparsity_report
from skfeatsparse.studies._protocol import (
    control_verdict,
    fit_and_measure,
    gaussian_like,
    separated,
    split_rows,
)


def test_split_rows_is_a_random_partition():
    train, test = split_rows(100, 0.25, 0)
    assert len(test) == 25 and len(train) == 75
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    assert not np.array_equal(test, np.arange(75, 100))  # not the last rows
    assert np.array_equal(split_rows(100, 0.25, 0)[1], test)
    with pytest.raises(ValueError, match="test_size must be in"):
        split_rows(100, 1.5, 0)
    with pytest.raises(ValueError, match="leaves no rows"):
        split_rows(3, 0.1, 0)


def test_gaussian_control_has_the_data_mean_and_covariance():
    rng = np.random.default_rng(0)
    X = rng.exponential(size=(4000, 5)) @ rng.standard_normal((5, 5)) + 3.0
    G = gaussian_like(X, 200_000, 1)
    np.testing.assert_allclose(G.mean(0), X.mean(0), atol=0.02)
    np.testing.assert_allclose(
        np.cov(G, rowvar=False),
        np.cov(X, rowvar=False),
        atol=0.05 * np.abs(np.cov(X, rowvar=False)).max(),
    )
    # Gaussian, not the data's skewed marginals
    skew = ((G - G.mean(0)) ** 3).mean(0) / G.std(0) ** 3
    assert np.abs(skew).max() < 0.05


def test_held_out_numbers_come_from_rows_the_fit_never_saw():
    X = make_sparse_linear(1500, 8, n_components=16, avg_active=2, random_state=0)
    row = fit_and_measure(
        X[:1000], X[1000:], dictionary_ratio=2, random_state=0,
        fit_params=dict(max_iter=5), n_resamples=100,
    )  # fmt: skip
    assert row["n_train"] == 1000 and row["n_test"] == 500
    assert row["n_components"] == 16
    low, high = row["normalized_loss_ci"]
    assert low < row["normalized_loss"] < high
    # the in-sample value is the one on the training rows, and differs
    assert row["normalized_loss_in_sample"] != row["normalized_loss"]
    assert row["transform_alpha"] == row["alpha"]


def _row(value, low, high, **extra):
    return {"normalized_loss": value, "normalized_loss_ci": [low, high], **extra}


def test_verdicts_claim_only_what_the_intervals_support():
    row = _row(5.0, 4.8, 5.2, normalized_loss_in_sample=4.9)
    row["controls"] = {
        "gaussian": _row(20.0, 19.5, 20.5),
        "random_weights": _row(5.1, 4.9, 5.4),
    }
    verdict = control_verdict("layer 3", row)
    assert verdict.startswith("layer 3: normalized loss 5.00 [4.80, 5.20] held out")
    assert "4.0x below a same-covariance Gaussian (20.00 [19.50, 20.50])" in verdict
    assert "not distinguishable from the same architecture with random weights" in (
        verdict
    )
    assert "memorised" not in verdict
    row["controls"]["random_weights"] = _row(3.0, 2.9, 3.1)
    row["normalized_loss_in_sample"] = 3.0  # held out 67% above in-sample
    verdict = control_verdict("layer 3", row)
    assert "above the same architecture with random weights" in verdict
    assert "untrained network alone codes sparser" in verdict
    assert "held out is 67% above in-sample (3.00)" in verdict
    assert separated(_row(1, 0.5, 1.5), _row(2, 1.6, 2.4))
    assert not separated(_row(1, 0.5, 1.7), _row(2, 1.6, 2.4))


def test_in_sample_value_in_a_row_is_the_report_on_training_rows():
    X = make_sparse_linear(900, 6, n_components=12, avg_active=2, random_state=1)
    row = fit_and_measure(
        X[:600], X[600:], dictionary_ratio=2, random_state=0,
        fit_params=dict(max_iter=4), confidence=None,
    )  # fmt: skip
    assert "normalized_loss_ci" not in row
    from skfeatsparse.studies._protocol import fit_dictionary

    dl = fit_dictionary(X[:600], dictionary_ratio=2, random_state=0,
                        fit_params=dict(max_iter=4))  # fmt: skip
    held_out = sparsity_report(dl, X[600:])["normalized_loss"]
    assert row["normalized_loss"] == pytest.approx(held_out, rel=1e-12)


def test_recovery_scores_are_those_of_the_fit_on_the_held_out_rows():
    X, D, C = make_sparse_linear(
        900, 6, n_components=12, avg_active=2, return_components=True, random_state=1
    )
    row = fit_and_measure(
        X[:600], X[600:], dictionary_ratio=2, random_state=0,
        fit_params=dict(max_iter=4), confidence=None,
        true_components=D, true_code=C[600:],
    )  # fmt: skip
    from skfeatsparse.metrics import recovery_scores
    from skfeatsparse.studies._protocol import fit_dictionary

    dl = fit_dictionary(X[:600], dictionary_ratio=2, random_state=0,
                        fit_params=dict(max_iter=4))  # fmt: skip
    expected = recovery_scores(
        dl.components_, D, code=dl.transform(X[600:]), true_code=C[600:]
    )
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-12), key


def test_no_recovery_scores_without_true_components():
    X = make_sparse_linear(600, 6, n_components=12, avg_active=2, random_state=1)
    row = fit_and_measure(
        X[:400], X[400:], dictionary_ratio=2, random_state=0,
        fit_params=dict(max_iter=2), confidence=None,
    )  # fmt: skip
    assert "mcc" not in row and "support_f1" not in row
