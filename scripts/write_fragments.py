"""Write docs/_results.rst's fragments from result files: nothing typed by hand.

    python scripts/write_fragments.py families DIR/families.json [MORE.json ...]
    python scripts/write_fragments.py features DIR/results.json  # of features
    python scripts/write_fragments.py ablation DIR/ablation_NAME.json
    python scripts/write_fragments.py dictionary-learning BENCH_RESULTS.json

Each replaces the text between ``.. BEGIN <name>`` and ``.. END <name>`` in
docs/_results.rst (``families``, ``features``, ``ablation-NAME``), adding
the markers at the end if they are missing, and copies the part's plot into
docs/_static/ where there is one beside the result file.
"""

import json
import shutil
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
RESULTS = DOCS / "_results.rst"
sys.path.insert(0, str(DOCS))
import write_results  # noqa: E402  (docs/write_results.py: the shared RST helpers)


def _ci(row, name="normalized_loss"):
    low, high = row[f"{name}_ci"]
    return f"{row[name]:.2f} [{low:.2f}, {high:.2f}]"


def list_table(title, header, rows):
    return write_results.rows_table(title, [header, *rows])


def _when(path, record=None):
    """When and on what the file's numbers were measured, as far as it says."""
    machine = (record or {}).get("machine")
    if not machine:
        day = time.strftime("%Y-%m-%d", time.gmtime(path.stat().st_mtime))
        return f"Measured on {day}"
    text = f"Measured on {machine['date']}, {machine['cpus']} CPU cores"
    if "load_average" in machine:
        text += f" (1-minute load average {machine['load_average']:.1f} at the start)"
    return text


def families(path, *more):
    """The family figure's table; several files (one model each) are merged."""
    records = [json.loads(p.read_text()) for p in (path, *more)]
    sizes = records[0]["sizes"]
    if any(r["sizes"] != sizes for r in records):
        raise ValueError("the families files were measured with other sizes")
    rows = [row for r in records for row in r["rows"].values()]
    header = ["model", "family", "d", "tokens (train / held out)",
              "normalized loss (held out)", "in-sample", "Gaussian (same covariance)",
              "random weights", "over seeds", "S_1", "explained variance",
              "measured by"]  # fmt: skip
    body = [
        [
            r["model"],
            r["family"],
            r["n_features"],
            f"{r['n_train']} / {r['n_test']}",
            _ci(r),
            f"{r['normalized_loss_in_sample']:.2f}",
            _ci(r["controls"]["gaussian"]),
            _ci(r["controls"]["random_weights"])
            if "random_weights" in r["controls"]
            else "-",
            " / ".join(f"{v:.2f}" for v in r.get("normalized_loss_seeds", [])) or "-",
            f"{r['avg_coef_norm']:.2f}",
            f"{r['explained_variance']:.3f}",
            _source(r),
        ]  # fmt: skip
        for r in sorted(rows, key=lambda r: r["n_features"])
    ]
    vocabulary = (
        f"at most {sizes['max_rows']} tokens"
        if sizes.get("max_rows")
        else "every token"
    )
    title = (
        f"Figure 2 across families: dictionary {sizes['dictionary_ratio']}d, "
        f"vocabulary split 80/20 ({vocabulary}), "
        + (
            f"fitted on at most {sizes['max_train_rows']} training tokens, "
            if sizes.get("max_train_rows")
            else "fitted on every training token, "
        )
        + "measured on every held-out one, 95% bootstrap intervals"
        + (f", {sizes['n_seeds']} seeds" if sizes.get("n_seeds", 1) > 1 else "")
    )
    text = [list_table(title, header, body), ""]
    text += [r["verdict"] for r in rows]
    text += [
        "",
        f"{_when(path, records[-1])}, by ``scripts/appendix_results.py "
        "families`` (measured by: the main job's rows are taken from its "
        "results.json; the time is the model's fits and its controls', loading "
        "included).",
    ]
    from skfeatsparse.studies import plot_embeddings

    plot_embeddings(rows, DOCS / "_static" / "token_embeddings_families.png")
    return "families", "\n\n".join(text)


def _source(row):
    """Who measured a families row, and in how long when it was this script."""
    if row.get("source") == "make demo":
        return "make demo"
    return f"this script, {row['time']:.0f} s" if "time" in row else "this script"


