"""Decoders trained elsewhere (SAELens, sparsify) as fitted estimators."""

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import (
    GreedyL1DictionaryLearning,
    from_decoder,
    load_decoder,
    read_decoder,
)
from skfeatsparse.metrics import sparsity_metrics, sparsity_report


@pytest.fixture(scope="module")
def data():
    X, D, _ = make_sparse_linear(
        3000, 8, n_components=32, avg_active=2, return_components=True, random_state=0
    )
    return X, D


def _sae(D, d_in, seed=0):
    """A decoder with non-unit rows and a bias, and an encoder, as float32."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.5, 3.0, size=(D.shape[0], 1))
    return {
        "W_dec": (scales * D).astype(np.float32),
        "b_dec": rng.normal(size=d_in).astype(np.float32),
        "W_enc": rng.normal(size=(d_in, D.shape[0])).astype(np.float32),
        "b_enc": np.zeros(D.shape[0], np.float32),
    }


def _write_saelens(folder, weights):
    save_file(weights, str(folder / "sae_weights.safetensors"))
    cfg = {"d_in": weights["W_dec"].shape[1], "d_sae": weights["W_dec"].shape[0]}
    (folder / "cfg.json").write_text(json.dumps(cfg))


def _write_sparsify(folder, weights):
    sparsify = {
        "encoder.weight": weights["W_enc"].T.copy(),
        "encoder.bias": weights["b_enc"],
        "W_dec": weights["W_dec"],
        "b_dec": weights["b_dec"],
    }
    save_file(sparsify, str(folder / "sae.safetensors"))
    (folder / "cfg.json").write_text(json.dumps({"num_latents": 32, "k": 4}))


@pytest.mark.parametrize(
    "write, layout", [(_write_saelens, "saelens"), (_write_sparsify, "sparsify")]
)
def test_both_layouts_are_read_with_their_config(tmp_path, data, write, layout):
    weights = _sae(data[1], 8)
    write(tmp_path, weights)
    decoder = read_decoder(tmp_path)
    assert decoder["layout"] == layout
    np.testing.assert_array_equal(decoder["W_dec"], weights["W_dec"])
    np.testing.assert_array_equal(decoder["b_dec"], weights["b_dec"])
    assert decoder["W_enc"] is not None and decoder["cfg"]
    assert read_decoder(decoder["path"])["layout"] == layout  # the file itself


@pytest.mark.parametrize("write", [_write_saelens, _write_sparsify])
def test_loaded_decoder_is_a_fitted_estimator_of_unit_rows(tmp_path, data, write):
    X, D = data
    weights = _sae(D, 8)
    write(tmp_path, weights)
    est = load_decoder(tmp_path, alpha=0.05)
    assert isinstance(est, GreedyL1DictionaryLearning)
    W = weights["W_dec"]
    expected = W / np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(est.components_, expected, rtol=1e-6)
    np.testing.assert_array_equal(est.mean_, weights["b_dec"])
    assert est.components_.dtype == np.float32 and est.alpha_ == 0.05
    code = est.transform(X.astype(np.float32))
    assert code.shape == (3000, 32) and (code >= 0).all()


def test_adaptive_penalty_settles_at_alpha_ratio_times_max_coef(data):
    X, D = data
    est = from_decoder(2.0 * D, X=X[:2000], alpha_ratio=0.1)
    report = sparsity_report(est, X[:2000])
    assert report["alpha"] == pytest.approx(0.1 * report["max_coef"], rel=0.03)
    assert est.alpha_ == report["alpha"]


def test_penalty_does_not_depend_on_the_decoder_row_norms(data):
    X, D = data
    scales = np.random.default_rng(3).uniform(0.1, 10, size=(D.shape[0], 1))
    a = from_decoder(D, X=X).alpha_
    assert from_decoder(scales * D, X=X).alpha_ == pytest.approx(a, rel=1e-9)


def test_the_true_decoder_measures_the_true_sparsity(data):
    # Sparse-linear data under its own generating dictionary: normalized loss
    # near the generator's S_1 (checked loosely: our greedy codes, not the truth).
    X, D = data
    est = from_decoder(D, X=X[:2000])
    report = sparsity_report(est, X[2000:])
    assert 1.0 < report["normalized_loss"] < 4.0
    assert report["explained_variance"] > 0.9


def test_their_codes_rescaled_by_the_row_norms_code_the_unit_dictionary(data):
    X, D = data
    weights = _sae(D, 8)
    W, b = weights["W_dec"].astype(np.float64), weights["b_dec"].astype(np.float64)
    their_codes = np.maximum(
        np.random.default_rng(0).normal(size=(len(X), 32)), 0
    )  # any codes for W
    norms = np.linalg.norm(W, axis=1)
    est = from_decoder(W, b, alpha=0.1)
    ours = sparsity_metrics(X - b, their_codes * norms, est.components_, 0.1)
    residual = X - b - their_codes @ W
    expected = ((residual**2).sum(1) + 0.1 * (their_codes * norms).sum(1)).mean()
    assert ours["final_loss"] == pytest.approx(expected, rel=1e-9)


def test_needs_a_penalty_or_data_and_checks_shapes(data):
    X, D = data
    with pytest.raises(ValueError, match="Give the penalty"):
        from_decoder(D)
    with pytest.raises(ValueError, match="b_dec must be 8 finite values"):
        from_decoder(D, np.zeros(5), alpha=0.1)
    with pytest.raises(ValueError, match="X has 5 features but W_dec has 8"):
        from_decoder(D, X=X[:, :5])
    with pytest.raises(ValueError, match="1 all-zero rows"):
        from_decoder(np.vstack([D, np.zeros(8)]), alpha=0.1)
    with pytest.raises(ValueError, match="alpha must be a positive number"):
        from_decoder(D, alpha=-1.0)


def test_files_without_a_decoder_are_refused_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="No sae_weights.safetensors or"):
        read_decoder(tmp_path)
    save_file({"W_enc": np.ones((2, 3))}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="has no 'W_dec'"):
        read_decoder(tmp_path / "x.safetensors")
