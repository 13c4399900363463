"""The paper's language-model studies: token embeddings (Fig. 2) and layers (Fig. 3).

Used by ``examples/plot_token_embeddings.py``, ``examples/plot_layer_sparsity.py``
and the ``skfeatsparse embeddings`` / ``layers`` commands.
"""

import os
import time
import warnings
from numbers import Integral

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..activations import TransformerActivations, token_embeddings
from ..activations._extraction import Extraction
from ..activations._loading import random_weights_model
from ..metrics._faithfulness import SpliceTarget, resolve_target, splice_targets
from ._protocol import (
    PLOT_STYLE,
    at_most,
    control_verdict,
    errors,
    fit_and_measure,
    fit_dictionary,
    gap,
    gaussian_like,
    interval,
    measure,
    report,
    seed_spread,
    split_rows,
)

CONTROL_NAMES = ("gaussian", "random_weights")
# Training rows the common penalty ratio is chosen on (explained variance is
# stable to about 0.003 at this size).
_RATIO_ROWS = 2048


def _check_controls(controls):
    unknown = set(controls) - set(CONTROL_NAMES)
    if unknown:
        raise ValueError(
            f"unknown controls {sorted(unknown)}; choose from {CONTROL_NAMES}."
        )
    return tuple(controls)


def _model_label(model):
    if model in ("default", "minilm", None):
        return "default (all-MiniLM-L6-v2)"
    if model == "smollm2":
        return "smollm2 (SmolLM2-135M-Instruct, Q4_1/Q8_0 GGUF)"
    if isinstance(model, (str, os.PathLike)) and os.path.exists(model):
        return os.path.basename(os.path.normpath(model))  # a directory or file
    return str(model)


def model_family(model):
    """The architecture family of a loaded model, e.g. ``"bert"``, ``"llama"``."""
    return str(getattr(model.config, "model_type", None) or type(model).__name__)


def embeddings_study(
    models=("default",),
    *,
    dictionary_ratio=1,
    test_size=0.2,
    max_rows=None,
    max_train_rows=None,
    controls=CONTROL_NAMES,
    confidence=0.95,
    n_resamples=1000,
    n_seeds=1,
    random_state=0,
    progress=None,
    **fit_params,
):
    """Sparsity of each model's token embeddings, held out, beside two controls.

    The vocabulary is split at random: a dictionary is fitted on
    ``1 - test_size`` of the token embeddings (centred by the estimator, as in
    the paper's Sec. 4.1) and measured on the other tokens. The controls get
    the same protocol: ``"gaussian"``, rows with the embeddings' mean and
    covariance; ``"random_weights"``, the token embeddings of the same
    architecture freshly initialised. ``max_rows`` subsamples the vocabulary;
    ``max_train_rows`` fits each dictionary on at most that many of the
    training tokens (drawn at random) and still measures every held-out one.
    With ``n_seeds > 1`` the model's dictionary is refitted with further seeds
    and ``normalized_loss_seeds`` lists the held-out value of each (the spread
    of the fit, which the interval does not cover). One row per model, with
    its ``family`` (the architecture, e.g. ``"bert"``), ``controls`` and a
    ``verdict``; :func:`plot_embeddings` draws them as the paper's Figure 2.
    """
    controls = _check_controls(controls)
    settings = dict(
        dictionary_ratio=dictionary_ratio,
        random_state=random_state,
        fit_params=fit_params,
        confidence=confidence,
        n_resamples=n_resamples,
    )
    rows = []
    for model in models:
        act = TransformerActivations(model).fit()
        E = at_most(token_embeddings(act.model_), max_rows, random_state)
        train, test = split_rows(E.shape[0], test_size, random_state)
        train = at_most(train, max_train_rows, random_state + 1)
        row = {
            "model": _model_label(model),
            "family": model_family(act.model_),
            "data": "token embeddings",
            "n_samples": int(E.shape[0]),
            "n_features": int(E.shape[1]),
        }
        measured, dl = fit_and_measure(
            E[train], E[test], return_dictionary=True, **settings
        )
        row.update(measured)
        seed_spread(row, dl, E[train], E[test], n_seeds, settings)
        row["controls"] = {}
        if "gaussian" in controls:
            G = gaussian_like(E[train], E.shape[0], random_state)
            row["controls"]["gaussian"] = fit_and_measure(G[train], G[test], **settings)
        if "random_weights" in controls:
            R = token_embeddings(random_weights_model(act.model_, random_state))
            R = at_most(R, max_rows, random_state)
            row["controls"]["random_weights"] = fit_and_measure(
                R[train], R[test], **settings
            )
        row["verdict"] = control_verdict(f"{row['model']} token embeddings", row)
        rows.append(row)
        if progress:
            progress(row)
    return rows


