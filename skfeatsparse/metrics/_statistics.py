"""The paper's sparsity metrics, written once, from per-sample sums.

Deng, Tao & Benton (2023), Sec. 3, in our notation (rows are samples; the
objective ``L``, ``max_coef`` and ``normalized_loss`` are those of
:mod:`skfeatsparse.decomposition._objective`, which the estimator minimises):

* ``final_loss = L``
* ``avg_coef_norm S_p = mean_j sum_i code_ji^p / max_coef^p``
* ``normalized_loss = L / (alpha * max_coef)``
* ``nonzero_count = mean_j #{i : code_ji > 0}``
* ``explained_variance = 1 - ||X - X_hat||^2 / ||X - mean(X)||^2``

Every metric is a ratio of means over samples, so :class:`CodeStatistics`
sums per-sample terms block by block, and a dataset is coded once for every
metric: the in-memory report, the scorers and the dask path
(``metrics/_dask.py``) all read the metrics from it. The same pass gives

* bootstrap intervals: the sums again under Poisson(1) weights per sample
  (Hanley & MacGibbon 2006; Chamandy et al. 2012), a resampling of the rows
  that streams, merges across blocks, and draws each row's weights from its
  index alone, so the interval does not depend on how the rows were blocked;
* per-atom statistics: how many samples use each atom.
"""

from dataclasses import dataclass, fields

import numpy as np
from sklearn.utils import check_array

from ..decomposition._objective import ObjectiveSums, code_terms

METRICS = (
    "normalized_loss",
    "avg_coef_norm",
    "nonzero_count",
    "final_loss",
    "explained_variance",
)
# Metrics with an interval (``<metric>_ci``) when a confidence is asked for.
INTERVAL_METRICS = (*METRICS, "max_coef")
# Per-sample terms summed under the bootstrap weights, in this order.
_BOOT_TERMS = ("sq_error", "l1", "lp", "max_coef", "nonzero")
# Rows per chunk of bootstrap weights: a row's weights depend on its index only.
_WEIGHT_ROWS = 1024
# Settings, not sums: never added when statistics are merged.
_SETTINGS = ("p", "n_resamples", "random_state", "x_shift")


