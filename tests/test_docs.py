"""docs/write_results.py: the reproduction page's fragments come from a run's JSON."""

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "docs" / "write_results.py"
_spec = importlib.util.spec_from_file_location("write_results", _PATH)
write_results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(write_results)

TABLE = """| layer | normalized loss (held out) | gaussian |
|---|---|---|
| 0 | 12.66 [12.23, 13.13] | - |
| 1 | 9.71 [9.44, 10.02] | 36.63 |"""


def _results(tmp_path):
    (tmp_path / "layer_sparsity.png").write_bytes(b"\x89PNG fake")
    rows = [{"layer": 0, "verdict": "layer 0: sparse."},
            {"layer": 1, "verdict": "layer 1: sparser."}]  # fmt: skip
    results = {
        "command": "run",
        "complete": True,
        "machine": {"date": "2026-12-02", "cpus": 2},
        "times": {"layers": 287.4, "total": 681.2},
        "versions": {"skfeatsparse": "0.1"},
        "layers": {
            "rows": {"minilm": rows},
            "time": 287.4,
            "plot": "layer_sparsity.png",
            "tables": [{"title": "Figure 3", "markdown": TABLE}],
        },
    }
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


def test_a_run_replaces_its_fragments_and_keeps_the_others(tmp_path):
    fragments = tmp_path / "_results.rst"
    fragments.write_text(
        ".. BEGIN synthetic\n\nold synthetic\n\n.. END synthetic\n\n"
        ".. BEGIN layers\n\nold layers 99.99\n\n.. END layers\n"
    )
    static = tmp_path / "static"
    static.mkdir()
    assert write_results.write(_results(tmp_path), fragments, static) == ["layers"]
    text = fragments.read_text()
    assert "old synthetic" in text and "99.99" not in text
    layers = text.split(".. BEGIN layers\n", 1)[1].split(".. END layers", 1)[0]
    assert ".. list-table:: Figure 3" in layers
    assert "   * - 0\n     - 12.66 [12.23, 13.13]\n     - --\n" in layers
    assert "- layer 0: sparse.\n\n- layer 1: sparser." in layers
    assert "on 2026-12-02, 2 CPU cores, in 287 s (whole run 681 s)." in layers
    assert (static / "layer_sparsity.png").read_bytes() == b"\x89PNG fake"


def test_a_new_study_gets_a_new_fragment(tmp_path):
    fragments = tmp_path / "_results.rst"
    fragments.write_text(".. BEGIN synthetic\n\nkept\n\n.. END synthetic\n")
    (tmp_path / "static").mkdir()
    write_results.write(_results(tmp_path), fragments, tmp_path / "static")
    text = fragments.read_text()
    assert text.index(".. END synthetic") < text.index(".. BEGIN layers")
    assert text.rstrip().endswith(".. END layers")


def test_an_unfinished_run_is_refused(tmp_path):
    path = _results(tmp_path)
    results = json.loads(path.read_text())
    path.write_text(json.dumps({**results, "complete": False}))
    with pytest.raises(SystemExit, match="unfinished run"):
        write_results.write(path, tmp_path / "_results.rst", tmp_path)


def test_a_prefix_keeps_the_main_jobs_fragment(tmp_path):
    fragments = tmp_path / "_results.rst"
    fragments.write_text(".. BEGIN layers\n\nmain job\n\n.. END layers\n")
    (tmp_path / "static").mkdir()
    write_results.write(_results(tmp_path), fragments, tmp_path / "static", "sites-")
    text = fragments.read_text()
    assert "main job" in text and ".. BEGIN sites-layers" in text
    assert (tmp_path / "static" / "sites-layer_sparsity.png").exists()
