"""benchmarks/bench_gpu.py's CPU fallback: one command, the table and its JSON."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a subprocess running the whole benchmark
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_gpu(tmp_path_factory):
    """``bench_gpu.py --quick --device cpu``: (stdout, JSON results)."""
    out = tmp_path_factory.mktemp("bench") / "gpu_cpu.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_gpu.py", "--quick", "--device", "cpu",
         "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, json.loads(out.read_text())


def test_bench_gpu_prints_the_table_it_writes(bench_gpu):
    stdout, results = bench_gpu
    assert results["table"] in stdout
    lines = results["table"].splitlines()
    assert lines[0].startswith("| on cpu |")
    assert [line.split("|")[1].strip() for line in lines[2:]] == [
        "coding pass (greedy)",
        "floor X @ D.T",
        "whole fit",
        "Figure 1 study",
    ]


def test_bench_gpu_json_has_the_tables_fields(bench_gpu):
    _, results = bench_gpu
    assert results["device"] == "cpu"
    coding = results["coding_pass"]
    assert coding["rows"] == results["setting"]["code_rows"] == 1024
    for key in ("rows_per_second", "floor_rows_per_second"):
        assert coding[key] > 0
    assert coding["ratio_to_floor"] == pytest.approx(
        coding["time"] / coding["floor_time"]
    )
    assert coding["rows_per_second"] == pytest.approx(1024 / coding["time"])
    fit = results["fit"]
    assert fit["n_components"] == 4 * 8 and fit["n_iter"] >= 1
    assert fit["objective"] > 0 and fit["normalized_loss"] > 0
    study = results["synthetic_study"]
    assert study["n_datasets"] == 2 and study["time"] > 0
    assert set(study["normalized_loss"]) == {"sparse-linear a=2", "gaussian"}
