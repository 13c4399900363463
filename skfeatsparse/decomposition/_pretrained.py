"""Dictionaries trained elsewhere: sparse-autoencoder decoders as fitted estimators.

A sparse autoencoder's decoder ``W_dec`` (one feature direction per row) is a
dictionary; with its rows normalised it is ``components_`` of a fitted
:class:`GreedyL1DictionaryLearning`, so the paper's metrics can be measured on
it with our greedy coder. Two on-disk layouts are read (safetensors):

* SAELens: ``sae_weights.safetensors`` with ``W_enc`` (d_in, d_sae), ``b_enc``,
  ``W_dec`` (d_sae, d_in), ``b_dec`` (d_in), and ``cfg.json`` beside it;
* sparsify (EleutherAI): ``sae.safetensors`` with ``encoder.weight``
  (num_latents, d_in), ``encoder.bias``, ``W_dec`` (num_latents, d_in),
  ``b_dec``, and ``cfg.json`` beside it.
"""

import json
from numbers import Real
from pathlib import Path

import numpy as np
from sklearn.utils import check_array

from ..utils import optional_import
from ._dict_learning import GreedyL1DictionaryLearning

# Weight files looked for in a directory, in this order.
_WEIGHT_FILES = ("sae_weights.safetensors", "sae.safetensors")
# The adaptive penalty stops once a round moves it by less than this share.
_PENALTY_RTOL = 0.02


def read_decoder(path):
    """The arrays of a sparse autoencoder saved by SAELens or sparsify.

    Parameters
    ----------
    path : str or path-like
        A ``.safetensors`` file, or a directory holding
        ``sae_weights.safetensors`` (SAELens) or ``sae.safetensors`` (sparsify).

    Returns
    -------
    decoder : dict
        ``W_dec`` (n_latents, d_in); ``b_dec`` (d_in,) or None; ``W_enc`` and
        ``b_enc`` as stored, or None; ``layout`` (``"saelens"``,
        ``"sparsify"`` or ``"decoder"`` when there is no encoder); ``cfg``
        (the ``cfg.json`` beside the file, or ``{}``); ``path``. bfloat16
        weights are read through torch and returned as float32.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from safetensors.numpy import save_file
    >>> from skfeatsparse.decomposition import read_decoder
    >>> folder = tempfile.mkdtemp()
    >>> W = np.eye(3, 2, dtype=np.float32)
    >>> save_file({"W_dec": W, "b_dec": np.zeros(2, np.float32)},
    ...           os.path.join(folder, "sae.safetensors"))
    >>> decoder = read_decoder(folder)
    >>> decoder["layout"], decoder["W_dec"].shape
    ('decoder', (3, 2))
    """
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in _WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise FileNotFoundError(
                f"No {' or '.join(_WEIGHT_FILES)} in {path}: give the .safetensors "
                "file of the sparse autoencoder or the directory holding it."
            )
        path = found[0]
    elif not path.is_file():
        raise FileNotFoundError(f"No such file or directory: {str(path)!r}.")
    tensors = _load_safetensors(path)
    if "W_dec" not in tensors:
        raise ValueError(
            f"{path} has no 'W_dec' (it has {sorted(tensors)}): expected a sparse "
            "autoencoder saved by SAELens or sparsify, with its decoder W_dec of "
            "shape (n_latents, d_in)."
        )
    if "encoder.weight" in tensors:
        layout, W_enc, b_enc = "sparsify", "encoder.weight", "encoder.bias"
    elif "W_enc" in tensors:
        layout, W_enc, b_enc = "saelens", "W_enc", "b_enc"
    else:
        layout, W_enc, b_enc = "decoder", None, None
    cfg_path = path.parent / "cfg.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    return {
        "W_dec": tensors["W_dec"],
        "b_dec": tensors.get("b_dec"),
        "W_enc": tensors.get(W_enc),
        "b_enc": tensors.get(b_enc),
        "layout": layout,
        "cfg": cfg,
        "path": str(path),
    }


