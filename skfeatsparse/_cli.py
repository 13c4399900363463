"""``skfeatsparse``: the paper's studies end to end, from the command line.

Subcommands: ``synthetic`` (Fig. 1), ``embeddings`` (Fig. 2), ``layers``
(Fig. 3) and ``run`` (all three on the embedded defaults, offline; also what
a bare ``skfeatsparse`` does). Each prints a table and writes
``results.json`` and PNG plots into ``--out-dir``.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from . import __version__

# --quick: a reduced run that finishes in about a minute.
QUICK = {
    "synthetic": dict(avg_actives=(2, 5, 10), n_samples=2048, n_features=32),
    "embeddings": dict(max_rows=2048, dictionary_ratio=2, max_iter=5),
    "layers": dict(n_texts=300, max_tokens=2048, dictionary_ratio=2, max_iter=5),
}
# The main job's defaults, sized for about 15 minutes on 2 CPU cores: Figure 1
# at the paper's settings; Figures 2 and 3 on 4096-8192-row samples (the paper's
# 8d / 16d dictionaries need more tokens than that to be meaningful:
# --dictionary-size and the examples go there).
FULL = {
    "synthetic": {},
    "embeddings": dict(max_rows=8192, dictionary_ratio=4),
    "layers": dict(n_texts=1000, max_tokens=4096, dictionary_ratio=4),
}


def _versions():
    import numpy
    import sklearn

    versions = {
        "skfeatsparse": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }
    for name in ("torch", "transformers"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = module.__version__
    return versions


def _progress(total, desc):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, leave=False)

    def update(row):
        bar.update()
        label = row.get("data", "")
        if "avg_active" in row:
            label += f" a={row['avg_active']:g}"
        if "layer" in row:
            label = f"layer {row['layer']}"
        bar.write(
            f"  {label}: normalized loss {row['normalized_loss']:.2f} "
            f"({row['fit_time']:.0f} s)"
        )

    return bar, update


def _settings(args, study):
    settings = dict((QUICK if args.quick else FULL)[study])
    if args.dictionary_size is not None:
        settings["dictionary_ratio"] = args.dictionary_size
    return settings


def run_synthetic(args, out):
    from .studies import format_table, plot_synthetic, synthetic_study

    settings = _settings(args, "synthetic")
    n = len(settings.get("avg_actives", (2, 5, 10, 20, 40, 80))) + 3
    bar, update = _progress(n, "Fig. 1: synthetic data")
    start = time.perf_counter()
    rows = synthetic_study(random_state=args.seed, progress=update, **settings)
    bar.close()
    d = settings.get("n_features", 256)
    print(f"\nFigure 1 -- metrics on synthetic data (d = {d})\n")
    print(format_table(rows))
    plot_synthetic(rows, out / "synthetic_validation.png")
    return {
        "rows": rows,
        "settings": _jsonable(settings),
        "time": time.perf_counter() - start,
        "plot": "synthetic_validation.png",
    }


def run_embeddings(args, out):
    from .studies import embeddings_study, format_embeddings_table, plot_embeddings

    settings = _settings(args, "embeddings")
    models = args.model or ["default"]
    bar, update = _progress(2 * len(models), "Fig. 2: token embeddings")
    start = time.perf_counter()
    rows = embeddings_study(models, random_state=args.seed, progress=update, **settings)
    bar.close()
    print("\nFigure 2 -- token embeddings against a Gaussian\n")
    print(format_embeddings_table(rows))
    plot_embeddings(rows, out / "token_embeddings.png")
    return {
        "rows": rows,
        "models": models,
        "settings": _jsonable(settings),
        "time": time.perf_counter() - start,
        "plot": "token_embeddings.png",
    }


def run_layers(args, out):
    from .activations import default_corpus, load_texts
    from .studies import format_layers_table, layers_study, plot_layers

    settings = _settings(args, "layers")
    n_texts = settings.pop("n_texts")
    if args.texts:
        texts = load_texts(args.texts)
        source = str(args.texts)
    else:
        texts = default_corpus(n_texts, shuffle=True, random_state=args.seed)
        source = "default corpus (standard-library docstrings)"
    models = args.model or ["default"]
    start = time.perf_counter()
    results, corpus = {}, {}
    for model in models:
        bar, update = _progress(None, f"Fig. 3: layers of {model}")
        rows, corpus[model] = layers_study(
            model,
            texts,
            layers=args.layers,
            device=args.device,
            random_state=args.seed,
            progress=update,
            **settings,
        )
        bar.close()
        label = "all-MiniLM-L6-v2 (default)" if model == "default" else model
        results[label] = rows
        print(
            f"\nFigure 3 -- sparsity by layer, {label} on {len(texts)} texts "
            f"({corpus[model]['n_tokens_total']} tokens)\n"
        )
        print(format_layers_table(rows))
    plot_layers(results, out / "layer_sparsity.png")
    return {
        "rows": results,
        "corpus": {"source": source, "n_texts": len(texts), **corpus},
        "settings": _jsonable(settings),
        "time": time.perf_counter() - start,
        "plot": "layer_sparsity.png",
    }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


STUDIES = {
    "synthetic": run_synthetic,
    "embeddings": run_embeddings,
    "layers": run_layers,
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skfeatsparse",
        description="Measure how sparse and linear a language model's activations are "
        "(Deng, Tao & Benton 2023): the paper's studies end to end.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--out-dir",
        type=Path,
        default=Path("skfeatsparse-results"),
        help="where results.json and the plots go (default: %(default)s)",
    )
    common.add_argument(
        "--quick",
        action="store_true",
        help="a reduced run that finishes in about a minute",
    )
    common.add_argument(
        "--model",
        action="append",
        help="Hugging Face model id or local directory; repeat to compare "
        "(default: the embedded all-MiniLM-L6-v2)",
    )
    common.add_argument(
        "--texts",
        type=Path,
        help="text file, one text per line (default: an offline corpus)",
    )
    common.add_argument(
        "--layers",
        type=_layer_list,
        help="comma-separated hidden-state indices (default: all)",
    )
    common.add_argument("--device", default="cpu", help="cpu, cuda, ... (default: cpu)")
    common.add_argument(
        "--dictionary-size",
        type=int,
        metavar="RATIO",
        help="atoms per feature, e.g. 8 for 8d (default: 8)",
    )
    common.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in (
        ("run", "all three studies on the embedded defaults (offline)"),
        ("synthetic", "Fig. 1: the metrics on synthetic data and controls"),
        ("embeddings", "Fig. 2: token-embedding sparsity against a Gaussian"),
        ("layers", "Fig. 3: sparsity of every layer on a text corpus"),
    ):
        sub.add_parser(name, parents=[common], help=help_, description=help_)
    parser.set_defaults(
        **{a.dest: a.default for a in common._actions if a.dest != "help"}
    )
    return parser


def _layer_list(text):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers takes comma-separated integers such as 0,3,-1, got {text!r}"
        ) from None


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if args.texts is not None and not args.texts.is_file():
        return _fail(f"--texts: no such file: {args.texts}")
    if args.dictionary_size is not None and args.dictionary_size < 1:
        return _fail(
            f"--dictionary-size must be a positive integer, got {args.dictionary_size}"
        )
    studies = list(STUDIES) if command == "run" else [command]
    out = args.out_dir
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return _fail(f"cannot create --out-dir {out}: {error}")
    results = {
        "command": command,
        "arguments": {
            k: _jsonable(str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
    }
    start = time.perf_counter()
    try:
        for study in studies:
            results[study] = STUDIES[study](args, out)
            print(f"({study}: {results[study]['time']:.0f} s)")
    except (OSError, ValueError, ImportError, IndexError) as error:
        return _fail(
            str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        )
    except KeyboardInterrupt:
        return _fail("interrupted")
    results["time"] = time.perf_counter() - start
    results["versions"] = _versions()
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(
        f"\nwrote {out / 'results.json'} and "
        f"{', '.join(results[s]['plot'] for s in studies)} in {results['time']:.0f} s"
    )
    return 0


def _fail(message):
    print(f"skfeatsparse: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
