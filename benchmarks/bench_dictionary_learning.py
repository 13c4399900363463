"""Dictionary learning and coding: skfeatsparse against scikit-learn, side by side.

The paper's synthetic setting (Deng et al. 2023, Appendix D): d=256, 8d atoms,
n=16384, a=10 active features, sigma=0.1, our alpha fixed at 0.095 (the value
``alpha="auto"`` settles at here). One run measures:

1. the full fit: objective and normalized loss against wall time, for our
   MOD and gradient dictionary steps and for scikit-learn's
   ``MiniBatchDictionaryLearning(positive_code=True, fit_algorithm="cd")``
   after one epoch (its ``alpha`` is ours / 2: its objective is half ours);
   the time each of ours takes to reach scikit-learn's one-epoch objective;
2. one coding pass with the converged dictionary: ``greedy_l1_encode`` against
   ``sparse_encode(algorithm="omp")`` and against two floors, the one matrix
   product ``X @ D.T`` by numpy (OpenBLAS) and by torch (MKL, faster here);
   today's pass and, side by side, the pass before issue 13
   (``encode_before`` below: ``_legacy_kernel``, the same loop with numba's
   scalar ``max`` and a linear argmax search, on blocks of correlations in a
   buffer); the same for the Gaussian control's dense codes (rows per second,
   a dictionary fitted on it briefly);
3. the peak memory of ``transform`` beyond its output on a large input.

Prints a table, writes JSON (and a PNG of objective against time).
``--quick`` runs a reduced version for smoke tests.
"""

import argparse
import json
import platform
import time
import tracemalloc
import warnings

import numba
import numpy as np
import sklearn
import torch
from _common import sparse_rows, write_json
from numba import prange
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

import skfeatsparse
from skfeatsparse.datasets import make_gaussian, make_sparse_linear
from skfeatsparse.decomposition import (
    GreedyL1DictionaryLearning,
    _greedy,
    greedy_l1_encode,
)
from skfeatsparse.metrics import sparsity_metrics
from skfeatsparse.utils import parallel_kernel


# The coding kernel before issue 13, kept here only to time it beside today's:
# numba's max (a scalar reduction: LLVM does not vectorise it) and an
# element-by-element search for the maximum's index.
@parallel_kernel(boundscheck=False, fastmath={"reassoc", "nnan", "nsz"})
def _legacy_kernel(corr, gram, half_alpha, stop, max_steps, code, n_steps):
    n_samples, n_atoms = corr.shape
    for j in prange(n_samples):
        c = corr[j]
        best_value = c[0]
        for i in range(1, n_atoms):
            best_value = max(best_value, c[i])
        step = 0
        while step < max_steps:
            best = 0
            while c[best] != best_value:
                best += 1
            coef = best_value - half_alpha
            if coef <= stop:
                break
            code[j, best] += coef
            g = gram[best]
            best_value = c[0] - coef * g[0]
            for i in range(n_atoms):
                value = c[i] - coef * g[i]
                c[i] = value
                best_value = max(best_value, value)
            step += 1
        n_steps[j] = step


def encode_before(X, D, alpha, batch_size=4096):
    """A coding pass as before issue 13: the Gram matrix by numpy, the
    correlations block by block into one buffer (torch's product),
    ``_legacy_kernel`` on each."""
    gram = D @ D.T
    code = np.zeros((X.shape[0], D.shape[0]), X.dtype)
    n_steps = np.zeros(X.shape[0], np.int64)
    buffer = np.empty((min(batch_size, X.shape[0]), D.shape[0]), X.dtype)
    stop = _greedy.DEFAULT_RTOL[X.dtype] * alpha / 2
    for start in range(0, X.shape[0], batch_size):
        block = buffer[: min(batch_size, X.shape[0] - start)]
        torch.matmul(
            torch.from_numpy(X[start : start + batch_size]),
            torch.from_numpy(D).T,
            out=torch.from_numpy(block),
        )
        _legacy_kernel(
            block,
            gram,
            X.dtype.type(alpha / 2),
            X.dtype.type(stop),
            _greedy.resolve_max_steps(None, X.shape[1]),
            code[start : start + batch_size],
            n_steps[start : start + batch_size],
        )
    return code


