"""The paper's sparsity metrics as scikit-learn scorers and from arrays.

The definitions and their block-wise statistics are in ``_statistics``, their
dask form in ``_dask``, the scorers and report functions in ``_scorers``.
"""

from ._coders import coding_penalty
from ._scorers import (
    avg_coef_norm,
    explained_variance,
    final_loss,
    make_avg_coef_norm_scorer,
    neg_avg_coef_norm,
    neg_final_loss,
    neg_nonzero_count,
    neg_normalized_loss,
    nonzero_count,
    normalized_loss,
    sparsity_metrics,
    sparsity_report,
    sparsity_scores,
)
from ._statistics import METRICS

__all__ = [
    "METRICS",
    "avg_coef_norm",
    "coding_penalty",
    "explained_variance",
    "final_loss",
    "make_avg_coef_norm_scorer",
    "neg_avg_coef_norm",
    "neg_final_loss",
    "neg_nonzero_count",
    "neg_normalized_loss",
    "nonzero_count",
    "normalized_loss",
    "sparsity_metrics",
    "sparsity_report",
    "sparsity_scores",
]
