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
            n_test=150,
            n_features=8,
            max_iter=3,
            n_resamples=50,
        ),
    )
    monkeypatch.setitem(
        _cli.QUICK,
        "embeddings",
        dict(max_rows=200, dictionary_ratio=2, max_iter=3, n_resamples=50),
    )
    monkeypatch.setitem(
        _cli.QUICK,
        "layers",
        dict(
            n_texts=20,
            max_tokens=400,
            max_test_tokens=200,
            dictionary_ratio=2,
            max_iter=3,
            n_resamples=50,
        ),
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
    for row in rows:
        assert row["n_train"] == 300 and row["n_test"] == 150
        assert row["verdict"] in out
        low, high = row["normalized_loss_ci"]
        assert low <= row["normalized_loss"] <= high
    assert results["synthetic"]["verdict"] in out
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
    (row,) = results["embeddings"]["rows"]
    assert row["data"] == "token embeddings"
    assert row["n_train"] + row["n_test"] == row["n_samples"] == 200
    assert set(row["controls"]) == {"gaussian", "random_weights"}
    for control in row["controls"].values():
        assert control["n_test"] == row["n_test"]
        assert control["normalized_loss_ci"][0] <= control["normalized_loss"]
    assert row["verdict"].startswith(f"{tiny_bert_dir} token embeddings: ")
    assert row["verdict"] in out
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
    ratio = results["layers"]["corpus"][str(tiny_bert_dir)]["transform_alpha_ratio"]
    for row in rows:
        # one penalty rule for the whole figure, controls included
        assert row["transform_alpha_ratio"] == ratio
        for name in ("gaussian", "random_weights"):
            control = row["controls"][name]
            assert control["transform_alpha"] == pytest.approx(control["alpha"] * ratio)
        low, high = row["normalized_loss_ci"]
        assert low <= row["normalized_loss"] <= high
        assert row["normalized_loss_in_sample"] > 0
        assert row["verdict"] in out and f"layer {row['layer']}: " in row["verdict"]
    assert set(results["times"]) == {"layers", "total"}
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


# ------------------------------------------- every argument checked up front
def test_missing_device_fails_before_any_work(tmp_path, tiny_quick, capsys):
    for command in ("synthetic", "run"):
        code, out, err = _run(
            [command, "--quick", "--device", "cuda:7", "--out-dir", str(tmp_path)],
            capsys,
        )
        assert code == 1
        assert err.startswith("skfeatsparse: error: --device cuda:7: ")
        assert "not available on this machine" in err
        assert "Figure" not in out
        assert not (tmp_path / "results.json").exists()


def test_unwritable_out_dir_fails_before_any_work(tmp_path, tiny_quick, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out_dir = blocker / "results"  # cannot be created, even by root
    code, out, err = _run(["synthetic", "--quick", "--out-dir", str(out_dir)], capsys)
    assert code == 1
    assert f"--out-dir {out_dir} is not writable" in err
    assert "Figure" not in out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--layers", "0,99"], "--layers 99: "),
        (["--model", "no/such-model-here"], "no/such-model-here"),
    ],
)
def test_run_checks_models_and_layers_before_figure_1(
    tmp_path, tiny_quick, tiny_bert_dir, monkeypatch, capsys, extra, message
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = ["run", "--quick", "--out-dir", str(tmp_path)]
    if extra[0] == "--layers":
        argv += ["--model", str(tiny_bert_dir)]
    code, out, err = _run(argv + extra, capsys)
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Figure 1" not in out


def test_negative_seed_names_the_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["synthetic", "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "--seed takes a non-negative integer" in capsys.readouterr().err
