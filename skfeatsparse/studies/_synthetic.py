"""The paper's metric validation on synthetic data (Deng et al. 2023, Fig. 1 and 4).

Sparse-linear data with a known number of active features against three
controls that are not sparse-linear (Gaussian, heavy-tailed, Rademacher): a
good sparsity metric tracks the truth on the first and is clearly larger on
the others. Used by ``examples/plot_synthetic_validation.py``,
``benchmarks/bench_metric_validation.py`` and ``skfeatsparse synthetic``.
"""

import numpy as np

from ..datasets import CONTROLS, make_sparse_linear
from ._protocol import (
    PLOT_STYLE,
    errors,
    fit_and_measure,
    interval,
    row_name,
    seed_spread,
    seeds_clause,
    separated,
)


def synthetic_study(
    avg_actives=(2, 5, 10, 20, 40, 80),
    controls=tuple(CONTROLS),
    *,
    n_samples=16384,
    n_test=4096,
    n_features=256,
    noise=0.1,
    dictionary_ratio=8,
    true_features_ratio=4,
    confidence=0.95,
    n_resamples=1000,
    n_seeds=1,
    random_state=0,
    dtype=np.float32,
    progress=None,
    **fit_params,
):
    """Fit and measure every dataset of the paper's Figure 1; one row per dataset.

    Each dataset has ``n_samples`` training rows and ``n_test`` more from the
    same generator that the dictionary never sees: the metrics are measured
    on those (held out, with a ``confidence`` bootstrap interval), and on the
    training rows as ``<metric>_in_sample``. Sparse-linear rows carry
    ``avg_active``, the paper's "correct" value ``avg_active / 2`` and the
    exact reference ``true_avg_coef_norm`` (S_1 of the generator's own codes
    on the held-out rows), and how well the dictionary recovers the true
    features (:func:`~skfeatsparse.metrics.recovery_scores`): ``mcc``,
    ``mean_max_cosine``, and ``support_precision``, ``support_recall`` and
    ``support_f1`` of the held-out rows' codes against their true codes.
    With ``n_seeds > 1`` the dictionary is refitted with further seeds and
    ``normalized_loss_seeds`` lists the held-out value of each (the spread
    the interval does not cover). ``true_features_ratio`` sets the number of
    ground-truth features, ``true_features_ratio * n_features`` (the paper:
    4d; its Appendix E also 8d); every row records ``noise``,
    ``n_features``, ``dictionary_ratio`` and ``true_features_ratio``, the
    settings its ablations vary (:func:`ablation_study`). Every row has a ``verdict``;
    :func:`synthetic_verdict` sums the study up. ``progress`` is an optional
    callable taking each finished row.
    """
    check_synthetic_settings(
        noise=noise,
        n_features=n_features,
        dictionary_ratio=dictionary_ratio,
        true_features_ratio=true_features_ratio,
    )
    rows = []
    datasets = [("sparse-linear", a) for a in avg_actives]
    datasets += [(name, None) for name in controls]
    for data, a in datasets:
        if a is not None:
            X, true_components, code = make_sparse_linear(
                n_samples + n_test,
                n_features,
                n_components=int(round(true_features_ratio * n_features)),
                avg_active=a,
                noise=noise,
                return_components=True,
                random_state=random_state,
            )
            held_out = code[n_samples:]
            row = {
                "data": data,
                "avg_active": float(a),
                "half_avg_active": a / 2,
                "true_avg_coef_norm": float(
                    held_out.sum(1).mean() / held_out.max(1).mean()
                ),
            }
        else:
            X = CONTROLS[data](
                n_samples + n_test, n_features, random_state=random_state
            )
            row = {"data": data}
            true_components = held_out = None
        X = X.astype(dtype, copy=False)
        row.update(
            noise=float(noise),
            n_features=int(n_features),
            dictionary_ratio=dictionary_ratio,
            true_features_ratio=true_features_ratio,
        )
        settings = dict(
            dictionary_ratio=dictionary_ratio,
            random_state=random_state,
            fit_params=fit_params,
            confidence=confidence,
            n_resamples=n_resamples,
        )
        X_train, X_test = X[:n_samples], X[n_samples:]
        measured, dl = fit_and_measure(
            X_train, X_test, true_components=true_components,
            true_code=held_out, return_dictionary=True, **settings,
        )  # fmt: skip
        row.update(measured)
        seed_spread(row, dl, X_train, X_test, n_seeds, settings)
        row["verdict"] = _row_verdict(row)
        rows.append(row)
        if progress:
            progress(row)
    return rows


