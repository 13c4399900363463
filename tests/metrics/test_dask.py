"""The metrics and scorers on dask arrays, blockwise, equal to the in-memory ones
(the estimator's dask paths: tests/decomposition/test_dask.py).

Every computation runs on a two-process ``distributed`` cluster (the ``client``
fixture of tests/conftest.py).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
pytest.importorskip("distributed")
import dask  # noqa: E402

from skfeatsparse.decomposition import GreedyL1DictionaryLearning  # noqa: E402
from skfeatsparse.metrics import (  # noqa: E402
    avg_coef_norm,
    explained_variance,
    final_loss,
    make_avg_coef_norm_scorer,
    neg_normalized_loss,
    nonzero_count,
    normalized_loss,
    sparsity_metrics,
    sparsity_report,
    sparsity_scores,
)

from .._dask_data import CHUNK, N_SAMPLES, PARAMS  # noqa: E402
from .._reference import assert_reports_close  # noqa: E402

pytestmark = pytest.mark.xdist_group("dask")


def _assert_report_equal(lazy, expected, rtol=1e-12):
    assert list(lazy) == list(expected)
    assert isinstance(lazy["normalized_loss"], da.Array)
    (computed,) = dask.compute(lazy)
    assert_reports_close(computed, expected, rtol=rtol)
    assert int(computed["n_samples"]) == expected["n_samples"]


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_sparsity_report(client, dl, X, Xd, p):
    expected = sparsity_report(dl, X, p=p)
    _assert_report_equal(sparsity_report(dl, Xd, p=p), expected)
    _assert_report_equal(sparsity_report(dl, Xd, p=p), expected)
    assert expected["n_samples"] == N_SAMPLES


def test_sparsity_report_intervals_blockwise_equal_in_memory(client, dl, X, Xd):
    # bootstrap weights follow the row index, so blocks resample as one array
    settings = dict(confidence=0.9, n_resamples=40, random_state=3)
    expected = sparsity_report(dl, X, **settings)
    assert "normalized_loss_ci" in expected
    _assert_report_equal(sparsity_report(dl, Xd, **settings), expected, rtol=1e-9)


def test_scorers(client, dl, X, Xd):
    for scorer in (
        normalized_loss,
        avg_coef_norm,
        nonzero_count,
        final_loss,
        explained_variance,
        neg_normalized_loss,
        make_avg_coef_norm_scorer(p=2),
    ):
        value = scorer(dl, Xd)
        assert type(value) is float
        assert_allclose(value, scorer(dl, X), rtol=1e-12, err_msg=scorer.__name__)
    scores = sparsity_scores(dl, Xd)
    expected = sparsity_scores(dl, X)
    assert list(scores) == list(expected)
    for key in expected:
        assert type(scores[key]) is float
        assert_allclose(scores[key], expected[key], rtol=1e-12, err_msg=key)
    score = dl.score(Xd)
    assert type(score) is float
    assert_allclose(score, dl.score(X), rtol=1e-12)
    assert score < 0


def test_sparsity_metrics_from_arrays(client, dl, X):
    Xc = X - dl.mean_
    code = dl.transform(X)
    alpha = dl.alpha_
    expected = sparsity_metrics(Xc, code, dl.components_, alpha)
    Xc_d = da.from_array(Xc, chunks=CHUNK)
    code_d = da.from_array(code, chunks=(100, 16))  # other row chunks: aligned
    _assert_report_equal(
        sparsity_metrics(Xc_d, code_d, dl.components_, alpha), expected
    )
    _assert_report_equal(sparsity_metrics(Xc, code_d, dl.components_, alpha), expected)
    components_d = da.from_array(dl.components_, chunks=8)
    _assert_report_equal(sparsity_metrics(Xc_d, code, components_d, alpha), expected)
    expected2 = sparsity_metrics(Xc, code, dl.components_, alpha, p=2)
    _assert_report_equal(
        sparsity_metrics(Xc_d, code_d, dl.components_, alpha, p=2), expected2
    )


def test_sparsity_metrics_errors(dl, X):
    Xc_d = da.from_array(X, chunks=CHUNK)
    code = dl.transform(X)
    with pytest.raises(ValueError, match="Shapes do not match"):
        sparsity_metrics(Xc_d, code[:, :5], dl.components_, 1.0)
    with pytest.raises(ValueError, match="components has 7 features but X has 8"):
        sparsity_metrics(Xc_d, code, dl.components_[:, :7], 1.0)
    with pytest.raises(ValueError, match="alpha must be a positive"):
        sparsity_metrics(Xc_d, code, dl.components_, -1.0)
    nan = X.copy()
    nan[450, 2] = np.nan
    nan = da.from_array(nan, chunks=CHUNK)
    report = sparsity_metrics(nan, code, dl.components_, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        dask.compute(report)


def test_all_zero_codes_raise_at_compute(client, dl, X, Xd):
    huge = GreedyL1DictionaryLearning(**PARAMS)
    huge.__dict__.update({k: v for k, v in vars(dl).items() if k.endswith("_")})
    huge.set_params(transform_alpha=1e6)
    with pytest.raises(ValueError, match="Every code is all zero"):
        sparsity_report(huge, X)
    report = sparsity_report(huge, Xd)  # lazy: no error yet
    with pytest.raises(ValueError, match="Every code is all zero"):
        dask.compute(report)
    with pytest.raises(ValueError, match="Every code is all zero"):
        huge.score(Xd)
