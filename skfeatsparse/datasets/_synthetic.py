"""The paper's synthetic data: sparse-linear activations and three controls.

Deng, Tao & Benton (2023), Appendix D. Rows are samples and, for the ground-truth
dictionary, rows are atoms, as everywhere in skfeatsparse.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

_SHAPE_CONSTRAINTS = {
    "n_samples": [Interval(Integral, 1, None, closed="left")],
    "n_features": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
}


def _unit_rows(rng, n_rows, n_features):
    """Rows drawn uniformly from the unit sphere (normalised Gaussian vectors)."""
    return normalize(rng.standard_normal((n_rows, n_features)), copy=False)


@validate_params(
    {
        **_SHAPE_CONSTRAINTS,
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "avg_active": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "center": ["boolean"],
        "return_components": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_sparse_linear(
    n_samples=16384,
    n_features=256,
    *,
    n_components=None,
    avg_active=10,
    noise=0.1,
    center=True,
    return_components=False,
    random_state=None,
):
    """Generate sparse non-negative combinations of random unit directions.

    The paper's Appendix D generator. ``n_components`` ground-truth features
    (the paper's ``m = 4d``) are drawn uniformly from the unit sphere. Each
    coefficient is Uniform(0, 1) with probability ``avg_active / n_components``
    (the paper's ``a / m``) and 0 otherwise. The samples ``code @ components``
    are centred, then Gaussian noise of variance
    ``avg_active * noise**2 / n_features`` (the paper's ``a sigma^2 / d``) is
    added to every coordinate.

    Parameters
    ----------
    n_samples : int, default=16384
        Number of samples (rows of ``X``).

    n_features : int, default=256
        Dimension of each sample (the paper's ``d``).

    n_components : int, default=None
        Number of ground-truth features. ``None`` means ``4 * n_features``.

    avg_active : float, default=10
        Expected number of active features per sample (the paper's ``a``), in
        ``(0, n_components]``.

    noise : float, default=0.1
        Noise scale (the paper's ``sigma``), at least 0.

    center : bool, default=True
        Subtract the column means of the noiseless samples. Noise is added
        afterwards, so the columns of ``X`` have mean zero only up to noise.

    return_components : bool, default=False
        Also return the ground-truth features and the code.

    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples.

    components : ndarray of shape (n_components, n_features)
        The ground-truth features, unit rows. Only if ``return_components``.

    code : ndarray of shape (n_samples, n_components)
        The non-negative coefficients, in ``[0, 1)``, such that before centring
        and noise ``X = code @ components``. Only if ``return_components``.

    See Also
    --------
    make_gaussian, make_heavy_tailed, make_rademacher : The paper's controls.

    Notes
    -----
    Active coefficients average 1/2, so the sparsity the paper's metrics should
    recover is often quoted as ``avg_active / 2``. That holds only for large
    ``avg_active``: the average sparsity ``S_1`` divides by the mean *maximum*
    coefficient, which is well below 1 when few features are active. The exact
    reference is the "true" ``S_1`` of the returned code,
    ``code.sum(axis=1).mean() / code.max(axis=1).mean()``; the paper reports
    1.76 at ``avg_active=2``, 3.13 at 5, 5.55 at 10 and 20.5 at 40
    (``n_features=256``).

    References
    ----------
    .. [1] Deng, M., Tao, L. & Benton, J. (2023). "Measuring Feature Sparsity
           in Language Models". NeurIPS 2023 Workshop SoLaR, Appendix D.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> X, components, code = make_sparse_linear(
    ...     2000, 16, avg_active=4, return_components=True, random_state=0
    ... )
    >>> X.shape, components.shape, code.shape
    ((2000, 16), (64, 16), (2000, 64))
    >>> true_s1 = code.sum(axis=1).mean() / code.max(axis=1).mean()
    >>> round(float(true_s1), 1)
    2.7
    """
    if n_components is None:
        n_components = 4 * n_features
    if avg_active > n_components:
        raise ValueError(
            f"avg_active={avg_active!r} exceeds n_components={n_components}: each "
            "coefficient is active with probability avg_active / n_components. "
            "Lower avg_active or raise n_components."
        )
    rng = check_random_state(random_state)
    components = _unit_rows(rng, n_components, n_features)

    # One uniform draw decides both whether a coefficient is active (u < p) and
    # its value: given u < p, u / p is Uniform(0, 1). This keeps one dense array.
    p = avg_active / n_components
    code = rng.uniform(size=(n_samples, n_components))
    inactive = code >= p
    code /= p
    code[inactive] = 0.0

    X = code @ components
    if center:
        X -= X.mean(axis=0)
    X += rng.normal(scale=noise * np.sqrt(avg_active / n_features), size=X.shape)
    if return_components:
        return X, components, code
    return X


@validate_params(_SHAPE_CONSTRAINTS, prefer_skip_nested_validation=True)
def make_gaussian(n_samples=16384, n_features=256, *, random_state=None):
    """Generate standard normal samples: the paper's Gaussian control.

    Population mean 0 and covariance the identity; dense, with no sparse
    structure for the metrics to find.

    Parameters
    ----------
    n_samples : int, default=16384
        Number of samples.

    n_features : int, default=256
        Dimension of each sample.

    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples.

    See Also
    --------
    make_sparse_linear : The sparse data these controls are compared with.
    make_heavy_tailed, make_rademacher : The other controls.

    References
    ----------
    .. [1] Deng, M., Tao, L. & Benton, J. (2023). "Measuring Feature Sparsity
           in Language Models". NeurIPS 2023 Workshop SoLaR, Appendix D.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_gaussian
    >>> X = make_gaussian(100, 8, random_state=0)
    >>> X.shape
    (100, 8)
    """
    return check_random_state(random_state).standard_normal((n_samples, n_features))


@validate_params(_SHAPE_CONSTRAINTS, prefer_skip_nested_validation=True)
def make_heavy_tailed(n_samples=16384, n_features=256, *, random_state=None):
    """Generate isotropic samples with Cauchy-distributed norms.

    The paper's heavy-tailed control: a direction uniform on the unit sphere
    times a norm ``|c|`` with ``c`` standard Cauchy.

    A Cauchy norm has infinite variance, so the population covariance does not
    exist and "scaled to identity covariance" can only be done on the sample:
    ``X`` is scaled so that its mean squared row norm is exactly ``n_features``,
    i.e. the trace of its (uncentred) second-moment matrix is that of the
    identity. As the law is isotropic, that matrix is then about the identity
    in expectation, though any one sample is dominated by its few largest rows.

    Parameters
    ----------
    n_samples : int, default=16384
        Number of samples.

    n_features : int, default=256
        Dimension of each sample.

    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples, with ``(X ** 2).sum(axis=1).mean() == n_features``.

    See Also
    --------
    make_sparse_linear : The sparse data these controls are compared with.
    make_gaussian, make_rademacher : The other controls.

    References
    ----------
    .. [1] Deng, M., Tao, L. & Benton, J. (2023). "Measuring Feature Sparsity
           in Language Models". NeurIPS 2023 Workshop SoLaR, Appendix D.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_heavy_tailed
    >>> X = make_heavy_tailed(100, 8, random_state=0)
    >>> X.shape
    (100, 8)
    >>> round(float((X ** 2).sum(axis=1).mean()), 6)
    8.0
    """
    rng = check_random_state(random_state)
    X = _unit_rows(rng, n_samples, n_features)
    norms = np.abs(rng.standard_cauchy(n_samples))
    X *= (norms * np.sqrt(n_features / np.mean(norms**2)))[:, np.newaxis]
    return X


@validate_params(_SHAPE_CONSTRAINTS, prefer_skip_nested_validation=True)
def make_rademacher(n_samples=16384, n_features=256, *, random_state=None):
    """Generate independent random signs: the paper's Rademacher control.

    Every entry is -1 or +1 with probability 1/2, so the population mean is 0
    and the covariance exactly the identity.

    Parameters
    ----------
    n_samples : int, default=16384
        Number of samples.

    n_features : int, default=256
        Dimension of each sample.

    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output across calls.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples, with entries in {-1.0, 1.0}.

    See Also
    --------
    make_sparse_linear : The sparse data these controls are compared with.
    make_gaussian, make_heavy_tailed : The other controls.

    References
    ----------
    .. [1] Deng, M., Tao, L. & Benton, J. (2023). "Measuring Feature Sparsity
           in Language Models". NeurIPS 2023 Workshop SoLaR, Appendix D.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_rademacher
    >>> X = make_rademacher(100, 8, random_state=0)
    >>> X.shape, sorted(set(X.ravel().tolist()))
    ((100, 8), [-1.0, 1.0])
    """
    signs = check_random_state(random_state).randint(2, size=(n_samples, n_features))
    return 2.0 * signs - 1.0


#: The paper's controls (Appendix D), each ``f(n_samples, n_features, *,
#: random_state)`` with identity covariance: the data that are *not* sparse-linear.
CONTROLS = {
    "gaussian": make_gaussian,
    "heavy_tailed": make_heavy_tailed,
    "rademacher": make_rademacher,
}
