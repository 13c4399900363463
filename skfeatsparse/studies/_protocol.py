"""The measurement protocol every study shares: fit on some rows, measure on others.

A row of a study is one dataset measured as a researcher can quote it: the
metrics on rows the dictionary never saw (held out), the same on its
training rows (``<metric>_in_sample``, for the memorisation gap), a bootstrap
interval for each held-out metric (``<metric>_ci``), the same protocol on
controls where they apply (``controls``) and a sentence that says what the
numbers mean (``verdict``).
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..decomposition import GreedyL1DictionaryLearning
from ..metrics import METRICS, dictionary_similarity, recovery_scores, sparsity_report

# Report entries kept in a row, besides the metrics.
_EXTRA = ("max_coef", "dead_atoms", "dense_atoms", "max_atom_cosine")
# Held-out more than this share above in-sample: the dictionary memorised rows.
MEMORISATION_GAP = 0.15


def split_rows(n_rows, test_size, random_state):
    """Random train / held-out row indices, each sorted."""
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size!r}.")
    n_test = int(round(test_size * n_rows))
    if n_test < 1 or n_test >= n_rows:
        raise ValueError(
            f"test_size={test_size} of {n_rows} rows leaves no rows on one side; "
            "use more rows or another test_size."
        )
    order = np.random.default_rng(random_state).permutation(n_rows)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def at_most(X, max_rows, random_state):
    """At most ``max_rows`` rows of ``X``, drawn at random, in their order."""
    if max_rows is None or X.shape[0] <= max_rows:
        return X
    rng = np.random.default_rng(random_state)
    return X[np.sort(rng.choice(X.shape[0], max_rows, replace=False))]


def gaussian_like(X, n_rows, random_state):
    """Gaussian rows with the mean and covariance of ``X`` (the Gaussian control).

    The same first and second moments as the data, nothing else: a dictionary
    finds no sparse structure in it, so it is the floor of "not sparse-linear"
    for this shape and spectrum.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(np.cov(X, rowvar=False))
    root = vectors * np.sqrt(np.clip(eigenvalues, 0, None))
    z = np.random.default_rng(random_state).standard_normal((n_rows, X.shape[1]))
    return (z @ root.T + mean).astype(np.float32)