def _metrics(n, sq_error, l1, lp, max_coef, nonzero, total_ss, alpha, p):
    """The metrics from sums (scalars, or arrays: one value per resample)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        final_loss = (sq_error + alpha * l1) / n
        mean_max = max_coef / n
        explained = np.where(
            total_ss > 0,
            1.0 - sq_error / np.where(total_ss > 0, total_ss, 1.0),
            np.where(sq_error == 0, 1.0, 0.0),  # constant data, as sklearn
        )
        return {
            "final_loss": final_loss,
            "max_coef": mean_max,
            "nonzero_count": nonzero / n,
            "explained_variance": explained,
            "avg_coef_norm": (lp / n) / mean_max**p,
            "normalized_loss": final_loss / (alpha * mean_max),
        }


@dataclass
class CodeStatistics(ObjectiveSums):
    """Running sums of the per-sample terms the paper's metrics are built from.

    Feed it blocks of ``(X, code, reconstruction)`` with :meth:`add`; read the
    metrics with :meth:`report`. ``p`` is the exponent of ``avg_coef_norm``.
    With ``n_resamples`` > 0 the sums are also kept under that many sets of
    Poisson(1) bootstrap weights, seeded by ``random_state`` and the rows'
    indices, for :meth:`report`'s intervals.

    The sums of ``X`` are taken about ``x_shift`` (the first block's mean),
    so the total variance does not cancel when the data sit far from 0.
    """

    p: float = 1.0
    lp: float = 0.0
    x_shift: np.ndarray = None
    x_sum: np.ndarray = None
    x_sq: float = 0.0
    atom_counts: np.ndarray = None
    n_resamples: int = 0
    random_state: int = 0
    boot_n: np.ndarray = None
    boot_terms: np.ndarray = None
    boot_x_sum: np.ndarray = None
    boot_x_sq: np.ndarray = None

    def add(self, X, code, reconstruction, *, start=None):
        """Add a block; ``start`` is the index of its first row (default: next).

        Returns the block's per-sample squared reconstruction errors.
        """
        start = self.n_samples if start is None else int(start)
        X = np.asarray(X, dtype=np.float64)
        terms = self._terms(X, code, reconstruction)
        if self.x_shift is None:
            self.x_shift = X.mean(axis=0) if len(X) else np.zeros(X.shape[1])
        Xs = X - self.x_shift
        x_sq = np.einsum("ij,ij->i", Xs, Xs)
        self.x_sum = _plus(self.x_sum, Xs.sum(axis=0))
        self.x_sq += float(x_sq.sum())
        self.lp += float(terms["lp"].sum())
        self.atom_counts = _plus(self.atom_counts, _usage(code))
        if self.n_resamples:
            self._add_resamples(terms, Xs, x_sq, start)
        self._accumulate(terms)
        return terms["sq_error"]

    def _terms(self, X, code, reconstruction):
        residual = X - reconstruction
        return {
            "sq_error": np.einsum("ij,ij->i", residual, residual),
            **code_terms(code, p=self.p),
        }

    def _add_resamples(self, terms, Xs, x_sq, start):
        weights = bootstrap_weights(start, len(Xs), self.n_resamples, self.random_state)
        columns = np.column_stack([terms[name] for name in _BOOT_TERMS])
        self.boot_n = _plus(self.boot_n, weights.sum(axis=1))
        self.boot_terms = _plus(self.boot_terms, weights @ columns)
        self.boot_x_sum = _plus(self.boot_x_sum, weights @ Xs)
        self.boot_x_sq = _plus(self.boot_x_sq, weights @ x_sq)

    def merge(self, other):
        """Add the sums of ``other`` (another block's) to these; returns self."""
        for name in ("p", "n_resamples", "random_state"):
            if getattr(self, name) != getattr(other, name):
                raise ValueError(
                    f"cannot merge statistics with {name}={getattr(self, name)} "
                    f"and {name}={getattr(other, name)}"
                )
        if self.x_shift is None:
            self.x_shift = other.x_shift
        elif other.x_shift is not None:
            other = other._shifted_to(self.x_shift)
        for f in fields(self):
            if f.name not in _SETTINGS:
                setattr(
                    self, f.name, _plus(getattr(self, f.name), getattr(other, f.name))
                )
        return self

    def _shifted_to(self, shift):
        """A copy whose sums of ``X`` are taken about ``shift``."""
        delta = self.x_shift - shift
        moved = CodeStatistics(**{f.name: getattr(self, f.name) for f in fields(self)})
        moved.x_shift = shift
        if self.x_sum is not None:
            moved.x_sq = (
                self.x_sq
                + 2 * float(delta @ self.x_sum)
                + self.n_samples * float(delta @ delta)
            )
            moved.x_sum = self.x_sum + self.n_samples * delta
        if self.boot_x_sum is not None:
            moved.boot_x_sq = (
                self.boot_x_sq
                + 2 * self.boot_x_sum @ delta
                + self.boot_n * (delta @ delta)
            )
            moved.boot_x_sum = self.boot_x_sum + self.boot_n[:, None] * delta
        return moved

    def total_ss(self):
        """``||X - mean(X)||^2`` over the rows added."""
        if self.x_sum is None:
            return 0.0
        return self.x_sq - float(self.x_sum @ self.x_sum) / self.n_samples

    def report(self, alpha, *, confidence=None, dense_threshold=0.1):
        """All metrics as a dict; raises if they are undefined (all-zero codes).

        Parameters
        ----------
        alpha : float
            The penalty the objective is measured at.
        confidence : float in (0, 1) or None, default=None
            Add ``<metric>_ci = (low, high)``, the percentile interval of each
            metric over the bootstrap resamples (needs ``n_resamples`` > 0).
        dense_threshold : float, default=0.1
            An atom used by more than this share of the samples is dense.
        """
        normalized = self.normalized_loss(alpha)  # raises for no samples / zero codes
        n = self.n_samples
        values = _metrics(
            n, self.sq_error, self.l1, self.lp, self.max_coef, self.nonzero,
            self.total_ss(), alpha, self.p,
        )  # fmt: skip
        report = {key: float(value) for key, value in values.items()}
        report.update(normalized_loss=normalized, alpha=float(alpha), n_samples=n)
        if self.atom_counts is not None:
            frequency = self.atom_counts / n
            report["firing_frequency"] = frequency
            report["dead_atoms"] = int(np.count_nonzero(self.atom_counts == 0))
            report["dense_atoms"] = int(np.count_nonzero(frequency > dense_threshold))
        if confidence is not None:
            report.update(self.intervals(alpha, confidence))
        return report

    def intervals(self, alpha, confidence):
        """``{<metric>_ci: (low, high)}``: percentile bootstrap intervals."""
        if not self.n_resamples or self.boot_n is None:
            raise ValueError(
                "these statistics kept no bootstrap resamples; create them with "
                "n_resamples > 0 to get intervals."
            )
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}.")
        sums = dict(zip(_BOOT_TERMS, self.boot_terms.T))
        n = self.boot_n
        with np.errstate(divide="ignore", invalid="ignore"):
            total_ss = (
                self.boot_x_sq
                - np.einsum("ij,ij->i", self.boot_x_sum, self.boot_x_sum) / n
            )
        values = _metrics(
            n, sums["sq_error"], sums["l1"], sums["lp"], sums["max_coef"],
            sums["nonzero"], total_ss, alpha, self.p,
        )  # fmt: skip
        tails = 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])
        out = {}
        for name in INTERVAL_METRICS:
            finite = values[name][np.isfinite(values[name])]
            low, high = np.percentile(finite, tails) if finite.size else (np.nan,) * 2
            out[f"{name}_ci"] = (float(low), float(high))
        return out


