"""Activation extraction on the embedded MiniLM: throughput and peak memory.

The targets of issue 4, on ``model="default"`` (all-MiniLM-L6-v2) and texts of
``default_corpus``:

1. throughput: ``TransformerActivations(...).transform(texts)`` against a bare
   loop over the same batches (texts sorted by token count, longest first,
   ``batch_size`` each; the batches are formed before the clock starts):
   ``tokenizer(batch, padding=True)`` then ``model(**batch,
   output_hidden_states=True)`` under ``torch.inference_mode()``, no row
   gathering. Both on the same loaded model, torch threads at the default,
   best of 3, runs interleaved so that load from other processes hits both
   alike. Tokens are the real (unpadded) tokens of the forward passes,
   special tokens included, the same count for both. Target: ours/bare
   throughput >= 0.9. Ours also pays a tokenizer-only planning pass (row
   counts, truncation warning), timed on its own for reference.
2. peak memory: ``transform`` (whose output grows with the corpus, the
   contrast), ``iter_batches`` (streaming) and ``cache_activations`` followed
   by ``ActivationCache.iter_batches`` (on disk), each in a fresh Python
   process per corpus size (the base corpus repeated 1x and 4x, so the length
   distribution is the same). Loading the model sets a high-water mark above
   anything extraction adds, so on Linux the peak is reset after ``fit`` and
   a warm-up batch (``/proc/self/clear_refs``) and read back as ``VmHWM``
   (also as ``getrusage`` ``ru_maxrss``, which the reset lowers too); the
   extraction's memory is that peak minus the RSS at the reset.
   ``iter_batches`` holds one window of 16 batches, so the base corpus is
   larger than one window: the memory runs use a smaller ``batch_size``.
   Target: the streaming and cache extraction memory grows from 1x to 4x by
   at most max(25% of its 1x value, 4 MiB); ``transform`` grows with its
   output, the contrast.

Prints Markdown tables, writes JSON (``--out``). ``--quick`` runs a smaller
version (about 4 minutes on two shared cores; the full run about twice that).
Other processes on the cores slow torch down many times over (thread
oversubscription): compare times only within one run, as the ratio does.
"""

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    MIB,
    proc_status_mib,
    report_checks,
    reset_peak_rss,
    ru_maxrss_mib,
    write_json,
)

WINDOW_BATCHES = 16  # skfeatsparse.activations._transformer._WINDOW_BATCHES