def time_kernels(X, D, alpha, repeat):
    """Best-of-``repeat`` seconds of the floors (numpy's product, and torch's,
    MKL here), of today's pass and of the pass before issue 13, interleaved
    so that contention on the machine hits them all alike."""
    passes = {
        "greedy": lambda: greedy_l1_encode(X, D, alpha),
        "greedy_before": lambda: encode_before(X, D, alpha),
    }
    for run in passes.values():
        run()  # compile outside the timing
    X_t, D_t = torch.from_numpy(X), torch.from_numpy(D)

    def torch_product():  # into a new array, like the pass's output
        out = np.empty((X.shape[0], D.shape[0]), X.dtype)
        torch.matmul(X_t, D_t.T, out=torch.from_numpy(out))
        return out

    floors = {"floor_matmul": lambda: X @ D.T, "floor_torch": torch_product}
    times = {name: [] for name in [*floors, *passes]}
    codes = {}
    for _ in range(repeat):
        for name, run in floors.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
        for name, run in passes.items():
            start = time.perf_counter()
            codes[name] = run()
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    return best, codes


def floor_ratios(best):
    """Today's and the earlier pass against the floor, the faster of the two
    products in this run (``floor``), and against each product."""
    floor = min(best["floor_matmul"], best["floor_torch"])
    return {
        "floor": floor,
        "ratio_to_floor": best["greedy"] / floor,
        "ratio_to_floor_before": best["greedy_before"] / floor,
        "ratio_to_numpy_floor": best["greedy"] / best["floor_matmul"],
        "ratio_to_torch_floor": best["greedy"] / best["floor_torch"],
    }


def objective(X, code, components, alpha):
    report = sparsity_metrics(X, code, components, alpha)
    return report["final_loss"], report["normalized_loss"]


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def fit_ours(X, args, step, time_budget=None):
    dl = GreedyL1DictionaryLearning(
        alpha=args.alpha,
        dictionary_step=step,
        max_iter=args.max_passes,
        tol=args.tol,
        batch_size=args.batch_size if step == "mod" else 1024,
        random_state=0,
    )
    # The dictionary after every pass (copies, not timed: the fit's clock
    # runs inside _pass), to code at the benchmark's penalty afterwards.
    snapshots, one_pass = [], dl._pass

    def recorded_pass(*a, **k):
        result = one_pass(*a, **k)
        snapshots.append(dl.components_.copy())
        return result

    dl._pass = recorded_pass
    if time_budget is not None:
        # Equal-time comparison: passes until the budget is spent.
        dl.set_params(max_iter=1)
        dl.fit(X)
        history = {k: list(v) for k, v in dl.history_.items()}
        while history["time"][-1] < time_budget and len(history["time"]) < 500:
            dl._history = history
            dl._pass(X - dl.mean_, args.alpha, forget=0.0)
            dl._finish(dl.components_.dtype)
            history = {k: list(v) for k, v in dl.history_.items()}
    else:
        dl.fit(X)
    del dl._pass
    h = dl.history_
    # Warm-up passes run at larger penalties (annealing): each pass's objective
    # and normalized loss are at its own alpha, recorded beside them; and
    # each pass's dictionary coded at the benchmark's alpha on the rows
    # scikit-learn's objective is measured on (greedy codes: their objective
    # is a few percent above the exact Lasso codes scikit-learn gets there).
    normalized = h["objective"] / (h["alpha"] * h["max_coef"])
    X_eval = eval_rows(X, args) - dl.mean_
    at_alpha = [
        objective(X_eval, greedy_l1_encode(X_eval, D, args.alpha), D, args.alpha)[0]
        for D in snapshots
    ]
    return dl, {
        "time": h["time"].tolist(),
        "alpha": h["alpha"].tolist(),
        "objective": h["objective"].tolist(),
        "normalized_loss": normalized.tolist(),
        "nonzero_count": h["nonzero_count"].tolist(),
        "objective_at_alpha": at_alpha,
    }


