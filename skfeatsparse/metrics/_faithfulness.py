"""Faithfulness: what a model loses when a site is replaced by its reconstruction.

The sparsity metrics say how well a dictionary codes the activations; this
says how much of the *model's behaviour* survives when the activations at a
site are replaced by ``inverse_transform(transform(h))`` during the forward
pass (SAELens' and SAEBench's "CE loss recovered"). Against mean ablation --
the same positions replaced by the site's mean activation -- it is a score
from 0 (no better than the mean) to 1 (nothing lost).

Causal language models are scored on next-token prediction (cross-entropy,
KL divergence of the spliced from the clean predictions), encoders on their
final hidden states (cosine of token vectors and of mean-pooled sentence
embeddings). The splice itself is a forward hook (``activations._sites``).
"""

import inspect
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..activations._corpus import check_texts
from ..activations._extraction import Extraction
from ..activations._sites import hidden_state_modules, replace_sites, site_rows
from ..activations._tokens import pad_batch, pad_token_id

KINDS = ("auto", "causal", "encoder")
_LOGIT_ROWS = 512  # prediction positions per vocabulary-wide logits block


@dataclass
class SpliceTarget:
    """One site to splice: the module, its dictionary, its ablation mean."""

    module: str
    dictionary: object
    mean: np.ndarray
    layer: object = None  # the hidden-state index it stands for, if any


def _fitted(activations):
    try:
        check_is_fitted(activations)
    except NotFittedError:
        activations.fit()
    if activations.pooling is not None:
        raise ValueError(
            f"faithfulness needs one row per token (pooling=None), got "
            f"pooling={activations.pooling!r}: a pooled row stands for no "
            "position of the forward pass that could be replaced."
        )
    return activations


def _probe_batch(extraction):
    """Two short real texts, padded: the probe of kind and module detection."""
    enc, keep, _ = extraction.tokenize(["the cat sat on the mat", "a dog"])
    ids, mask, _ = pad_batch(enc["input_ids"], keep, pad_token_id(extraction.tokenizer))
    return ids, mask


def model_kind(model, tokenizer):
    """``"causal"`` if no position's output depends on later tokens, else ``"encoder"``.

    Decided by a probe, not by the model's class: two sequences that differ
    only in their last token; a causal model's earlier outputs are the same.
    """
    import torch

    from ..activations._tokens import hidden_states

    vocab = model.get_input_embeddings().weight.shape[0]
    ids = np.array([[1, 2, 3, 4], [1, 2, 3, 5]]) % vocab
    last = hidden_states(model, ids, np.ones_like(ids))[-1].float()
    same = torch.allclose(last[0, :-1], last[1, :-1], rtol=1e-4, atol=1e-5)
    return "causal" if same else "encoder"


def _call(model, ids, mask):
    """One forward pass: ``(final hidden states, logits function or None)``.

    The final hidden states are what the output head reads (its input, caught
    by a pre-hook), else the model's ``last_hidden_state``.
    """
    import torch

    head = getattr(model, "get_output_embeddings", lambda: None)()
    caught = {}
    handle = None
    if head is not None:
        handle = head.register_forward_pre_hook(
            lambda module, args: caught.setdefault("h", args[0])
        )
    device = next(model.parameters()).device
    kwargs = {"return_dict": True}
    if "use_cache" in inspect.signature(model.forward).parameters:
        kwargs["use_cache"] = False  # no key/value cache needed
    try:
        with torch.inference_mode():
            out = model(
                input_ids=torch.as_tensor(ids, device=device),
                attention_mask=torch.as_tensor(mask, device=device),
                **kwargs,
            )
    finally:
        if handle is not None:
            handle.remove()
    if "h" in caught:
        return caught["h"], head
    hidden = getattr(out, "last_hidden_state", None)
    if hidden is None:
        raise TypeError(
            f"{type(model).__name__} returned no last_hidden_state; pass a base "
            "model (AutoModel) or a model with an output head."
        )
    return hidden, None


