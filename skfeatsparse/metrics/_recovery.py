"""Recovery of known features and comparison of two dictionaries.

On synthetic data the true features are known: a learned dictionary recovers
them when each true feature has a learned atom pointing its way. Atoms are
matched one to one by the Hungarian algorithm on the absolute cosines (sign
and order do not matter), as in the sparse-autoencoder benchmarks' "mean
correlation coefficient" (MCC).
"""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils import check_array


def _unit_rows(components, what):
    D = check_array(components, dtype=np.float64, input_name=what)
    norms = np.linalg.norm(D, axis=1)
    if not (norms > 0).all():
        raise ValueError(
            f"{what} has {int((norms == 0).sum())} all-zero rows (atoms): a cosine "
            "with a zero atom is undefined. Drop them first."
        )
    return D / norms[:, None]


def _abs_cosines(components_a, components_b, names):
    A = _unit_rows(components_a, names[0])
    B = _unit_rows(components_b, names[1])
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"{names[0]} has {A.shape[1]} features but {names[1]} has {B.shape[1]}; "
            "dictionaries compared must live in the same space."
        )
    return np.abs(A @ B.T)


def _match(cosines):
    """Hungarian matching maximising the summed |cosine|: (rows, columns)."""
    return linear_sum_assignment(cosines, maximize=True)


def dictionary_similarity(components_a, components_b):
    """Mean absolute cosine of Hungarian-matched atoms of two dictionaries.

    Each atom of the smaller dictionary is matched to a distinct atom of the
    other so that the summed ``|cosine|`` is largest
    (:func:`scipy.optimize.linear_sum_assignment`); the similarity is the mean
    over the matched pairs. It is 1 for the same dictionary in any order and
    with any signs, and well below 1 for unrelated dictionaries, though above
    the mean ``|cosine|`` of two random directions, as the matching picks the best
    of many pairs (we measured 0.30 for two Gaussian 64 x 64 dictionaries, 0.18
    for 256 x 256, against ``sqrt(2 / (pi d))`` = 0.10 and 0.05). Use it to
    compare fits with different seeds, or a dictionary with one trained
    elsewhere.

    Parameters
    ----------
    components_a : array-like of shape (n_atoms_a, n_features)
        A dictionary, one atom per row (not necessarily unit norm).
    components_b : array-like of shape (n_atoms_b, n_features)
        Another dictionary in the same space.

    Returns
    -------
    similarity : float
        In [0, 1].

    See Also
    --------
    recovery_scores : The same matching against known true features.

    Examples
    --------
    >>> import numpy as np
    >>> from skfeatsparse.metrics import dictionary_similarity
    >>> D = np.random.default_rng(0).standard_normal((6, 4))
    >>> dictionary_similarity(D, -3 * D[::-1])
    1.0
    """
    cosines = _abs_cosines(components_a, components_b, ("components_a", "components_b"))
    rows, cols = _match(cosines)
    return float(np.clip(cosines[rows, cols].mean(), 0.0, 1.0))


def recovery_scores(components, true_components, *, code=None, true_code=None):
    """How well a learned dictionary (and its codes) recover known features.

    Parameters
    ----------
    components : array-like of shape (n_components, n_features)
        The learned dictionary, one atom per row.
    true_components : array-like of shape (n_true, n_features)
        The true features, e.g. from ``make_sparse_linear(...,
        return_components=True)``.
    code : array-like of shape (n_samples, n_components), default=None
        Codes of some rows under ``components``.
    true_code : array-like of shape (n_samples, n_true), default=None
        The true codes of the same rows. Give both or neither.

    Returns
    -------
    scores : dict
        ``mcc``: mean ``|cosine|`` over true features of their Hungarian-matched
        learned atoms (each true feature to a distinct atom; with fewer learned
        atoms than true features, the mean is over the matched ones).
        ``mean_max_cosine``: mean over true features of their largest
        ``|cosine|`` with any learned atom (atoms may be shared).
        ``n_matched``: the number of matched pairs.
        With codes, ``support_precision``, ``support_recall`` and
        ``support_f1``: the non-zero entries of the matched learned code
        columns against those of the true code columns (over all samples and
        matched pairs); unmatched learned atoms are ignored.

    See Also
    --------
    dictionary_similarity : The same matching between two learned dictionaries.

    Examples
    --------
    >>> from skfeatsparse.datasets import make_sparse_linear
    >>> from skfeatsparse.metrics import recovery_scores
    >>> X, D, C = make_sparse_linear(100, 8, return_components=True, random_state=0)
    >>> s = recovery_scores(D, D, code=C, true_code=C)
    >>> s["mcc"], s["support_f1"]
    (1.0, 1.0)
    """
    if (code is None) != (true_code is None):
        raise ValueError(
            "Give both code and true_code (the support scores compare them), or "
            f"neither; got code={'None' if code is None else 'an array'} and "
            f"true_code={'None' if true_code is None else 'an array'}."
        )
    cosines = _abs_cosines(
        true_components, components, ("true_components", "components")
    )
    true_rows, learned = _match(cosines)
    scores = {
        "mcc": float(np.clip(cosines[true_rows, learned].mean(), 0.0, 1.0)),
        "mean_max_cosine": float(np.clip(cosines.max(axis=1).mean(), 0.0, 1.0)),
        "n_matched": int(true_rows.size),
    }
    if code is None:
        return scores
    code = check_array(code, accept_sparse="csc", input_name="code")
    true_code = check_array(true_code, accept_sparse="csc", input_name="true_code")
    n_atoms, n_true = cosines.shape[1], cosines.shape[0]
    if code.shape[1] != n_atoms or true_code.shape[1] != n_true:
        raise ValueError(
            f"code has {code.shape[1]} columns and true_code {true_code.shape[1]}; "
            f"they must match components ({n_atoms} atoms) and true_components "
            f"({n_true} features)."
        )
    if code.shape[0] != true_code.shape[0]:
        raise ValueError(
            f"code has {code.shape[0]} rows but true_code {true_code.shape[0]}: "
            "they must code the same samples."
        )
    found = _support(code[:, learned])
    truth = _support(true_code[:, true_rows])
    hits = float(np.count_nonzero(found & truth))
    n_found, n_truth = float(np.count_nonzero(found)), float(np.count_nonzero(truth))
    precision = hits / n_found if n_found else 0.0
    recall = hits / n_truth if n_truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    scores.update(support_precision=precision, support_recall=recall, support_f1=f1)
    return scores


def _support(code):
    """Boolean dense array of the non-zero entries."""
    if hasattr(code, "toarray"):
        code = code.toarray()
    return np.asarray(code) != 0