# What each setting must be, as the error says it.
_SETTING_RULES = {
    "noise": (lambda v: v >= 0, "a number >= 0 (the paper: 0.1)"),
    "n_features": (
        lambda v: v >= 1 and float(v).is_integer(),
        "a positive integer (the paper: 256)",
    ),
    "dictionary_ratio": (lambda v: v > 0, "a number > 0 (the paper: 8)"),
    "true_features_ratio": (lambda v: v > 0, "a number > 0 (the paper: 4)"),
}


def check_synthetic_settings(**settings):
    """Raise a ValueError naming the first setting of the study that is invalid."""
    for name, value in settings.items():
        valid, rule = _SETTING_RULES[name]
        try:
            ok = not isinstance(value, bool) and bool(valid(float(value)))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {value!r}.")


def _row_verdict(row):
    text = f"{row_name(row)}: normalized loss {interval(row)} held out "
    text += f"(in-sample {row['normalized_loss_in_sample']:.2f})"
    if "true_avg_coef_norm" in row:
        true = row["true_avg_coef_norm"]
        off = row["normalized_loss"] / true - 1
        text += (
            f"; true S_1 {true:.2f}, a/2 = {row['half_avg_active']:g}: "
            f"{abs(100 * off):.0f}% {'above' if off >= 0 else 'below'} the true S_1"
        )
    else:
        text += "; not sparse-linear (a control)"
    text += seeds_clause(row)
    return text + "."


def synthetic_verdict(rows, max_active=10):
    """What the study shows, in two sentences: separation and monotonicity.

    Which controls the normalized loss separates (intervals apart) from
    sparse-linear data, up to which ``a``; and whether it increases with
    ``a``. ``max_active`` is the ``a`` up to which a sparsity metric should
    separate the controls (the paper's Fig. 1b uses 5, 10 and 20).
    """
    sparse = sorted(
        (r for r in rows if "avg_active" in r), key=lambda r: r["avg_active"]
    )
    controls = [r for r in rows if "avg_active" not in r]
    sentences = []
    if sparse and controls:
        parts, failed = [], []
        for control in controls:
            below = [r["avg_active"] for r in sparse if separated(r, control)]
            up_to = max(
                (a for a in below if all(a2 in below for a2 in _up_to(sparse, a))),
                default=None,
            )
            label = f"{control['data']} ({control['normalized_loss']:.2f})"
            if up_to is None:
                failed.append(label)
            else:
                parts.append(f"{label} above a <= {up_to:g}")
                if up_to < max_active:
                    failed.append(label)
        if parts:
            sentences.append(
                "The normalized loss separates the controls from sparse-linear "
                "data, intervals apart: " + "; ".join(parts) + "."
            )
        if failed:
            sentences.append(
                f"Not separated from every a <= {max_active:g}: "
                + ", ".join(failed)
                + "."
            )
        else:
            sentences.append(
                f"Every control is clearly above sparse-linear data with "
                f"a <= {max_active:g}, as in the paper (Fig. 1b)."
            )
    if len(sparse) > 1:
        values = [r["normalized_loss"] for r in sparse]
        increasing = all(b > a for a, b in zip(values, values[1:]))
        listing = ", ".join(
            f"{v:.2f} (a={r['avg_active']:g})" for v, r in zip(values, sparse)
        )
        sentences.append(
            (
                "It increases with a: "
                if increasing
                else "It does NOT increase monotonically with a: "
            )
            + listing
            + "."
        )
    return " ".join(sentences)


def _up_to(sparse, a):
    return [r["avg_active"] for r in sparse if r["avg_active"] <= a]


