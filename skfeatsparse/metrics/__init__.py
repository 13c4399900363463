"""The paper's sparsity metrics as scikit-learn scorers and from arrays."""

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

__all__ = [
    "avg_coef_norm",
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
