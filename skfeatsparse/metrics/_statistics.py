"""The paper's sparsity metrics, written once, from per-sample sums.

Deng, Tao & Benton (2023), Sec. 3, in our notation (rows are samples; the
objective ``L``, ``max_coef`` and ``normalized_loss`` are those of
:mod:`skfeatsparse.decomposition._objective`, which the estimator minimises):

* ``final_loss = L``
* ``avg_coef_norm S_p = mean_j sum_i code_ji^p / max_coef^p``
* ``normalized_loss = L / (alpha * max_coef)``
* ``nonzero_count = mean_j #{i : code_ji > 0}``
* ``explained_variance = 1 - ||X - X_hat||^2 / ||X - mean(X)||^2``

:class:`CodeStatistics` sums the per-sample terms block by block, so a dataset
is coded once for every metric; the in-memory report, the scorers and the dask
path (``metrics/_dask.py``) all read the metrics from it.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_array

from ..decomposition._objective import ObjectiveSums

METRICS = (
    "normalized_loss",
    "avg_coef_norm",
    "nonzero_count",
    "final_loss",
    "explained_variance",
)


@dataclass
class CodeStatistics(ObjectiveSums):
    """Running sums of the per-sample terms the paper's metrics are built from.

    Feed it blocks of ``(X, code, reconstruction)`` with :meth:`add`; read the
    metrics with :meth:`report`. ``p`` is the exponent of ``avg_coef_norm``.
    """

    p: float = 1.0
    lp: float = 0.0
    x_sum: np.ndarray = field(default=None, repr=False)
    x_sq: float = 0.0

    def _add_code(self, code):
        values = super()._add_code(code)
        self.lp += float((values**self.p).sum())
        return values

    def add(self, X, code, reconstruction):
        X = np.asarray(X, dtype=np.float64)
        self.x_sq += float(np.einsum("ij,ij->", X, X))
        x_sum = X.sum(axis=0)
        self.x_sum = x_sum if self.x_sum is None else self.x_sum + x_sum
        return super().add(X, code, reconstruction)

    def report(self, alpha):
        """All metrics as a dict; raises if they are undefined (all-zero codes)."""
        normalized = self.normalized_loss(alpha)  # raises for no samples / zero codes
        n = self.n_samples
        max_coef = self.mean_max_coef()
        total_ss = self.x_sq - float(self.x_sum @ self.x_sum) / n
        if total_ss > 0:
            explained = 1.0 - self.sq_error / total_ss
        else:  # constant data, as sklearn's explained_variance_score(force_finite=True)
            explained = 1.0 if self.sq_error == 0 else 0.0
        return {
            "final_loss": self.objective(alpha),
            "max_coef": max_coef,
            "nonzero_count": self.nonzero / n,
            "explained_variance": explained,
            "alpha": float(alpha),
            "n_samples": n,
            "avg_coef_norm": (self.lp / n) / max_coef**self.p,
            "normalized_loss": normalized,
        }


def check_shapes(X_shape, code_shape, components_shape):
    """Raise ValueError unless ``X``, ``code`` and ``components`` fit together."""
    if code_shape[0] != X_shape[0] or code_shape[1] != components_shape[0]:
        raise ValueError(
            f"Shapes do not match: X {X_shape}, code {code_shape}, components "
            f"{components_shape}; need code (n_samples, n_components) and "
            "components (n_components, n_features)."
        )
    if components_shape[1] != X_shape[1]:
        raise ValueError(
            f"components has {components_shape[1]} features but X has {X_shape[1]}."
        )


def code_statistics(X, code, components, *, p=1.0):
    """:class:`CodeStatistics` of arrays from outside: checked, then added at once.

    ``X``, ``code`` (dense or sparse) and ``components`` are converted to
    float64 and checked finite (``check_array``) and for matching shapes.
    """
    X = check_array(X, dtype=np.float64)
    code = check_array(code, dtype=np.float64, accept_sparse="csr")
    components = check_array(components, dtype=np.float64)
    check_shapes(X.shape, code.shape, components.shape)
    stats = CodeStatistics(p=p)
    stats.add(X, code, np.asarray(code @ components))
    return stats