def _logits_function(model, head):
    """Hidden states (n, d) -> next-token logits (n, vocab), or a clear error."""
    if head is not None:
        return head
    if getattr(model.config, "tie_word_embeddings", False):
        weight = model.get_input_embeddings().weight
        return lambda h: h @ weight.T  # tied: the output head is the embedding
    raise ValueError(
        f"{type(model).__name__} has no output head and untied embeddings, so "
        "its next-token predictions are unknown; load it with "
        "AutoModelForCausalLM and pass the loaded model."
    )


def _splice(dictionary, kept):
    def replace(tensor):
        import torch

        h = site_rows("the spliced site", tensor, *kept.shape)
        rows = h[kept].float().cpu().numpy()
        recon = dictionary.inverse_transform(dictionary.transform(rows))
        new = h.clone()
        recon = np.array(recon, dtype=np.float32)  # a writable copy, for torch
        new[kept] = torch.as_tensor(recon, device=h.device).to(h.dtype)
        return new.reshape(tensor.shape)

    return replace


def _ablate(mean, kept):
    def replace(tensor):
        import torch

        h = site_rows("the ablated site", tensor, *kept.shape)
        new = h.clone()
        new[kept] = torch.as_tensor(mean, device=h.device, dtype=h.dtype)
        return new.reshape(tensor.shape)

    return replace


class _Causal:
    """Sums of next-token cross-entropy and KL(clean || other) over real tokens."""

    def __init__(self, logits):
        self.logits = logits
        self.sums = {}

    def add(self, name, clean, other, ids, mask):
        import torch

        valid = (mask[:, :-1] & mask[:, 1:]).astype(bool)  # padding never counts
        valid = torch.as_tensor(valid, device=clean.device)
        target = torch.as_tensor(ids[:, 1:], device=clean.device)[valid]
        c, o = clean[:, :-1][valid], other[:, :-1][valid]
        ce_clean = ce_other = kl = 0.0
        with torch.inference_mode():
            for i in range(0, len(target), _LOGIT_ROWS):
                part = slice(i, i + _LOGIT_ROWS)
                lc = torch.log_softmax(self.logits(c[part]).float(), -1)
                lo = torch.log_softmax(self.logits(o[part]).float(), -1)
                t = target[part].unsqueeze(1)
                ce_clean -= float(lc.gather(1, t).sum())
                ce_other -= float(lo.gather(1, t).sum())
                kl += float((lc.exp() * (lc - lo)).sum())
        s = self.sums.setdefault(name, np.zeros(4))
        s += (ce_clean, ce_other, kl, len(target))

    def result(self):
        out = {}
        for name, (ce_clean, ce_other, kl, n) in self.sums.items():
            n = max(n, 1)
            out["ce_clean"] = ce_clean / n
            out[f"ce_{name}"] = ce_other / n
            out[f"kl_{name}"] = kl / n
            out["n_predictions"] = int(self.sums[name][3])
        out["loss_recovered"] = _recovered(
            out["ce_ablated"], out["ce_spliced"], out["ce_clean"], "cross-entropy"
        )
        out["recovered"] = out["loss_recovered"]
        return out


class _Encoder:
    """Sums of cosines of final token vectors and mean-pooled sentence vectors."""

    def __init__(self):
        self.sums = {}

    def add(self, name, clean, other, ids, mask):
        import torch

        m = torch.as_tensor(mask, device=clean.device).bool()
        c, o = clean.float(), other.float()
        tokens = torch.nn.functional.cosine_similarity(c[m], o[m], dim=-1)
        w = m.unsqueeze(-1).float()  # padding never counts
        pooled_c, pooled_o = (c * w).sum(1) / w.sum(1), (o * w).sum(1) / w.sum(1)
        sentences = torch.nn.functional.cosine_similarity(pooled_c, pooled_o, dim=-1)
        s = self.sums.setdefault(name, np.zeros(4))
        s += (float(tokens.sum()), len(tokens), float(sentences.sum()), len(sentences))

    def result(self):
        out = {}
        for name, (tokens, n_tokens, sentences, n_texts) in self.sums.items():
            out[f"cosine_{name}"] = tokens / max(n_tokens, 1)
            out[f"sentence_cosine_{name}"] = sentences / max(n_texts, 1)
        for prefix in ("", "sentence_"):
            # Distances 1 - cosine, clean at 0: the same scale as loss recovered.
            out[f"{prefix}cosine_recovered"] = _recovered(
                1 - out[f"{prefix}cosine_ablated"],
                1 - out[f"{prefix}cosine_spliced"],
                0.0,
                f"{prefix}cosine".replace("_", " "),
            )
        out["recovered"] = out["cosine_recovered"]
        return out


