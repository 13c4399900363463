"""The results behind the reproduction page's family figure and Appendix E.

    python scripts/appendix_results.py families OUT [--from RESULTS.json] MODEL ...
    python scripts/appendix_results.py ablations OUT [NAME[=V1,V2] ...]

``families``: Figure 2 across model families (scripts/prepare_models.sh
fetches MPNet and Gemma), every model with the main job's protocol
(``skfeatsparse._cli.FULL["embeddings"]``: the vocabulary split 80/20, a 1d
dictionary, the Gaussian and random-weights controls, a second seed), a
vocabulary above 65,536 tokens subsampled to that many. ``--from`` takes the
rows of models a main job (``make demo``) already measured from its
results.json instead of refitting them: the same protocol, the same numbers.
``ablations``: Appendix E at a modest size. Each writes ``OUT/<part>.json``
and its plot; ``python scripts/write_fragments.py`` turns them into
docs/_results.rst's fragments. The sizes are the ``SIZES`` below, recorded in
each JSON file.
"""

import json
import os
import sys
import time
from pathlib import Path

from skfeatsparse._cli import FULL, _machine

SIZES = {
    # the main job's Figure 2 protocol, for every model
    "families": dict(FULL["embeddings"]),
    # Appendix E on 2 CPU cores: d = 64 where the paper has 256, 4096 rows
    "ablations": dict(
        avg_actives=(2, 5, 10, 20),
        n_samples=4096,
        n_test=1024,
        n_features=64,
        n_resamples=300,
    ),
    # Fig. 7 at the paper's n for both widths: at d = 512 an 8d dictionary
    # has 4096 atoms, which 4096 rows would meet one row an atom
    "ablation-width": dict(n_samples=16384, n_test=4096),
}
# Rows of a model at most (a vocabulary of 262,144 tokens is subsampled).
MAX_ROWS = 65536


def machine():
    """The run's date and CPUs, and how busy the machine was as it started."""
    return {**_machine(), "load_average": os.getloadavg()[0]}


def families(out, args):
    from skfeatsparse.studies import embeddings_study, plot_embeddings

    models, demo = list(args), {}
    if models[:1] == ["--from"]:
        main_job = json.loads(Path(models[1]).read_text())
        if main_job["embeddings"]["settings"] != SIZES["families"]:
            raise ValueError(f"{models[1]} was measured with other settings")
        demo = {r["model"]: r for r in main_job["embeddings"]["rows"]}
        models = models[2:]
    path = out / "families.json"
    done = json.loads(path.read_text()) if path.exists() else {"rows": {}}
    sizes = {**SIZES["families"], "max_rows": MAX_ROWS}
    if done["rows"] and done.get("sizes") != sizes:
        raise ValueError(f"{path} holds rows measured with other sizes")
    done["sizes"] = sizes
    for model, row in demo.items():
        if model not in done["rows"]:
            done["rows"][model] = {**row, "source": "make demo"}
    for model in models:
        if model in done["rows"]:
            continue
        done["machine"] = machine()
        start = time.perf_counter()
        (row,) = embeddings_study([model], max_rows=MAX_ROWS, **SIZES["families"])
        row["time"] = time.perf_counter() - start
        row["source"] = "scripts/appendix_results.py families"
        done["rows"][model] = row
        path.write_text(json.dumps(done, indent=2, default=float))
        print(row["verdict"], f"({row['time']:.0f} s)", flush=True)
    path.write_text(json.dumps(done, indent=2, default=float))
    plot_embeddings(list(done["rows"].values()), out / "token_embeddings_families.png")


def ablations(out, names):
    from skfeatsparse.studies import ABLATIONS, ablation_study, plot_ablation

    for spec in names or ABLATIONS:
        name, _, values = spec.partition("=")  # e.g. width=64: fewer values
        values = [float(v) for v in values.split(",")] if values else None
        setting = ABLATIONS[name][0]
        sizes = {**SIZES["ablations"], **SIZES.get(f"ablation-{name}", {})}
        sizes = {k: v for k, v in sizes.items() if k != setting}
        start, where = time.perf_counter(), machine()
        rows = ablation_study(name, values, **sizes)
        result = {"rows": rows, "sizes": sizes, "machine": where,
                  "time": time.perf_counter() - start}  # fmt: skip
        (out / f"ablation_{name}.json").write_text(
            json.dumps(result, indent=2, default=float)
        )
        plot_ablation(rows, out / f"synthetic_ablation_{name}.png")
        print(name, f"{result['time']:.0f} s", flush=True)


if __name__ == "__main__":
    part, out, *rest = sys.argv[1:]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    {"families": families, "ablations": ablations}[part](out, rest)
