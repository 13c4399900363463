"""The paper's language-model studies: token embeddings (Fig. 2) and layers (Fig. 3).

Used by ``examples/plot_token_embeddings.py``, ``examples/plot_layer_sparsity.py``
and the ``skfeatsparse embeddings`` / ``layers`` commands.
"""

import time

import numpy as np

from ..activations import TransformerActivations, token_embeddings
from ..activations._loading import random_weights_model
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
    return str(model)


def embeddings_study(
    models=("default",),
    *,
    dictionary_ratio=1,
    test_size=0.2,
    max_rows=None,
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
    architecture freshly initialised. ``max_rows`` subsamples the vocabulary.
    With ``n_seeds > 1`` the model's dictionary is refitted with further seeds
    and ``normalized_loss_seeds`` lists the held-out value of each (the spread
    of the fit, which the interval does not cover). One row per model, with
    ``controls`` and a ``verdict``.
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
        row = {
            "model": _model_label(model),
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


def _layer_activations(act, train_texts, test_texts, layers, max_tokens, seed):
    """Per layer: (training rows, held-out rows), the same tokens for every layer."""
    train = act.transform_layers(train_texts, layers)
    test = act.transform_layers(test_texts, layers)
    return {
        int(layer) % act.n_hidden_states_: (
            at_most(train[layer], max_tokens[0], seed),
            at_most(test[layer], max_tokens[1], seed + 1),
        )
        for layer in train
    }


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
    forward pass per batch.

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

    Returns
    -------
    rows : list of dict
        One per layer: held-out metrics, ``_ci``, ``_in_sample``, ``controls``
        and ``verdict``.
    info : dict
        Corpus sizes, the ratio used and the explained variance it reached.
    """
    controls = _check_controls(controls)
    train_idx, test_idx = split_rows(len(texts), test_size, random_state)
    train_texts = [texts[i] for i in train_idx]
    test_texts = [texts[i] for i in test_idx]
    sizes = (max_tokens, max_test_tokens)
    act = TransformerActivations(model, batch_size=batch_size, device=device).fit()
    data = {"model": _layer_activations(
        act, train_texts, test_texts, layers, sizes, random_state
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
            random, train_texts, test_texts, layers, sizes, random_state
        )
    settings = dict(
        transform_alpha_ratio=ratio,
        confidence=confidence,
        n_resamples=n_resamples,
        **fit,
    )
    rows = []
    for layer, dl in dictionaries.items():
        X_train, X_test = data["model"][layer]
        dl.transform_alpha = dl.alpha_ * ratio
        row = {"layer": layer, "n_features": int(X_train.shape[1])}
        row.update(measure(dl, X_train, X_test, confidence=confidence,
                           n_resamples=n_resamples))  # fmt: skip
        row.update(fit_time=fit_time, transform_alpha_ratio=ratio)
        seed_spread(row, dl, X_train, X_test, n_seeds, settings)
        row["controls"] = {
            name: fit_and_measure(*data[name][layer], **settings) for name in controls
        }
        row["verdict"] = control_verdict(f"layer {layer}", row)
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


def format_layers_table(rows):
    """A Markdown table of Figure 3: one line per layer, controls beside it."""
    lines = [
        "| layer | normalized loss (held out) | in-sample | gap | gaussian "
        "| random weights | S_1 | non-zeros | expl. var. | fit (s) |",
        "|" + "---|" * 10,
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {interval(r)} | {r['normalized_loss_in_sample']:.2f} | "
            f"{100 * gap(r):+.0f}% | {_control_cell(r, 'gaussian')} | "
            f"{_control_cell(r, 'random_weights')} | {r['avg_coef_norm']:.2f} | "
            f"{r['nonzero_count']:.1f} | {r['explained_variance']:.3f} | "
            f"{r['fit_time']:.0f} |"
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
    """Figure 2: held-out normalized loss of token embeddings and their controls."""
    plt = _pyplot(path)
    with plt.rc_context(PLOT_STYLE):
        fig = _plot_embeddings(plt, rows)
        fig.tight_layout()
    return _save(plt, fig, path)


def _save(plt, fig, path):
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def _plot_embeddings(plt, rows):
    models = [r["model"] for r in rows]
    x = np.arange(len(models))
    names = [None, *(n for n in CONTROL_NAMES if n in rows[0].get("controls", {}))]
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(6.5, 2.5 + 2 * len(models)), 4.8))
    for i, name in enumerate(names):
        values, yerr = _series(rows, name)
        label = "token embeddings" if name is None else name.replace("_", " ")
        ax.bar(x + (i - (len(names) - 1) / 2) * width, values, width, yerr=yerr,
               capsize=4, label=label)  # fmt: skip
    ax.set_xticks(x, models)
    ax.set(
        ylabel="normalized loss\n(held out, 95% interval)",
        title="Token embeddings against their controls (Fig. 2)",
    )
    ax.legend()
    return fig


# Explained variance the paper decomposes to (its Appendix H): Figure 3's line.
TARGET_EXPLAINED_VARIANCE = 0.98
_CONTROL_STYLES = (("gaussian", "--s"), ("random_weights", ":^"))


def plot_layers(results, path=None):
    """Figure 3: held-out metrics by layer, per model, with both controls.

    Every series has markers (a one-layer run shows its points); the
    explained-variance panel has a line at the paper's 0.98 and its axis
    spans both that line and the data.
    """
    plt = _pyplot(path)
    with plt.rc_context(PLOT_STYLE):
        fig = _plot_layers(plt, results)
        fig.tight_layout()
    return _save(plt, fig, path)


def _plot_layers(plt, results):
    keys = ("normalized_loss", "avg_coef_norm", "explained_variance")
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    explained = [TARGET_EXPLAINED_VARIANCE]
    for i, (model, rows) in enumerate(results.items()):
        layers = [r["layer"] for r in rows]
        color = f"C{i}"
        for ax, key in zip(axes, keys):
            values, yerr = _series(rows, None, key)
            ax.errorbar(layers, values, yerr=yerr, fmt="-o", color=color,
                        capsize=4, label=model)  # fmt: skip
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
    for ax, label in zip(
        axes,
        ("normalized loss", "avg. coef. norm $S_1$", "explained variance"),
    ):
        ax.set(xlabel="hidden state (0 = embeddings)", ylabel=f"{label} (held out)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    ev = axes[2]
    ev.axhline(TARGET_EXPLAINED_VARIANCE, color="k", linestyle="-.", linewidth=1,
               label="0.98 (the paper's target)")  # fmt: skip
    low, high = min(explained), max(explained)
    pad = max(0.05 * (high - low), 0.005)
    ev.set_ylim(low - pad, min(high + pad, 1.0 + pad))
    ev.legend(loc="lower left")
    axes[0].set_yscale("log")
    axes[0].legend(fontsize=9)
    fig.suptitle("Sparsity by layer, held out, with controls (Fig. 3)")
    return fig