def format_table(rows):
    """A Markdown table of the study's rows (held-out values, 95% intervals)."""
    header = (
        "| data | a/2 | true S_1 | normalized loss (held out) | in-sample | S_1 "
        "| non-zeros | final loss | expl. var. | MCC | support F1 | fit (s) |"
    )
    lines = [header, "|" + "---|" * 12]
    for r in rows:
        half = f"{r['half_avg_active']:g}" if "half_avg_active" in r else "-"
        true = f"{r['true_avg_coef_norm']:.2f}" if "true_avg_coef_norm" in r else "-"
        mcc = f"{r['mcc']:.3f}" if "mcc" in r else "-"
        f1 = f"{r['support_f1']:.3f}" if "support_f1" in r else "-"
        lines.append(
            f"| {r['data']} | {half} | {true} | {interval(r)} | "
            f"{r['normalized_loss_in_sample']:.2f} | {interval(r, 'avg_coef_norm')} | "
            f"{r['nonzero_count']:.1f} | {r['final_loss']:.4f} | "
            f"{r['explained_variance']:.3f} | {mcc} | {f1} | {r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def plot_synthetic(rows, path=None):
    """Figure 1 (a: metrics against the truth; b: against the controls) and Figure 4."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(PLOT_STYLE):
        fig = _plot_synthetic(plt, rows)
        fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def _plot_synthetic(plt, rows):
    sparse = [r for r in rows if r["data"] == "sparse-linear"]
    controls = [r for r in rows if r["data"] != "sparse-linear"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 5.2))
    plot_truth_panel(axes[0], sparse)
    axes[0].set_title("(a) metrics against the truth")
    compare = [r for r in sparse if r["avg_active"] in (5, 10, 20)] + controls
    names, x = plot_controls_panel(axes[1], compare)
    axes[1].set_title("(b) sparse-linear data against controls")

    ax = axes[2]
    ax.bar(
        x - 0.2, [r["nonzero_count"] for r in compare], 0.4, label="non-zero entries"
    )
    ax.set_ylabel("non-zero entries")
    twin = ax.twinx()
    twin.bar(
        x + 0.2, [r["final_loss"] for r in compare], 0.4, color="C3", label="final loss"
    )
    twin.set_ylabel("final loss")
    ax.set_xticks(x, names, rotation=30)
    ax.set_title("(Fig. 4) the naive metrics are fooled")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=10)
    return fig


def plot_truth_panel(ax, sparse):
    """Figure 1(a) on ``ax``: each metric against the truth, sparse-linear rows."""
    half = [r["half_avg_active"] for r in sparse]
    ax.plot(half, half, "k:", label="a/2 (paper's 'correct')")
    ax.plot(half, [r["true_avg_coef_norm"] for r in sparse], "k--", label="true $S_1$")
    for key, label, style in (
        ("normalized_loss", "normalized loss", "-o"),
        ("avg_coef_norm", "avg. coef. norm $S_1$", "-s"),
        ("nonzero_count", "non-zero entries", "-^"),
    ):
        ax.errorbar(
            half, [r[key] for r in sparse], yerr=errors(sparse, key), fmt=style,
            capsize=3, label=label,
        )  # fmt: skip
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="true sparsity a/2",
        ylabel="metric (held out, 95% interval)",
    )
    ax.legend(fontsize=10)


def plot_controls_panel(ax, compare):
    """Figure 1(b) on ``ax``: normalized loss and S_1 of ``compare``, side by side.

    Returns the bar labels and their positions.
    """
    names = [
        f"a={r['avg_active']:g}" if "avg_active" in r else r["data"] for r in compare
    ]
    x = np.arange(len(compare))
    for offset, key, label in (
        (-0.2, "normalized_loss", "normalized loss"),
        (0.2, "avg_coef_norm", "$S_1$"),
    ):
        ax.bar(
            x + offset, [r[key] for r in compare], 0.4, yerr=errors(compare, key),
            capsize=3, label=label,
        )  # fmt: skip
    ax.set_xticks(x, names, rotation=30)
    ax.set_ylabel("metric")
    ax.legend(fontsize=10)
    return names, x
