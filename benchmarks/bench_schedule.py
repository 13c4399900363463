"""The fit's schedule, measured: objective against time on every Figure 1 dataset.

The datasets of ``skfeatsparse synthetic`` as ``make demo`` runs it (d=128,
8d atoms, 16384 training rows, float32): sparse-linear data with a = 2, 5,
10, 20, 40 and the Gaussian control, plus 4096 held-out rows each. For every
dataset, dictionary step (MOD, gradient) and schedule (warm-up multiples and
their sample share, the stopping tolerance, the rounds of ``alpha="auto"``),
one fit records each pass's objective (at that pass's penalty), penalty and
wall time, and the held-out normalized loss (with a bootstrap interval for
the first schedule). Schedules other than the first are compared with it:
fit time, passes, final objective, held-out normalized loss inside the
first's interval or not.

Prints a table, writes the curves as JSON and a PNG of objective against time.
``--quick`` runs a reduced version for smoke tests.
"""

import argparse
import time
import warnings

import numpy as np
from _common import write_json
from sklearn.exceptions import ConvergenceWarning

from skfeatsparse.datasets import make_gaussian, make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning, _dict_learning
from skfeatsparse.metrics import sparsity_report

# Name -> (fit parameters, warm-up tolerance); the first is the reference the
# others are held to. The warm-up tolerance (the fit's _WARMUP_TOL) ends a
# warm-up round once a pass gains less than it; 0 (the default) ends it at
# ``tol``, as the rounds at the target penalty.
SCHEDULES = {
    "default": ({}, 0.0),
    "warm-up tol=1e-2": ({}, 1e-2),
    "warm-up tol=3e-2": ({}, 3e-2),
    "tol=3e-3": ({"tol": 3e-3}, 0.0),
}


def datasets(avg_actives, n_samples, n_test, n_features, gaussian=True):
    for a in avg_actives:
        X = make_sparse_linear(
            n_samples + n_test, n_features, avg_active=a, random_state=0
        )
        yield f"a={a:g}", X.astype(np.float32)
    if gaussian:
        X = make_gaussian(n_samples + n_test, n_features, random_state=0)
        yield "gaussian", X.astype(np.float32)


def fit_curve(X_train, X_test, step, schedule, *, confidence, n_resamples):
    params, warmup_tol = schedule
    _dict_learning._WARMUP_TOL = warmup_tol
    dl = GreedyL1DictionaryLearning(
        n_components=8 * X_train.shape[1],
        dictionary_step=step,
        random_state=0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        dl.fit(X_train)
        fit_time = time.perf_counter() - start
        report = sparsity_report(
            dl, X_test, confidence=confidence, n_resamples=n_resamples
        )
    h = dl.history_
    row = {
        "fit_time": fit_time,
        "passes": int(dl.n_iter_),
        "warmup_passes": int((h["alpha"] > 1.02 * dl.alpha_).sum()),
        "alpha_": dl.alpha_,
        "final_objective": float(h["objective"][-1]),
        "normalized_loss": float(report["normalized_loss"]),
        "avg_coef_norm": float(report["avg_coef_norm"]),
        "nonzero_count": float(report["nonzero_count"]),
        "curve": {
            "time": h["time"].tolist(),
            "alpha": h["alpha"].tolist(),
            "objective": h["objective"].tolist(),
            "nonzero_count": h["nonzero_count"].tolist(),
        },
    }
    if confidence is not None:
        row["normalized_loss_ci"] = [float(v) for v in report["normalized_loss_ci"]]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--avg-actives", type=float, nargs="+", default=[2, 5, 10, 20, 40]
    )
    parser.add_argument("--no-gaussian", action="store_true")
    parser.add_argument("--n-samples", type=int, default=16384)
    parser.add_argument("--n-test", type=int, default=4096)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--steps", nargs="+", default=["mod", "gradient"])
    parser.add_argument("--schedules", nargs="+", default=list(SCHEDULES))
    parser.add_argument("--n-resamples", type=int, default=300)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--combine",
        nargs="+",
        help="no fitting: merge the rows of these results JSONs (e.g. one run "
        "per dictionary step) into --out and its PNG",
    )
    parser.add_argument("--out", default="benchmarks/results/schedule.json")
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    if args.quick:
        args.avg_actives, args.n_samples, args.n_test = [5], 2048, 512
        args.n_features, args.schedules = 16, args.schedules[:2]
    # Compile the kernels before anything is timed.
    warm = make_sparse_linear(512, 8, avg_active=2, random_state=0)
    for step in args.steps:
        fit_curve(
            warm[:256], warm[256:], step, ({}, 0.0), confidence=None, n_resamples=1
        )
    results = {
        "setting": vars(args),
        "schedules": {
            k: {"params": SCHEDULES[k][0], "warmup_tol": SCHEDULES[k][1]}
            for k in args.schedules
        },
        "rows": [],
    }
    for name, X in datasets(
        args.avg_actives, args.n_samples, args.n_test, args.n_features,
        gaussian=not args.no_gaussian,
    ):  # fmt: skip
        X_train, X_test = X[: args.n_samples], X[args.n_samples :]
        for step in args.steps:
            reference = None
            for schedule in args.schedules:
                row = fit_curve(
                    X_train, X_test, step, SCHEDULES[schedule],
                    confidence=0.95 if reference is None else None,
                    n_resamples=args.n_resamples,
                )  # fmt: skip
                row.update(data=name, step=step, schedule=schedule)
                if reference is None:
                    reference = row
                else:
                    low, high = reference["normalized_loss_ci"]
                    row["inside_reference_ci"] = low <= row["normalized_loss"] <= high
                    row["speedup"] = reference["fit_time"] / row["fit_time"]
                results["rows"].append(row)
                print_row(row, flush=True)
                write_json(args.out, results)
    out = write_json(args.out, results)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return results