def _plus(a, b):
    """``a + b`` where either may be None (nothing summed yet)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _usage(code):
    """Samples using each atom (non-zero coefficient), as float64."""
    import scipy.sparse as sp

    if sp.issparse(code):
        code = sp.csr_matrix(code)
        used = code.indices[code.data != 0]
        return np.bincount(used, minlength=code.shape[1]).astype(np.float64)
    return np.count_nonzero(np.asarray(code), axis=0).astype(np.float64)


def bootstrap_weights(start, n_rows, n_resamples, random_state):
    """Poisson(1) weights of rows ``start:start + n_rows``, shape (n_resamples, n_rows).

    Row ``i``'s weights depend only on ``i`` and ``random_state`` (drawn in
    chunks of 1024 rows, each from its own seed), so any blocking of the rows
    gives the same resamples.
    """
    out = np.empty((n_resamples, n_rows))
    stop = start + n_rows
    for chunk in range(start // _WEIGHT_ROWS, -(-stop // _WEIGHT_ROWS)):
        lo, hi = chunk * _WEIGHT_ROWS, (chunk + 1) * _WEIGHT_ROWS
        rng = np.random.default_rng([int(random_state), chunk])
        weights = rng.poisson(1.0, size=(n_resamples, _WEIGHT_ROWS))
        a, b = max(lo, start), min(hi, stop)
        out[:, a - start : b - start] = weights[:, a - lo : b - lo]
    return out


def max_atom_cosine(components, *, block=1024):
    """The largest cosine between two different atoms (rows) of ``components``.

    Near 1 for near-duplicate atoms. Computed block by block in float32
    (memory: ``block x n_components``); 0.0 for a single atom.
    """
    D = np.asarray(components, dtype=np.float32)
    norms = np.linalg.norm(D, axis=1)
    D = D / np.where(norms > 0, norms, 1.0)[:, None]
    m = D.shape[0]
    if m < 2:
        return 0.0
    best = -1.0
    for start in range(0, m, block):
        sims = D[start : start + block] @ D.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        best = max(best, float(sims.max()))
    return best


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


def code_statistics(X, code, components, *, p=1.0, start=0, **settings):
    """:class:`CodeStatistics` of arrays from outside: checked, then added at once.

    ``X``, ``code`` (dense or sparse) and ``components`` are converted to
    float64 and checked finite (``check_array``) and for matching shapes.
    ``start`` is the index of the first row (for the bootstrap weights);
    ``settings`` go to :class:`CodeStatistics` (``n_resamples``, ``random_state``).
    """
    X = check_array(X, dtype=np.float64)
    code = check_array(code, dtype=np.float64, accept_sparse="csr")
    components = check_array(components, dtype=np.float64)
    check_shapes(X.shape, code.shape, components.shape)
    stats = CodeStatistics(p=p, **settings)
    stats.add(X, code, np.asarray(code @ components), start=start)
    return stats