def versions():
    import sklearn
    import tokenizers
    import torch
    import transformers

    import skfeatsparse

    return {
        "skfeatsparse": skfeatsparse.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


# -- 1. throughput ------------------------------------------------------------


def length_sorted_batches(tokenizer, texts, batch_size, max_length):
    """The batches ``transform`` runs: longest first (stable), ``batch_size`` each."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, verbose=False)
    lengths = np.array([len(ids) for ids in enc["input_ids"]])
    order = np.argsort(-lengths, kind="stable")
    starts = range(0, len(order), batch_size)
    index_batches = [order[i : i + batch_size] for i in starts]
    return index_batches, int(lengths.sum())


def bare_loop(model, tokenizer, batches, max_length):
    """Tokenize each batch padded, one forward pass; returns the real tokens."""
    import torch

    n_tokens = 0
    for batch in batches:
        enc = tokenizer(
            batch,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            model(**enc, output_hidden_states=True)
        n_tokens += int(enc["attention_mask"].sum())
    return n_tokens


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def throughput(n_texts, batch_size, repeat):
    from skfeatsparse.activations import TransformerActivations, default_corpus

    texts = default_corpus(n_texts)
    act = TransformerActivations("default", batch_size=batch_size).fit()
    model, tokenizer = act.model_, act.tokenizer_
    index_batches, n_tokens = length_sorted_batches(
        tokenizer, texts, batch_size, act.max_length_
    )
    # Sanity check: the very batches transform runs (its internal planner).
    counts, lengths = act._plan(texts)
    ours_batches = act._sorted_batches(range(len(texts)), lengths)
    same = len(ours_batches) == len(index_batches) and all(
        np.array_equal(a, b) for a, b in zip(ours_batches, index_batches)
    )
    if not same:
        raise RuntimeError("the bare loop's batches differ from transform's")
    batches = [[texts[i] for i in idx] for idx in index_batches]

    # Warm-up (one-time allocations, lazy imports), then interleaved repeats.
    act.transform(texts[: 2 * batch_size])
    bare_loop(model, tokenizer, batches[:2], act.max_length_)
    ours_times, bare_times, plan_times = [], [], []
    for _ in range(repeat):
        t, X = timed(lambda: act.transform(texts))
        ours_times.append(t)
        t, bare_tokens = timed(
            lambda: bare_loop(model, tokenizer, batches, act.max_length_)
        )
        bare_times.append(t)
        plan_times.append(timed(lambda: act._plan(texts))[0])
    if bare_tokens != n_tokens:
        raise RuntimeError(f"token counts differ: {bare_tokens} vs {n_tokens}")
    ours, bare = min(ours_times), min(bare_times)
    return {
        "n_texts": len(texts),
        "batch_size": batch_size,
        "n_batches": len(batches),
        "n_tokens": n_tokens,
        "n_rows": int(X.shape[0]),
        "padded_tokens": int(sum(len(b) * lengths[b].max() for b in index_batches)),
        "repeat": repeat,
        "ours_times": ours_times,
        "bare_times": bare_times,
        "plan_times": plan_times,
        "ours_time": ours,
        "bare_time": bare,
        "plan_time": min(plan_times),
        "ours_tokens_per_s": n_tokens / ours,
        "bare_tokens_per_s": n_tokens / bare,
        "ours_rows_per_s": X.shape[0] / ours,
        "ratio": bare / ours,  # ours throughput / bare throughput
    }


# -- 2. peak memory, one fresh process per run -----------------------------------


def child(spec):
    """Run one extraction mode in this (fresh) process; print a JSON line."""
    from skfeatsparse.activations import (
        TransformerActivations,
        cache_activations,
        default_corpus,
    )

    texts = default_corpus(spec["base_texts"]) * spec["multiple"]
    act = TransformerActivations("default", batch_size=spec["batch_size"]).fit()
    act.transform(texts[: spec["batch_size"]])  # warm-up: one batch
    gc.collect()
    load_peak = proc_status_mib("VmHWM") or ru_maxrss_mib()
    was_reset = reset_peak_rss()
    before = proc_status_mib("VmRSS") if was_reset else load_peak
    start = time.perf_counter()
    mode = spec["mode"]
    if mode == "transform":
        X = act.transform(texts)
        n_rows, checksum = len(X), float(X.sum(dtype=np.float64))
    elif mode == "iter_batches":
        n_rows, checksum = 0, 0.0
        for X_batch in act.iter_batches(texts):
            n_rows += len(X_batch)
            checksum += float(X_batch.sum(dtype=np.float64))
    elif mode == "cache":
        with tempfile.TemporaryDirectory() as tmp:
            cache = cache_activations(act, texts, Path(tmp) / "acts")
            n_rows, checksum = 0, 0.0
            for X_batch in cache.iter_batches(batch_size=spec["read_batch_size"]):
                n_rows += len(X_batch)
                checksum += float(X_batch.sum(dtype=np.float64))
    else:
        raise ValueError(f"unknown mode {mode!r}")
    elapsed = time.perf_counter() - start
    peak = proc_status_mib("VmHWM") if was_reset else ru_maxrss_mib()
    print(
        json.dumps(
            {
                **spec,
                "n_texts": len(texts),
                "n_rows": n_rows,
                "output_mib": n_rows * act.hidden_size_ * 4 / MIB**2,
                "checksum": checksum,
                "elapsed": elapsed,
                "peak_reset": was_reset,
                "load_peak_rss_mib": load_peak,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "ru_maxrss_mib": ru_maxrss_mib(),
                "extraction_mib": peak - before,
            }
        )
    )


def run_child(spec):
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory(base_texts, multiples, batch_size, read_batch_size):
    runs = []
    for mode in ("transform", "iter_batches", "cache"):
        for multiple in multiples:
            spec = dict(
                mode=mode,
                base_texts=base_texts,
                multiple=multiple,
                batch_size=batch_size,
                read_batch_size=read_batch_size,
            )
            run = run_child(spec)
            print(
                f"  {mode} {multiple}x ({run['n_texts']} texts): +"
                f"{run['extraction_mib']:.1f} MiB, {run['elapsed']:.0f} s",
                flush=True,
            )
            runs.append(run)
    return runs


# -- report --------------------------------------------------------------------


def growth(runs, mode):
    """Extraction memory of the largest corpus minus the smallest's, and the latter."""
    of_mode = [r for r in runs if r["mode"] == mode]
    of_mode.sort(key=lambda r: r["multiple"])
    first, last = of_mode[0], of_mode[-1]
    return last["extraction_mib"] - first["extraction_mib"], first["extraction_mib"]


def check_targets(tp, runs):
    checks = [
        (
            f"throughput within 10% of the bare loop (ratio {tp['ratio']:.3f} >= 0.9)",
            tp["ratio"] >= 0.9,
        )
    ]
    top = max(r["multiple"] for r in runs)
    for mode in ("iter_batches", "cache"):
        grew, base = growth(runs, mode)
        limit = max(0.25 * base, 4.0)
        checks.append(
            (
                f"{mode}: peak memory independent of corpus length ({grew:+.1f} MiB "
                f"from 1x to {top}x, limit {limit:.1f} MiB)",
                grew <= limit,
            )
        )
    grew, _ = growth(runs, "transform")
    checks.append(
        (
            f"contrast: transform grows with its output "
            f"({grew:+.1f} MiB, 1x to {top}x)",
            grew > 0,
        )
    )
    return checks


def format_tables(tp, runs):
    lines = [
        f"### Throughput ({tp['n_texts']} texts, {tp['n_tokens']} tokens, "
        f"batch_size {tp['batch_size']}, best of {tp['repeat']})",
        "",
        "| loop | time (s) | tokens/s | rows/s |",
        "|---|---:|---:|---:|",
        f"| `TransformerActivations.transform` | {tp['ours_time']:.2f} | "
        f"{tp['ours_tokens_per_s']:.0f} | {tp['ours_rows_per_s']:.0f} |",
        f"| bare `model(**batch)` loop | {tp['bare_time']:.2f} | "
        f"{tp['bare_tokens_per_s']:.0f} | - |",
        f"| ours / bare throughput | **{tp['ratio']:.3f}** | | |",
        f"| (ours' planning pass, tokenizer only) | {tp['plan_time']:.2f} | | |",
        "",
        f"### Peak RSS (fresh process per run, batch_size {runs[0]['batch_size']}, "
        f"peak reset after load: {all(r['peak_reset'] for r in runs)})",
        "",
        "| mode | corpus | texts | rows | output (MiB) | load peak (MiB) "
        "| RSS before (MiB) | peak (MiB) | peak - before (MiB) | time (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['mode']} | {r['multiple']}x | {r['n_texts']} | {r['n_rows']} | "
            f"{r['output_mib']:.1f} | {r['load_peak_rss_mib']:.0f} | "
            f"{r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f} | "
            f"**{r['extraction_mib']:.1f}** | {r['elapsed']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--out", default="benchmarks/results/activations.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    if args.quick:
        settings = dict(
            n_texts=150,
            batch_size=32,
            repeat=3,
            mem_base_texts=100,
            mem_multiples=[1, 4],
            mem_batch_size=4,
            read_batch_size=1024,
        )
    else:
        settings = dict(
            n_texts=400,
            batch_size=32,
            repeat=3,
            mem_base_texts=300,
            mem_multiples=[1, 4],
            mem_batch_size=16,
            read_batch_size=1024,
        )
    window = WINDOW_BATCHES * settings["mem_batch_size"]
    assert settings["mem_base_texts"] > window, "base corpus must exceed one window"
    start = time.perf_counter()
    print("throughput ...", flush=True)
    tp = throughput(settings["n_texts"], settings["batch_size"], settings["repeat"])
    print("peak memory ...", flush=True)
    runs = memory(
        settings["mem_base_texts"],
        settings["mem_multiples"],
        settings["mem_batch_size"],
        settings["read_batch_size"],
    )
    for mode in ("iter_batches", "cache"):  # same rows as transform, every size
        for r in runs:
            if r["mode"] == mode:
                ref = next(
                    t
                    for t in runs
                    if t["mode"] == "transform" and t["multiple"] == r["multiple"]
                )
                assert r["n_rows"] == ref["n_rows"], (r, ref)
    total = time.perf_counter() - start
    print()
    print(format_tables(tp, runs))
    targets = report_checks(check_targets(tp, runs))
    print(f"\nwhole benchmark: {total:.0f} s")
    out = write_json(
        args.out,
        {
            "benchmark": "activations",
            "model": "default (all-MiniLM-L6-v2)",
            "quick": args.quick,
            "settings": {**settings, "iter_batches_window_texts": window},
            "throughput": tp,
            "memory": runs,
            "targets": targets,
            "total_time": total,
            "versions": versions(),
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
