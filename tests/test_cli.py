"""The skfeatsparse command: each subcommand in --quick mode on tiny inputs."""

import functools
import html
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


def _check_summary(out, results, study):
    """The summary after the tables: every row's verdict, one line each."""
    summary = out.split("\nSummary\n", 1)[1]
    lines = summary.splitlines()
    rows = results[study]["rows"]
    for row in rows if isinstance(rows, list) else sum(rows.values(), []):
        assert sum(row["verdict"] in line for line in lines) == 1
    if study == "synthetic":
        assert f"Figure 1: {results['synthetic']['verdict']}" in summary


def _check_report(folder, results, studies):
    """report.html: self-contained, every verdict, table and plot of the run."""
    report = (folder / "report.html").read_text()
    assert report.startswith("<!DOCTYPE html>")
    assert (
        report.count('<img alt="')
        == report.count('src="data:image/png;base64,')
        == len(studies)
    )
    for study in studies:
        rows = results[study]["rows"]
        for row in rows if isinstance(rows, list) else sum(rows.values(), []):
            assert html.escape(row["verdict"]) in report
        for table in results[study]["tables"]:
            header = table["markdown"].splitlines()[0].strip("|").split("|")
            assert (
                "<thead><tr>"
                + "".join(f"<th>{html.escape(c.strip())}</th>" for c in header)
                in report
            )
        assert f"<th>{study}</th>" in report  # its time
    assert "http" not in report.replace(results["versions"]["skfeatsparse"], "")
    assert "<script" not in report and "<link" not in report
    assert html.escape(results["versions"]["numpy"]) in report


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
    _check_summary(out, results, "synthetic")
    _check_report(tmp_path, results, ["synthetic"])


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
    assert row["verdict"].startswith(f"{tiny_bert_dir.name} token embeddings: ")
    assert row["verdict"] in out
    assert (tmp_path / "token_embeddings.png").exists()
    _check_summary(out, results, "embeddings")
    _check_report(tmp_path, results, ["embeddings"])


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
        atoms = (
            f"| layer {row['layer']} | {row['n_components']} | {row['dead_atoms']} |"
        )
        assert atoms in out  # the per-atom table
    assert "atom by atom" in results["layers"]["tables"][1]["title"]
    assert set(results["times"]) == {"layers", "total"}
    assert (tmp_path / "layer_sparsity.png").exists()
    _check_summary(out, results, "layers")
    _check_report(tmp_path, results, ["layers"])


def test_max_layers_picks_evenly_spaced_hidden_states(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, capsys
):
    argv = ["layers", "--quick", "--model", str(tiny_bert_dir), "--texts",
            str(texts_file), "--max-layers", "2", "--no-faithfulness",
            "--n-texts", "21", "--out-dir", str(tmp_path)]  # fmt: skip
    code, out, _ = _run(argv, capsys)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["layers"]["corpus"]["n_texts"] == 21  # of the file's 30
    info = results["layers"]["corpus"][str(tiny_bert_dir)]
    assert info["n_train_texts"] + info["n_test_texts"] == 21
    rows = results["layers"]["rows"][str(tiny_bert_dir)]
    assert [r["layer"] for r in rows] == [0, 2]  # the first and last of 3
    assert [r["relative_depth"] for r in rows] == [0.0, 1.0]
    assert all(r["n_hidden_states"] == 3 for r in rows)