def eval_rows(X, args):
    """The rows both fits' dictionaries are judged on (not trained apart)."""
    rng = np.random.default_rng(1)
    return X[rng.choice(X.shape[0], args.eval_samples, replace=False)]


def time_to_reach(curve, target, alpha):
    """Seconds until a pass at the benchmark's penalty reaches ``target``."""
    for t, a, value in zip(curve["time"], curve["alpha"], curve["objective"]):
        if np.isclose(a, alpha) and value <= target:
            return t
    return None


def time_to_dictionary(curve, target):
    """Seconds until a pass's dictionary, coded at the benchmark's penalty on
    the evaluation rows, reaches ``target`` (at any pass, warm-up included)."""
    for t, value in zip(curve["time"], curve["objective_at_alpha"]):
        if value <= target:
            return t
    return None


def fit_sklearn(X, args):
    mbdl = MiniBatchDictionaryLearning(
        n_components=X.shape[1] * 8,
        alpha=args.alpha / 2,
        max_iter=args.sklearn_epochs,
        fit_algorithm="cd",
        positive_code=True,
        batch_size=256,
        random_state=0,
        transform_algorithm="lasso_cd",
        transform_alpha=args.alpha / 2,
    )
    start = time.perf_counter()
    mbdl.fit(X)
    fit_time = time.perf_counter() - start
    # Its objective on a subsample, coded by its own positive Lasso (not timed).
    X_eval = eval_rows(X, args)
    code = sparse_encode(
        X_eval,
        mbdl.components_,
        algorithm="lasso_cd",
        alpha=args.alpha / 2,
        positive=True,
    )
    final, normalized = objective(X_eval, code, mbdl.components_, args.alpha)
    return {
        "epochs": args.sklearn_epochs,
        "fit_time": fit_time,
        "objective": final,
        "normalized_loss": normalized,
        "nonzero_count": float((code > 0).sum(1).mean()),
        "eval_samples": args.eval_samples,
    }


def coding_pass(X, dl, args):
    Xc = X - dl.mean_
    rows = {}
    for dtype in (np.float64, np.float32):
        Xd, D = Xc.astype(dtype), dl.components_.astype(dtype)
        best, codes = time_kernels(Xd, D, args.alpha, args.repeat)
        code = codes["greedy"]
        rows[np.dtype(dtype).name] = {
            **best,
            **floor_ratios(best),
            "max_code_difference_before": float(
                np.abs(code - codes["greedy_before"]).max()
            ),
            "mean_nonzero": float((code > 0).sum(1).mean()),
        }
    if args.omp_samples <= 0:
        return rows
    k = max(1, round(rows["float64"]["mean_nonzero"]))
    n_omp = min(X.shape[0], args.omp_samples)
    omp, _ = best_of(
        lambda: sparse_encode(
            Xc[:n_omp], dl.components_, algorithm="omp", n_nonzero_coefs=k
        ),
        repeat=1,
    )
    rows["omp"] = {
        "samples": n_omp,
        "n_nonzero_coefs": k,
        "time": omp,
        "time_per_16384": omp * 16384 / n_omp,
        "greedy_speedup": omp * X.shape[0] / n_omp / rows["float64"]["greedy"],
    }
    return rows


