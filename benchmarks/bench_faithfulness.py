"""Faithfulness of learned dictionaries (issue 17): loss recovered, and its cost.

Two measurements, each a ``--part``:

``smollm2``
    CE loss recovered of SmolLM2-135M (the embedded GGUF, ``model="smollm2"``)
    at hidden states 5, 15 and 25. Texts: ``default_corpus(source="wikipedia",
    shuffle=True, random_state=0)``, split by text: a dictionary per layer is
    fitted on the tokens of the first texts (``--train-tokens``), and
    :func:`skfeatsparse.metrics.faithfulness` splices it back in at that layer
    on later texts it never saw (``--test-tokens`` real tokens at least),
    against mean ablation with the held-out mean. The dictionary is small:
    ``GreedyL1DictionaryLearning(n_components=576)`` (1d atoms), the paper's
    adaptive penalty, seed 0, coding at ``transform_alpha = alpha_``.
``timing``
    The layer study on the embedded MiniLM (``layers_study("default", ...)``,
    every hidden state, the command's ``--quick`` sizes) with and without
    faithfulness, same texts and seed, each run once after a warm-up load:
    the time ratio.

Prints the numbers and writes JSON (``--out``).
"""

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from skfeatsparse.activations import TransformerActivations, default_corpus
from skfeatsparse.decomposition import GreedyL1DictionaryLearning
from skfeatsparse.metrics import faithfulness


def _texts_with_tokens(act, texts, n_tokens):
    """The shortest prefix of ``texts`` with at least ``n_tokens`` tokens."""
    total = 0
    for i, text in enumerate(texts):
        total += len(act.tokenizer_(text)["input_ids"])
        if total >= n_tokens:
            return texts[: i + 1]
    return texts


def smollm2(layers, train_tokens, test_tokens, batch_size):
    texts = default_corpus(source="wikipedia", shuffle=True, random_state=0)
    act = TransformerActivations("smollm2", batch_size=batch_size).fit()
    train = _texts_with_tokens(act, texts, train_tokens)
    test = _texts_with_tokens(act, texts[len(train) :], test_tokens)
    start = time.perf_counter()
    X = act.transform_layers(train, layers)
    extract = time.perf_counter() - start
    rows = []
    for layer in layers:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dl = GreedyL1DictionaryLearning(n_components=576, random_state=0)
            dl.fit(X[layer])
        fit = time.perf_counter() - start
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            score = faithfulness(act, dl, test, layer=layer)
        row = {k: (float(v) if isinstance(v, (float, np.floating)) else v)
               for k, v in score.items()}  # fmt: skip
        row.update(
            n_train_rows=int(X[layer].shape[0]),
            alpha=float(dl.alpha_),
            fit_time=fit,
            faithfulness_time=time.perf_counter() - start,
        )
        rows.append(row)
        print(
            f"layer {layer} ({row['site']}): CE clean {row['ce_clean']:.3f}, "
            f"spliced {row['ce_spliced']:.3f}, mean-ablated {row['ce_ablated']:.3f}; "
            f"KL {row['kl_spliced']:.3f} (ablated {row['kl_ablated']:.3f}); "
            f"loss recovered {row['loss_recovered']:.3f} "
            f"[{row['n_predictions']} predictions; fit {fit:.0f} s, "
            f"splice {row['faithfulness_time']:.0f} s]",
            flush=True,
        )
    return {
        "model": "smollm2 (SmolLM2-135M-Instruct, Q4_1/Q8_0 GGUF)",
        "corpus": "default_corpus(source='wikipedia', shuffle=True, random_state=0)",
        "n_train_texts": len(train),
        "n_test_texts": len(test),
        "extract_time": extract,
        "rows": rows,
    }


def timing(n_texts):
    from skfeatsparse._cli import QUICK
    from skfeatsparse.studies import layers_study

    settings = dict(QUICK["layers"])
    settings.pop("n_texts")
    texts = default_corpus(n_texts, shuffle=True, random_state=0)
    TransformerActivations("default").fit()  # warm-up: load once
    times = {}
    results = {}
    for flag in (False, True, False, True):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows, _ = layers_study("default", texts, faithfulness=flag, **settings)
        times.setdefault(flag, []).append(time.perf_counter() - start)
        results[flag] = rows
    best = {flag: min(t) for flag, t in times.items()}
    ratio = best[True] / best[False]
    per_layer = [
        {"layer": r["layer"], "normalized_loss": r["normalized_loss"],
         **{k: float(v) for k, v in r["faithfulness"].items()
            if isinstance(v, (float, np.floating))}}
        for r in results[True]
    ]  # fmt: skip
    print(
        f"layer study on MiniLM ({n_texts} texts, --quick sizes): "
        f"{best[False]:.1f} s without faithfulness, {best[True]:.1f} s with "
        f"(best of 2 each): ratio {ratio:.2f}"
    )
    for r in per_layer:
        print(
            f"  layer {r['layer']}: normalized loss {r['normalized_loss']:.2f}, "
            f"token cosine {r['cosine_spliced']:.3f} (ablated "
            f"{r['cosine_ablated']:.3f}), sentence cosine "
            f"{r['sentence_cosine_spliced']:.4f} (ablated "
            f"{r['sentence_cosine_ablated']:.4f}), recovered {r['recovered']:.3f}"
        )
    return {"settings": settings, "n_texts": n_texts, "times": times,
            "ratio": ratio, "rows": per_layer}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("smollm2", "timing"), action="append")
    parser.add_argument("--layers", default="5,15,25")
    parser.add_argument("--train-tokens", type=int, default=8192)
    parser.add_argument("--test-tokens", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-texts", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    record = {"python": platform.python_version(), "torch": torch.__version__,
              "threads": torch.get_num_threads()}  # fmt: skip
    for part in args.part or ("smollm2", "timing"):
        if part == "smollm2":
            layers = [int(x) for x in args.layers.split(",")]
            record["smollm2"] = smollm2(
                layers, args.train_tokens, args.test_tokens, args.batch_size
            )
        else:
            record["timing"] = timing(args.n_texts)
        if args.out:
            args.out.write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
