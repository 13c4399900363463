"""Recovery of the true features on the paper's synthetic data (MCC, support F1).

``synthetic_study`` on sparse-linear data only (the paper's Appendix D
generator, d=256, 4d true features, an 8d dictionary, alpha="auto"): for each
``a``, the held-out metrics beside how well the fitted dictionary recovers the
true features (:func:`skfeatsparse.metrics.recovery_scores`: Hungarian-matched
MCC, mean max cosine) and how well the held-out rows' codes find the true
supports (precision, recall, F1). Prints a Markdown table, writes JSON.
``--quick``: d=64, 4096 + 1024 rows.
"""

import argparse
import platform
import time

from _common import write_json

from skfeatsparse.studies import synthetic_study

KEYS = (
    "normalized_loss", "true_avg_coef_norm", "explained_variance", "nonzero_count",
    "mcc", "mean_max_cosine", "support_precision", "support_recall", "support_f1",
    "fit_time",
)  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--avg-active", type=float, nargs="+", default=[2, 5, 10])
    parser.add_argument("--out", default="benchmarks/results/recovery.json")
    args = parser.parse_args()
    size = (
        dict(n_samples=4096, n_test=1024, n_features=64)
        if args.quick
        else dict(n_samples=16384, n_test=4096, n_features=256)
    )
    start = time.perf_counter()
    rows = synthetic_study(
        tuple(args.avg_active), (), dictionary_ratio=8, n_resamples=200, **size
    )
    print("| a | " + " | ".join(KEYS) + " |")
    print("|" + "---|" * (len(KEYS) + 1))
    for row in rows:
        print(
            f"| {row['avg_active']:g} | "
            + " | ".join(f"{row[k]:.3f}" for k in KEYS)
            + " |"
        )
    results = {
        "settings": {**size, "dictionary_ratio": 8, "noise": 0.1, "alpha": "auto"},
        "machine": platform.platform(),
        "seconds": time.perf_counter() - start,
        "rows": [
            {"avg_active": r["avg_active"], **{k: r[k] for k in KEYS}} for r in rows
        ],
    }
    print("wrote", write_json(args.out, results))


if __name__ == "__main__":
    main()