def fit_dictionary(X, *, dictionary_ratio, random_state, fit_params):
    """The paper's dictionary (``dictionary_ratio`` x d atoms), fitted on ``X``."""
    dl = GreedyL1DictionaryLearning(
        n_components=int(dictionary_ratio * X.shape[1]),
        random_state=random_state,
        **fit_params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return dl.fit(X)


def report(dl, X, *, confidence=None, n_resamples=1000):
    """``sparsity_report`` without the capped-step warnings of a study's fits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return sparsity_report(dl, X, confidence=confidence, n_resamples=n_resamples)


def measure(dl, X_train, X_test, *, confidence=0.95, n_resamples=1000):
    """A row's numbers: held out (with intervals) and in-sample, at ``dl``'s penalty.

    The in-sample values come from at most as many training rows as there are
    held-out rows (they only serve to show the memorisation gap).
    """
    held_out = report(dl, X_test, confidence=confidence, n_resamples=n_resamples)
    train = at_most(X_train, X_test.shape[0], 0)
    in_sample = report(dl, train)
    row = {name: float(held_out[name]) for name in METRICS}
    if confidence is not None:
        row.update({f"{name}_ci": list(held_out[f"{name}_ci"]) for name in METRICS})
    row.update({f"{name}_in_sample": float(in_sample[name]) for name in METRICS})
    row.update({name: held_out[name] for name in _EXTRA})
    row.update(
        alpha=float(dl.alpha_),
        transform_alpha=float(held_out["alpha"]),
        n_components=int(dl.components_.shape[0]),
        n_train=int(X_train.shape[0]),
        n_test=int(X_test.shape[0]),
        n_iter=int(dl.n_iter_),
    )
    return row


def fit_and_measure(
    X_train,
    X_test,
    *,
    dictionary_ratio,
    random_state,
    fit_params,
    transform_alpha_ratio=None,
    confidence=0.95,
    n_resamples=1000,
    true_components=None,
    true_code=None,
    return_dictionary=False,
):
    """Fit on ``X_train``, measure on ``X_test``; the row with its fit time.

    With ``return_dictionary`` the fitted dictionary comes too: ``(row, dl)``.

    With ``true_components`` (synthetic data) the row also has the
    :func:`~skfeatsparse.metrics.recovery_scores` of the fitted dictionary:
    ``mcc``, ``mean_max_cosine`` and, with ``true_code`` (the true codes of
    the ``X_test`` rows), ``support_precision``, ``support_recall`` and
    ``support_f1`` of the held-out rows' codes.
    """
    start = time.perf_counter()
    dl = fit_dictionary(
        X_train,
        dictionary_ratio=dictionary_ratio,
        random_state=random_state,
        fit_params=fit_params,
    )
    if transform_alpha_ratio is not None:
        dl.transform_alpha = dl.alpha_ * transform_alpha_ratio
    row = measure(dl, X_train, X_test, confidence=confidence, n_resamples=n_resamples)
    row["fit_time"] = time.perf_counter() - start
    if true_components is not None:
        code = None
        if true_code is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                code = dl.transform(X_test)
        row.update(
            recovery_scores(
                dl.components_, true_components, code=code, true_code=true_code
            )
        )
    return (row, dl) if return_dictionary else row


def seed_spread(row, dl, X_train, X_test, n_seeds, settings):
    """Refit with seeds ``random_state + 1, ...``: how much the fit itself varies.

    ``row`` and ``dl`` are what :func:`fit_and_measure` gave with
    ``settings``. Adds ``row["normalized_loss_seeds"]`` (the held-out value of
    each seed, the first being ``row``'s; no intervals for the refits) and
    ``row["dictionary_similarity_seeds"]`` (the
    :func:`~skfeatsparse.metrics.dictionary_similarity` of each refit's atoms
    with ``dl``'s: 1 when every seed learns the same dictionary).
    """
    if n_seeds > 1:
        seed = settings["random_state"]
        refit = {**settings, "confidence": None, "return_dictionary": True}
        refits = [
            fit_and_measure(X_train, X_test, **{**refit, "random_state": seed + i})
            for i in range(1, n_seeds)
        ]
        row["normalized_loss_seeds"] = [row["normalized_loss"]] + [
            r["normalized_loss"] for r, _ in refits
        ]
        row["dictionary_similarity_seeds"] = [
            float(dictionary_similarity(dl.components_, other.components_))
            for _, other in refits
        ]


def seeds_clause(row):
    """The verdict's clause on the seed refits (``""`` for a row without them).

    E.g. ``"; over 2 seeds 5.10-5.40, atoms matched across seeds at cosine 0.93"``.
    """
    seeds = row.get("normalized_loss_seeds")
    if not seeds:
        return ""
    text = f"; over {len(seeds)} seeds {min(seeds):.2f}-{max(seeds):.2f}"
    similarity = row.get("dictionary_similarity_seeds")
    if similarity:
        text += f", atoms matched across seeds at cosine {min(similarity):.2f}"
    return text


def gap(row):
    """Held-out normalized loss relative to in-sample, minus one (0.2 = 20% above)."""
    return row["normalized_loss"] / row["normalized_loss_in_sample"] - 1


def interval(row, name="normalized_loss"):
    """``"5.40 [5.10, 5.80]"``: a metric and its interval, as the verdicts write it."""
    text = f"{row[name]:.2f}"
    if f"{name}_ci" in row:
        low, high = row[f"{name}_ci"]
        text += f" [{low:.2f}, {high:.2f}]"
    return text


def control_verdict(label, row):
    """One sentence on a real-data row against its controls (Gaussian, random weights).

    It claims only what the intervals support: "below" a control when the
    intervals do not overlap, "not distinguishable" otherwise.
    """
    parts = [f"{label}: normalized loss {interval(row)} held out"]
    controls = row.get("controls", {})
    gauss = controls.get("gaussian")
    if gauss is not None:
        relation = _relation(row, gauss)
        if relation == "below":
            ratio = gauss["normalized_loss"] / row["normalized_loss"]
            relation = f"{ratio:.1f}x below"
        parts.append(f", {relation} a same-covariance Gaussian ({interval(gauss)})")
    random = controls.get("random_weights")
    if random is not None:
        relation = _relation(row, random)
        parts.append(f"; {relation} the same architecture with random weights "
                     f"({interval(random)})")  # fmt: skip
        if relation == "above":
            parts.append(": the untrained network alone codes sparser")
    parts.append(seeds_clause(row))
    excess = gap(row)
    if excess > MEMORISATION_GAP:
        parts.append(
            f"; held out is {100 * excess:.0f}% above in-sample "
            f"({row['normalized_loss_in_sample']:.2f}): the dictionary partly "
            "memorised its training rows, more rows per atom would lower it"
        )
    return "".join(parts) + "."


# Figures read at the docs' width (a 13-inch figure shown ~800 px wide):
# fonts large enough to survive the shrinking.
PLOT_STYLE = {
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 10,
    "lines.markersize": 7,
}


def errors(rows, name):
    """Error-bar lengths ``(2, n)`` below and above each row's value, from its
    interval (zeros where a row has none), for matplotlib's ``yerr``."""
    out = np.zeros((2, len(rows)))
    for i, row in enumerate(rows):
        if f"{name}_ci" in row:
            low, high = row[f"{name}_ci"]
            out[:, i] = max(row[name] - low, 0), max(high - row[name], 0)
    return out


def _relation(row, control):
    """ "below", "above" or "not distinguishable from": intervals apart or not."""
    if separated(row, control):
        return "below"
    if separated(control, row):
        return "above"
    return "not distinguishable from"


def separated(row, control):
    """The row's interval lies wholly below the control's (or its value, if none)."""
    high = row.get("normalized_loss_ci", [row["normalized_loss"]] * 2)[1]
    low = control.get("normalized_loss_ci", [control["normalized_loss"]] * 2)[0]
    return high < low


def row_name(row):
    """How tables name a row: ``"a=10"``, ``"layer 3"``, a site, a model or the data."""
    if "avg_active" in row:
        return f"a={row['avg_active']:g}"
    if "layer" in row:
        return f"layer {row['layer']}"
    for key in ("site", "model"):
        if key in row:
            return str(row[key])
    return row["data"]


def format_atoms_table(rows):
    """A Markdown table of each row's dictionary, atom by atom (the held-out pass).

    Columns: atoms, dead atoms (no held-out row uses them),
    dense atoms (more than 10% of the held-out rows use them), the largest
    cosine between two atoms (near-duplicates near 1) and, for rows refitted
    with other seeds, the held-out normalized loss over the seeds and the
    :func:`~skfeatsparse.metrics.dictionary_similarity` of their atoms.
    """
    lines = [
        "| row | atoms | dead | dense (>10%) | max atom cosine "
        "| normalized loss over seeds | atoms matched across seeds |",
        "|" + "---|" * 7,
    ]
    for r in rows:
        seeds = r.get("normalized_loss_seeds")
        spread = f"{min(seeds):.2f}-{max(seeds):.2f}" if seeds else "-"
        similarity = r.get("dictionary_similarity_seeds")
        matched = f"{min(similarity):.3f}" if similarity else "-"
        lines.append(
            f"| {row_name(r)} | {r['n_components']} | {r['dead_atoms']} | "
            f"{r['dense_atoms']} | {r['max_atom_cosine']:.3f} | {spread} | "
            f"{matched} |"
        )
    return "\n".join(lines)