def gaussian_pass(args):
    """Rows per second on the Gaussian control: dense codes, hundreds of steps."""
    G = make_gaussian(args.gaussian_samples * 2, args.n_features, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl = GreedyL1DictionaryLearning(
            alpha_warmup=(), alpha_rounds=2, max_iter=3, random_state=0
        ).fit(G[: args.gaussian_samples])
        rows = {}
        X = G[args.gaussian_samples :] - dl.mean_
        for dtype in (np.float64, np.float32):
            Xd, D = X.astype(dtype), dl.components_.astype(dtype)
            best, codes = time_kernels(Xd, D, dl.alpha_, args.repeat)
            n = Xd.shape[0]
            rows[np.dtype(dtype).name] = {
                **best,
                "rows_per_second": n / best["greedy"],
                "rows_per_second_before": n / best["greedy_before"],
                **floor_ratios(best),
                "mean_nonzero": float((codes["greedy"] > 0).sum(1).mean()),
            }
    return {"samples": args.gaussian_samples, "alpha": dl.alpha_, **rows}


def transform_memory(dl, components, n_samples, batch_size, avg_active):
    """Peak traced memory of ``transform`` on ``n_samples`` rows of the same data.

    The rows are drawn chunk by chunk from the generator's ground truth
    (``components``), in float32, so the input costs only its own size.
    """
    X = sparse_rows(components, n_samples, avg_active, np.random.default_rng(2))
    dl32 = GreedyL1DictionaryLearning(batch_size=batch_size)
    dl32.__dict__.update({k: v for k, v in vars(dl).items() if k.endswith("_")})
    dl32.components_ = dl.components_.astype(np.float32)
    dl32.mean_ = dl.mean_.astype(np.float32)
    tracemalloc.start()
    start = time.perf_counter()
    code = dl32.transform(X)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n_samples": n_samples,
        "batch_size": batch_size,
        "output_bytes": code.nbytes,
        "peak_traced_bytes": peak,
        "overhead_bytes": peak - code.nbytes,
        "overhead_per_batch_row": (peak - code.nbytes) / batch_size,
        "time": elapsed,
        "samples_per_second": n_samples / elapsed,
    }


