"""Property-based (hypothesis) checks for any sparse coder.

Hypothesis strategies for the paper's data, and :func:`check_sparse_coder` /
:func:`parametrize_with_sparsity_checks`, in the spirit of scikit-learn's
``check_estimator`` / ``parametrize_with_checks``, for any estimator with
``fit``, ``transform`` and ``components_``.

Needs hypothesis (``pip install skfeatsparse[test]``); pytest only for
:func:`parametrize_with_sparsity_checks`. ``import skfeatsparse`` does not import
this sub-package.
"""

from ._checks import (
    CHECKS,
    CheckResult,
    check_fit_rejects_1d,
    check_fit_rejects_non_finite,
    check_fitted_attributes,
    check_no_atom_lowers_the_objective,
    check_non_negative_codes,
    check_recovers_true_s1,
    check_rescaled_codes_do_not_lower_the_objective,
    check_sample_order_invariance,
    check_scale_equivariance,
    check_scale_invariant_metrics,
    check_sparse_coder,
    check_transform_before_fit,
    check_transform_rejects_wrong_n_features,
    coding_penalty,
    parametrize_with_sparsity_checks,
)
from ._strategies import ControlData, SparseLinearData, control_data, sparse_linear_data

__all__ = [
    "CHECKS",
    "CheckResult",
    "ControlData",
    "SparseLinearData",
    "check_fit_rejects_1d",
    "check_fit_rejects_non_finite",
    "check_fitted_attributes",
    "check_no_atom_lowers_the_objective",
    "check_non_negative_codes",
    "check_recovers_true_s1",
    "check_rescaled_codes_do_not_lower_the_objective",
    "check_sample_order_invariance",
    "check_scale_equivariance",
    "check_scale_invariant_metrics",
    "check_sparse_coder",
    "check_transform_before_fit",
    "check_transform_rejects_wrong_n_features",
    "coding_penalty",
    "control_data",
    "parametrize_with_sparsity_checks",
    "sparse_linear_data",
]
