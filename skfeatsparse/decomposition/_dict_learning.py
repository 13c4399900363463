"""GreedyL1DictionaryLearning: the paper's sparse dictionary learning (Appendix C)."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import normalize
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils import check_dask_array, is_dask_array, torch_device
from . import _dask
from ._device_fit import device_pass, fit_device, to_device
from ._dictionary_step import (
    gradient_step,
    mod_step,
    normalize_and_reseed,
    residual_directions,
    sufficient_statistics,
)
from ._greedy import (
    block_rows,
    count_capped,
    float_dtypes,
    gram_fits,
    greedy_csr,
    greedy_l1_encode,
    kernel_gram,
    resolve_max_steps,
    warn_capped,
)
from ._objective import ObjectiveSums, coded_sums

# partial_fit keeps exponentially forgotten sufficient statistics (as in online
# dictionary learning, Mairal et al. 2009): at each call, what was accumulated
# is multiplied by _FORGET before the batch's sums are added. A fit leaves the
# statistics of its last pass (all samples), so partial_fit continues from it.
_FORGET = 0.8
# An atom is dead (re-seeded) when fewer than this many (forgotten) samples
# use it: in fit, exactly the atoms no sample used.
_DEAD_USAGE = 0.5
# Warm-up passes never code fewer samples than this (small data: all of them).
_WARMUP_MIN = 4096
# A warm-up round (alpha_warmup) ends once a pass lowers the objective by
# less than this fraction, or tol if larger. Measured (bench_schedule.py,
# docs/scaling.rst): 1e-2 saves a quarter of the passes at a <= 10 but breaks
# a = 20, whose warm-up needs its slow passes (normalized loss 20.4 instead
# of 11.2, the controls' plateau); so warm-up rounds stop at tol like the rest.
_WARMUP_TOL = 0.0
# alpha="auto" starts from the correlations of this many rows drawn at random
# (all rows of smaller data): independent of batch_size and of the row order.
_ALPHA_SAMPLE = 4096
# alpha="auto" stops early once a round moves alpha by less than this fraction.
_ALPHA_RTOL = 0.02
# The MOD step solves an n_components x n_components float64 system; above
# this size (16384 atoms) only the gradient step, which never forms it, is allowed.
MOD_MAX_BYTES = 2 << 30


def _output_dtype(X):
    """The dtype ``validate_data(X, dtype=float_dtypes(X))`` gives ``X``."""
    dtypes = [np.dtype(d) for d in float_dtypes(X)]
    return np.dtype(X.dtype) if np.dtype(X.dtype) in dtypes else dtypes[0]


def _check_magnitude(X, what="X"):
    """``X``, upcast to float64 when float32 is too narrow to square its values.

    The objective, the dictionary step and the metrics sum squares of the
    ``n_samples x n_features`` values; past ``sqrt(max / (16 * X.size))`` those
    sums overflow (float64: ``fit`` would say "Input contains NaN"; float32:
    a wrong fit with overflow warnings). float32 data that large are fitted in
    float64; float64 data raise, with the way out.
    """
    if X.size == 0:
        return X
    peak = max(float(X.max()), -float(X.min()))

    def limit(dtype):
        return float(np.sqrt(np.finfo(dtype).max / (16.0 * X.size)))

    if peak > limit(np.float64):
        raise ValueError(
            f"{what} has values up to {peak:.3g} in absolute value: too large to "
            f"square in float64 (the objective sums squares of its {X.size} "
            f"values; the limit here is {limit(np.float64):.3g}). Rescale it, e.g. "
            f"{what} / np.abs({what}).max(): the sparsity metrics are scale "
            "invariant, so they do not change."
        )
    if X.dtype == np.float32 and peak > limit(np.float32):
        return X.astype(np.float64)
    return X


def _encode_blocks(
    X, components, alpha, *, max_steps, batch_size, device, mean=None, sparse=False
):
    """Greedy codes of ``X - mean``, block by block.

    Yields ``(start, centred block, code, n_capped)``. The Gram matrix is formed
    once, and blocks are centred one at a time, so memory beyond the codes
    stays bounded by ``batch_size`` however many samples there are. With
    ``sparse``, codes come as CSR matrices; on the CPU kernel's route they
    are made there (:func:`greedy_csr`, one dense block reused throughout).
    """
    gram = None
    if gram_fits(components.shape[0], components.itemsize):
        gram = kernel_gram(components)
    batch_size = block_rows(batch_size, components.shape[0], components.itemsize)
    workspace = None
    if sparse and gram is not None and device in (None, "cpu"):
        workspace = np.empty(
            (min(batch_size, X.shape[0]), components.shape[0]), components.dtype
        )
    for start in range(0, X.shape[0], batch_size):
        X_block = X[start : start + batch_size]
        if mean is not None:
            X_block = X_block - mean
        if workspace is not None and X_block.dtype == components.dtype:
            X_block = np.ascontiguousarray(X_block)
            dense = workspace[: X_block.shape[0]]
            code, n_steps = greedy_csr(
                X_block, components, alpha, gram=gram, max_steps=max_steps, out=dense
            )
            capped = count_capped(X_block, dense, components, alpha, n_steps, max_steps)
            yield start, X_block, code, capped
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            code, n_steps = greedy_l1_encode(
                X_block,
                components,
                alpha,
                max_steps=max_steps,
                gram=gram,
                batch_size=batch_size,
                device=device,
                return_n_steps=True,
            )
        capped = count_capped(X_block, code, components, alpha, n_steps, max_steps)
        yield start, X_block, sp.csr_matrix(code) if sparse else code, capped


def _code_pass(X, components, alpha, *, max_steps, batch_size, device, sums, mean=None):
    """Code ``X`` block by block; returns the sparse code and per-sample errors."""
    blocks, errors, n_capped = [], [], 0
    for _, X_block, code, capped in _encode_blocks(
        X,
        components,
        alpha,
        max_steps=max_steps,
        batch_size=batch_size,
        device=device,
        mean=mean,
        sparse=True,
    ):
        n_capped += capped
        errors.append(sums.add(X_block, code, code @ components))
        blocks.append(code)
    return sp.vstack(blocks, format="csr"), np.concatenate(errors), n_capped


class GreedyL1DictionaryLearning(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Sparse dictionary learning with the greedy L1 coding step of Deng et al.

    Finds unit-norm atoms ``components_`` and non-negative sparse codes that
    minimise the paper's objective (Sec. 2, Appendix C), averaged over samples::

        ||x - code @ components_||^2 + alpha * ||code||_1

    alternating the greedy L1 pursuit (:func:`greedy_l1_encode`) with a
    dictionary step. Paper-to-API: the paper's activations X (d x n) are our
    rows ``X``; its dictionary Phi is ``components_.T``; its coefficients are
    the code :meth:`transform` returns; its lambda is ``alpha``.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``8 * n_features``, the paper's default.
    alpha : "auto" or float, default="auto"
        L1 penalty. ``"auto"`` is the paper's adaptive scheme: fit, set
        ``alpha = alpha_ratio * max_coef`` (the mean maximum coefficient),
        refit, until it settles. A float fixes it.
    alpha_ratio : float, default=0.1
        Target ratio of ``alpha`` to the mean maximum coefficient (the paper's 10%).
    alpha_rounds : int, default=3
        Most rounds at ``alpha_ratio`` for ``alpha="auto"``; it stops earlier once
        a round moves alpha by less than 2%.
    alpha_warmup : tuple of float, default=(4.0, 2.5, 1.5)
        Multiples of the target penalty for leading rounds (annealing from
        sparse codes to the target; with ``alpha="auto"`` the target is
        ``alpha_ratio`` x the mean maximum coefficient). Without them the plain
        schedule stalls on denser data (codes stay dense and the dictionary
        learns nothing), and early passes from the initial dictionary take
        hundreds of greedy steps per sample. ``()`` gives the plain schedule.
    warmup_fraction : float, default=0.5
        Share of the samples, drawn afresh at every pass, that the warm-up
        rounds code and fit (the paper's resampling, Appendix B); the rounds
        at the target penalty use every sample. 1.0 uses all throughout.
    transform_alpha : float, default=None
        Penalty used by :meth:`transform` and by the metrics (the paper's
        Appendix H uses a smaller one than in training). ``None`` means ``alpha_``.
    center : bool, default=True
        Subtract the training mean ``mean_`` before coding, as the paper does.
    dictionary_step : {"mod", "gradient"}, default="mod"
        ``"mod"``: closed-form least squares over all codes of a pass (the method
        of optimal directions); ``"gradient"``: the paper's stochastic gradient
        steps, one per mini-batch of ``batch_size`` samples, with step
        ``learning_rate / L`` (L the curvature of the batch objective). MOD
        reaches a lower objective sooner (see ``benchmarks/``).
    max_iter : int, default=30
        Most alternations (passes over the data) per alpha round.
    tol : float, default=1e-3
        A round ends when a pass lowers the objective by less than ``tol``
        relative to the previous pass.
    batch_size : int, default=4096
        Samples coded at once (memory is ``batch_size * n_components`` beyond
        the output); the mini-batch of the gradient step. With
        ``dictionary_step="mod"`` it is a memory setting only: the fitted
        dictionary does not depend on it (``alpha="auto"`` starts from 4096
        rows drawn with ``random_state``).
    learning_rate : float, default=1.0
        Step of the gradient dictionary step, as a fraction of 1/curvature.
    max_steps : int, default=None
        Cap on greedy steps per sample; ``None`` means ``max(64, 4 * n_features)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial dictionary (drawn from the samples) and re-seeding.
    device : str, default="cpu"
        Where the fit runs: ``"cpu"`` (compiled kernel), ``"cuda"``,
        ``"cuda:1"``, ``"mps"`` (torch). A device this machine lacks raises
        ValueError at ``fit``. On a device the whole fit runs there: the
        centred data (moved once), the dictionary, the coding, the
        dictionary step and the statistics, in float32 (sums and the MOD
        solve in float64 but on MPS); ``components_`` comes back in the
        data's dtype. :meth:`transform` codes there block by block.
    verbose : bool or int, default=False
        Show a progress bar over the passes.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Unit-norm dictionary atoms (the paper's Phi, transposed).
    alpha_ : float
        The penalty the dictionary was trained at.
    mean_ : ndarray of shape (n_features,)
        Training mean subtracted before coding (zeros if ``center=False``).
    n_iter_ : int
        Total number of passes (alternations) run.
    history_ : dict of ndarray
        Per pass: ``"objective"`` (at that pass's alpha), ``"alpha"``,
        ``"max_coef"``, ``"nonzero_count"``, ``"n_resampled"`` (dead atoms
        re-seeded), ``"time"`` (seconds spent in passes so far).
    n_resampled_ : int
        Total number of dead atoms re-seeded from poorly reconstructed samples.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string feature names.

    See Also
    --------
    greedy_l1_encode : The coding step as a function.
    sklearn.decomposition.MiniBatchDictionaryLearning : Lasso-based dictionary learning.

    References
    ----------
    M. Deng, L. Tao, J. Benton. Measuring Feature Sparsity in Language Models.
    NeurIPS 2023 Workshop SoLaR.

    K. Engan, S. O. Aase, J. H. Husoy. Method of optimal directions for frame
    design. ICASSP 1999.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
    >>> X = make_sparse_linear(2000, 16, avg_active=2, random_state=0)
    >>> dl = GreedyL1DictionaryLearning(64, random_state=0).fit(X)
    >>> dl.transform(X).shape
    (2000, 64)
    >>> bool((dl.transform(X) >= 0).all())
    True
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither")],
        "alpha_ratio": [Interval(Real, 0, None, closed="neither")],
        "alpha_rounds": [Interval(Integral, 1, None, closed="left")],
        "alpha_warmup": [tuple, list],
        "warmup_fraction": [Interval(Real, 0, 1, closed="right")],
        "transform_alpha": [Interval(Real, 0, None, closed="neither"), None],
        "center": ["boolean"],
        "dictionary_step": [StrOptions({"mod", "gradient"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_steps": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "device": [str],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha="auto",
        alpha_ratio=0.1,
        alpha_rounds=3,
        alpha_warmup=(4.0, 2.5, 1.5),
        warmup_fraction=0.5,
        transform_alpha=None,
        center=True,
        dictionary_step="mod",
        max_iter=30,
        tol=1e-3,
        batch_size=4096,
        learning_rate=1.0,
        max_steps=None,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.alpha_ratio = alpha_ratio
        self.alpha_rounds = alpha_rounds
        self.alpha_warmup = alpha_warmup
        self.warmup_fraction = warmup_fraction
        self.transform_alpha = transform_alpha
        self.center = center
        self.dictionary_step = dictionary_step
        self.max_iter = max_iter
        self.tol = tol
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_steps = max_steps
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (n_samples, n_features).

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Training data. A ``dask.array.Array`` is streamed instead of
            loaded: its row blocks go through :meth:`partial_fit` one at a
            time, from a fresh state, for up to ``max_iter`` epochs, the block
            order shuffled at each epoch with ``random_state``. Fitting stops
            early after an epoch that changes the sample-weighted mean
            objective (``history_["objective"]``) by at most ``tol`` (relative)
            while ``alpha_`` moves by at most 2%. The result is that of the same
            ``partial_fit`` calls on the same blocks in memory (no warm-up
            rounds; ``n_iter_`` counts every block's pass). Memory holds one
            block (two with a ``distributed`` client, which computes the next
            block meanwhile).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
        """
        if is_dask_array(X):
            return self._fit_dask(X)
        X = validate_data(self, X, dtype=float_dtypes(X))
        self._check_warmup()
        dtype, X = X.dtype, _check_magnitude(X)
        self._initialize(X, check_random_state(self.random_state))
        Xc = X - self.mean_
        # Annealing (both modes): leading rounds at alpha_warmup multiples of the
        # target penalty start from sparse, cheap codes. With "auto" the target
        # is alpha_ratio x the mean max coefficient, re-measured after each round.
        auto = self.alpha == "auto"
        multiples = [float(m) for m in self.alpha_warmup]
        multiples += [1.0] * (self.alpha_rounds if auto else 1)
        target = self._first_alpha(Xc, self.alpha_ratio) if auto else float(self.alpha)
        alpha = multiples[0] * target
        progress = self._progress(len(multiples) * self.max_iter)
        n_warm = max(
            round(self.warmup_fraction * Xc.shape[0]), min(Xc.shape[0], _WARMUP_MIN)
        )
        device = fit_device(self.device)
        if device is not None:
            Xc = to_device(Xc, device)  # once: every pass then stays there
        for round_ in range(len(multiples)):
            previous = np.inf
            warming = round_ < len(self.alpha_warmup)
            warm = warming and n_warm < Xc.shape[0]
            tol = max(self.tol, _WARMUP_TOL) if warming else self.tol
            for _ in range(self.max_iter):
                # Warm-up passes code a fresh random subset each time (the
                # paper's resampling, Appendix B): rough features, cheaply.
                X_pass = Xc
                if warm:
                    X_pass = Xc[
                        np.sort(self._rng.choice(Xc.shape[0], n_warm, replace=False))
                    ]
                objective, max_coef = self._pass(X_pass, alpha, forget=0.0)
                progress.update()
                progress.set_postfix(objective=f"{objective:.4g}", alpha=f"{alpha:.3g}")
                if np.isfinite(previous) and previous - objective <= tol * previous:
                    break
                previous = objective
            if round_ == len(multiples) - 1:
                break
            if auto and max_coef > 0:
                target = self.alpha_ratio * max_coef
            new_alpha = multiples[round_ + 1] * target
            if round_ >= len(self.alpha_warmup) and (
                abs(new_alpha - alpha) <= _ALPHA_RTOL * alpha
            ):
                break  # alpha has settled
            alpha = new_alpha
        progress.close()
        self.alpha_ = float(alpha)
        self._finish(dtype)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """One more pass on a batch: code it, then one dictionary step.

        The paper's "activation distribution" setting (Appendix B): call it on
        a stream of batches. The first call initialises the dictionary from
        the batch; with ``alpha="auto"`` alpha follows ``alpha_ratio`` times the
        mean maximum coefficient of the batches, weighted by their samples. The
        MOD step and the detection of dead atoms use exponentially forgotten
        statistics: at each call, those kept are multiplied by 0.8 and the
        batch's are added. After :meth:`fit` they are those of its last pass
        over all its samples, so a small batch refines the fitted dictionary
        instead of replacing it. A float ``alpha`` set with ``set_params``
        between calls applies from the next call.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            A batch. A ``dask.array.Array`` is a stream of batches: each of
            its row blocks, in order, is computed and passed to
            ``partial_fit`` in turn (one epoch).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
        """
        if is_dask_array(X):
            return _dask.stream_partial_fit(
                self, X, step=lambda block, first: self._partial_fit(block)
            )
        return self._partial_fit(X)

    def _partial_fit(self, X, reset=None):
        """``partial_fit`` on an array; ``reset`` (default: unfitted) starts afresh.

        One pass with forgotten statistics: those of earlier calls, or of the
        last pass of ``fit``, count as the samples they summarise.
        """
        if reset is None:
            reset = not hasattr(self, "components_")
        X = validate_data(self, X, dtype=float_dtypes(X), reset=reset)
        dtype, X = X.dtype, _check_magnitude(X)
        auto = self.alpha == "auto"
        if reset:
            self._initialize(X, check_random_state(self.random_state))
            ratio = self.alpha_ratio if auto else None
            self.alpha_ = self._first_alpha(X - self.mean_, ratio)
            # The first guess counts as one batch of samples.
            self._statistics = {"n_samples": float(X.shape[0])}
        else:
            self._history = {k: list(v) for k, v in self.history_.items()}
            self._n_seen += X.shape[0]
            if self.center:
                # Running mean over everything seen, as IncrementalPCA keeps.
                update = (X.sum(axis=0) - X.shape[0] * self.mean_) / self._n_seen
                self.mean_ = (self.mean_ + update).astype(X.dtype, copy=False)
            if not auto:
                # set_params(alpha=...) between calls takes effect at once.
                self.alpha_ = float(self.alpha)
        memory = _FORGET * self._statistics.get("n_samples", 0.0)
        _, max_coef = self._pass(X - self.mean_, self.alpha_, forget=_FORGET)
        if auto and max_coef > 0:
            # alpha_ as the forgotten mean over samples of alpha_ratio x the
            # max coefficient: a small batch moves it as little as it weighs.
            self.alpha_ = float(
                (memory * self.alpha_ + X.shape[0] * self.alpha_ratio * max_coef)
                / (memory + X.shape[0])
            )
        self._finish(dtype)
        return self

    def _initialize(self, X, rng):
        """Fresh fitted state; atoms drawn from the (centred) samples."""
        if self.device != "cpu":
            torch_device(self.device)  # a clear error before any work
        self.__dict__.pop("_device_components", None)  # of an interrupted fit
        n_samples, n_features = X.shape
        n_components = self.n_components or 8 * n_features
        if self.dictionary_step == "mod" and n_components**2 * 8 > MOD_MAX_BYTES:
            raise ValueError(
                f"dictionary_step='mod' solves an {n_components} x {n_components} "
                f"float64 system ({n_components**2 * 8 / 2**30:.0f} GiB); above "
                f"{int(np.sqrt(MOD_MAX_BYTES / 8))} atoms use "
                "dictionary_step='gradient', which never forms it."
            )
        self.mean_ = X.mean(axis=0) if self.center else np.zeros(n_features, X.dtype)
        Xc = X - self.mean_
        take = rng.choice(n_samples, size=min(n_samples, n_components), replace=False)
        # Built in the data's dtype: 65536 x 4096 atoms are 1 GiB in float32.
        atoms = np.empty((n_components, n_features), dtype=X.dtype)
        atoms[: take.size] = Xc[take]
        for start in range(take.size, n_components, 4096):
            stop = min(start + 4096, n_components)
            atoms[start:stop] = rng.standard_normal((stop - start, n_features))
        norms = row_norms(atoms)
        zero = norms <= 1e-12 * max(float(norms.max(initial=0.0)), np.finfo(float).tiny)
        atoms[zero] = rng.standard_normal((int(zero.sum()), n_features))
        self.components_ = normalize(atoms, copy=False)
        self._rng = rng
        self._history = {
            k: []
            for k in (
                "objective",
                "alpha",
                "max_coef",
                "nonzero_count",
                "n_resampled",
                "time",
            )
        }
        self.n_resampled_ = 0
        self.n_iter_ = 0
        self._n_capped = self._n_coded = 0
        self._n_seen = n_samples
        # Running sums of the passes (see _pass): "usage" (samples per atom),
        # "gram" and "cross" (MOD), "n_samples", all forgotten alike.
        self._statistics = {}

    def _first_alpha(self, Xc, ratio):
        """First guess: ``ratio`` x the mean largest correlation with an atom.

        The first greedy coefficient is that correlation minus alpha / 2, so
        this stands in for the mean maximum coefficient and scales with X. It
        is measured on ``_ALPHA_SAMPLE`` rows drawn with ``random_state`` (all
        of smaller data), so neither ``batch_size`` nor the order of the rows
        (sorted data) changes it.
        """
        if ratio is None:
            return float(self.alpha)
        take = np.arange(Xc.shape[0])
        if Xc.shape[0] > _ALPHA_SAMPLE:
            take = np.sort(self._rng.choice(Xc.shape[0], _ALPHA_SAMPLE, replace=False))
        rows = block_rows(
            _ALPHA_SAMPLE, self.components_.shape[0], self.components_.itemsize
        )
        best = np.concatenate(
            [
                (Xc[take[start : start + rows]] @ self.components_.T).max(axis=1)
                for start in range(0, take.size, rows)
            ]
        ).mean()
        if not best > 0:
            scale = float(np.abs(Xc).max(initial=0.0))
            best = scale if scale > 0 else 1.0
        return float(ratio * best)

    def _pass(self, Xc, alpha, *, forget):
        """One alternation: code, then the dictionary step. Returns (L, max_coef).

        The dictionary step and the dead atoms use the statistics of this pass
        plus ``forget`` times those kept from earlier passes (``fit``: 0, each
        pass sees every sample; ``partial_fit``: ``_FORGET``); they are kept.
        """
        kept = self._statistics if forget > 0 else {}
        start_time = time.perf_counter()
        sums = ObjectiveSums()
        max_steps = resolve_max_steps(self.max_steps, Xc.shape[1])
        self._n_coded += Xc.shape[0]
        device = fit_device(self.device)
        if device is not None:
            # The whole pass on the device (_device_fit); the dictionary stays
            # there, in _device_components, until _finish.
            components = getattr(self, "_device_components", None)
            if components is None:
                components = to_device(self.components_, device)
            new, self._statistics, sums, n_dead, capped = device_pass(
                to_device(Xc, device), components, alpha, kept=kept, forget=forget,
                dictionary_step=self.dictionary_step, batch_size=self.batch_size,
                learning_rate=self.learning_rate, max_steps=max_steps,
                rng=self._rng, dead_usage=_DEAD_USAGE,
            )  # fmt: skip
            self._n_capped += capped
            self._device_components = new
            return self._record(sums, alpha, n_dead, start_time)
        old = self.components_
        if self.dictionary_step == "gradient":
            # One step per mini-batch, from the sparse codes: no
            # n_components x n_components matrix, so any dictionary size.
            blocks, errors = [], []
            components = old.copy()
            for start in range(0, Xc.shape[0], self.batch_size):
                X_block = Xc[start : start + self.batch_size]
                code, error, capped = _code_pass(
                    X_block,
                    components,
                    alpha,
                    max_steps=max_steps,
                    batch_size=self.batch_size,
                    device=self.device,
                    sums=sums,
                )
                self._n_capped += capped
                gradient_step(code, X_block, components, self.learning_rate)
                normalize(components, copy=False)
                blocks.append(code)
                errors.append(error)
            code, error = sp.vstack(blocks, format="csr"), np.concatenate(errors)
            new = components
            statistics = {}
        else:
            code, error, capped = _code_pass(
                Xc,
                old,
                alpha,
                max_steps=max_steps,
                batch_size=self.batch_size,
                device=self.device,
                sums=sums,
            )
            self._n_capped += capped
            gram, cross = sufficient_statistics(code, Xc)
            if "gram" in kept and kept["gram"].shape == gram.shape:
                gram = forget * kept["gram"] + gram
                cross = forget * kept["cross"] + cross
            new = mod_step(gram, cross, old.astype(np.float64))
            statistics = {"gram": gram, "cross": cross}
        usage = np.bincount(code.indices, minlength=old.shape[0]).astype(float)
        if "usage" in kept and kept["usage"].shape == usage.shape:
            usage += forget * kept["usage"]
        new, n_dead = normalize_and_reseed(
            new,
            np.where(usage < _DEAD_USAGE, 0.0, usage),
            lambda k: residual_directions(Xc, code, old, error, k, self._rng),
        )
        if n_dead:
            # A re-seeded atom starts afresh: nothing kept speaks for it.
            dead = usage < _DEAD_USAGE
            usage[dead] = 0.0
            if "gram" in statistics:
                statistics["gram"][dead] = statistics["gram"][:, dead] = 0.0
                statistics["cross"][dead] = 0.0
        statistics["usage"] = usage
        statistics["n_samples"] = forget * kept.get("n_samples", 0.0) + Xc.shape[0]
        self._statistics = statistics
        self.components_ = new.astype(Xc.dtype, copy=False)
        return self._record(sums, alpha, n_dead, start_time)

    def _record(self, sums, alpha, n_dead, start_time):
        """A pass's line of ``history_``; returns its (objective, max_coef)."""
        objective = sums.objective(alpha)
        max_coef = sums.mean_max_coef()
        elapsed = time.perf_counter() - start_time
        if self._history["time"]:
            elapsed += self._history["time"][-1]
        for key, value in zip(
            self._history,
            (
                objective,
                alpha,
                max_coef,
                sums.nonzero / sums.n_samples,
                n_dead,
                elapsed,
            ),
        ):
            self._history[key].append(value)
        self.n_resampled_ += n_dead
        self.n_iter_ += 1
        return objective, max_coef

    def _progress(self, total):
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="passes", disable=not self.verbose, leave=False)

    def _check_warmup(self):
        """``alpha_warmup`` holds positive finite numbers (not checked by type)."""
        for value in self.alpha_warmup:
            if (
                not isinstance(value, Real)
                or isinstance(value, bool)
                or not np.isfinite(value)
                or value <= 0
            ):
                raise ValueError(
                    "alpha_warmup must hold positive finite multiples of the target "
                    f"penalty, got {tuple(self.alpha_warmup)!r} (bad entry "
                    f"{value!r}); e.g. (4.0, 2.5, 1.5), or () for no warm-up rounds."
                )

    def _finish(self, dtype):
        """Fitted attributes in the data's ``dtype`` (a float32 fit may have
        run in float64: :func:`_check_magnitude`), history, capped warning.
        A fit on a device leaves its dictionary and statistics here (numpy)."""
        components = self.__dict__.pop("_device_components", None)
        if components is not None:
            self.components_ = components.cpu().numpy()
            self._statistics = {
                k: v.cpu().numpy() if hasattr(v, "cpu") else v
                for k, v in self._statistics.items()
            }
        self.components_ = self.components_.astype(dtype, copy=False)
        self.mean_ = self.mean_.astype(dtype, copy=False)
        self.history_ = {k: np.asarray(v) for k, v in self._history.items()}
        del self._history
        warn_capped(
            self._n_capped, self._n_coded,
            resolve_max_steps(self.max_steps, self.n_features_in_),
            what="codings of samples during fit", stacklevel=3,
        )  # fmt: skip
        self._n_capped = self._n_coded = 0

    # ---------------------------------------------------------------- using it
    @property
    def _transform_alpha(self):
        return (
            self.alpha_ if self.transform_alpha is None else float(self.transform_alpha)
        )

    def _validate_for_coding(self, X):
        """``X`` checked as fitted data (numpy), with the dictionary in its dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=float_dtypes(X), reset=False)
        if X.dtype == np.float64:
            _check_magnitude(X)
        return X, self.components_.astype(X.dtype, copy=False)

    def iter_transform(self, X):
        """Code ``X`` block by block: the codes of a large ``X`` without holding them.

        What :meth:`transform` computes, ``batch_size`` rows at a time, with
        the Gram matrix of the dictionary formed once for all blocks. The
        metrics of :mod:`skfeatsparse.metrics` read their per-sample terms
        from it, so a dataset is coded once for every metric.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to code at ``transform_alpha``. Checked when this is called,
            not at the first block.

        Yields
        ------
        X_block : ndarray of shape (n_block, n_features)
            Consecutive rows of ``X`` as the dictionary codes them: centred
            by ``mean_``, in the dtype of the codes.
        code : ndarray of shape (n_block, n_components)
            Their codes, as ``transform`` gives them.

        Examples
        --------
        >>> from skfeatsparse.datasets import make_sparse_linear
        >>> from skfeatsparse.decomposition import GreedyL1DictionaryLearning
        >>> X = make_sparse_linear(1000, 8, avg_active=2, random_state=0)
        >>> dl = GreedyL1DictionaryLearning(32, batch_size=400, random_state=0).fit(X)
        >>> [code.shape for _, code in dl.iter_transform(X)]
        [(400, 32), (400, 32), (200, 32)]
        """
        X, components = self._validate_for_coding(X)
        return self._iter_codes(X, components, stacklevel=3)

    def _iter_codes(self, X, components, *, stacklevel):
        max_steps = resolve_max_steps(self.max_steps, X.shape[1])
        n_capped = 0
        for _, X_block, code, capped in _encode_blocks(
            X, components, self._transform_alpha, max_steps=max_steps,
            batch_size=self.batch_size, device=self.device,
            mean=self.mean_.astype(X.dtype),
        ):  # fmt: skip
            n_capped += capped
            yield X_block, code
        warn_capped(
            n_capped, X.shape[0], max_steps, penalty="transform_alpha",
            stacklevel=stacklevel,
        )  # fmt: skip

    def transform(self, X):
        """Code ``X`` with the learned dictionary at ``transform_alpha``.

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Data to code. A ``dask.array.Array`` gives a lazy dask array:
            nothing is computed until you ask; each row block is coded by
            this method on its rows (equal to coding the computed array, up
            to how BLAS rounds a product of that many rows). Its shape, dtype
            and number of features are checked at once; NaN and infinite
            values when a block is computed.

        Returns
        -------
        code : ndarray or dask.array.Array of shape (n_samples, n_components)
            Non-negative sparse codes, float32 for float32 input. For a dask
            array, chunks ``(X.chunks[0], (n_components,))``.
        """
        check_is_fitted(self)
        if is_dask_array(X):
            X = self._check_dask(X)
            return _dask.transform(self, X, dtype=_output_dtype(X))
        X, components = self._validate_for_coding(X)
        code = np.empty((X.shape[0], components.shape[0]), dtype=X.dtype)
        start = 0
        for _, block in self._iter_codes(X, components, stacklevel=4):
            code[start : start + block.shape[0]] = block
            start += block.shape[0]
        return code

    def inverse_transform(self, X):
        """Activations from codes: ``code @ components_ + mean_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} or dask.array.Array of shape \
                (n_samples, n_components)
            Codes. A ``dask.array.Array`` gives a lazy dask array computed
            block by block, chunks ``(X.chunks[0], (n_features,))``.

        Returns
        -------
        X_original : ndarray or dask.array.Array of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return _dask.inverse_transform(self, X)
        code = check_array(X, dtype=[np.float64, np.float32], accept_sparse="csr")
        if code.shape[1] != self.components_.shape[0]:
            raise ValueError(
                f"The code has {code.shape[1]} columns but the dictionary has "
                f"{self.components_.shape[0]} atoms."
            )
        return np.asarray(code @ self.components_.astype(code.dtype)) + self.mean_

    def _check_dask(self, X):
        """``X`` (a dask array) checked as ``validate_data`` checks an array,
        without computing it: shape, dtype, number and names of features."""
        X = check_dask_array(X, n_features=self.n_features_in_, estimator=self)
        validate_data(self, X, reset=False, skip_check_array=True)  # feature names
        return X

    def score(self, X, y=None):
        """Minus the normalized loss on ``X`` (greater is better, like KMeans.score).

        Parameters
        ----------
        X : array-like or dask.array.Array of shape (n_samples, n_features)
            Data to code; a ``dask.array.Array`` is computed block by block.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        if is_dask_array(X):
            sums = _dask.objective_sums(self, self._check_dask(X)).compute()
        else:
            sums = coded_sums(self, X, ObjectiveSums())
        return -float(sums.normalized_loss(self._transform_alpha))

    def _fit_dask(self, X):
        """``fit`` on a dask array: ``max_iter`` shuffled epochs of ``partial_fit``,
        the first block starting from a fresh initialisation."""
        return _dask.stream_partial_fit(
            self, X, step=lambda block, first: self._partial_fit(block, reset=first),
            fresh=True, n_epochs=self.max_iter,
            rng=check_random_state(self.random_state),
            tol=self.tol, alpha_rtol=_ALPHA_RTOL,
        )  # fmt: skip

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
