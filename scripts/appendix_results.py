"""The results behind the reproduction page's family figure and Appendix E.

    python scripts/appendix_results.py families OUT MODEL [MODEL ...]
    python scripts/appendix_results.py ablations OUT [NAME[=V1,V2] ...]

``families``: Figure 2 across model families (scripts/prepare_models.sh
fetches MPNet and Gemma), every model with one protocol: the vocabulary split
80/20, a 1d dictionary, the Gaussian reference. ``ablations``: Appendix E at
a modest size. Each writes ``OUT/<part>.json`` and its plot; ``python
scripts/write_fragments.py`` turns them into docs/_results.rst's fragments.
The sizes are the ``SIZES`` below, recorded in each JSON file.
"""

import json
import sys
import time
from pathlib import Path

SIZES = {
    # the main job's SmolLM2 sizing (skfeatsparse._cli.FULL), for every model
    "families": dict(dictionary_ratio=1, max_train_rows=16384, controls=("gaussian",)),
    # Appendix E on 2 CPU cores: d = 64 where the paper has 256, 4096 rows
    "ablations": dict(
        avg_actives=(2, 5, 10, 20),
        n_samples=4096,
        n_test=1024,
        n_features=64,
        n_resamples=300,
    ),
}
# Rows of a model at most (a vocabulary of 262,144 tokens is subsampled).
MAX_ROWS = 65536


def families(out, models):
    from skfeatsparse.studies import embeddings_study, plot_embeddings

    path = out / "families.json"
    done = json.loads(path.read_text()) if path.exists() else {"rows": {}}
    for model in models:
        if model in done["rows"]:
            continue
        start = time.perf_counter()
        (row,) = embeddings_study([model], max_rows=MAX_ROWS, **SIZES["families"])
        row["time"] = time.perf_counter() - start
        done["rows"][model] = row
        done["sizes"] = {**SIZES["families"], "max_rows": MAX_ROWS}
        path.write_text(json.dumps(done, indent=2, default=float))
        print(row["verdict"], f"({row['time']:.0f} s)", flush=True)
    plot_embeddings(list(done["rows"].values()), out / "token_embeddings_families.png")


def ablations(out, names):
    from skfeatsparse.studies import ABLATIONS, ablation_study, plot_ablation

    for spec in names or ABLATIONS:
        name, _, values = spec.partition("=")  # e.g. width=64: fewer values
        values = [float(v) for v in values.split(",")] if values else None
        setting = ABLATIONS[name][0]
        sizes = {k: v for k, v in SIZES["ablations"].items() if k != setting}
        start = time.perf_counter()
        rows = ablation_study(name, values, **sizes)
        result = {"rows": rows, "sizes": sizes,
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
