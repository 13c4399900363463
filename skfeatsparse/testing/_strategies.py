"""Hypothesis strategies for the paper's data (Appendix D): sparse-linear and controls.

Every size and parameter accepts a fixed value, a ``(low, high)`` pair to draw
from (inclusive), or a hypothesis strategy. Defaults are small (4-16 features,
200-600 samples) so that a property test can fit an estimator per example.
The data themselves come from :mod:`skfeatsparse.datasets` with a drawn seed,
so a failing example is reproduced exactly from what hypothesis prints.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

from ..datasets import CONTROLS, make_sparse_linear


def _integers(value, name):
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, tuple | list):
        low, high = value
        if not 1 <= low <= high:
            raise ValueError(f"{name} must satisfy 1 <= low <= high, got {value!r}.")
        return st.integers(int(low), int(high))
    return st.just(int(value))


def _floats(value, name, *, log=False):
    """A float strategy; with ``log=True`` a pair is drawn log-uniformly."""
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, tuple | list):
        low, high = map(float, value)
        if not (0 <= low <= high and (low > 0 or not log)):
            raise ValueError(f"{name} must satisfy 0 <= low <= high, got {value!r}.")
        if log:
            # Uniform in the exponent, so every order of magnitude is tried.
            return st.floats(math.log10(low), math.log10(high)).map(lambda e: 10.0**e)
        return st.floats(low, high)
    return st.just(float(value))


_SEEDS = st.integers(0, 2**32 - 1)


@dataclass(frozen=True, eq=False)
class SparseLinearData:
    """One draw of the paper's sparse-linear data, with its ground truth.

    ``X`` is ``scale`` times the output of
    :func:`~skfeatsparse.datasets.make_sparse_linear`, and
    ``code`` is scaled alike, so before centring and noise
    ``X == code @ components``.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    components : ndarray of shape (n_components, n_features)
        Ground-truth features, unit rows.
    code : ndarray of shape (n_samples, n_components)
        Ground-truth non-negative code of ``X``.
    scale : float
        Factor applied to the generator's output.
    avg_active, noise : float
        The generator's ``avg_active`` (the paper's a) and ``noise`` (sigma).
    random_state : int
        Seed passed to :func:`~skfeatsparse.datasets.make_sparse_linear`.
    """

    X: np.ndarray = field(repr=False)
    components: np.ndarray = field(repr=False)
    code: np.ndarray = field(repr=False)
    scale: float
    avg_active: float
    noise: float
    random_state: int

    @property
    def true_s1(self):
        """The S_1 of the generator's own code: mean code sum over mean max code."""
        return float(self.code.sum(axis=1).mean() / self.code.max(axis=1).mean())

    def _repr_pretty_(self, printer, cycle):
        # Hypothesis prints falsifying examples with this (not the arrays).
        printer.text(repr(self))

    def __repr__(self):
        # Enough to rebuild the draw, without the arrays.
        n_samples, n_features = self.X.shape
        return (
            f"SparseLinearData(n_samples={n_samples}, n_features={n_features}, "
            f"n_components={self.components.shape[0]}, avg_active={self.avg_active!r}, "
            f"noise={self.noise!r}, scale={self.scale!r}, "
            f"random_state={self.random_state})"
        )


@dataclass(frozen=True, eq=False)
class ControlData:
    """One draw of a control dataset: ``X`` is ``scale`` times ``CONTROLS[kind]``."""

    X: np.ndarray = field(repr=False)
    kind: str
    scale: float
    random_state: int

    def _repr_pretty_(self, printer, cycle):
        printer.text(repr(self))

    def __repr__(self):
        n_samples, n_features = self.X.shape
        return (
            f"ControlData(kind={self.kind!r}, n_samples={n_samples}, "
            f"n_features={n_features}, scale={self.scale!r}, "
            f"random_state={self.random_state})"
        )


