"""The paper's synthetic data: sparse-linear activations and three controls."""

from ._synthetic import (
    CONTROLS,
    make_gaussian,
    make_heavy_tailed,
    make_rademacher,
    make_sparse_linear,
)

__all__ = [
    "CONTROLS",
    "make_gaussian",
    "make_heavy_tailed",
    "make_rademacher",
    "make_sparse_linear",
]