def main(argv=None):
    # scikit-learn's coordinate descent warns on every batch at this penalty.
    warnings.filterwarnings("ignore", module="sklearn")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=16384)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--avg-active", type=float, default=10)
    parser.add_argument("--alpha", type=float, default=0.095)
    parser.add_argument("--max-passes", type=int, default=40)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--sklearn-epochs", type=int, default=1)
    parser.add_argument("--eval-samples", type=int, default=2048)
    parser.add_argument("--omp-samples", type=int, default=4096)
    parser.add_argument("--gaussian-samples", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--memory-samples", type=int, default=1_000_000)
    parser.add_argument("--skip-sklearn-fit", action="store_true")
    parser.add_argument(
        "--sklearn-from",
        help="take scikit-learn's one-epoch time and objective from this earlier "
        "results JSON instead of fitting it (said so in the output)",
    )
    parser.add_argument(
        "--coding-only",
        metavar="NPZ",
        help="skip the fits: time the coding passes (part 2) with the dictionary "
        "saved in this .npz (arrays 'components' and 'mean', e.g. from an "
        "earlier run's --save-dictionary)",
    )
    parser.add_argument("--save-dictionary", metavar="NPZ")
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for smoke tests"
    )
    parser.add_argument("--out", default="benchmarks/results/dictionary_learning.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_features, args.max_passes = 2048, 32, 10
        args.eval_samples, args.omp_samples, args.memory_samples = 256, 512, 20_000
        args.gaussian_samples = 256

    X, true_components, true_code = make_sparse_linear(
        args.n_samples,
        args.n_features,
        avg_active=args.avg_active,
        random_state=0,
        return_components=True,
    )
    true_s1 = true_code.sum(1).mean() / true_code.max(1).mean()
    results = {
        "setting": vars(args) | {"true_avg_coef_norm": true_s1},
        "versions": {
            "skfeatsparse": skfeatsparse.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "numba": numba.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    print(f"data: {X.shape}, a={args.avg_active}, true S_1 = {true_s1:.2f}", flush=True)

    if args.coding_only:
        return coding_only(X, args, results)
    dl, mod = fit_ours(X, args, "mod")
    if args.save_dictionary:
        np.savez(args.save_dictionary, components=dl.components_, mean=dl.mean_)
    print(
        f"ours (MOD): {len(mod['time'])} passes in {mod['time'][-1]:.1f} s", flush=True
    )
    _, gradient = fit_ours(X, args, "gradient", time_budget=mod["time"][-1])
    results["fit"] = {"mod": mod, "gradient": gradient}
    results["coding_pass"] = coding_pass(X, dl, args)
    results["coding_pass"]["gaussian"] = gaussian_pass(args)
    results["transform_memory"] = transform_memory(
        dl, true_components, args.memory_samples, args.batch_size, args.avg_active
    )
    if args.sklearn_from or not args.skip_sklearn_fit:
        if args.sklearn_from:
            with open(args.sklearn_from) as f:
                sk = json.load(f)["fit"]["sklearn"]
            sk = {k: sk[k] for k in ("epochs", "fit_time", "objective")} | {
                k: sk[k] for k in ("normalized_loss", "nonzero_count", "eval_samples")
            }
            sk["from"] = args.sklearn_from
        else:
            print("scikit-learn MiniBatchDictionaryLearning, one epoch ...", flush=True)
            sk = fit_sklearn(X, args)
        sk["mod_time_to_reach"] = time_to_reach(mod, sk["objective"], args.alpha)
        sk["gradient_time_to_reach"] = time_to_reach(
            gradient, sk["objective"], args.alpha
        )
        if sk["mod_time_to_reach"]:
            sk["speedup_mod"] = sk["fit_time"] / sk["mod_time_to_reach"]
        for name, curve in (("mod", mod), ("gradient", gradient)):
            reach = time_to_dictionary(curve, sk["objective"])
            sk[f"{name}_dictionary_time_to_reach"] = reach
            if reach:
                sk[f"speedup_{name}_dictionary"] = sk["fit_time"] / reach
        results["fit"]["sklearn"] = sk

    print_table(results)
    out = write_json(args.out, results)
    plot(results, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return results


def coding_only(X, args, results):
    """Part 2 alone, with a saved dictionary (the fits take most of the run)."""
    saved = np.load(args.coding_only)
    dl = GreedyL1DictionaryLearning()
    dl.components_, dl.mean_ = saved["components"], saved["mean"]
    results["dictionary"] = args.coding_only
    cp = results["coding_pass"] = coding_pass(X, dl, args)
    cp["gaussian"] = gaussian_pass(args)
    print_coding(cp, results["setting"]["avg_active"])
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


def print_coding(cp, avg_active):
    print(
        "\n| coding pass | numpy X @ D.T (s) | torch X @ D.T (s) | before (s) | "
        "before / floor | today (s) | today / floor |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = [(f"a={avg_active:g}", cp), ("Gaussian", cp["gaussian"])]
    for label, part in rows:
        for dtype in ("float64", "float32"):
            r = part[dtype]
            print(
                f"| {label}, {dtype} | {r['floor_matmul']:.3f} | "
                f"{r['floor_torch']:.3f} | {r['greedy_before']:.3f} | "
                f"{r['ratio_to_floor_before']:.2f}x | {r['greedy']:.3f} | "
                f"{r['ratio_to_floor']:.2f}x |"
            )
    print("floor: the faster of the two products in this run")
    g = cp["gaussian"]
    print(
        "Gaussian control rows/s (float64, float32): before "
        f"{g['float64']['rows_per_second_before']:.0f}, "
        f"{g['float32']['rows_per_second_before']:.0f}; now "
        f"{g['float64']['rows_per_second']:.0f}, {g['float32']['rows_per_second']:.0f}"
    )


def print_table(results):
    fit, true_s1 = results["fit"], results["setting"]["true_avg_coef_norm"]
    print("\n| fit | passes | time (s) | objective | normalized loss | NL / true S_1 |")
    print("|---|---|---|---|---|---|")
    for name in ("mod", "gradient"):
        c = fit[name]
        print(
            f"| ours, {name} | {len(c['time'])} | {c['time'][-1]:.1f} | "
            f"{c['objective'][-1]:.4f} | {c['normalized_loss'][-1]:.2f} | "
            f"{c['normalized_loss'][-1] / true_s1:.2f} |"
        )
    if "sklearn" in fit:
        sk = fit["sklearn"]
        print(
            f"| sklearn MiniBatchDL, {sk['epochs']} epoch | - | {sk['fit_time']:.1f} | "
            f"{sk['objective']:.4f} | {sk['normalized_loss']:.2f} | "
            f"{sk['normalized_loss'] / true_s1:.2f} |"
        )
        reach = sk["mod_time_to_reach"]
        print(
            f"\nours (MOD) reaches sklearn's one-epoch objective after "
            f"{reach if reach is None else round(reach, 1)} s: "
            f"{sk.get('speedup_mod', float('nan')):.0f}x sooner"
            + (
                f" (its epoch from {sk['from']}, an earlier run)"
                if "from" in sk
                else ""
            )
        )
        alpha = results["setting"]["alpha"]
        for name in ("mod", "gradient"):
            reach = sk.get(f"{name}_dictionary_time_to_reach")
            print(
                f"ours ({name}): its dictionary, coded at alpha={alpha:g}"
                f" on the same {sk['eval_samples']} rows, reaches that objective after "
                f"{reach if reach is None else round(reach, 1)} s: "
                f"{sk.get(f'speedup_{name}_dictionary', float('nan')):.0f}x sooner"
            )
    cp = results["coding_pass"]
    print_coding(cp, results["setting"]["avg_active"])
    omp = cp["omp"]
    print(
        f"sklearn OMP ({omp['n_nonzero_coefs']} atoms/sample): "
        f"{omp['time_per_16384']:.2f} s "
        f"per 16384 samples; greedy is {omp['greedy_speedup']:.1f}x faster"
    )
    mem = results["transform_memory"]
    print(
        f"transform of {mem['n_samples']} x d float32: "
        f"output {mem['output_bytes'] / 2**20:.0f} MiB,"
        f" extra peak {mem['overhead_bytes'] / 2**20:.1f} MiB"
        f" (batch {mem['batch_size']})"
    )


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    alpha = results["setting"]["alpha"]
    for name, style in (("mod", "o"), ("gradient", "s")):
        c = results["fit"][name]
        at_target = np.isclose(c["alpha"], alpha)
        t = np.asarray(c["time"])
        for ax, key in ((axes[0], "objective"), (axes[1], "normalized_loss")):
            y = np.asarray(c[key])
            ax.plot(
                t[~at_target],
                y[~at_target],
                style,
                ms=3,
                mfc="none",
                alpha=0.5,
                label=f"ours ({name}), warm-up alphas",
            )
            ax.plot(
                t[at_target],
                y[at_target],
                "-" + style,
                ms=3,
                label=f"ours ({name}), alpha={alpha:g}",
            )
    if "sklearn" in results["fit"]:
        sk = results["fit"]["sklearn"]
        axes[0].plot(
            [sk["fit_time"]], [sk["objective"]], "r*", ms=12, label="sklearn, 1 epoch"
        )
        axes[1].plot(
            [sk["fit_time"]],
            [sk["normalized_loss"]],
            "r*",
            ms=12,
            label="sklearn, 1 epoch",
        )
    axes[1].axhline(
        results["setting"]["true_avg_coef_norm"], color="k", ls="--", label="true $S_1$"
    )
    for ax, label in zip(axes, ("objective", "normalized loss")):
        ax.set_xscale("log")
        ax.set_xlabel("wall time (s)")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle("Dictionary learning at d=256, 8d atoms, a=10 (alpha fixed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
