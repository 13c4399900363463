"""The fit on one device: coding against its matrix-product floor, whole fits.

One table, the same on whatever device it runs (``--device cuda``, ``cpu``,
``mps``, ...), at the paper's synthetic sizes (Deng et al. 2023, Appendix D:
d=256, 8d atoms, a=10, sigma=0.1):

1. one coding pass of ``--code-rows`` rows with a learned dictionary, in
   rows per second, beside that device's floor: the one matrix product
   ``X @ D.T`` the pass cannot avoid (float32; on a GPU both on device
   tensors, on the CPU the compiled kernel on numpy, as ``fit`` runs);
2. one whole ``GreedyL1DictionaryLearning(device=...)`` fit (16384 rows,
   ``alpha="auto"``, the default schedule), its passes and objective;
3. Figure 1's synthetic study (six sparse-linear datasets and three
   controls, ``skfeatsparse.studies.synthetic_study``) on that device.

Prints the table, writes JSON (``benchmarks/results/gpu_<device type>.json``).
``--quick`` runs tiny sizes (the test suite runs it on the CPU). On a GPU
machine: ``python benchmarks/bench_gpu.py --device cuda``.
"""

import argparse
import platform
import time
import warnings

import numpy as np
from _common import write_json

import skfeatsparse
from skfeatsparse.datasets import make_sparse_linear
from skfeatsparse.decomposition import GreedyL1DictionaryLearning, greedy_l1_encode
from skfeatsparse.studies import synthetic_study
from skfeatsparse.utils import torch_device


