"""The skfeatsparse command: each subcommand in --quick mode on tiny inputs."""

import json
import subprocess
import sys

import pytest

from skfeatsparse import _cli


@pytest.fixture()
def tiny_quick(monkeypatch):
    """Shrink --quick further so every subcommand runs in seconds."""
    monkeypatch.setitem(
        _cli.QUICK,
        "synthetic",
        dict(
            avg_actives=(2, 4),
            controls=("gaussian",),
            n_samples=300,
            n_features=8,
            max_iter=3,
        ),
    )
    monkeypatch.setitem(
        _cli.QUICK, "embeddings", dict(max_rows=200, dictionary_ratio=2, max_iter=3)
    )
    monkeypatch.setitem(
        _cli.QUICK,
        "layers",
        dict(n_texts=20, max_tokens=400, dictionary_ratio=2, max_iter=3),
    )


@pytest.fixture()
def texts_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(
        "\n".join(
            f"the quick brown fox number {i} jumps over the lazy dog" for i in range(30)
        )
    )
    return path


def _run(argv, capsys):
    code = _cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_synthetic_writes_table_json_and_plot(tmp_path, tiny_quick, capsys):
    code, out, _ = _run(["synthetic", "--quick", "--out-dir", str(tmp_path)], capsys)
    assert code == 0
    assert "| sparse-linear |" in out and "| gaussian |" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["command"] == "synthetic"
    rows = results["synthetic"]["rows"]
    assert [r["data"] for r in rows] == ["sparse-linear", "sparse-linear", "gaussian"]
    for row in rows:
        for key in (
            "normalized_loss",
            "avg_coef_norm",
            "nonzero_count",
            "final_loss",
            "explained_variance",
            "alpha",
            "fit_time",
        ):
            assert isinstance(row[key], float)
    assert rows[0]["true_avg_coef_norm"] > 0
    assert {"skfeatsparse", "numpy", "scikit-learn", "python"} <= set(
        results["versions"]
    )
    assert (tmp_path / "synthetic_validation.png").stat().st_size > 1000


def test_embeddings_on_a_local_model(tmp_path, tiny_quick, tiny_bert_dir, capsys):
    code, out, _ = _run(
        [
            "embeddings",
            "--quick",
            "--model",
            str(tiny_bert_dir),
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["embeddings"]["rows"]
    assert [r["data"] for r in rows] == ["token embeddings", "gaussian"]
    assert rows[0]["n_features"] == rows[1]["n_features"]
    assert (tmp_path / "token_embeddings.png").exists()


def test_layers_on_a_local_model_and_text_file(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, capsys
):
    code, out, _ = _run(
        [
            "layers",
            "--quick",
            "--model",
            str(tiny_bert_dir),
            "--texts",
            str(texts_file),
            "--layers",
            "0,-1",
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["layers"]["rows"][str(tiny_bert_dir)]
    assert [r["layer"] for r in rows] == [0, 2]  # -1 is the last of 3 hidden states
    assert results["layers"]["corpus"]["n_texts"] == 30
    for row in rows:
        assert row["explained_variance"] >= 0.98 or row["transform_alpha_ratio"] < 1
    assert (tmp_path / "layer_sparsity.png").exists()


def test_missing_text_file_is_one_line_and_exit_1(tmp_path, capsys):
    code, out, err = _run(["layers", "--texts", str(tmp_path / "nope.txt")], capsys)
    assert code == 1
    assert err.strip().splitlines() == [
        f"skfeatsparse: error: --texts: no such file: {tmp_path / 'nope.txt'}"
    ]


def test_unknown_model_is_one_line_without_traceback(tmp_path, tiny_quick, capsys):
    code, _, err = _run(
        [
            "embeddings",
            "--quick",
            "--model",
            str(tmp_path / "no-model"),
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and "no-model" in err


def test_bad_layer_index_is_a_clear_error(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, capsys
):
    code, _, err = _run(
        [
            "layers",
            "--quick",
            "--model",
            str(tiny_bert_dir),
            "--texts",
            str(texts_file),
            "--layers",
            "7",
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 1
    assert "layer" in err and "Traceback" not in err


def test_malformed_layers_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["layers", "--layers", "a,b"])
    assert exit_info.value.code == 2
    assert "comma-separated integers" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "skfeatsparse", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("run", "synthetic", "embeddings", "layers"):
        assert command in result.stdout