def _layer_activations(act, train_texts, test_texts, keys, max_tokens, seed):
    """Per layer or site: (training rows, held-out rows), the same tokens for all.

    ``keys`` is ``("layers", indices or None)`` or ``("sites", patterns)``;
    layers are keyed by their non-negative index, sites by module path.
    """
    kind, which = keys
    extract = act.transform_layers if kind == "layers" else act.transform_sites
    train, test = extract(train_texts, which), extract(test_texts, which)
    return {
        (key if isinstance(key, str) else int(key) % act.n_hidden_states_): (
            at_most(train[key], max_tokens[0], seed),
            at_most(test[key], max_tokens[1], seed + 1),
        )
        for key in train
    }


def evenly_spaced_layers(n_hidden_states, max_layers):
    """At most ``max_layers`` hidden-state indices, evenly spaced, first and last in.

    >>> evenly_spaced_layers(31, 11)
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    >>> evenly_spaced_layers(7, 11)
    [0, 1, 2, 3, 4, 5, 6]
    """
    if n_hidden_states <= max_layers:
        return list(range(n_hidden_states))
    picked = np.linspace(0, n_hidden_states - 1, max_layers)
    return sorted({int(round(x)) for x in picked})


def _texts_up_to(act, texts, n_tokens):
    """The first ``texts`` whose rows number at least ``n_tokens`` (all if fewer)."""
    counts, _ = Extraction.of(act).plan(texts)
    n = int(np.searchsorted(np.cumsum(counts), n_tokens)) + 1
    return texts[:n]


def _faithfulness(act, dictionaries, data, texts, batch_size):
    """Per layer or site: :func:`~skfeatsparse.metrics.faithfulness` on ``texts``.

    One clean forward pass per batch for all of them; each is spliced with
    its dictionary at the study's penalty and mean-ablated with the mean of
    its held-out rows.
    """
    targets = []
    for key, dl in dictionaries.items():
        layer, site = (None, key) if isinstance(key, str) else (key, None)
        module, index, _ = resolve_target(act, layer=layer, site=site)
        targets.append(SpliceTarget(module, dl, data[key][1].mean(axis=0), index))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = splice_targets(act, texts, targets, batch_size=batch_size)
    return {
        key: {k: (float(v) if isinstance(v, (float, np.floating)) else v)
              for k, v in score.items()}
        for key, score in zip(dictionaries, scores)
    }  # fmt: skip


def _common_ratio(dictionaries, data, target, max_halvings):
    """The largest ``2^-k`` at which every dictionary reaches ``target`` EV in-sample.

    One penalty rule for every row of the figure (the paper decomposes at a
    smaller penalty than it trains with, reaching >= 98% explained variance).
    Returns the ratio and, per layer, the explained variance reached.
    """
    for k in range(max_halvings + 1):
        reached = {}
        for layer, dl in dictionaries.items():
            dl.transform_alpha = dl.alpha_ / 2**k
            X_train, X_test = data[layer]
            sample = at_most(X_train, min(X_test.shape[0], _RATIO_ROWS), 0)
            reached[layer] = float(report(dl, sample)["explained_variance"])
        if min(reached.values()) >= target or k == max_halvings:
            return 2.0**-k, reached


