"""The paper's language-model studies: token embeddings (Fig. 2) and layers (Fig. 3).

Used by ``examples/plot_token_embeddings.py``, ``examples/plot_layer_sparsity.py``
and the ``skfeatsparse embeddings`` / ``layers`` commands.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..activations import TransformerActivations, token_embeddings
from ..decomposition import GreedyL1DictionaryLearning
from ..metrics import METRICS, sparsity_report


def _subsample(X, max_rows, rng):
    if max_rows is None or X.shape[0] <= max_rows:
        return X
    return X[np.sort(rng.choice(X.shape[0], max_rows, replace=False))]


def _fit(X, *, dictionary_ratio, random_state, fit_params):
    dl = GreedyL1DictionaryLearning(
        n_components=dictionary_ratio * X.shape[1],
        random_state=random_state,
        **fit_params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dl.fit(X)
    return dl


def _report(dl, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        report = sparsity_report(dl, X)
    row = {name: float(report[name]) for name in METRICS}
    row.update(
        alpha=dl.alpha_, transform_alpha=float(report["alpha"]), n_iter=dl.n_iter_
    )
    return row


def _measure(X, *, dictionary_ratio, random_state, fit_params):
    start = time.perf_counter()
    dl = _fit(
        X,
        dictionary_ratio=dictionary_ratio,
        random_state=random_state,
        fit_params=fit_params,
    )
    row = _report(dl, X)
    row["fit_time"] = time.perf_counter() - start
    return row


def embeddings_study(
    models=("default",),
    *,
    dictionary_ratio=8,
    max_rows=None,
    random_state=0,
    progress=None,
    **fit_params,
):
    """Sparsity of each model's token embeddings against a Gaussian of the same shape.

    The embeddings are centred by the estimator, as in the paper (Sec. 4.1);
    the Gaussian baseline is standard normal with the embeddings' shape (the
    metrics are scale invariant). ``max_rows`` subsamples the vocabulary.
    """
    rng = np.random.default_rng(random_state)
    rows = []
    for model in models:
        E = _subsample(token_embeddings(model), max_rows, rng)
        name = (
            "default (all-MiniLM-L6-v2)" if model in ("default", None) else str(model)
        )
        for data, X in (
            ("token embeddings", E),
            ("gaussian", rng.standard_normal(E.shape).astype(np.float32)),
        ):
            row = {
                "model": name,
                "data": data,
                "n_samples": X.shape[0],
                "n_features": X.shape[1],
            }
            row.update(
                _measure(
                    X,
                    dictionary_ratio=dictionary_ratio,
                    random_state=random_state,
                    fit_params=fit_params,
                )
            )
            rows.append(row)
            if progress:
                progress(row)
    return rows


def layers_study(
    model,
    texts,
    *,
    layers=None,
    dictionary_ratio=16,
    max_tokens=8192,
    target_explained_variance=0.98,
    batch_size=32,
    device="cpu",
    random_state=0,
    progress=None,
    **fit_params,
):
    """Sparsity of every hidden state of ``model`` on ``texts`` (Appendix H protocol).

    All requested layers come from one forward pass per batch. Each layer's
    token activations (at most ``max_tokens``, drawn at random, the same
    tokens for every layer) get their own dictionary, trained with the
    adaptive penalty; the metrics are then measured at the largest
    ``transform_alpha = alpha_ / 2^k`` that explains at least
    ``target_explained_variance`` of the variance (the paper decomposes at a
    smaller penalty than it trains with, reaching >= 98%).
    """
    act = TransformerActivations(model, batch_size=batch_size, device=device).fit()
    acts = act.transform_layers(texts, layers)
    n_tokens = next(iter(acts.values())).shape[0]
    rng = np.random.default_rng(random_state)
    keep = None
    if max_tokens is not None and n_tokens > max_tokens:
        keep = np.sort(rng.choice(n_tokens, max_tokens, replace=False))
    rows = []
    for layer, X in acts.items():
        X = X if keep is None else X[keep]
        start = time.perf_counter()
        dl = _fit(
            X,
            dictionary_ratio=dictionary_ratio,
            random_state=random_state,
            fit_params=fit_params,
        )
        for shift in range(8):
            dl.transform_alpha = dl.alpha_ / 2**shift
            row = _report(dl, X)
            if row["explained_variance"] >= target_explained_variance:
                break
        row.update(
            layer=int(layer) % act.n_hidden_states_,
            n_tokens=X.shape[0],
            n_features=X.shape[1],
            fit_time=time.perf_counter() - start,
            transform_alpha_ratio=2.0**-shift,
        )
        rows.append(row)
        if progress:
            progress(row)
    return rows, {
        "n_texts": len(texts),
        "n_tokens_total": int(n_tokens),
        "n_hidden_states": act.n_hidden_states_,
        "hidden_size": act.hidden_size_,
    }


def format_embeddings_table(rows):
    lines = [
        "| model | data | n | d | normalized loss | S_1 | non-zeros | expl. var. "
        "| fit (s) |",
        "|" + "---|" * 9,
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['data']} | {r['n_samples']} | {r['n_features']} | "
            f"{r['normalized_loss']:.2f} | {r['avg_coef_norm']:.2f} | "
            f"{r['nonzero_count']:.1f} | {r['explained_variance']:.3f} | "
            f"{r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def format_layers_table(rows):
    lines = [
        "| layer | normalized loss | S_1 | non-zeros | expl. var. | alpha_ | "
        "transform alpha | fit (s) |",
        "|" + "---|" * 8,
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['normalized_loss']:.2f} | {r['avg_coef_norm']:.2f} | "
            f"{r['nonzero_count']:.1f} | {r['explained_variance']:.3f} | "
            f"{r['alpha']:.4g} | {r['transform_alpha']:.4g} | {r['fit_time']:.0f} |"
        )
    return "\n".join(lines)


def _pyplot(path):
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_embeddings(rows, path=None):
    """Figure 2: normalized loss of token embeddings against a Gaussian, per model."""
    plt = _pyplot(path)
    models = list(dict.fromkeys(r["model"] for r in rows))
    x = np.arange(len(models))
    fig, ax = plt.subplots(figsize=(max(5, 2 + 1.5 * len(models)), 4))
    for offset, data in ((-0.2, "token embeddings"), (0.2, "gaussian")):
        values = [
            next(
                r["normalized_loss"]
                for r in rows
                if r["model"] == m and r["data"] == data
            )
            for m in models
        ]
        ax.bar(x + offset, values, 0.4, label=data)
    ax.set_xticks(x, models)
    ax.set(
        ylabel="normalized loss", title="Token embeddings against a Gaussian (Fig. 2)"
    )
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_layers(results, path=None):
    """Figure 3: normalized loss, S_1 and explained variance by layer, per model."""
    plt = _pyplot(path)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for model, rows in results.items():
        layers = [r["layer"] for r in rows]
        for ax, key in zip(
            axes, ("normalized_loss", "avg_coef_norm", "explained_variance")
        ):
            ax.plot(layers, [r[key] for r in rows], "-o", label=model)
    for ax, label in zip(
        axes, ("normalized loss", "avg. coef. norm $S_1$", "explained variance")
    ):
        ax.set(xlabel="hidden state (0 = embeddings)", ylabel=label)
        ax.legend(fontsize=8)
    fig.suptitle("Sparsity by layer (Fig. 3)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