def features(*paths):
    """The Appendix G tables of one or more ``skfeatsparse features`` runs."""
    blocks = []
    for path in paths:
        record = json.loads(path.read_text())
        part = record["features"]
        settings = part["settings"]
        for model, rows in part["rows"].items():
            for r in rows:
                blocks.append(_features_table(model, r))
        fitted = [m for m, f in part["fitted_now"].items() if f]
        blocks.append(
            f"{', '.join(part['rows'])}: dictionary {settings['dictionary_ratio']}d,"
            f" {settings.get('max_iter', 30)} iterations, on every token embedding."
            f" {_when(path, record)}, by ``skfeatsparse "
            f"features`` in {part['time']:.0f} s"
            + (
                " (its dictionary fitted in this call)."
                if fitted
                else " (its dictionary fitted by an earlier call, cached)."
            )
        )
    return "features", "\n\n".join(blocks)


def _features_table(model, r):
    body = [
        [atom, f"{coef:.3f}", ", ".join(repr(t) for t in tokens)]
        for atom, coef, tokens in zip(r["features"], r["coefficients"], r["top_tokens"])
    ]
    near = ", ".join(
        f"{t!r} ({c:.2f})" for t, c in zip(r["neighbours"], r["neighbour_cosines"])
    )
    body.append(["nearest by cosine", "-", near])
    title = (
        f"{model}: {r['word']!r} = token {r['token']!r} (id {r['token_id']}), "
        f"{r['n_nonzero']} non-zero coefficients, relative error "
        f"{r['relative_error']:.2f}"
    )
    header = ["feature", "coefficient", "tokens that activate it most"]
    return list_table(title, header, body)


def ablation(path):
    record = json.loads(path.read_text())
    rows = record["rows"]
    name, setting = rows[0]["ablation"], rows[0]["setting"]
    sizes = record["sizes"]
    blocks = []
    values = list(dict.fromkeys(r["value"] for r in rows))
    header = ["data", "true S_1", "normalized loss (held out)", "S_1 (held out)",
              "non-zeros", "explained variance", "MCC"]  # fmt: skip
    for value in values:
        group = [r for r in rows if r["value"] == value]
        body = [
            [
                f"sparse-linear a={r['avg_active']:g}"
                if "avg_active" in r
                else r["data"],
                f"{r['true_avg_coef_norm']:.2f}" if "true_avg_coef_norm" in r else "-",
                _ci(r),
                _ci(r, "avg_coef_norm"),
                f"{r['nonzero_count']:.1f}",
                f"{r['explained_variance']:.3f}",
                f"{r['mcc']:.3f}" if "mcc" in r else "-",
            ]  # fmt: skip
            for r in group
        ]
        d = group[0]["n_features"]
        title = (
            f"{setting} = {value:g}: d={d}, {sizes['n_samples']} training rows, "
            f"{sizes['n_test']} held out, dictionary "
            f"{group[0]['dictionary_ratio']:g}d, "
            f"{group[0]['true_features_ratio']:g}d ground-truth features, noise "
            f"{group[0]['noise']:g}"
        )
        blocks.append(list_table(title, header, body))
    from skfeatsparse.studies import ablation_verdict

    blocks += ablation_verdict(rows).splitlines()
    shared = any(r.get("shared_control") for r in rows)
    blocks.append(
        f"{_when(path, record)}, in {record['time']:.0f} s, by "
        "``scripts/appendix_results.py ablations``."
        + (
            " The controls have no noise and no features: measured once, listed"
            " under each value."
            if shared
            else ""
        )  # fmt: skip
    )
    _plot(path.parent / f"synthetic_ablation_{name}.png")
    return f"ablation-{name}", "\n\n".join(blocks)