def layers_study(
    model,
    texts,
    *,
    layers=None,
    max_layers=None,
    sites=None,
    faithfulness=True,
    faithfulness_tokens=None,
    dictionary_ratio=1,
    test_size=1 / 3,
    max_tokens=16384,
    max_test_tokens=8192,
    transform_alpha_ratio="auto",
    target_explained_variance=0.98,
    max_halvings=4,
    controls=CONTROL_NAMES,
    confidence=0.95,
    n_resamples=1000,
    n_seeds=1,
    batch_size=32,
    device="cpu",
    random_state=0,
    progress=None,
    **fit_params,
):
    """Sparsity of every hidden state of ``model`` on ``texts``: held out, controlled.

    The texts are split at random: each layer's dictionary is fitted on the
    token activations of ``1 - test_size`` of them (at most ``max_tokens``,
    the same tokens for every layer) and measured on the tokens of the other
    texts (at most ``max_test_tokens``). All requested layers come from one
    forward pass per batch. ``layers=None`` is every hidden state, or with
    ``max_layers`` at most that many, evenly spaced from the embedding
    layer's output (0) to the last (e.g. 11 of SmolLM2's 31: 0, 3, ..., 30).

    Every row of the figure is measured with one penalty rule: with
    ``transform_alpha_ratio="auto"`` the largest ``transform_alpha = alpha_ /
    2^k`` (k <= ``max_halvings``) at which every layer's dictionary explains
    at least ``target_explained_variance`` of its training rows (the paper's
    Appendix H decomposes at a smaller penalty than it trains with, to
    >= 98%); a number fixes the ratio instead. The controls, each fitted and
    measured the same way at the same ratio: ``"gaussian"`` (rows with the
    layer's mean and covariance) and ``"random_weights"`` (the same
    architecture freshly initialised, on the same texts). ``n_seeds > 1``
    refits each layer's dictionary with further seeds and lists the held-out
    values as ``normalized_loss_seeds`` (the spread of the fit). ``device``
    runs the model and the dictionary fits (the estimator's ``device``).

    ``sites`` (module paths or globs, see ``TransformerActivations(site=...)``)
    studies those submodule outputs instead of hidden states (``layers``
    must then be None): MLP outputs, attention outputs, an MLP's hidden
    layer. With ``faithfulness=True`` each dictionary is also spliced back
    into the model at its layer or site on held-out texts (those with the
    first ``faithfulness_tokens`` held-out tokens, default
    ``max_test_tokens``) and ``row["faithfulness"]`` holds what
    :func:`~skfeatsparse.metrics.faithfulness` reports, ``recovered`` first
    among it (CE loss recovered for causal models, cosine recovered for
    encoders, against mean ablation).

    Returns
    -------
    rows : list of dict
        One per layer (``"layer"``) or site (``"site"``): held-out metrics,
        ``_ci``, ``_in_sample``, ``controls``, ``faithfulness`` and
        ``verdict``.
    info : dict
        Corpus sizes, the ratio used and the explained variance it reached.
    """
    controls = _check_controls(controls)
    if sites is not None and layers is not None:
        raise ValueError(
            f"give layers or sites, not both (got layers={layers!r}, sites={sites!r})."
        )
    if max_layers is not None and (layers is not None or sites is not None):
        raise ValueError(
            "max_layers picks hidden states when layers and sites are None "
            f"(got layers={layers!r}, sites={sites!r}, max_layers={max_layers!r})."
        )
    if max_layers is not None and (
        isinstance(max_layers, bool) or not isinstance(max_layers, Integral)
        or max_layers < 2
    ):  # fmt: skip
        raise ValueError(f"max_layers must be an integer >= 2, got {max_layers!r}.")
    train_idx, test_idx = split_rows(len(texts), test_size, random_state)
    train_texts = [texts[i] for i in train_idx]
    test_texts = [texts[i] for i in test_idx]
    sizes = (max_tokens, max_test_tokens)
    act = TransformerActivations(model, batch_size=batch_size, device=device).fit()
    if max_layers is not None:
        layers = evenly_spaced_layers(act.n_hidden_states_, max_layers)
    keys = ("layers", layers) if sites is None else ("sites", sites)
    data = {"model": _layer_activations(
        act, train_texts, test_texts, keys, sizes, random_state
    )}  # fmt: skip
    fit = dict(
        dictionary_ratio=dictionary_ratio,
        random_state=random_state,
        fit_params={"device": device, **fit_params},  # the fits run there too
    )
    start = time.perf_counter()
    dictionaries = {
        layer: fit_dictionary(X_train, **fit)
        for layer, (X_train, _) in data["model"].items()
    }
    fit_time = (time.perf_counter() - start) / len(dictionaries)
    if transform_alpha_ratio == "auto":
        ratio, reached = _common_ratio(
            dictionaries, data["model"], target_explained_variance, max_halvings
        )
    else:
        ratio, reached = float(transform_alpha_ratio), None
    if "gaussian" in controls:
        data["gaussian"] = {
            layer: tuple(
                gaussian_like(X_train, X.shape[0], random_state + 2 + i)
                for i, X in enumerate((X_train, X_test))
            )
            for layer, (X_train, X_test) in data["model"].items()
        }
    if "random_weights" in controls:
        random = TransformerActivations(
            random_weights_model(act.model_, random_state),
            tokenizer=act.tokenizer_,
            batch_size=batch_size,
            device=device,
        ).fit()
        data["random_weights"] = _layer_activations(
            random, train_texts, test_texts, keys, sizes, random_state
        )
    settings = dict(
        transform_alpha_ratio=ratio,
        confidence=confidence,
        n_resamples=n_resamples,
        **fit,
    )
    for dl in dictionaries.values():
        dl.transform_alpha = dl.alpha_ * ratio
    scores = {}
    if faithfulness:
        start = time.perf_counter()
        held_out = _texts_up_to(act, test_texts, faithfulness_tokens or max_test_tokens)
        scores = _faithfulness(act, dictionaries, data["model"], held_out, batch_size)
        splice_time = (time.perf_counter() - start) / len(dictionaries)
    rows = []
    for layer, dl in dictionaries.items():
        X_train, X_test = data["model"][layer]
        where = "site" if isinstance(layer, str) else "layer"
        row = {where: layer, "n_features": int(X_train.shape[1])}
        if where == "layer":  # where it sits in the model, for plots across depths
            row["n_hidden_states"] = act.n_hidden_states_
            row["relative_depth"] = layer / max(act.n_hidden_states_ - 1, 1)
        row.update(measure(dl, X_train, X_test, confidence=confidence,
                           n_resamples=n_resamples))  # fmt: skip
        row.update(fit_time=fit_time, transform_alpha_ratio=ratio)
        seed_spread(row, dl, X_train, X_test, n_seeds, settings)
        row["controls"] = {
            name: fit_and_measure(*data[name][layer], **settings) for name in controls
        }
        if faithfulness:
            row["faithfulness"] = scores[layer]
            row["faithfulness"]["time"] = splice_time
        row["verdict"] = control_verdict(f"{where} {layer}", row) + _faithful_clause(
            row
        )
        rows.append(row)
        if progress:
            progress(row)
    return rows, {
        "n_texts": len(texts),
        "n_train_texts": len(train_texts),
        "n_test_texts": len(test_texts),
        "transform_alpha_ratio": ratio,
        "explained_variance_at_ratio": reached,
        "n_hidden_states": act.n_hidden_states_,
        "hidden_size": act.hidden_size_,
    }


