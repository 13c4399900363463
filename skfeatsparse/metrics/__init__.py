"""The paper's sparsity metrics as scikit-learn scorers and from arrays.

The definitions and their block-wise statistics are in ``_statistics``, their
dask form in ``_dask``, the scorers and report functions in ``_scorers``,
recovery of known features and dictionary comparison in ``_recovery``, plots
in ``_plotting``.
"""

from ._coders import coding_penalty
from ._faithfulness import faithfulness
from ._plotting import plot_firing_frequency
from ._recovery import dictionary_similarity, recovery_scores
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
    "dictionary_similarity",
    "explained_variance",
    "faithfulness",
    "final_loss",
    "make_avg_coef_norm_scorer",
    "neg_avg_coef_norm",
    "neg_final_loss",
    "neg_nonzero_count",
    "neg_normalized_loss",
    "nonzero_count",
    "normalized_loss",
    "plot_firing_frequency",
    "recovery_scores",
    "sparsity_metrics",
    "sparsity_report",
    "sparsity_scores",
]
