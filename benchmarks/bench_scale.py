"""Scaling: throughput and memory as the problem grows, Dask, and 65536 atoms.

The targets of issue 6, each measurement in a fresh Python process (so one
measurement's freed memory cannot hide the next one's peak); peak memory is
the resident high-water mark (``VmHWM`` after ``/proc/self/clear_refs``, Linux)
beyond the RSS at the start of the timed call, so torch's and BLAS's buffers
count, not only numpy's.

1. ``samples``: ``transform`` of n = 1e4, 1e5, 1e6 rows (d=64, 512 atoms,
   float32, a dictionary fitted on 16384 rows of the same sparse-linear
   source). Target: cost per sample constant within 20%; the memory beyond the
   output is bounded by ``batch_size``.
2. ``size``: ``transform`` and ``partial_fit`` (MOD, batches of 4096) on
   16384 rows as (n_features, n_components) grow from (32, 256) to (512, 4096).
3. ``stream``: ``partial_fit`` over an on-disk ``.npy`` of 1e5 and 4e5 rows
   (d=128, 1024 atoms), read batch by batch as ``ActivationCache.iter_batches``
   reads. Target: peak memory independent of n_samples.
4. ``dask``: ``transform`` of 2e5 rows (d=64, 512 atoms) in memory against a
   ``distributed.LocalCluster`` of 1 and 2 worker processes (one thread
   each; the input persisted on the workers first, the codes gathered back),
   and the lazy ``sparsity_report``, best of 3 runs each. Target: equal codes;
   2 workers reach at least 80% of the in-memory throughput.
5. ``large``: 65536 atoms in 4096 dimensions, float32: one ``partial_fit``
   batch (gradient step, 1024 rows) and ``transform`` of 1e4 rows with the
   generating dictionary standing in for a trained one (alpha at 10% of the
   mean largest correlation). Target: transform within 4 GiB beyond its input
   and output (the 1 GiB dictionary included).

Prints Markdown tables, writes JSON (``--out``) and a plot of cost against
size (``--plot``). ``--quick`` shrinks every section (minutes); the full run
takes about 25 minutes on two cores, 15 of them the 65536-atom transform.
``--device cuda`` runs the coding of the ``samples``, ``size`` and ``large``
sections on a GPU (the GPU check of the docs' "Scaling up" page).
"""

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import PeakRSS, sparse_rows, write_json

HERE = Path(__file__).resolve().parent
MIB = 2.0**20


def unit_rows(rng, n, d):
    """``n`` random unit vectors in float32, drawn in chunks (1 GiB at 65536 x 4096)."""
    D = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 4096):
        block = rng.standard_normal((min(4096, n - start), d), dtype=np.float32)
        D[start : start + block.shape[0]] = (
            block / np.linalg.norm(block, axis=1)[:, None]
        )
    return D


def source(d, m, seed=0):
    """The ground-truth dictionary of a sparse-linear source (m atoms, d dims)."""
    return unit_rows(np.random.default_rng(seed), m, d)