def combine(paths, out):
    import json

    results = {"setting": [], "schedules": {}, "rows": []}
    for path in paths:
        with open(path) as f:
            part = json.load(f)
        results["setting"].append(part["setting"])
        results["schedules"].update(part["schedules"])
        for row in part["rows"]:
            # Runs from before the reference schedule was named "default".
            if row["schedule"] == "warm-up tol=tol (before)":
                row["schedule"] = "default"
            results["rows"].append(row)
    results["schedules"] = {
        ("default" if k == "warm-up tol=tol (before)" else k): v
        for k, v in results["schedules"].items()
    }
    for row in results["rows"]:
        print_row(row)
    out = write_json(out, results)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return results


def print_row(row, flush=False):
    if "speedup" in row:
        inside = "yes" if row["inside_reference_ci"] else "NO"
        extra = f" | {row['speedup']:.2f}x | {inside}"
    else:
        low, high = row["normalized_loss_ci"]
        extra = f" | [{low:.2f}, {high:.2f}] |"
    print(
        f"| {row['data']} | {row['step']} | {row['schedule']} | {row['passes']} | "
        f"{row['fit_time']:.1f} | {row['final_objective']:.4g} | "
        f"{row['normalized_loss']:.2f}{extra}",
        flush=flush,
    )


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    names = list(dict.fromkeys(r["data"] for r in results["rows"]))
    n_cols = min(3, len(names))
    n_rows = -(-len(names) // n_cols)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(5 * n_cols, 3.8 * n_rows), squeeze=False
    )
    styles = {"mod": "-", "gradient": "--"}
    pairs = dict.fromkeys((r["step"], r["schedule"]) for r in results["rows"])
    colors = {pair: f"C{i}" for i, pair in enumerate(pairs)}
    for ax, name in zip(axes.flat, names):
        for row in (r for r in results["rows"] if r["data"] == name):
            c = row["curve"]
            final_alpha = c["alpha"][-1]
            at_final = np.isclose(c["alpha"], final_alpha, rtol=0.02)
            t, y = np.asarray(c["time"]), np.asarray(c["objective"])
            ax.plot(
                t[at_final], y[at_final], styles[row["step"]], marker="o", ms=3,
                color=colors[row["step"], row["schedule"]],
                label=f"{row['step']}, {row['schedule']}",
            )  # fmt: skip
            ax.plot(
                t[~at_final],
                y[~at_final],
                "x",
                ms=3,
                color=colors[row["step"], row["schedule"]],
            )
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{name} (x: warm-up passes)")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel("objective at the pass's alpha")
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
