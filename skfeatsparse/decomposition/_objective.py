"""The paper's objective, summed block by block: what the estimator minimises.

Deng, Tao & Benton (2023), Sec. 2-3, in our notation (rows are samples):

* objective ``L = mean_j ||x_j - code_j @ components||^2 + alpha * ||code_j||_1``
* ``max_coef = mean_j max_i code_ji`` (the paper's ||alpha||_inf), which sets the
  adaptive penalty (Appendix C)
* ``normalized_loss = L / (alpha * max_coef)``, the scale-free objective that
  :meth:`GreedyL1DictionaryLearning.score` reports

:class:`ObjectiveSums` adds the per-sample terms of these block by block. The
other metrics of the paper (S_p, non-zero count, explained variance, their
intervals) extend it in :mod:`skfeatsparse.metrics`.
"""

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp


@dataclass
class ObjectiveSums:
    """Running sums of the per-sample terms of the objective.

    Feed it blocks of ``(X, code, reconstruction)`` with :meth:`add`.
    """

    n_samples: int = 0
    sq_error: float = 0.0
    l1: float = 0.0
    max_coef: float = 0.0
    nonzero: float = 0.0

    def add(self, X, code, reconstruction):
        """Add a block: ``X`` dense, ``code`` dense or sparse, ``reconstruction`` dense.

        Returns the block's per-sample squared reconstruction errors.
        """
        X = np.asarray(X, dtype=np.float64)
        residual = X - reconstruction
        sample_error = np.einsum("ij,ij->i", residual, residual)
        self.n_samples += X.shape[0]
        self.sq_error += float(sample_error.sum())
        values = self._add_code(code)
        self.l1 += float(values.sum())
        self.nonzero += float(np.count_nonzero(values))
        return sample_error

    def merge(self, other):
        """Add the sums of ``other`` (another block's) to these; returns self."""
        for f in fields(self):
            if f.name == "p":
                if self.p != other.p:
                    raise ValueError(
                        f"cannot merge sums for p={self.p} and p={other.p}"
                    )
                continue
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, theirs if mine is None else
                    mine if theirs is None else mine + theirs)  # fmt: skip
        return self

    def _add_code(self, code):
        """Add the code's maxima; return its absolute non-zero values (float64)."""
        if sp.issparse(code):
            code = sp.csr_matrix(code)
            if code.shape[1]:
                self.max_coef += float(abs(code).max(axis=1).toarray().sum())
            return np.abs(code.data).astype(np.float64)
        values = np.abs(np.asarray(code, dtype=np.float64))
        if values.shape[1]:
            self.max_coef += float(values.max(axis=1).sum())
        return values

    def objective(self, alpha):
        """The paper's ``L`` (our ``final_loss``) at penalty ``alpha``."""
        return (self.sq_error + alpha * self.l1) / self.n_samples

    def mean_max_coef(self):
        """The paper's ||alpha||_inf: mean over samples of the largest coefficient."""
        return self.max_coef / self.n_samples

    def normalized_loss(self, alpha):
        """``L / (alpha * max_coef)``; raises if every code is all zero."""
        if self.n_samples == 0:
            raise ValueError("No samples were coded; the metrics need at least one.")
        max_coef = self.mean_max_coef()
        if max_coef <= 0:
            raise ValueError(
                f"Every code is all zero at alpha={alpha:g}: the mean maximum "
                "coefficient is 0, so normalized_loss and avg_coef_norm are "
                "undefined. Use a smaller (transform_)alpha, or check that the data "
                "are not constant."
            )
        return self.objective(alpha) / (alpha * max_coef)


def coded_sums(coder, X, sums):
    """Add the terms of coding ``X`` with a fitted ``coder`` to ``sums``; return it.

    The coder's ``iter_transform`` gives the rows as coded (centred) and their
    codes block by block; reconstructions come from its ``components_``.
    """
    for X_block, code in coder.iter_transform(X):
        code = sp.csr_matrix(code)
        components = coder.components_.astype(X_block.dtype, copy=False)
        sums.add(X_block, code, code @ components)
    return sums