def _recovered(ablated, spliced, clean, what):
    """``(ablated - spliced) / (ablated - clean)``; nan, with a warning, if none."""
    if not ablated - clean > 1e-12:
        warnings.warn(
            f"mean ablation does not worsen the {what} ({ablated:.6g} against "
            f"{clean:.6g} clean), so the share recovered is undefined (nan); "
            "the site barely matters to the output.",
            RuntimeWarning,
            stacklevel=4,
        )
        return float("nan")
    return float((ablated - spliced) / (ablated - clean))


def splice_targets(activations, texts, targets, *, kind="auto", batch_size=None):
    """Faithfulness of several targets on ``texts``, one clean pass per batch.

    The engine of :func:`faithfulness` (and of the layer study, which
    splices every layer): per batch one clean forward pass, then one spliced
    and one mean-ablated pass per target. Returns one result dict per target.
    """
    extraction = Extraction.of(activations)
    model = extraction.model
    if kind == "auto":
        kind = model_kind(model, extraction.tokenizer)
    texts = check_texts(texts)
    counts, lengths = extraction.plan(texts)
    pad = pad_token_id(extraction.tokenizer)
    scores = [None] * len(targets)
    n_tokens = n_spliced = 0
    batch_size = batch_size or extraction.batch_size
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        enc, keep, _ = extraction.tokenize([texts[i] for i in idx])
        ids, mask, kept = pad_batch(enc["input_ids"], keep, pad)
        n_tokens += int(mask.sum())
        n_spliced += int(kept.sum())
        clean, head = _call(model, ids, mask)
        for j, target in enumerate(targets):
            if scores[j] is None:
                logits = _logits_function(model, head) if kind == "causal" else None
                scores[j] = _Causal(logits) if kind == "causal" else _Encoder()
            kept_t = _as_mask(kept, clean)
            for name, replace in (
                ("spliced", _splice(target.dictionary, kept_t)),
                ("ablated", _ablate(target.mean, kept_t)),
            ):
                with replace_sites(model, {target.module: replace}):
                    other, _ = _call(model, ids, mask)
                scores[j].add(name, clean, other, ids, mask)
    results = []
    for target, score in zip(targets, scores):
        row = {"kind": kind, "site": target.module, "layer": target.layer}
        row.update(score.result())
        row.update(n_texts=len(texts), n_tokens=n_tokens, n_spliced=n_spliced)
        results.append(row)
    return results


def _as_mask(kept, like):
    import torch

    return torch.as_tensor(kept, device=like.device)


def resolve_target(activations, layer=None, site=None):
    """``(module path, layer or None, key)`` of what to splice, or a clear error.

    ``key`` is what the activations' extraction reads there (the layer index
    or the site path), for the rows the ablation mean is taken over.
    """
    if layer is not None and site is not None:
        raise ValueError(
            f"give layer or site, not both (got layer={layer!r}, site={site!r})."
        )
    extraction = Extraction.of(activations)
    if layer is None and site is None:
        if activations.site is not None:
            site = activations.site
        else:
            layer = activations.layer_
    if site is not None:
        names = [n for n, _ in extraction.normalize_sites(site)]
        if len(names) != 1:
            raise ValueError(
                f"site={site!r} matches {len(names)} modules ({', '.join(names[:4])}"
                f"{', ...' if len(names) > 4 else ''}); splice one module at a time."
            )
        return names[0], None, names[0]
    ((_, index),) = extraction.normalize_layers([layer])
    ids, mask = _probe_batch(extraction)
    module = hidden_state_modules(extraction.model, [index], ids, mask)[index]
    return module, index, index