@pytest.mark.parametrize(
    "extra, message",
    [(["--max-layers", "1"], "integer >= 2"),
     (["--max-layers", "3", "--layers", "0"], "not allowed with argument"),
     (["--n-texts", "0"], "positive integer")],
)  # fmt: skip
def test_bad_max_layers_exits_2(extra, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["layers", *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_text_file_is_one_line_and_exit_1(tmp_path, capsys):
    code, out, err = _run(
        ["layers", "--texts", str(tmp_path / "nope.txt"), "--out-dir", str(tmp_path)],
        capsys,
    )
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


# ------------------------------------------- results that survive and resume
def _interrupt_after_first_study(monkeypatch, calls):
    """Count the studies run; the embeddings study is interrupted (Ctrl-C)."""
    real = dict(_cli.STUDIES)

    def counting(name):
        def study(args, run):
            calls.append(name)
            if name == "embeddings" and calls.count(name) == 1:
                raise KeyboardInterrupt
            return real[name](args, run)

        return study

    for name in real:
        monkeypatch.setitem(_cli.STUDIES, name, counting(name))


def test_interrupted_run_keeps_the_first_study_and_resume_finishes(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, monkeypatch, capsys
):
    calls = []
    _interrupt_after_first_study(monkeypatch, calls)
    argv = ["run", "--quick", "--model", str(tiny_bert_dir), "--texts"]
    argv += [str(texts_file), "--layers", "0", "--out-dir", str(tmp_path)]
    code, _, err = _run(argv, capsys)
    assert code == 1 and "interrupted" in err and "--resume" in err
    kept = json.loads((tmp_path / "results.json").read_text())
    assert kept["complete"] is False
    assert len(kept["synthetic"]["rows"]) == 3 and "embeddings" not in kept
    report = (tmp_path / "report.html").read_text()
    assert report.count('src="data:image/png;base64,') == 1  # Figure 1's plot
    assert html.escape(kept["synthetic"]["verdict"]) in report
    assert "interrupted" in report
    assert calls == ["synthetic", "embeddings"]

    code, out, _ = _run(argv + ["--resume"], capsys)
    assert code == 0
    assert calls == ["synthetic", "embeddings", "embeddings", "layers"]
    assert "synthetic: finished earlier" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["complete"] is True and results["partial"] == {}
    assert results["synthetic"]["rows"] == kept["synthetic"]["rows"]
    assert set(results["times"]) == {"synthetic", "embeddings", "layers", "total"}
    assert [r["layer"] for r in results["layers"]["rows"][str(tiny_bert_dir)]] == [0]


def test_every_finished_row_is_saved_and_resume_skips_those_rows(
    tmp_path, tiny_quick, monkeypatch, capsys
):
    from skfeatsparse import studies

    real = studies.synthetic_study
    seen = []

    @functools.wraps(real)
    def interrupted(avg_actives, controls, *, progress, **kwargs):
        seen.append((list(avg_actives), list(controls)))

        def first_row_then_stop(row):
            progress(row)
            saved = json.loads((tmp_path / "results.json").read_text())
            assert saved["partial"]["synthetic"]["rows"][-1]["data"] == row["data"]
            raise KeyboardInterrupt

        return real(avg_actives, controls, progress=first_row_then_stop, **kwargs)

    monkeypatch.setattr(studies, "synthetic_study", interrupted)
    argv = ["synthetic", "--quick", "--out-dir", str(tmp_path)]
    assert _run(argv, capsys)[0] == 1
    saved = json.loads((tmp_path / "results.json").read_text())
    (first,) = saved["partial"]["synthetic"]["rows"]
    assert first["avg_active"] == 2

    calls = []

    @functools.wraps(real)
    def counting(avg_actives, controls, **kwargs):
        calls.append((list(avg_actives), list(controls)))
        return real(avg_actives, controls, **kwargs)

    monkeypatch.setattr(studies, "synthetic_study", counting)
    code, out, _ = _run(argv + ["--resume"], capsys)
    assert code == 0
    assert calls == [([4], ["gaussian"])]  # the row a=2 is not fitted again
    rows = json.loads((tmp_path / "results.json").read_text())["synthetic"]["rows"]
    assert [r.get("avg_active") for r in rows] == [2, 4, None]
    assert rows[0] == first
    assert "Figure 1: " in out


def test_resume_with_other_settings_refuses(tmp_path, tiny_quick, capsys):
    argv = ["synthetic", "--quick", "--out-dir", str(tmp_path)]
    assert _run(argv, capsys)[0] == 0
    before = (tmp_path / "results.json").read_text()
    for extra in (["--seed", "3"], ["--dictionary-size", "3"]):
        code, out, err = _run(argv + extra + ["--resume"], capsys)
        assert code == 1 and len(err.strip().splitlines()) == 1
        assert "--resume" in err and "other settings" in err and "--force" in err
        assert "Figure" not in out
    _cli.QUICK["synthetic"]["n_samples"] = 301  # tiny_quick restores it
    code, _, err = _run(argv + ["--resume"], capsys)
    assert code == 1 and "n_samples 300 there, 301 now" in err
    assert (tmp_path / "results.json").read_text() == before


def test_existing_results_are_refused_unless_resume_or_force(
    tmp_path, tiny_quick, monkeypatch, capsys
):
    argv = ["synthetic", "--quick", "--out-dir", str(tmp_path)]
    assert _run(argv, capsys)[0] == 0
    before = (tmp_path / "results.json").read_text()
    code, out, err = _run(argv + ["--seed", "1"], capsys)
    assert code == 1 and "Figure" not in out
    assert "already holds results.json" in err
    assert "--resume" in err and "--force" in err
    assert (tmp_path / "results.json").read_text() == before

    calls = []
    monkeypatch.setitem(_cli.STUDIES, "synthetic", lambda *a: calls.append(a) or None)
    code, out, _ = _run(argv + ["--resume"], capsys)  # finished: nothing to redo
    assert code == 0 and calls == [] and "finished earlier" in out
    monkeypatch.undo()
    tiny = dict(n_samples=300, n_test=150, n_features=8, max_iter=3, n_resamples=50)
    monkeypatch.setitem(
        _cli.QUICK, "synthetic", dict(avg_actives=(3,), controls=(), **tiny)
    )
    code, _, _ = _run(argv + ["--seed", "1", "--force"], capsys)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["arguments"]["seed"] == 1
    assert [r["avg_active"] for r in results["synthetic"]["rows"]] == [3]


def test_resume_and_force_together_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["synthetic", "--resume", "--force", "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_results_are_written_atomically(tmp_path, tiny_quick, monkeypatch, capsys):
    import os

    from skfeatsparse._cli import _store

    replaced = []
    real = os.replace

    def replace(src, dst):
        assert os.path.dirname(src) == os.path.dirname(dst) == str(tmp_path)
        assert os.path.exists(src)
        replaced.append(os.path.basename(dst))
        real(src, dst)

    monkeypatch.setattr(_store.os, "replace", replace)
    assert _run(["synthetic", "--quick", "--out-dir", str(tmp_path)], capsys)[0] == 0
    # one save per finished row, one when the study ends, one at the end
    assert replaced.count("results.json") == 3 + 1 + 1
    assert replaced.count("report.html") == replaced.count("results.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report.html",
        "results.json",
        "synthetic_validation.png",
    ]


# ------------------------------------------------ a command line that says no
@pytest.mark.parametrize(
    "argv",
    [
        ["synthetic", "--model", "x"],
        ["synthetic", "--texts", "f"],
        ["embeddings", "--texts", "f"],
        ["embeddings", "--layers", "0"],
        ["synthetic", "--corpus", "wikipedia"],
        ["synthetic", "--layers=0"],
    ],
)
def test_an_option_the_subcommand_does_not_take_is_an_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(argv)
    assert exit_info.value.code == 2
    command, option = argv[0], argv[1].split("=")[0]
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"skfeatsparse {command}: error: {command} does not take ")
    assert option in err and "layers" in err.split("option of", 1)[1]


def test_run_takes_every_option(tmp_path):
    args = _cli._parse(
        ["run", "--model", "m", "--texts", "t", "--layers", "0,1", "--corpus"]
        + ["docstrings", "--dictionary-size", "2", "--seed", "3", "--quick"]
        + ["--device", "cpu", "--out-dir", str(tmp_path), "--force"]
    )
    assert (args.model, args.layers, args.corpus, args.seed) == (
        ["m"],
        [0, 1],
        "docstrings",
        3,
    )
    bare = _cli._parse([])
    assert bare.command is None and bare.corpus == "auto" and bare.model is None


def _help(command):
    text = _cli.build_parser().subcommands[command].format_help()
    return " ".join(text.split())


def test_help_states_the_true_defaults():
    import inspect

    from skfeatsparse.studies import embeddings_study, layers_study, synthetic_study

    functions = {
        "synthetic": synthetic_study,
        "embeddings": embeddings_study,
        "layers": layers_study,
    }

    def ratio(mode, study):
        default = inspect.signature(functions[study]).parameters["dictionary_ratio"]
        return mode[study].get("dictionary_ratio", default.default)

    text = _help("run")
    for mode, where in ((_cli.FULL, "(default: "), (_cli.QUICK, "with --quick ")):
        values = {s: ratio(mode, s) for s in functions}
        if len(set(values.values())) == 1:
            phrase = f"{values['synthetic']} for every study"
        else:
            phrase = ", ".join(f"{v} for {s}" for s, v in values.items())
        assert where + phrase in text
    n_full, n_quick = _cli.FULL["layers"]["n_texts"], _cli.QUICK["layers"]["n_texts"]
    assert f"{n_full} texts of an offline corpus, {n_quick} with --quick" in text
    assert "(default: skfeatsparse-results)" in text and "(default: auto)" in text


def test_help_lists_only_the_options_of_each_subcommand():
    assert "--model" not in _help("synthetic") and "--texts" not in _help("synthetic")
    assert "--model" in _help("embeddings") and "--layers" not in _help("embeddings")
    for option in ("--model", "--texts", "--layers", "--corpus", "--resume"):
        assert option in _help("layers") and option in _help("run")


def test_progress_bars_know_their_totals(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, monkeypatch, capsys
):
    import tqdm.auto

    bars = []

    class Recording(tqdm.auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if str(kwargs.get("desc")).startswith("Fig."):  # not the models' bars
                bars.append(self)

    monkeypatch.setattr(tqdm.auto, "tqdm", Recording)
    argv = ["layers", "--quick", "--model", str(tiny_bert_dir), "--texts"]
    argv += [str(texts_file), "--layers", "0,-1,2", "--out-dir", str(tmp_path)]
    assert _run(argv, capsys)[0] == 0
    (bar,) = bars
    assert bar.total == bar.n == 2  # -1 and 2 are the same hidden state
    bars.clear()
    assert (
        _run(["synthetic", "--quick", "--out-dir", str(tmp_path / "s")], capsys)[0] == 0
    )
    (bar,) = bars
    assert bar.total == bar.n == 3


@pytest.fixture()
def fake_calibration(monkeypatch):
    """A coding pass 'timed' at 1 ns per row x atom; records the shapes asked."""
    from skfeatsparse._cli import _estimate

    shapes = []

    def calibrate(device, n_features, n_components):
        shapes.append((device, n_features, n_components))
        return 1e-9

    monkeypatch.setattr(_estimate, "row_atom_seconds", calibrate)
    return shapes


def _no_studies(monkeypatch):
    def refuse(args, run):
        raise AssertionError("--estimate-only ran a study")

    for study in _cli.STUDIES:
        monkeypatch.setitem(_cli.STUDIES, study, refuse)


def test_paper_estimate_only_prints_the_scaled_estimate_and_stops(
    tmp_path, fake_calibration, monkeypatch, capsys
):
    _no_studies(monkeypatch)
    out_dir = tmp_path / "never-written"
    argv = ["synthetic", "--paper", "--estimate-only", "--out-dir", str(out_dir)]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    assert fake_calibration == [("cpu", 256, 2048)]  # the paper's d and 8d
    # 6 sparse-linear datasets and 3 controls; 20 passes over 16384 rows, then
    # 16384 + 4096 rows measured: 9 x 348160 rows x 2048 atoms x 1 ns = 6.4 s.
    assert "9 fits of 16384 x 256, 2048 atoms" in out
    assert out.strip().endswith("total ~ 6 s")
    assert out.startswith("Estimated time on cpu: a 1024-row coding pass")
    assert not out_dir.exists()


def test_paper_estimate_counts_every_token_of_the_texts_and_every_layer(
    tmp_path, fake_calibration, tiny_bert_dir, texts_file, monkeypatch, capsys
):
    from skfeatsparse.activations import TransformerActivations

    _no_studies(monkeypatch)
    argv = ["layers", "--paper", "--estimate-only", "--model", str(tiny_bert_dir)]
    argv += ["--texts", str(texts_file), "--out-dir", str(tmp_path)]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    act = TransformerActivations(str(tiny_bert_dir)).fit()
    texts = texts_file.read_text().splitlines()
    tokens = sum(map(len, act.tokenizer_(texts, add_special_tokens=False).input_ids))
    n_train = round(tokens * 2 / 3)  # layers_study holds out a third of the texts
    n_fits = 3 * act.n_hidden_states_  # each layer and its two controls
    assert f"{n_fits} fits of {n_train} x 32, 512 atoms" in out  # 16d
    assert fake_calibration == [("cpu", 32, 512)]


def test_estimate_scales_with_rows_atoms_and_passes():
    from skfeatsparse._cli._estimate import PASSES_PER_FIT, estimate

    def calibrate(device, n_features, n_components):
        return 1e-6 * n_features  # per row x atom

    fits = [("a", "x", 2, 100, 150, 4, 16), ("b", "y", 1, 200, 200, 4, 32)]
    lines, total = estimate(fits, "cpu", calibrate=calibrate)
    first = 2 * (PASSES_PER_FIT * 100 + 150) * 16 * 4e-6
    second = (PASSES_PER_FIT * 200 + 200) * 32 * 4e-6
    assert [line[-1] for line in lines] == pytest.approx([first, second])
    assert total == pytest.approx(first + second)


def test_calibration_times_a_real_coding_pass():
    from skfeatsparse._cli._estimate import row_atom_seconds

    assert 0 < row_atom_seconds("cpu", 8, 32, rows=64) < 1


def test_paper_composes_with_device(tmp_path, fake_calibration, monkeypatch, capsys):
    _no_studies(monkeypatch)
    args = _cli._parse(["run", "--paper", "--device", "cuda"])
    assert _cli._settings(args, "synthetic") == dict(
        _cli.PAPER["synthetic"], device="cuda"
    )
    assert _cli._settings(args, "layers")["dictionary_ratio"] == 16
    argv = ["synthetic", "--paper", "--estimate-only", "--device", "cpu:0"]
    code, out, _ = _run(argv + ["--out-dir", str(tmp_path)], capsys)
    assert code == 0 and out.startswith("Estimated time on cpu:0")
    assert fake_calibration == [("cpu:0", 256, 2048)]
    argv = ["synthetic", "--paper", "--device", "cuda:7", "--out-dir", str(tmp_path)]
    code, _, err = _run(argv, capsys)
    assert code == 1 and err.startswith("skfeatsparse: error: --device cuda:7: ")


def test_paper_and_quick_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["run", "--paper", "--quick"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_paper_run_prints_its_estimate_before_the_first_study(
    tmp_path, fake_calibration, monkeypatch, capsys
):
    monkeypatch.setitem(
        _cli.PAPER, "synthetic",
        dict(avg_actives=(2,), controls=("gaussian",), n_samples=300, n_test=150,
             n_features=8, max_iter=3, n_resamples=50),
    )  # fmt: skip
    argv = ["synthetic", "--paper", "--out-dir", str(tmp_path)]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    assert "2 fits of 300 x 8, 64 atoms" in out
    assert out.index("Estimated time on cpu") < out.index("Figure 1 --")


def test_help_explains_paper_and_the_estimate():
    text = _help("run")
    assert "Figure 3 at 16d on the whole Wikipedia corpus" in text
    assert "with --paper 8 for synthetic, 8 for embeddings, 16 for layers" in text
    assert "times a coding pass of 1024 rows on --device" in text
    assert "all of Wikipedia with --paper" in text
    for command in ("synthetic", "embeddings", "layers"):
        assert "--paper" in _help(command) and "--estimate-only" in _help(command)


def test_layers_on_a_device_fit_their_dictionaries_there(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, monkeypatch, capsys
):
    # "cpu:0" is a torch device: the model and the fits take the device path.
    from skfeatsparse.decomposition import _dict_learning

    calls = []
    device_pass = _dict_learning.device_pass

    def recording(X, components, *args, **kwargs):
        calls.append(str(components.device))
        return device_pass(X, components, *args, **kwargs)

    monkeypatch.setattr(_dict_learning, "device_pass", recording)
    argv = ["layers", "--quick", "--device", "cpu:0", "--model", str(tiny_bert_dir)]
    argv += ["--texts", str(texts_file), "--layers", "0", "--out-dir", str(tmp_path)]
    assert _run(argv, capsys)[0] == 0
    assert calls and set(calls) == {"cpu"}


def test_layers_on_sites_with_faithfulness(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, capsys
):
    argv = ["layers", "--quick", "--model", str(tiny_bert_dir), "--texts"]
    argv += [str(texts_file), "--sites", "encoder.layer.*.output", "--out-dir"]
    code, out, _ = _run(argv + [str(tmp_path)], capsys)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    rows = results["layers"]["rows"][str(tiny_bert_dir)]
    assert [r["site"] for r in rows] == [
        "encoder.layer.0.output",
        "encoder.layer.1.output",
    ]
    for row in rows:
        f = row["faithfulness"]
        assert f["site"] == row["site"] and f["kind"] == "encoder"
        assert f"| {f['recovered']:.3f} | cos {f['cosine_spliced']:.3f} /" in out
    assert "sparsity by site" in results["layers"]["tables"][0]["title"]
    _check_report(tmp_path, results, ["layers"])
    code, _, _ = _run(argv + [str(tmp_path / "plain"), "--no-faithfulness"], capsys)
    assert code == 0
    plain = json.loads((tmp_path / "plain" / "results.json").read_text())
    assert "faithfulness" not in plain["layers"]["rows"][str(tiny_bert_dir)][0]


def test_unknown_sites_fail_before_any_work_naming_close_matches(
    tmp_path, tiny_quick, tiny_bert_dir, texts_file, capsys
):
    argv = ["layers", "--quick", "--model", str(tiny_bert_dir), "--texts"]
    argv += [str(texts_file), "--sites", "encoder.layers.*.output", "--out-dir"]
    code, _, err = _run(argv + [str(tmp_path)], capsys)
    assert code == 1 and "Traceback" not in err
    assert "Close matches: 'encoder.layer.0.output'" in err
    assert not (tmp_path / "layer_sparsity.png").exists()


def test_layers_and_sites_together_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["layers", "--layers", "0", "--sites", "encoder.layer.0"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_features_fits_once_caches_and_lists_each_token(
    tmp_path, tiny_quick, tiny_bert_dir, monkeypatch, capsys
):
    monkeypatch.setitem(_cli.QUICK, "features", dict(dictionary_ratio=2, max_iter=3))
    argv = ["features", "--quick", "--model", str(tiny_bert_dir), "--token", "dog"]
    argv += ["--token", "the", "--n-features", "2", "--n-top", "3"]
    argv += ["--out-dir", str(tmp_path)]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    part = results["features"]
    (rows,) = part["rows"].values()
    assert [r["word"] for r in rows] == ["dog", "the"]
    assert all(len(r["features"]) <= 2 and len(r["neighbours"]) == 3 for r in rows)
    assert part["fitted_now"] == {str(tiny_bert_dir): True}
    (cached,) = (tmp_path / _cli.FEATURES_CACHE).iterdir()
    assert "| nearest by cosine | - | " in out and len(part["tables"]) == 2
    # again, in the same folder, without --force: the dictionary is reused
    code, out, _ = _run(argv, capsys)
    assert code == 0
    again = json.loads((tmp_path / "results.json").read_text())["features"]
    assert again["fitted_now"] == {str(tiny_bert_dir): False}
    assert again["rows"] == part["rows"]  # the same dictionary, same tables
    assert list((tmp_path / _cli.FEATURES_CACHE).iterdir()) == [cached]
    report = (tmp_path / "report.html").read_text()
    assert "Appendix G" in report and "nearest by cosine" in report


def test_features_refuses_a_word_of_several_tokens_before_fitting(
    tmp_path, tiny_quick, tiny_bert_dir, capsys
):
    argv = ["features", "--quick", "--model", str(tiny_bert_dir), "--token", "dog"]
    argv += ["--token", "dictionaryless", "--out-dir", str(tmp_path)]
    code, out, err = _run(argv, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "--token dictionaryless" in err and "is not one token" in err
    assert not (tmp_path / _cli.FEATURES_CACHE).exists()


def test_features_does_not_overwrite_another_commands_results(
    tmp_path, tiny_quick, capsys
):
    assert _run(["synthetic", "--quick", "--out-dir", str(tmp_path)], capsys)[0] == 0
    code, _, err = _run(["features", "--token", "the", "--out-dir", str(tmp_path)],
                        capsys)  # fmt: skip
    assert code == 1 and "--force" in err


def test_synthetic_ablation_writes_each_value_table_and_plot(
    tmp_path, tiny_quick, capsys
):
    argv = ["synthetic", "--quick", "--ablation", "noise", "--out-dir", str(tmp_path)]
    code, out, _ = _run(argv, capsys)
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    part = results["synthetic"]
    assert part["ablation"] == "noise" and part["values"] == [0.05, 0.2]
    assert [(r["data"], r["noise"]) for r in part["rows"]] == [
        ("sparse-linear", 0.05), ("sparse-linear", 0.05), ("gaussian", 0.05),
        ("sparse-linear", 0.2), ("sparse-linear", 0.2), ("gaussian", 0.2),
    ]  # fmt: skip
    assert [t["title"].rsplit(": ", 1)[1] for t in part["tables"]] == [
        "noise = 0.05", "noise = 0.2",
    ]  # fmt: skip
    assert (tmp_path / "synthetic_ablation_noise.png").exists()
    assert "noise=0.2: " in out
    _check_report(tmp_path, results, ["synthetic"])


def test_bad_ablation_name_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["synthetic", "--ablation", "loudness"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'loudness'" in capsys.readouterr().err


def test_figure_2_defaults_to_both_embedded_models_sized_for_the_main_job(
    tmp_path, monkeypatch
):
    import skfeatsparse.studies as studies

    calls = []

    def fake(models, **kwargs):
        (model,) = models
        calls.append((model, kwargs))
        row = {"model": model, "family": "bert", "n_features": 4, "n_samples": 10,
               "normalized_loss": 2.0, "normalized_loss_in_sample": 2.0,
               "avg_coef_norm": 1.0, "explained_variance": 0.9, "fit_time": 0.0,
               "n_components": 4, "dead_atoms": 0, "dense_atoms": 1,
               "max_atom_cosine": 0.5, "controls": {},
               "verdict": f"{model}: fine."}  # fmt: skip
        kwargs["progress"](row)
        return [row]

    monkeypatch.setattr(studies, "embeddings_study", fake)
    # a per-model sizing of the main job applies to that default model only
    small = dict(controls=("gaussian",), max_train_rows=16384)
    embeddings = {**_cli.FULL["embeddings"], "per_model": {"smollm2": small}}
    monkeypatch.setitem(_cli.FULL, "embeddings", embeddings)
    run = _cli.Run(tmp_path, {"settings": {}})
    args = _cli._parse(["run", "--out-dir", str(tmp_path)])
    assert _cli._models(args, "embeddings") == ["default", "smollm2"]
    assert _cli._models(args, "layers") == ["default"]
    result = _cli.run_embeddings(args, run)
    assert [m for m, _ in calls] == ["default", "smollm2"] == result["models"]
    assert "max_train_rows" not in calls[0][1] and "controls" not in calls[0][1]
    assert calls[1][1]["max_train_rows"] == 16384
    assert list(calls[1][1]["controls"]) == ["gaussian"]
    # a model named with --model gets the full protocol
    calls.clear()
    args = _cli._parse(["embeddings", "--model", "smollm2", "--out-dir", str(tmp_path)])
    (tmp_path / "b").mkdir()
    _cli.run_embeddings(args, _cli.Run(tmp_path / "b", {"settings": {}}))
    assert "max_train_rows" not in calls[0][1] and "controls" not in calls[0][1]