def _load_safetensors(path):
    st_numpy = optional_import("safetensors.numpy", "Reading sparse autoencoders")
    try:
        return st_numpy.load_file(str(path))
    except (TypeError, ValueError):  # bfloat16 has no numpy dtype
        optional_import("torch", "Reading bfloat16 safetensors")
        from safetensors.torch import load_file

        return {k: v.float().numpy() for k, v in load_file(str(path)).items()}


def from_decoder(
    W_dec, b_dec=None, *, X=None, alpha=None, alpha_ratio=0.1, max_rounds=20, **params
):
    """A fitted :class:`GreedyL1DictionaryLearning` whose atoms are a decoder's rows.

    ``components_`` are the rows of ``W_dec`` scaled to unit norm, ``mean_``
    is ``b_dec`` (a sparse autoencoder reconstructs ``x`` as ``f @ W_dec +
    b_dec``; zeros without it) and ``alpha_`` is the penalty our greedy coder
    codes at, so :func:`~skfeatsparse.metrics.sparsity_report` and the
    scorers measure the paper's metrics on that dictionary. The codes are
    *ours* (greedy L1 pursuit), not the autoencoder's; for those, see the
    user guide (:ref:`pretrained`).

    Parameters
    ----------
    W_dec : array-like of shape (n_latents, n_features)
        The decoder, one feature direction per row (any norms, none zero).
    b_dec : array-like of shape (n_features,), default=None
        The decoder bias, subtracted before coding.
    X : array-like of shape (n_samples, n_features), default=None
        Data to set the penalty on by the paper's adaptive rule: starting
        from ``alpha_ratio`` x the mean largest correlation of ``X - b_dec``
        with an atom, code ``X`` and set ``alpha = alpha_ratio * max_coef``
        until a round moves it by less than 2% (at most ``max_rounds``). Use
        rows the decoder was trained on or like them, not the rows you
        measure.
    alpha : float, default=None
        A fixed penalty instead (``X`` is then not needed).
    alpha_ratio : float, default=0.1
        The paper's ratio of the penalty to the mean maximum coefficient.
    max_rounds : int, default=20
        Most coding rounds of the adaptive rule.
    **params
        Further parameters of the estimator (``batch_size``, ``max_steps``,
        ``device``, ``transform_alpha``...).

    Returns
    -------
    estimator : GreedyL1DictionaryLearning
        Fitted (``n_iter_ = 0``: no dictionary step was taken); calling its
        ``fit`` would learn a new dictionary from scratch.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> from skfeatsparse.decomposition import from_decoder
    >>> from skfeatsparse.metrics import sparsity_report
    >>> X, W_dec, _ = make_sparse_linear(
    ...     2000, 8, avg_active=2, return_components=True, random_state=0)
    >>> est = from_decoder(3.0 * W_dec, X=X[:1000])
    >>> bool(abs(est.components_[0] @ est.components_[0] - 1) < 1e-12)
    True
    >>> report = sparsity_report(est, X[1000:])
    >>> bool(report["normalized_loss"] > 0)
    True
    """
    W = check_array(W_dec, dtype=[np.float64, np.float32], input_name="W_dec")
    norms = np.linalg.norm(W.astype(np.float64), axis=1)
    if not (norms > 0).all():
        raise ValueError(
            f"W_dec has {int((norms == 0).sum())} all-zero rows: such latents have "
            "no direction. Drop them (W_dec[np.linalg.norm(W_dec, axis=1) > 0])."
        )
    n_latents, n_features = W.shape
    if b_dec is None:
        mean = np.zeros(n_features, dtype=W.dtype)
    else:
        mean = np.asarray(b_dec, dtype=W.dtype).ravel()
        if mean.shape != (n_features,) or not np.isfinite(mean).all():
            raise ValueError(
                f"b_dec must be {n_features} finite values (one per feature of "
                f"W_dec), got shape {np.shape(b_dec)}."
            )
    if alpha is None and X is None:
        raise ValueError(
            "Give the penalty: alpha=<float>, or X=<data> to set it by the paper's "
            "adaptive rule (alpha = alpha_ratio * mean maximum coefficient)."
        )
    if alpha is not None and not (
        isinstance(alpha, Real) and np.isfinite(alpha) and alpha > 0
    ):
        raise ValueError(f"alpha must be a positive number, got {alpha!r}.")
    if not (isinstance(alpha_ratio, Real) and alpha_ratio > 0):
        raise ValueError(f"alpha_ratio must be a positive number, got {alpha_ratio!r}.")
    est = GreedyL1DictionaryLearning(
        n_latents,
        alpha="auto" if alpha is None else float(alpha),
        alpha_ratio=alpha_ratio,
        **params,
    )
    est._validate_params()
    est.components_ = (W / norms[:, None].astype(W.dtype)).astype(W.dtype)
    est.mean_ = mean
    est.n_features_in_ = n_features
    est.n_iter_ = 0
    est.n_resampled_ = 0
    est.history_ = {}
    if alpha is not None:
        est.alpha_ = float(alpha)
        return est
    X = check_array(X, dtype=[np.float64, np.float32], input_name="X")
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features but W_dec has {n_features}: give data "
            "at the site the autoencoder was trained on."
        )
    Xc = X - mean
    correlation = np.concatenate(
        [
            (Xc[i : i + 4096] @ est.components_.T).max(axis=1)
            for i in range(0, len(X), 4096)
        ]
    )
    first = float(correlation.mean())
    if not first > 0:
        raise ValueError(
            "No atom correlates positively with X - b_dec on average: the penalty "
            "cannot be set from these data (are they from the autoencoder's site?)."
        )
    penalty = alpha_ratio * first
    for _ in range(max_rounds):
        est.alpha_ = penalty
        code = est.transform(X)
        max_coef = float(code.max(axis=1).mean())
        if not max_coef > 0:
            break
        new = alpha_ratio * max_coef
        settled = abs(new - penalty) <= _PENALTY_RTOL * penalty
        penalty = new
        if settled:
            break
    est.alpha_ = float(penalty)
    return est