@st.composite
def sparse_linear_data(
    draw,
    *,
    n_samples=(200, 600),
    n_features=(4, 16),
    n_components=None,
    avg_active=(1.0, 4.0),
    noise=(0.0, 0.1),
    scale=(1e-3, 1e3),
):
    """Strategy for the paper's sparse-linear data.

    Drawn with :func:`~skfeatsparse.datasets.make_sparse_linear`.

    Each argument is a fixed value, an inclusive ``(low, high)`` pair, or a
    hypothesis strategy.

    Parameters
    ----------
    n_samples : int or pair or strategy, default=(200, 600)
    n_features : int or pair or strategy, default=(4, 16)
        The paper's d.
    n_components : int or pair or strategy, default=None
        Number of ground-truth features (the paper's m); ``None`` draws it
        between ``n_features`` and ``4 * n_features`` (the paper uses 4d).
    avg_active : float or pair or strategy, default=(1.0, 4.0)
        The paper's a, capped at ``n_components``.
    noise : float or pair or strategy, default=(0.0, 0.1)
        The paper's sigma.
    scale : float or pair or strategy, default=(1e-3, 1e3)
        Factor applied to ``X`` (and the code); a pair is drawn log-uniformly.

    Returns
    -------
    strategy : SearchStrategy of SparseLinearData

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from skfeatsparse.testing import sparse_linear_data
    >>> @settings(max_examples=3, database=None)
    ... @given(sparse_linear_data(n_features=8, scale=1.0))
    ... def test_code_is_non_negative(data):
    ...     assert data.X.shape[1] == 8 and (data.code >= 0).all()
    >>> test_code_is_non_negative()
    """
    d = draw(_integers(n_features, "n_features"))
    if n_components is None:
        m = draw(st.integers(d, 4 * d))
    else:
        m = draw(_integers(n_components, "n_components"))
    a = min(draw(_floats(avg_active, "avg_active")), float(m))
    sigma = draw(_floats(noise, "noise"))
    c = draw(_floats(scale, "scale", log=True))
    n = draw(_integers(n_samples, "n_samples"))
    seed = draw(_SEEDS)
    X, components, code = make_sparse_linear(
        n,
        d,
        n_components=m,
        avg_active=a,
        noise=sigma,
        return_components=True,
        random_state=seed,
    )
    return SparseLinearData(
        X=c * X,
        components=components,
        code=c * code,
        scale=c,
        avg_active=a,
        noise=sigma,
        random_state=seed,
    )


@st.composite
def control_data(
    draw, *, kind=None, n_samples=(200, 600), n_features=(4, 16), scale=1.0
):
    """Strategy for one of the paper's control datasets (identity covariance).

    Parameters
    ----------
    kind : {"gaussian", "heavy_tailed", "rademacher"} or None, default=None
        ``None`` draws one of the three (:func:`~skfeatsparse.datasets.make_gaussian`,
        :func:`~skfeatsparse.datasets.make_heavy_tailed`,
        :func:`~skfeatsparse.datasets.make_rademacher`).
    n_samples, n_features : int or pair or strategy
        As in :func:`sparse_linear_data`.
    scale : float or pair or strategy, default=1.0
        Factor applied to ``X``; a pair is drawn log-uniformly.

    Returns
    -------
    strategy : SearchStrategy of ControlData

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from skfeatsparse.testing import control_data
    >>> @settings(max_examples=3, database=None)
    ... @given(control_data(kind="rademacher", n_features=4))
    ... def test_signs(data):
    ...     assert set(abs(data.X).ravel()) == {1.0}
    >>> test_signs()
    """
    if kind is None:
        kind = draw(st.sampled_from(sorted(CONTROLS)))
    elif kind not in CONTROLS:
        raise ValueError(
            f"kind must be one of {sorted(CONTROLS)} or None, got {kind!r}."
        )
    n = draw(_integers(n_samples, "n_samples"))
    d = draw(_integers(n_features, "n_features"))
    c = draw(_floats(scale, "scale", log=True))
    seed = draw(_SEEDS)
    X = CONTROLS[kind](n, d, random_state=seed)
    return ControlData(X=c * X, kind=kind, scale=c, random_state=seed)
