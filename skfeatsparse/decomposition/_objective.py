"""The paper's objective and sparsity metrics, written once.

Deng, Tao & Benton (2023), Sec. 2-3, in our notation (rows are samples):

* objective ``L = mean_j ||x_j - code_j @ components||^2 + alpha * ||code_j||_1``
* ``max_coef = mean_j max_i code_ji`` (the paper's ||alpha||_inf)
* ``avg_coef_norm S_p = mean_j sum_i code_ji^p / max_coef^p``
* ``normalized_loss = L / (alpha * max_coef)``
* ``nonzero_count = mean_j #{i : code_ji > 0}``
* ``explained_variance = 1 - ||X - X_hat||^2 / ||X - mean(X)||^2``

The estimator, the scorers and the command line all go through
:class:`CodeStatistics`, which sums per-sample terms block by block so that a
dataset is coded once for every metric.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class CodeStatistics:
    """Running sums of the per-sample terms the paper's metrics are built from.

    Feed it blocks of ``(X, code, reconstruction)`` with :meth:`add`; read the
    metrics with :meth:`report`. ``p`` is the exponent of ``avg_coef_norm``.
    """

    p: float = 1.0
    n_samples: int = 0
    sq_error: float = 0.0
    l1: float = 0.0
    lp: float = 0.0
    max_coef: float = 0.0
    nonzero: float = 0.0
    x_sum: np.ndarray = field(default=None, repr=False)
    x_sq: float = 0.0

    def add(self, X, code, reconstruction):
        """Add a block: ``X`` dense, ``code`` dense or sparse, ``reconstruction`` dense.

        Returns the block's per-sample squared reconstruction errors.
        """
        X = np.asarray(X, dtype=np.float64)
        residual = X - reconstruction
        sample_error = np.einsum("ij,ij->i", residual, residual)
        self.n_samples += X.shape[0]
        self.sq_error += float(sample_error.sum())
        self.x_sq += float(np.einsum("ij,ij->", X, X))
        x_sum = X.sum(axis=0)
        self.x_sum = x_sum if self.x_sum is None else self.x_sum + x_sum
        if sp.issparse(code):
            code = sp.csr_matrix(code)
            values = np.abs(code.data).astype(np.float64)
            self.l1 += float(values.sum())
            self.lp += float((values**self.p).sum())
            self.nonzero += float(np.count_nonzero(values))
            if code.shape[1]:
                self.max_coef += float(abs(code).max(axis=1).toarray().sum())
        else:
            values = np.abs(np.asarray(code, dtype=np.float64))
            self.l1 += float(values.sum())
            self.lp += float((values**self.p).sum())
            self.nonzero += float(np.count_nonzero(values))
            if values.shape[1]:
                self.max_coef += float(values.max(axis=1).sum())
        return sample_error

    def objective(self, alpha):
        """The paper's ``L`` (our ``final_loss``) at penalty ``alpha``."""
        return (self.sq_error + alpha * self.l1) / self.n_samples

    def mean_max_coef(self):
        return self.max_coef / self.n_samples

    def report(self, alpha):
        """All metrics as a dict; raises if they are undefined (all-zero codes)."""
        if self.n_samples == 0:
            raise ValueError("No samples were coded; the metrics need at least one.")
        n = self.n_samples
        final_loss = self.objective(alpha)
        max_coef = self.max_coef / n
        total_ss = self.x_sq - float(self.x_sum @ self.x_sum) / n
        if total_ss > 0:
            explained = 1.0 - self.sq_error / total_ss
        else:  # constant data, as sklearn's explained_variance_score(force_finite=True)
            explained = 1.0 if self.sq_error == 0 else 0.0
        report = {
            "final_loss": final_loss,
            "max_coef": max_coef,
            "nonzero_count": self.nonzero / n,
            "explained_variance": explained,
            "alpha": float(alpha),
            "n_samples": n,
        }
        if max_coef <= 0:
            raise ValueError(
                f"Every code is all zero at alpha={alpha:g}: the mean maximum "
                "coefficient is 0, so normalized_loss and avg_coef_norm are "
                "undefined. Use a smaller (transform_)alpha, or check that the data "
                "are not constant."
            )
        report["avg_coef_norm"] = (self.lp / n) / max_coef**self.p
        report["normalized_loss"] = final_loss / (alpha * max_coef)
        return report


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
    from sklearn.utils import check_array

    X = check_array(X, dtype=np.float64)
    code = check_array(code, dtype=np.float64, accept_sparse="csr")
    components = check_array(components, dtype=np.float64)
    check_shapes(X.shape, code.shape, components.shape)
    stats = CodeStatistics(p=p)
    stats.add(X, code, np.asarray(code @ components))
    return stats