def faithfulness(
    activations,
    dictionary,
    texts,
    *,
    layer=None,
    site=None,
    mean=None,
    kind="auto",
    batch_size=None,
):
    """What the model loses when a site's activations are replaced by their coding.

    During the forward pass over ``texts`` the activations ``h`` at the site
    are replaced, at every position that is a row of ``activations``
    (padding never; special tokens only with ``include_special_tokens``), by
    ``dictionary.inverse_transform(dictionary.transform(h))``, and the output
    is compared with the clean pass and with mean ablation (the same
    positions replaced by the site's mean activation). Measure it on texts
    the dictionary was not fitted on. Runs under ``torch.inference_mode()``,
    batched, on the model's device.

    Parameters
    ----------
    activations : TransformerActivations
        Names the model, tokenizer and settings (fitted first if needed),
        with ``pooling=None``.
    dictionary : estimator
        Fitted, with ``transform`` and ``inverse_transform`` (a
        :class:`~skfeatsparse.decomposition.GreedyL1DictionaryLearning`, a
        ``Pipeline`` of such steps, any sparse autoencoder wrapped so), on
        the site's rows.
    texts : list of str
        Held-out texts.
    layer : int or None, default=None
        A hidden-state index to splice: the module producing that hidden
        state is hooked (found by matching outputs, e.g. BERT's
        ``encoder.layer.2.output.LayerNorm`` for 3, GPT-2's ``h.2``).
    site : str or None, default=None
        A module path (or a glob matching one module) to splice instead.
        With neither, the ``activations``' own ``site`` or ``layer``.
    mean : array-like of shape (n_features,) or None, default=None
        The activation mean ablation uses; ``None`` takes the mean of the
        site's rows on ``texts`` (one more pass).
    kind : {"auto", "causal", "encoder"}, default="auto"
        How the output is compared. ``"auto"`` decides by a probe: a model
        whose outputs never depend on later tokens is causal.
    batch_size : int or None, default=None
        Texts per forward pass; ``None`` is the ``activations``' own.

    Returns
    -------
    scores : dict
        ``recovered``: the share of the mean ablation's loss the splice
        avoids, ``(ablated - spliced) / (ablated - clean)``: 1 when nothing
        is lost, 0 when no better than the mean (nan, with a warning, if
        ablation loses nothing). For causal models (next-token prediction
        at every real token with a real successor): ``ce_clean``,
        ``ce_spliced``, ``ce_ablated`` (mean cross-entropy, nats),
        ``kl_spliced``, ``kl_ablated`` (mean KL(clean || spliced) and
        KL(clean || ablated), nats) and ``loss_recovered`` (= ``recovered``,
        the field's "CE loss recovered"), ``n_predictions``. For encoders
        (final hidden states, every real token): ``cosine_spliced``,
        ``cosine_ablated`` (mean cosine of token vectors with the clean
        ones), ``sentence_cosine_spliced``, ``sentence_cosine_ablated`` (of
        mean-pooled sentence embeddings), ``cosine_recovered`` (=
        ``recovered``) and ``sentence_cosine_recovered`` (both on distances
        ``1 - cosine``). Always: ``kind``, ``site`` (the module spliced),
        ``layer`` (the hidden-state index, or None), ``n_texts``,
        ``n_tokens`` (real tokens), ``n_spliced`` (positions replaced).

    See Also
    --------
    skfeatsparse.activations.TransformerActivations : ``site`` and ``layer``.
    sparsity_report : How sparse the coding itself is.

    Examples
    --------
    >>> act = TransformerActivations("smollm2", layer=15).fit()  # doctest: +SKIP
    >>> dl = GreedyL1DictionaryLearning(576).fit(act.transform(train))  # doctest: +SKIP
    >>> faithfulness(act, dl, held_out)["loss_recovered"]  # doctest: +SKIP
    0.91
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    activations = _fitted(activations)
    texts = check_texts(texts)
    module, index, key = resolve_target(activations, layer, site)
    if mean is None:
        if isinstance(key, str):
            rows = activations.transform_sites(texts, [key])[key]
        else:
            rows = activations.transform_layers(texts, [key])[key]
        mean = rows.mean(axis=0)
    mean = np.asarray(mean, dtype=np.float32).ravel()
    target = SpliceTarget(module, dictionary, mean, index)
    return splice_targets(
        activations, texts, [target], kind=kind, batch_size=batch_size
    )[0]