def dictionary_learning(path):
    """benchmarks/bench_dictionary_learning.py's results: fit and coding pass."""
    record = json.loads(path.read_text())
    setting, fit, cp = record["setting"], record["fit"], record["coding_pass"]
    sk = fit["sklearn"]
    truth = setting["true_avg_coef_norm"]
    header = ["fit", "wall time (s)", "objective",
              f"normalized loss (true S_1 {truth:.2f})"]  # fmt: skip
    labels = {"mod": "MOD step ({} passes, annealed)",
              "gradient": "gradient step (same time, {} passes)"}  # fmt: skip
    body = [
        [f"ours, {label.format(len(c['time']))}", f"{c['time'][-1]:.1f}",
         f"{c['objective'][-1]:.4f}", f"{c['normalized_loss'][-1]:.2f}"]
        for c, label in ((fit[name], label) for name, label in labels.items())
    ] + [
        [f"scikit-learn MiniBatchDictionaryLearning, {sk['epochs']} epoch",
         f"{sk['fit_time']:.1f}", f"{sk['objective']:.4f}",
         f"{sk['normalized_loss']:.2f}"],
    ]  # fmt: skip
    d, alpha = setting["n_features"], setting["alpha"]
    title = (
        f"d={d}, {8 * d} atoms, n={setting['n_samples']}, a={setting['avg_active']:g}"
        f", our alpha fixed at {alpha:g} (scikit-learn's {alpha / 2:g})"
    )
    lines = [list_table(title, header, body)]

    def reach(name):
        t = sk.get(f"{name}_dictionary_time_to_reach")
        if t is None:
            return "never"
        return f"after {t:.1f} s, {sk[f'speedup_{name}_dictionary']:.0f}x sooner"

    lines.append(
        f"Coded at alpha={alpha:g} on the {sk['eval_samples']} rows scikit-learn's"
        f" objective is measured on, our dictionary reaches that objective (MOD)"
        f" {reach('mod')}; (gradient) {reach('gradient')}. Counting only passes"
        f" that run at the target penalty (the warm-up anneals from 4x it), MOD"
        f" reaches it after {sk['mod_time_to_reach']:.1f} s,"
        f" {sk['speedup_mod']:.0f}x sooner."
    )
    f64, f32, g = cp["float64"], cp["float32"], cp["gaussian"]

    def against_floors(r):
        return (
            f"{r['ratio_to_floor']:.2f}x the floor ({r['greedy']:.3f} s against"
            f" {r['floor']:.3f} s; numpy's product {r['floor_matmul']:.3f} s,"
            f" torch's {r['floor_torch']:.3f} s); the pass before issue 13,"
            f" {r['ratio_to_floor_before']:.2f}x"
        )

    lines.append(
        f"One coding pass over {setting['n_samples']} samples with the converged"
        f" dictionary takes, against the floor (the one matrix product"
        f" ``X @ D.T``, the faster of numpy's and torch's in the same run),"
        f" in float64 {against_floors(f64)}; in float32 {against_floors(f32)}."
        f" The Gaussian control's dense codes: {g['float64']['rows_per_second']:.0f}"
        f" rows/s in float64 (before: {g['float64']['rows_per_second_before']:.0f}),"
        f" {g['float32']['rows_per_second']:.0f} in float32 (before:"
        f" {g['float32']['rows_per_second_before']:.0f})."
    )
    if "omp" in cp:
        lines.append(
            f"scikit-learn's OMP at the same sparsity is"
            f" {cp['omp']['greedy_speedup']:.0f}x slower than the greedy pass."
        )
    mem = record.get("transform_memory")
    if mem:
        lines.append(
            f"``transform`` of {mem['n_samples']:,} x {d} float32 samples needs"
            f" {mem['overhead_bytes'] / 2**20:.0f} MiB beyond its"
            f" {mem['output_bytes'] / 2**30:.1f} GiB output (batch_size"
            f" {mem['batch_size']})."
        )
    lines.append(
        f"{_when(path, record)}, by ``python benchmarks/bench_dictionary_learning.py``"
        " (``benchmarks/results/dictionary_learning.json``): everything in one run,"
        " side by side."
    )
    return "dictionary-learning", "\n\n".join(lines)


def _plot(path):
    if path.is_file():
        shutil.copy(path, DOCS / "_static" / path.name)


def replace_fragment(name, body):
    RESULTS.write_text(write_results.replace_fragment(RESULTS.read_text(), name, body))


if __name__ == "__main__":
    kind, *sources = sys.argv[1:]
    write = {"families": families, "features": features, "ablation": ablation,
             "dictionary-learning": dictionary_learning}[kind]  # fmt: skip
    name, body = write(*map(Path, sources))
    replace_fragment(name, body)
    print(f"wrote fragment {name!r} of {RESULTS}")
