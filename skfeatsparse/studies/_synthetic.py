"""The paper's metric validation on synthetic data (Deng et al. 2023, Fig. 1 and 4).

Sparse-linear data with a known number of active features against three
controls that are not sparse-linear (Gaussian, heavy-tailed, Rademacher): a
good sparsity metric tracks the truth on the first and is clearly larger on
the others. Used by ``examples/plot_synthetic_validation.py``,
``benchmarks/bench_metric_validation.py`` and ``skfeatsparse synthetic``.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..datasets import CONTROLS, make_sparse_linear
from ..decomposition import GreedyL1DictionaryLearning
from ..metrics import METRICS, sparsity_report


def _measure(X, *, dictionary_ratio, random_state, dtype, **fit_params):
    dl = GreedyL1DictionaryLearning(
        n_components=dictionary_ratio * X.shape[1],
        random_state=random_state,
        **fit_params,
    )
    X = X.astype(dtype, copy=False)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dl.fit(X)
        report = sparsity_report(dl, X)
    row = {name: float(report[name]) for name in METRICS}
    row.update(alpha=dl.alpha_, n_iter=dl.n_iter_, fit_time=time.perf_counter() - start)
    return row


def synthetic_study(
    avg_actives=(2, 5, 10, 20, 40, 80),
    controls=tuple(CONTROLS),
    *,
    n_samples=16384,
    n_features=256,
    noise=0.1,
    dictionary_ratio=8,
    random_state=0,
    dtype=np.float32,
    progress=None,
    **fit_params,
):
    """Fit and measure every dataset of the paper's Figure 1; one row per dataset.

    Sparse-linear rows carry ``avg_active``, the paper's "correct" value
    ``avg_active / 2`` and the exact reference ``true_avg_coef_norm`` (S_1 of
    the generator's own codes). ``progress`` is an optional callable taking
    each finished row (for progress bars and logs).
    """
    rows = []
    for a in avg_actives:
        X, _, code = make_sparse_linear(
            n_samples,
            n_features,
            avg_active=a,
            noise=noise,
            return_components=True,
            random_state=random_state,
        )
        row = {
            "data": "sparse-linear",
            "avg_active": float(a),
            "half_avg_active": a / 2,
            "true_avg_coef_norm": float(code.sum(1).mean() / code.max(1).mean()),
        }
        row.update(
            _measure(
                X,
                dictionary_ratio=dictionary_ratio,
                random_state=random_state,
                dtype=dtype,
                **fit_params,
            )
        )
        rows.append(row)
        if progress:
            progress(row)
    for name in controls:
        X = CONTROLS[name](n_samples, n_features, random_state=random_state)
        row = {"data": name}
        row.update(
            _measure(
                X,
                dictionary_ratio=dictionary_ratio,
                random_state=random_state,
                dtype=dtype,
                **fit_params,
            )
        )
        rows.append(row)
        if progress:
            progress(row)
    return rows


def format_table(rows):
    """A Markdown table of the study's rows."""
    header = (
        "| data | a/2 | true S_1 | normalized loss | S_1 | non-zeros | final loss "
        "| expl. var. | alpha | fit (s) |"
    )
    lines = [header, "|" + "---|" * 10]
    for r in rows:
        half = f"{r['half_avg_active']:g}" if "half_avg_active" in r else "-"
        true = f"{r['true_avg_coef_norm']:.2f}" if "true_avg_coef_norm" in r else "-"
        lines.append(
            f"| {r['data']} | {half} | {true} | {r['normalized_loss']:.2f} | "
            f"{r['avg_coef_norm']:.2f} | {r['nonzero_count']:.1f} | "
            f"{r['final_loss']:.4f} | "
            f"{r['explained_variance']:.3f} | {r['alpha']:.4f} | {r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def plot_synthetic(rows, path=None):
    """Figure 1 (a: metrics against the truth; b: against the controls) and Figure 4."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sparse = [r for r in rows if r["data"] == "sparse-linear"]
    controls = [r for r in rows if r["data"] != "sparse-linear"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))

    ax = axes[0]
    half = [r["half_avg_active"] for r in sparse]
    ax.plot(half, half, "k:", label="a/2 (paper's 'correct')")
    ax.plot(half, [r["true_avg_coef_norm"] for r in sparse], "k--", label="true $S_1$")
    for key, label, style in (
        ("normalized_loss", "normalized loss", "-o"),
        ("avg_coef_norm", "avg. coef. norm $S_1$", "-s"),
        ("nonzero_count", "non-zero entries", "-^"),
    ):
        ax.plot(half, [r[key] for r in sparse], style, label=label)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="true sparsity a/2",
        ylabel="metric",
        title="(a) metrics against the truth",
    )
    ax.legend(fontsize=8)

    compare = [r for r in sparse if r["avg_active"] in (5, 10, 20)] + controls
    names = [
        f"a={r['avg_active']:g}" if "avg_active" in r else r["data"] for r in compare
    ]
    x = np.arange(len(compare))
    for offset, key, label in (
        (-0.2, "normalized_loss", "normalized loss"),
        (0.2, "avg_coef_norm", "$S_1$"),
    ):
        axes[1].bar(x + offset, [r[key] for r in compare], 0.4, label=label)
    axes[1].set_xticks(x, names, rotation=30)
    axes[1].set(title="(b) sparse-linear data against controls", ylabel="metric")
    axes[1].legend(fontsize=8)

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
    ax.legend(handles=handles, loc="upper left", fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