def synchronize(device):
    """Wait for the device's queued work (a GPU runs asynchronously)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn, device, repeat):
    """Best wall time of ``repeat`` calls of ``fn`` (the device synchronised)."""
    best, result = np.inf, None
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def coding_pass(dl, args, device):
    """Greedy coding rows/s at ``alpha_`` against the floor ``X @ D.T``."""
    import torch

    X = make_sparse_linear(
        args.code_rows, args.n_features, avg_active=args.avg_active, random_state=1
    ).astype(np.float32)
    X -= dl.mean_.astype(np.float32)
    components = dl.components_.astype(np.float32)
    X_t = torch.as_tensor(X, device=device)
    D_t = torch.as_tensor(components, device=device)
    X_t[:64] @ D_t.T  # warm: thread pools, kernels, allocator
    floor, _ = timed(lambda: X_t @ D_t.T, device, args.repeat)
    if device.type == "cpu":  # the compiled kernel on numpy, as fit codes
        data, dictionary, where = X, components, "cpu"
    else:  # device tensors in, codes stay on the device
        data, dictionary, where = X_t, D_t, device
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # capped steps are not the question here
        greedy_l1_encode(data[:64], dictionary, dl.alpha_, device=where)  # warm
        greedy, code = timed(
            lambda: greedy_l1_encode(data, dictionary, dl.alpha_, device=where),
            device,
            args.repeat,
        )
    code = np.asarray(code.cpu() if hasattr(code, "cpu") else code)
    return {
        "rows": args.code_rows,
        "time": greedy,
        "rows_per_second": args.code_rows / greedy,
        "floor_time": floor,
        "floor_rows_per_second": args.code_rows / floor,
        "ratio_to_floor": greedy / floor,
        "nonzero_count": float((code > 0).sum(1).mean()),
    }


def whole_fit(X, args, device_name):
    dl = GreedyL1DictionaryLearning(
        args.dictionary_ratio * args.n_features,
        random_state=0,
        device=device_name,
        max_iter=args.max_iter,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        dl.fit(X)
        elapsed = time.perf_counter() - start
    return dl, {
        "rows": X.shape[0],
        "n_components": dl.components_.shape[0],
        "time": elapsed,
        "n_iter": int(dl.n_iter_),
        "alpha": dl.alpha_,
        "objective": float(dl.history_["objective"][-1]),
        "normalized_loss": -float(dl.score(X)),
    }


def study(args, device_name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        rows = synthetic_study(
            args.avg_actives,
            args.controls,
            n_samples=args.n_samples,
            n_test=args.n_test,
            n_features=args.n_features,
            dictionary_ratio=args.dictionary_ratio,
            n_resamples=args.n_resamples,
            device=device_name,
        )
        elapsed = time.perf_counter() - start
    return {
        "time": elapsed,
        "n_datasets": len(rows),
        "normalized_loss": {
            f"{r['data']}" + (f" a={r['avg_active']:g}" if "avg_active" in r else ""): (
                r["normalized_loss"]
            )
            for r in rows
        },
    }


def table(results):
    device, cp, fit, st = (
        results["device"],
        results["coding_pass"],
        results["fit"],
        results["synthetic_study"],
    )
    d, m = results["setting"]["n_features"], fit["n_components"]
    lines = [
        f"| on {device} | size | time (s) | rows/s | note |",
        "|---|---|---|---|---|",
        f"| coding pass (greedy) | {cp['rows']} x {d}, {m} atoms | {cp['time']:.3f} "
        f"| {cp['rows_per_second']:.0f} | {cp['ratio_to_floor']:.1f}x the floor, "
        f"{cp['nonzero_count']:.1f} atoms/row |",
        f"| floor X @ D.T | {cp['rows']} x {d}, {m} atoms | {cp['floor_time']:.4f} "
        f"| {cp['floor_rows_per_second']:.0f} | one float32 matrix product |",
        f"| whole fit | {fit['rows']} x {d}, {m} atoms | {fit['time']:.1f} | - "
        f"| {fit['n_iter']} passes, objective {fit['objective']:.4f}, "
        f"normalized loss {fit['normalized_loss']:.2f} |",
        f"| Figure 1 study | {st['n_datasets']} datasets of "
        f"{results['setting']['n_samples']} x {d} | {st['time']:.1f} | - "
        f"| {results['setting']['dictionary_ratio']}d dictionaries |",
    ]
    return "\n".join(lines)


def main(argv=None):
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="torch device (default: cuda where available, else cpu)",
    )
    parser.add_argument("--n-samples", type=int, default=16384)
    parser.add_argument("--n-test", type=int, default=4096)
    parser.add_argument("--n-features", type=int, default=256)
    parser.add_argument("--dictionary-ratio", type=int, default=8)
    parser.add_argument("--avg-active", type=float, default=10)
    parser.add_argument("--code-rows", type=int, default=65536)
    parser.add_argument("--max-iter", type=int, default=30)
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, for smoke tests"
    )
    parser.add_argument(
        "--out", help="JSON path (default: benchmarks/results/gpu_<device type>.json)"
    )
    args = parser.parse_args(argv)
    args.avg_actives, args.controls = (
        (2, 5, 10, 20, 40, 80),
        (
            "gaussian",
            "heavy_tailed",
            "rademacher",
        ),
    )
    if args.quick:
        args.n_samples, args.n_test, args.n_features = 512, 256, 8
        args.dictionary_ratio, args.code_rows, args.max_iter = 4, 1024, 3
        args.n_resamples, args.repeat = 20, 1
        args.avg_actives, args.controls = (2,), ("gaussian",)
    device = torch_device(args.device)
    out = args.out or f"benchmarks/results/gpu_{device.type}.json"
    X = make_sparse_linear(
        args.n_samples, args.n_features, avg_active=args.avg_active, random_state=0
    ).astype(np.float32)
    name = device.type if device.index is None else f"{device.type}:{device.index}"
    results = {
        "device": name,
        "device_name": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else platform.processor() or platform.machine()
        ),
        "setting": {k: v for k, v in vars(args).items() if k != "out"},
        "versions": {
            "skfeatsparse": skfeatsparse.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    print(f"device {name} ({results['device_name']}): whole fit ...", flush=True)
    dl, results["fit"] = whole_fit(X, args, name)
    fit = results["fit"]
    print(f"  {fit['time']:.1f} s, {fit['n_iter']} passes; coding pass ...", flush=True)
    results["coding_pass"] = coding_pass(dl, args, device)
    cp = results["coding_pass"]
    print(
        f"  {cp['rows_per_second']:.0f} rows/s, floor {cp['floor_rows_per_second']:.0f}"
        " rows/s; Figure 1's synthetic study ...",
        flush=True,
    )
    results["synthetic_study"] = study(args, name)
    results["table"] = table(results)
    print()
    print(results["table"])
    print(f"\nwrote {write_json(out, results)}")
    return results


if __name__ == "__main__":
    main()
