"""What the per-atom statistics add to a sparsity report's time.

``sparsity_report`` gives, from its one coding pass, per-atom statistics
(``firing_frequency``, ``dead_atoms``, ``dense_atoms``) and
``max_atom_cosine``. This times, best of ``--repeats`` runs, on held-out
sparse-linear rows under a fitted dictionary:

* the bare coding pass (``iter_transform``, codes discarded);
* the full ``sparsity_report``;
* the per-atom part alone: the usage count of every block's codes (as the
  report takes it) and ``max_atom_cosine`` of the dictionary.

Target: the per-atom part adds < 10% to the report. Prints a Markdown table,
writes JSON. ``--quick``: the smaller size only.
"""

import argparse
import platform
import time
import warnings

import numpy as np
from _common import write_json

from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import sparsity_report
from skfeatsparse.metrics._statistics import _usage, max_atom_cosine

SIZES = ((64, 512, 16384), (256, 2048, 8192))  # (d, atoms, rows measured)


def best(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(d, n_atoms, n_rows, repeats):
    X = make_sparse_linear(8192 + n_rows, d, avg_active=5, random_state=0)
    X = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GreedyL1DictionaryLearning(n_atoms, max_iter=3, random_state=0)
        est.fit(X[:8192])
    held_out = X[8192:]
    codes = [code for _, code in est.iter_transform(held_out)]

    def bare():
        for _ in est.iter_transform(held_out):
            pass

    def per_atom():
        for code in codes:
            _usage(code)
        max_atom_cosine(est.components_)

    bare()  # compile the kernels
    return {
        "n_features": d,
        "n_components": n_atoms,
        "n_rows": n_rows,
        "coding_pass_s": best(bare, repeats),
        "report_s": best(lambda: sparsity_report(est, held_out), repeats),
        "per_atom_s": best(per_atom, repeats),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/atom_statistics.json")
    args = parser.parse_args()
    rows = [measure(*size, args.repeats) for size in SIZES[: 1 if args.quick else 2]]
    print("| d | atoms | rows | coding pass (s) | report (s) | per-atom (s) | "
          "per-atom / report |")  # fmt: skip
    print("|" + "---|" * 7)
    for r in rows:
        r["per_atom_share"] = r["per_atom_s"] / r["report_s"]
        print(
            f"| {r['n_features']} | {r['n_components']} | {r['n_rows']} | "
            f"{r['coding_pass_s']:.3f} | {r['report_s']:.3f} | "
            f"{r['per_atom_s']:.4f} | {100 * r['per_atom_share']:.1f}% |"
        )
    results = {"machine": platform.platform(), "repeats": args.repeats, "rows": rows}
    print("wrote", write_json(args.out, results))


if __name__ == "__main__":
    main()