def _faithful_clause(row):
    """`` Spliced back in, it recovers 91% of ... (CE 3.61 vs 3.57 clean).``"""
    f = row.get("faithfulness")
    if not f or not np.isfinite(f["recovered"]):
        return ""
    if f["kind"] == "causal":
        detail = (
            f"next-token loss over mean ablation (cross-entropy {f['ce_spliced']:.2f}"
            f" vs {f['ce_clean']:.2f} clean, {f['ce_ablated']:.2f} ablated)"
        )
    else:
        detail = (
            f"final-state distance over mean ablation (token cosine "
            f"{f['cosine_spliced']:.3f}, ablated {f['cosine_ablated']:.3f})"
        )
    return f" Spliced back in, it recovers {100 * f['recovered']:.0f}% of the {detail}."


def _control_cell(row, name):
    control = row.get("controls", {}).get(name)
    return interval(control) if control else "-"


def format_embeddings_table(rows):
    """A Markdown table of Figure 2: held-out values, intervals, both controls."""
    lines = [
        "| model | n | d | normalized loss (held out) | in-sample | gaussian "
        "| random weights | S_1 | expl. var. | fit (s) |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['n_samples']} | {r['n_features']} | {interval(r)} | "
            f"{r['normalized_loss_in_sample']:.2f} | {_control_cell(r, 'gaussian')} | "
            f"{_control_cell(r, 'random_weights')} | {r['avg_coef_norm']:.2f} | "
            f"{r['explained_variance']:.3f} | {r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def _faithful_cells(row):
    """``recovered`` and the spliced output against clean, or dashes."""
    f = row.get("faithfulness")
    if not f:
        return "- | -"
    if f["kind"] == "causal":
        detail = (
            f"CE {f['ce_spliced']:.2f} / {f['ce_clean']:.2f} / {f['ce_ablated']:.2f}"
        )
    else:
        detail = f"cos {f['cosine_spliced']:.3f} / {f['cosine_ablated']:.3f}"
    return f"{f['recovered']:.3f} | {detail}"


def format_layers_table(rows):
    """A Markdown table of Figure 3: one line per layer (or site), controls beside it.

    With faithfulness, ``recovered`` (1 = splicing the reconstruction back
    in loses nothing, 0 = as much as mean ablation) and what it comes from:
    cross-entropy spliced / clean / mean-ablated for causal models, token
    cosine with the clean final states spliced / mean-ablated for encoders.
    """
    key = "site" if rows and "site" in rows[0] else "layer"
    lines = [
        f"| {key} | normalized loss (held out) | in-sample | gap | gaussian "
        "| random weights | S_1 | non-zeros | expl. var. | recovered "
        "| spliced output | fit (s) |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        lines.append(
            f"| {r[key]} | {interval(r)} | {r['normalized_loss_in_sample']:.2f} | "
            f"{100 * gap(r):+.0f}% | {_control_cell(r, 'gaussian')} | "
            f"{_control_cell(r, 'random_weights')} | {r['avg_coef_norm']:.2f} | "
            f"{r['nonzero_count']:.1f} | {r['explained_variance']:.3f} | "
            f"{_faithful_cells(r)} | {r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def _pyplot(path):
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(rows, name=None, key="normalized_loss"):
    """Values and error bars of ``key`` for the rows or one of their controls."""
    picked = [r if name is None else r["controls"][name] for r in rows]
    return [r[key] for r in picked], errors(picked, key)


def plot_embeddings(rows, path=None):
    """Figure 2 as the paper draws it: normalized loss against embedding size.

    One point per model (its held-out normalized loss with its interval),
    coloured by family (``row["family"]``), and the Gaussian reference at
    each width (the same-covariance Gaussian control, black). Where a row has
    the random-weights control it is drawn as an open marker in the model's
    colour. Returns the figure.
    """
    plt = _pyplot(path)
    with plt.rc_context(PLOT_STYLE):
        fig = _plot_families(plt, rows)
        fig.tight_layout()
    return _save(plt, fig, path)


def _save(plt, fig, path):
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


_MARKERS = "osD^vP*X"


def _plot_families(plt, rows):
    fig, ax = plt.subplots(figsize=(8, 5.5))
    families = list(dict.fromkeys(r.get("family", "unknown") for r in rows))
    for i, row in enumerate(rows):
        color = f"C{families.index(row.get('family', 'unknown'))}"
        width = row["n_features"]
        values, yerr = _series([row])
        family = row.get("family", "unknown")
        ax.errorbar([width], values, yerr=yerr, fmt=_MARKERS[i % len(_MARKERS)],
                    color=color, capsize=5, markersize=9,
                    label=f"{row['model']} ({family})")  # fmt: skip
        if "random_weights" in row.get("controls", {}):
            values, yerr = _series([row], "random_weights")
            ax.errorbar([width], values, yerr=yerr, fmt=_MARKERS[i % len(_MARKERS)],
                        color=color, mfc="none", capsize=3,
                        label=f"{row['model']}: random weights")  # fmt: skip
    gaussian = sorted(
        ((r["n_features"], r["controls"]["gaussian"]) for r in rows
         if "gaussian" in r.get("controls", {})),
        key=lambda pair: pair[0],
    )  # fmt: skip
    if gaussian:
        widths = [w for w, _ in gaussian]
        controls = [c for _, c in gaussian]
        ax.errorbar(widths, [c["normalized_loss"] for c in controls],
                    yerr=errors(controls, "normalized_loss"), fmt="k--_",
                    markersize=22, capsize=3,
                    label="Gaussian (same covariance), each width")  # fmt: skip
    ax.set_xscale("log", base=2)
    widths = sorted({r["n_features"] for r in rows})
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.minorticks_off()
    ax.set(
        xlabel="embedding size d",
        ylabel="normalized loss\n(held out, 95% interval)",
        title="Token embeddings by family (Fig. 2)",
    )
    ax.legend(fontsize=9)
    return fig


# Explained variance the paper decomposes to (its Appendix H): Figure 3's line.
TARGET_EXPLAINED_VARIANCE = 0.98
_CONTROL_STYLES = (("gaussian", "--s"), ("random_weights", ":^"))


def plot_layers(results, path=None):
    """Figure 3: held-out metrics by layer, per model, with both controls.

    Every series has markers (a one-layer run shows its points); the
    explained-variance panel has a line at the paper's 0.98 and its axis
    spans both that line and the data. Rows with ``faithfulness`` add a
    fourth panel: ``recovered`` by layer (for encoders also that of the
    sentence embedding), between mean ablation (0) and the clean model (1).
    Rows of sites are placed in their order.
    """
    plt = _pyplot(path)
    with plt.rc_context(PLOT_STYLE):
        fig = _plot_layers(plt, results)
        # room at the bottom for the shared legend: about 0.3 inch a row
        rows = -(-len(fig.legends[0].get_texts()) // 3) if fig.legends else 0
        height = fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, 0.3 * (rows + 0.5) / height, 1, 1))
    return _save(plt, fig, path)


def _positions(rows, relative=False):
    """x of each row: its hidden-state index (``relative``: over the model's
    depth, 0 = embeddings, 1 = last), or for sites its place in order."""
    if rows and "site" in rows[0]:
        return list(range(len(rows)))
    if relative:
        return [r["relative_depth"] for r in rows]
    return [r["layer"] for r in rows]


def _by_relative_depth(results):
    """Whether Figure 3's models differ in depth, so layers are placed by
    relative depth (rows of older results without it: never)."""
    rows = [r for model_rows in results.values() for r in model_rows]
    if not rows or any("relative_depth" not in r for r in rows):
        return False
    return len({r["n_hidden_states"] for r in rows}) > 1


def _series_label(model, rows):
    """The legend's name of a model, saying when only some layers were measured."""
    n = rows[0].get("n_hidden_states") if rows else None
    if n is None or "site" in rows[0] or len(rows) >= n:
        return model
    step = {b["layer"] - a["layer"] for a, b in zip(rows, rows[1:])}
    every = f", a stride of {step.pop()}" if len(step) == 1 else ""
    return f"{model} ({len(rows)} of {n} hidden states{every})"


def _plot_recovered(ax, results, relative=False):
    """The faithfulness panel: ``recovered`` by layer, 0 = mean ablation, 1 = clean."""
    for i, (model, rows) in enumerate(results.items()):
        xs = _positions(rows, relative)
        picked = [(x, r["faithfulness"]) for x, r in zip(xs, rows)
                  if r.get("faithfulness")]  # fmt: skip
        if picked:
            x, scores = zip(*picked)
            ax.plot(x, [f["recovered"] for f in scores], "-o", color=f"C{i}",
                    label=model)  # fmt: skip
            if scores[0]["kind"] == "encoder":
                ax.plot(x, [f["sentence_cosine_recovered"] for f in scores], "--D",
                        color=f"C{i}", mfc="none",
                        label=f"{model}: sentence embedding")  # fmt: skip
    ax.axhline(1.0, color="k", linestyle="-.", linewidth=1)
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=1)
    ax.set(ylabel="recovered when spliced in\n(1 = nothing lost, 0 = mean ablation)")
    ax.legend(fontsize=9, loc="lower left")