def fitted_model(d, m, path, avg_active=5, seed=0):
    """A float32 dictionary of ``m`` atoms fitted on 16384 rows; pickled to ``path``."""
    from skfeatsparse.decomposition import GreedyL1DictionaryLearning

    X = sparse_rows(
        source(d, m, seed), 16384, avg_active, np.random.default_rng(seed + 1)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl = GreedyL1DictionaryLearning(m, max_iter=8, random_state=seed).fit(X)
    Path(path).write_bytes(pickle.dumps(dl))
    return dl


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(fn, repeat=3):
    """Shortest of ``repeat`` runs (and the last result): the machine's noise
    only ever adds time."""
    runs = [timed(fn) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[-1][1]


# -- children: one measurement each ------------------------------------------


def child_transform(spec):
    dl = pickle.loads(Path(spec["model"]).read_bytes())
    dl.device = spec["device"]
    d, m = dl.components_.shape[1], dl.components_.shape[0]
    X = sparse_rows(source(d, m), spec["n_samples"], 5, np.random.default_rng(7))
    dl.transform(X[:2048])  # compile / warm caches outside the clock
    with warnings.catch_warnings(), PeakRSS() as mem:
        warnings.simplefilter("ignore")
        elapsed, code = timed(lambda: dl.transform(X))
    return {
        "n_samples": X.shape[0],
        "n_features": d,
        "n_components": m,
        "time": elapsed,
        "samples_per_second": X.shape[0] / elapsed,
        "us_per_sample": 1e6 * elapsed / X.shape[0],
        "output_mib": code.nbytes / MIB,
        "peak_extra_mib": mem.extra,
        "beyond_output_mib": None
        if mem.extra is None
        else mem.extra - code.nbytes / MIB,
        "nonzero_per_sample": float(np.count_nonzero(code) / X.shape[0]),
    }


def child_size(spec):
    from skfeatsparse.decomposition import GreedyL1DictionaryLearning

    d, m, n, batch = spec["n_features"], spec["n_components"], spec["n_samples"], 4096
    X = sparse_rows(source(d, m), n, 5, np.random.default_rng(1))
    dl = GreedyL1DictionaryLearning(
        m, batch_size=batch, random_state=0, device=spec["device"]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl.partial_fit(X[:batch])  # the first call initialises; not timed
        times = []
        for start in range(batch, n, batch):
            block = X[start : start + batch]
            times.append(timed(lambda block=block: dl.partial_fit(block))[0])
        t_transform, _ = timed(lambda: dl.transform(X))
    fit_rate = batch * len(times) / sum(times)
    return {
        "n_features": d,
        "n_components": m,
        "n_samples": n,
        "partial_fit_samples_per_second": fit_rate,
        "transform_samples_per_second": n / t_transform,
        "partial_fit_us_per_sample": 1e6 / fit_rate,
        "transform_us_per_sample": 1e6 * t_transform / n,
    }


def read_batches(path, batch_size):
    """Row batches of a ``.npy`` file by plain reads, as the activation cache reads."""
    data = np.load(path, mmap_mode="r")
    offset, (n_rows, width), dtype = data.offset, data.shape, data.dtype
    del data
    with open(path, "rb") as f:
        for start in range(0, n_rows, batch_size):
            n = min(batch_size, n_rows - start)
            f.seek(offset + start * width * dtype.itemsize)
            yield np.fromfile(f, dtype=dtype, count=n * width).reshape(n, width)


def child_stream(spec):
    from skfeatsparse.decomposition import GreedyL1DictionaryLearning

    d, m, n = spec["n_features"], spec["n_components"], spec["n_samples"]
    path = Path(spec["tmp"]) / f"rows_{n}.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    D, rng = source(d, m), np.random.default_rng(3)
    for start in range(0, n, 50_000):
        out[start : start + 50_000] = sparse_rows(D, min(50_000, n - start), 5, rng)
    out.flush()
    del out
    dl = GreedyL1DictionaryLearning(m, batch_size=4096, random_state=0)
    batches = read_batches(path, 4096)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dl.partial_fit(next(batches))  # initialisation and compilation
        with PeakRSS() as mem:
            elapsed, _ = timed(lambda: [dl.partial_fit(b) for b in batches])
    path.unlink()
    return {
        "n_samples": n,
        "n_features": d,
        "n_components": m,
        "time": elapsed,
        "samples_per_second": (n - 4096) / elapsed,
        "peak_extra_mib": mem.extra,
        "file_mib": n * d * 4 / MIB,
    }


def child_dask(spec):
    if spec["workers"]:
        # One thread per worker process, the compiled kernel included.
        os.environ["NUMBA_NUM_THREADS"] = "1"
    import dask
    import dask.array as da

    dl = pickle.loads(Path(spec["model"]).read_bytes())
    d, m = dl.components_.shape[1], dl.components_.shape[0]
    X = sparse_rows(source(d, m), spec["n_samples"], 5, np.random.default_rng(7))
    warnings.simplefilter("ignore")
    if not spec["workers"]:
        dl.transform(X[:2048])
        t_transform, code = best_of(lambda: dl.transform(X))
        t_report, report = best_of(lambda: dl.sparsity_report(X))
        np.save(spec["reference"], code)
        return {
            "workers": 0,
            "threads": spec["threads"],
            "n_samples": X.shape[0],
            "transform_time": t_transform,
            "transform_samples_per_second": X.shape[0] / t_transform,
            "report_time": t_report,
            "report_samples_per_second": X.shape[0] / t_report,
            "normalized_loss": report["normalized_loss"],
        }
    from distributed import Client, LocalCluster, wait

    with (
        LocalCluster(
            n_workers=spec["workers"],
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):
        Xd = da.from_array(X, chunks=(spec["chunk"], -1))
        Xd = client.persist(Xd)
        wait(Xd)
        # Load the compiled kernels on every worker outside the clock.
        client.run(lambda: dl.transform(X[:256]) is None)
        t_transform, code = best_of(lambda: dl.transform(Xd).compute())
        # The codes kept on the workers (no transfer to this process); each
        # run's codes are released before the next, which would else find
        # them already in memory (same graph keys).
        t_persist = np.inf
        for _ in range(3):
            start = time.perf_counter()
            codes = dl.transform(Xd).persist()
            wait(codes)
            t_persist = min(t_persist, time.perf_counter() - start)
            client.cancel(codes)
            del codes
            time.sleep(1.0)
        # One compute for the whole lazy report (float() on each value would
        # run the graph once per metric).
        t_report, (report,) = best_of(lambda: dask.compute(dl.sparsity_report(Xd)))
    # Bitwise against the in-memory path with the workers' threading (one BLAS
    # and one numba thread); against the two-thread path, whose BLAS rounds
    # the correlations differently, to that rounding.
    same_rows = np.all(code == np.load(spec["reference_1t"]), axis=1)
    reference = np.load(spec["reference"])
    return {
        "workers": spec["workers"],
        "n_samples": X.shape[0],
        "chunk": spec["chunk"],
        "transform_time": t_transform,
        "transform_samples_per_second": X.shape[0] / t_transform,
        "persist_time": t_persist,
        "persist_samples_per_second": X.shape[0] / t_persist,
        "report_time": t_report,
        "report_samples_per_second": X.shape[0] / t_report,
        "normalized_loss": report["normalized_loss"],
        "rows_bitwise_equal": float(same_rows.mean()),
        "codes_max_abs_diff": float(np.abs(code - reference).max()),
        "normalized_loss_rel_diff": abs(
            report["normalized_loss"] / spec["reference_nl"] - 1
        )
        if spec.get("reference_nl")
        else None,
    }


def child_large(spec):
    from skfeatsparse.decomposition import GreedyL1DictionaryLearning

    d, m, n = spec["n_features"], spec["n_components"], spec["n_samples"]
    D = source(d, m)
    X = sparse_rows(D, n, 5, np.random.default_rng(5), chunk=1024)
    dl = GreedyL1DictionaryLearning(
        m,
        dictionary_step="gradient",
        batch_size=1024,
        random_state=0,
        device=spec["device"],
    )
    warnings.simplefilter("ignore")
    with PeakRSS() as fit_mem:
        t_fit, _ = timed(lambda: dl.partial_fit(X[:1024]))
    # The generating dictionary stands in for a trained one; alpha at 10% of
    # the mean largest correlation, the paper's ratio.
    dl.components_ = D
    dl.alpha_ = float(0.1 * (X[:1024] @ D.T).max(axis=1).mean())
    with PeakRSS() as mem:
        t_transform, code = timed(lambda: dl.transform(X))
    return {
        "n_features": d,
        "n_components": m,
        "n_samples": n,
        "dictionary_mib": D.nbytes / MIB,
        "input_mib": X.nbytes / MIB,
        "output_mib": code.nbytes / MIB,
        "partial_fit_time": t_fit,
        "partial_fit_rows": 1024,
        "partial_fit_peak_extra_mib": fit_mem.extra,
        "transform_time": t_transform,
        "transform_samples_per_second": n / t_transform,
        "transform_peak_extra_mib": mem.extra,
        "transform_beyond_output_mib": None
        if mem.extra is None
        else mem.extra - code.nbytes / MIB,
        "nonzero_per_sample": float(np.count_nonzero(code) / n),
    }


CHILDREN = {
    "transform": child_transform,
    "size": child_size,
    "stream": child_stream,
    "dask": child_dask,
    "large": child_large,
}


def run_child(kind, env=None, **spec):
    """Run one measurement in a fresh interpreter (with ``env`` added to its
    environment); returns its JSON result."""
    spec["kind"] = kind
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=HERE,
        env={**os.environ, **(env or {})},
    )
    if done.returncode:
        raise RuntimeError(f"{kind} child failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {kind}: {json.dumps(result)}", flush=True)
    return result


# -- the sections ---------------------------------------------------------------


SETTINGS = {
    "full": {
        "samples": [10_000, 100_000, 1_000_000],
        "sizes": [32, 64, 128, 256, 512],
        "size_rows": 16384,
        "stream": [100_000, 400_000],
        "dask_rows": 200_000,
        "dask_chunk": 8192,
        "large_rows": 10_000,
    },
    "quick": {
        "samples": [10_000, 100_000],
        "sizes": [32, 64, 128],
        "size_rows": 8192,
        "stream": [20_000, 80_000],
        "dask_rows": 50_000,
        "dask_chunk": 4096,
        "large_rows": 0,
    },
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, minutes")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["samples", "size", "stream", "dask", "large"],
        help="run only these sections",
    )
    parser.add_argument(
        "--large-rows", type=int, help="rows of the 65536-atom transform"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where the coding step runs in 'samples', 'size' and 'large' (e.g. cuda)",
    )
    parser.add_argument("--out", default=str(HERE / "results" / "scale.json"))
    parser.add_argument("--plot", default=str(HERE / "results" / "scale.png"))
    parser.add_argument("--rst", help="also write the tables as reStructuredText here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec.pop("kind")](spec)))
        return 0

    settings = dict(SETTINGS["quick" if args.quick else "full"])
    if args.large_rows is not None:
        settings["large_rows"] = args.large_rows
    sections = args.only or ["samples", "size", "stream", "dask", "large"]
    settings["device"] = args.device
    results = {"settings": settings, "versions": versions()}
    if Path(args.out).is_file() and args.only:
        # --only updates the sections it runs and keeps the others.
        results = {**json.loads(Path(args.out).read_text()), **results}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(Path(tmp) / "model.pkl")
        if {"samples", "dask"} & set(sections):
            elapsed, _ = timed(lambda: fitted_model(64, 512, model))
            print(f"fitted the 512-atom dictionary in {elapsed:.1f} s", flush=True)
        if "samples" in sections:
            results["samples"] = [
                run_child("transform", model=model, n_samples=n, device=args.device)
                for n in settings["samples"]
            ]
        if "size" in sections:
            results["size"] = [
                run_child(
                    "size",
                    n_features=d,
                    n_components=8 * d,
                    n_samples=settings["size_rows"],
                    device=args.device,
                )
                for d in settings["sizes"]
            ]
        if "stream" in sections:
            results["stream"] = [
                run_child(
                    "stream", n_features=128, n_components=1024, n_samples=n, tmp=tmp
                )
                for n in settings["stream"]
            ]
        if "dask" in sections:
            common = dict(
                model=model,
                n_samples=settings["dask_rows"],
                chunk=settings["dask_chunk"],
                workers=0,
            )
            one = {
                k: "1"
                for k in (
                    "OPENBLAS_NUM_THREADS",
                    "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS",
                )
            }
            references = {t: str(Path(tmp) / f"reference_{t}.npy") for t in (1, 2)}
            results["dask"] = [
                run_child("dask", threads=2, reference=references[2], **common),
                run_child(
                    "dask", env=one, threads=1, reference=references[1], **common
                ),
            ]
            common.update(
                reference=references[2],
                reference_1t=references[1],
                reference_nl=results["dask"][0]["normalized_loss"],
            )
            results["dask"] += [
                run_child("dask", **{**common, "workers": w}) for w in (1, 2)
            ]
        if "large" in sections and settings["large_rows"]:
            results["large"] = run_child(
                "large",
                n_features=4096,
                n_components=65536,
                n_samples=settings["large_rows"],
                device=args.device,
            )
    results["targets"] = check_targets(results)
    write_json(args.out, results)
    print(format_tables(results))
    if args.rst:
        Path(args.rst).write_text(format_rst(results))
    if args.plot:
        plot(results, args.plot)
    return 0


def versions():
    import sklearn
    import torch

    import skfeatsparse

    return {
        "skfeatsparse": skfeatsparse.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }


def check_targets(results):
    targets = {}
    if results.get("samples"):
        cost = [r["us_per_sample"] for r in results["samples"]]
        spread = max(cost) / min(cost) - 1
        targets["transform cost per sample constant within 20%"] = {
            "spread": spread,
            "met": spread <= 0.2,
        }
    if results.get("stream"):
        peaks = [r["peak_extra_mib"] for r in results["stream"]]
        if None not in peaks:
            growth = peaks[-1] - peaks[0]
            targets["streaming partial_fit memory independent of n_samples"] = {
                "growth_mib": growth,
                "met": growth <= max(0.25 * peaks[0], 16),
            }
    if results.get("dask"):
        runs = {r["workers"]: r for r in results["dask"] if r.get("threads", 2) == 2}
        for what, key, base_key in [
            (
                "transform, codes gathered to the client",
                "transform_samples_per_second",
                "transform_samples_per_second",
            ),
            (
                "transform, codes kept on the workers",
                "persist_samples_per_second",
                "transform_samples_per_second",
            ),
            (
                "sparsity_report",
                "report_samples_per_second",
                "report_samples_per_second",
            ),
        ]:
            ratio = runs[2][key] / runs[0][base_key]
            targets[f"dask 2 workers >= 80% of in-memory throughput: {what}"] = {
                "ratio": ratio,
                "met": ratio >= 0.8,
            }
        # Bitwise equality needs the same BLAS threading: the workers' one-
        # thread float32 products round differently from two threads'.
        workers = [r for r in results["dask"] if r["workers"]]
        targets["dask codes bitwise equal to the in-memory path (same threads)"] = {
            "rows_bitwise_equal": min(r["rows_bitwise_equal"] for r in workers),
            "met": all(r["rows_bitwise_equal"] == 1.0 for r in workers),
        }
        targets["dask metrics equal the two-thread in-memory ones (rel. 1e-6)"] = {
            "rel_diff": max(r["normalized_loss_rel_diff"] for r in workers),
            "met": all(r["normalized_loss_rel_diff"] <= 1e-6 for r in workers),
        }
    large = results.get("large")
    if large and large["transform_peak_extra_mib"] is not None:
        beyond = large["transform_beyond_output_mib"]
        targets["65536 x 4096 transform < 4 GiB beyond input and output"] = {
            "mib": beyond,
            "met": beyond < 4096,
        }
    return targets


def tables(results):
    """The results as ``(title, header, rows)`` tables of strings."""
    out = []
    if results.get("samples"):
        out.append(
            (
                "transform vs n_samples (d=64, 512 atoms, float32)",
                [
                    "n_samples",
                    "samples/s",
                    "us/sample",
                    "output MiB",
                    "peak beyond output MiB",
                ],
                [
                    [
                        f"{r['n_samples']:,}",
                        f"{r['samples_per_second']:,.0f}",
                        f"{r['us_per_sample']:.1f}",
                        f"{r['output_mib']:.0f}",
                        "-"
                        if r["beyond_output_mib"] is None
                        else f"{r['beyond_output_mib']:.0f}",
                    ]
                    for r in results["samples"]
                ],
            )
        )
    if results.get("size"):
        out.append(
            (
                "throughput vs size (MOD partial_fit, batches of 4096; 16384 rows)",
                [
                    "n_features",
                    "n_components",
                    "partial_fit samples/s",
                    "transform samples/s",
                ],
                [
                    [
                        str(r["n_features"]),
                        str(r["n_components"]),
                        f"{r['partial_fit_samples_per_second']:,.0f}",
                        f"{r['transform_samples_per_second']:,.0f}",
                    ]
                    for r in results["size"]
                ],
            )
        )
    if results.get("stream"):
        out.append(
            (
                "streaming partial_fit from disk (d=128, 1024 atoms, MOD)",
                ["n_samples", "file MiB", "samples/s", "peak extra MiB"],
                [
                    [
                        f"{r['n_samples']:,}",
                        f"{r['file_mib']:.0f}",
                        f"{r['samples_per_second']:,.0f}",
                        f"{r['peak_extra_mib']:.0f}",
                    ]
                    for r in results["stream"]
                ],
            )
        )
    if results.get("dask"):
        base = results["dask"][0]["transform_samples_per_second"]
        out.append(
            (
                "Dask LocalCluster (processes, 1 thread each) vs in memory, "
                f"{results['dask'][0]['n_samples']:,} rows, d=64, 512 atoms",
                [
                    "engine",
                    "transform samples/s",
                    "vs in memory (2 threads)",
                    "kept on workers (persist) samples/s",
                    "sparsity_report samples/s",
                    "rows bitwise equal to in memory, 1 thread",
                    "max abs diff to in memory, 2 threads",
                ],
                [
                    [
                        f"{r['workers']} worker(s)"
                        if r["workers"]
                        else f"in memory, {r.get('threads', 2)} thread(s)",
                        f"{r['transform_samples_per_second']:,.0f}",
                        f"{r['transform_samples_per_second'] / base:.2f}",
                        f"{r['persist_samples_per_second']:,.0f}"
                        if r["workers"]
                        else "-",
                        f"{r['report_samples_per_second']:,.0f}",
                        f"{r['rows_bitwise_equal']:.4f}" if r["workers"] else "-",
                        f"{r['codes_max_abs_diff']:.1e}" if r["workers"] else "-",
                    ]
                    for r in results["dask"]
                ],
            )
        )
    large = results.get("large")
    if large:
        out.append(
            (
                "65536 atoms x 4096 features, float32 (peak: resident memory beyond "
                "the "
                "start of the call)",
                ["step", "rows", "time s", "samples/s", "peak extra MiB", "output MiB"],
                [
                    [
                        "partial_fit (gradient, first call)",
                        "1,024",
                        f"{large['partial_fit_time']:.1f}",
                        f"{1024 / large['partial_fit_time']:.1f}",
                        f"{large['partial_fit_peak_extra_mib']:.0f}",
                        "-",
                    ],
                    [
                        "transform",
                        f"{large['n_samples']:,}",
                        f"{large['transform_time']:.1f}",
                        f"{large['transform_samples_per_second']:.1f}",
                        f"{large['transform_peak_extra_mib']:.0f}",
                        f"{large['output_mib']:.0f}",
                    ],
                ],
            )
        )
    return out


def target_lines(results):
    lines = []
    for name, t in results["targets"].items():
        detail = ", ".join(f"{k}={v:.3g}" for k, v in t.items() if k != "met")
        lines.append(
            f"{'met' if t['met'] else 'MISSED'}: {name}"
            + (f" ({detail})" if detail else "")
        )
    return lines


def format_tables(results):
    """Markdown tables and the targets, for the terminal and the notes."""
    lines = []
    for title, header, rows in tables(results):
        lines += [
            "",
            title,
            "",
            "| " + " | ".join(header) + " |",
            "|" + "---|" * len(header),
        ]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "targets:"] + ["- " + line for line in target_lines(results)]
    return "\n".join(lines)


def format_rst(results):
    """The same tables as reStructuredText list-tables (for the docs)."""
    lines = [".. Generated by benchmarks/bench_scale.py --rst; do not edit.", ""]
    for title, header, rows in tables(results):
        lines += [f".. list-table:: {title}", "   :header-rows: 1", ""]
        for row in [header, *rows]:
            lines.append("   * - " + row[0])
            lines += [f"     - {cell}" for cell in row[1:]]
        lines.append("")
    lines += ["Targets:", ""] + [
        "- **{}**:{}".format(*line.split(":", 1)).replace("**MISSED**", "**missed**")
        for line in target_lines(results)
    ]
    return "\n".join(lines) + "\n"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if results.get("samples"):
        rows = results["samples"]
        axes[0].plot(
            [r["n_samples"] for r in rows],
            [r["us_per_sample"] for r in rows],
            "o-",
            label="transform",
        )
        axes[0].set_xscale("log")
        axes[0].set_ylim(0, 1.3 * max(r["us_per_sample"] for r in rows))
    axes[0].set_xlabel("n_samples (d=64, 512 atoms)")
    axes[0].set_ylabel("microseconds per sample")
    axes[0].set_title("cost per sample vs n_samples")
    if results.get("size"):
        rows = results["size"]
        m = [r["n_components"] for r in rows]
        axes[1].plot(
            m, [r["transform_us_per_sample"] for r in rows], "o-", label="transform"
        )
        axes[1].plot(
            m,
            [r["partial_fit_us_per_sample"] for r in rows],
            "s-",
            label="partial_fit (MOD)",
        )
        large = results.get("large")
        if large:
            axes[1].plot(
                [large["n_components"]],
                [1e6 / large["transform_samples_per_second"]],
                "o",
                color="C0",
                mfc="none",
                label="transform, d=4096",
            )
            axes[1].plot(
                [large["n_components"]],
                [1e6 * large["partial_fit_time"] / 1024],
                "s",
                color="C1",
                mfc="none",
                label="partial_fit (gradient), d=4096",
            )
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].legend(fontsize=8)
    axes[1].set_xlabel("n_components (n_features = n_components / 8)")
    axes[1].set_ylabel("microseconds per sample")
    axes[1].set_title("cost per sample vs size")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