def load_decoder(path, *, X=None, alpha=None, alpha_ratio=0.1, max_rounds=20, **params):
    """Read a SAELens or sparsify sparse autoencoder as a fitted estimator.

    :func:`read_decoder` then :func:`from_decoder`: the decoder's unit rows
    become ``components_``, ``b_dec`` the ``mean_``, and the penalty is set
    on ``X`` by the paper's adaptive rule (or fixed by ``alpha``).

    Parameters
    ----------
    path : str or path-like
        The ``.safetensors`` file, or its directory (see :func:`read_decoder`).
    X, alpha, alpha_ratio, max_rounds, **params
        As in :func:`from_decoder`.

    Returns
    -------
    estimator : GreedyL1DictionaryLearning
        Fitted; measure it with :func:`~skfeatsparse.metrics.sparsity_report`.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from safetensors.numpy import save_file
    >>> from skfeatsparse.decomposition import load_decoder
    >>> folder = tempfile.mkdtemp()
    >>> W_dec = np.vstack([np.eye(3), np.ones((1, 3))])
    >>> save_file({"W_dec": 2 * W_dec, "b_dec": np.ones(3)},
    ...           os.path.join(folder, "sae_weights.safetensors"))
    >>> est = load_decoder(folder, alpha=0.1)
    >>> est.components_.shape, est.mean_.tolist()
    ((4, 3), [1.0, 1.0, 1.0])
    """
    decoder = read_decoder(path)
    return from_decoder(
        decoder["W_dec"],
        decoder["b_dec"],
        X=X,
        alpha=alpha,
        alpha_ratio=alpha_ratio,
        max_rounds=max_rounds,
        **params,
    )