def _plot_layers(plt, results):
    keys = ("normalized_loss", "avg_coef_norm", "explained_variance")
    faithful = any(r.get("faithfulness") for rows in results.values() for r in rows)
    n_panels = 3 + faithful
    fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 5))
    explained = [TARGET_EXPLAINED_VARIANCE]
    relative = _by_relative_depth(results)
    for i, (model, rows) in enumerate(results.items()):
        layers = _positions(rows, relative)
        color = f"C{i}"
        for ax, key in zip(axes, keys):
            values, yerr = _series(rows, None, key)
            ax.errorbar(layers, values, yerr=yerr, fmt="-o", color=color,
                        capsize=4, label=_series_label(model, rows))  # fmt: skip
            if key == "explained_variance":
                explained += [v - e for v, e in zip(values, yerr[0])]
                explained += [v + e for v, e in zip(values, yerr[1])]
            for name, style in _CONTROL_STYLES:
                if name in rows[0].get("controls", {}):
                    values, _ = _series(rows, name, key)
                    ax.plot(layers, values, style, color=color, mfc="none",
                            label=f"{model}: {name.replace('_', ' ')}")  # fmt: skip
                    if key == "explained_variance":
                        explained += values
    if faithful:
        _plot_recovered(axes[3], results, relative)
    sites = next(iter(results.values()), [{}])[0].get("site") is not None
    for ax, label in zip(
        axes,
        ("normalized loss", "avg. coef. norm $S_1$", "explained variance",
         "faithfulness"),
    ):  # fmt: skip
        if label != "faithfulness":
            ax.set(ylabel=f"{label} (held out)")
        if sites:
            ax.set(xlabel="site (in module order)")
        elif relative:
            ax.set(xlabel="relative depth (0 = embeddings, 1 = last)")
        else:
            ax.set(xlabel="hidden state (0 = embeddings)")
        if not relative:
            ax.xaxis.get_major_locator().set_params(integer=True)
    ev = axes[2]
    ev.axhline(TARGET_EXPLAINED_VARIANCE, color="k", linestyle="-.", linewidth=1,
               label="0.98 (the paper's target)")  # fmt: skip
    low, high = min(explained), max(explained)
    pad = max(0.05 * (high - low), 0.005)
    ev.set_ylim(low - pad, min(high + pad, 1.0 + pad))
    ev.legend(handles=ev.get_lines()[-1:], loc="best", fontsize=9)  # the 0.98 line
    axes[0].set_yscale("log")
    # One legend for the series of every panel, below them, off the data.
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3),
               fontsize=9, frameon=False)  # fmt: skip
    fig.suptitle("Sparsity by layer, held out, with controls (Fig. 3)")
    return fig
