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


def code_terms(code, p=None):
    """Per-sample terms of a code (dense or sparse): its L1 norm, largest
    coefficient and number of non-zeros, and with ``p`` the sum of ``|c|^p``.

    Returns a dict of float64 arrays of length ``n_samples``.
    """
    if sp.issparse(code):
        code = abs(sp.csr_matrix(code)).astype(np.float64)
        n, m = code.shape
        rows = np.repeat(np.arange(n), np.diff(code.indptr))
        terms = {
            "l1": np.bincount(rows, weights=code.data, minlength=n),
            "max_coef": code.max(axis=1).toarray().ravel() if m else np.zeros(n),
            "nonzero": np.bincount(rows[code.data != 0], minlength=n).astype(float),
        }
        if p is not None:
            terms["lp"] = np.bincount(rows, weights=code.data**p, minlength=n)
        return terms
    values = np.abs(np.asarray(code, dtype=np.float64))
    terms = {
        "l1": values.sum(axis=1),
        "max_coef": values.max(axis=1) if values.shape[1] else np.zeros(len(values)),
        "nonzero": np.count_nonzero(values, axis=1).astype(float),
    }
    if p is not None:
        terms["lp"] = (values**p).sum(axis=1)
    return terms


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

    def add(self, X, code, reconstruction, *, start=None):
        """Add a block: ``X`` dense, ``code`` dense or sparse, ``reconstruction`` dense.

        ``start``, the index of the block's first row, is for subclasses that
        need it (bootstrap weights). Returns the block's per-sample squared
        reconstruction errors.
        """
        terms = self._terms(X, code, reconstruction)
        self._accumulate(terms)
        return terms["sq_error"]

    def _terms(self, X, code, reconstruction):
        """Per-sample terms of a block (dict of arrays)."""
        residual = np.asarray(X, dtype=np.float64) - reconstruction
        return {
            "sq_error": np.einsum("ij,ij->i", residual, residual),
            **code_terms(code),
        }

    def _accumulate(self, terms):
        self.n_samples += len(terms["sq_error"])
        for name in ("sq_error", "l1", "max_coef", "nonzero"):
            setattr(self, name, getattr(self, name) + float(terms[name].sum()))

    def merge(self, other):
        """Add the sums of ``other`` (another block's) to these; returns self."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, theirs if mine is None else
                    mine if theirs is None else mine + theirs)  # fmt: skip
        return self

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


def coded_sums(coder, X, sums, *, start=0):
    """Add the terms of coding ``X`` with a fitted ``coder`` to ``sums``; return it.

    The coder's ``iter_transform`` gives the rows as coded (centred) and their
    codes block by block; reconstructions come from its ``components_``.
    ``start`` is the index of the first row of ``X`` in a larger dataset.
    """
    for X_block, code in coder.iter_transform(X):
        code = sp.csr_matrix(code)
        components = coder.components_.astype(X_block.dtype, copy=False)
        sums.add(X_block, code, code @ components, start=start)
        start += X_block.shape[0]
    return sums
