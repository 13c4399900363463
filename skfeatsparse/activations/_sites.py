"""Sites: the outputs of named submodules, read (and replaced) by forward hooks.

A *site* is a path in ``model.named_modules()`` -- ``"encoder.layer.3.output"``,
``"layers.5.mlp"`` -- whose output is read by a forward hook, beside (or
instead of) the residual stream the hidden states give. Patterns are globs
over those paths, one component at a time: ``*`` matches within one component
(``"encoder.layer.*.output.dense"`` is a BERT's six MLP outputs, not the
attention outputs' ``attention.output.dense``), ``**`` any number of
components. A module that returns a tuple (attention modules do) contributes
its first tensor.

Also here: which module produces hidden state ``k`` (so that a splice can
replace it), found by matching outputs on a probe batch, whatever the model
family. torch is imported inside the functions.
"""

import contextlib
import difflib
import fnmatch


def _matches(parts, pattern):
    """Does the path ``parts`` match the glob ``pattern`` (both lists of components)?"""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(parts[i:], rest) for i in range(len(parts) + 1))
    return (
        bool(parts)
        and fnmatch.fnmatchcase(parts[0], head)
        and _matches(parts[1:], rest)
    )


def module_names(model):
    """Every submodule path of ``model`` (the root, ``""``, left out)."""
    return [name for name, _ in model.named_modules() if name]


def match_sites(model, patterns):
    """The module paths ``patterns`` (a str or a list of them) name, in module order.

    Each pattern's matches come in ``named_modules()`` order, patterns in the
    order given, every path once. A pattern that matches nothing is a
    ValueError naming the closest paths.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    names = module_names(model)
    found = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip("."):
            raise ValueError(
                f"a site is a submodule path such as 'encoder.layer.0.output', "
                f"got {pattern!r}."
            )
        glob = pattern.split(".")
        hits = [n for n in names if _matches(n.split("."), glob)]
        if not hits:
            raise ValueError(_no_match_message(model, pattern, names))
        found += [n for n in hits if n not in found]
    return found


def _no_match_message(model, pattern, names):
    # Compare with '*' read as a layer index: "encoder.layers.*.output" is
    # then one typo away from "encoder.layer.0.output".
    probe = pattern.replace("**.", "").replace("*", "0")
    close = difflib.get_close_matches(probe, names, n=5, cutoff=0.6)
    children = [name for name, _ in model.named_children()]
    hint = (
        f"Close matches: {', '.join(map(repr, close))}."
        if close
        else f"Its top-level modules: {', '.join(map(repr, children))}."
    )
    return (
        f"site {pattern!r} matches no submodule of {type(model).__name__}. {hint} "
        "Sites are paths of model.named_modules(); in a pattern '*' matches "
        "within one path component and '**' any number of them."
    )


def first_tensor(output):
    """The tensor a module's output stands for: itself, or the first of a tuple."""
    import torch

    if torch.is_tensor(output):
        return output
    values = output.values() if isinstance(output, dict) else output
    if isinstance(values, (tuple, list)) or isinstance(output, dict):
        for value in values:
            if torch.is_tensor(value):
                return value
    return None


def replace_first(output, new):
    """``output`` with its first tensor (:func:`first_tensor`) replaced by ``new``."""
    import torch

    if torch.is_tensor(output):
        return new
    if isinstance(output, dict):  # a ModelOutput: a copy with the first tensor new
        out = output.__class__(**output)
        key = next(k for k, v in output.items() if torch.is_tensor(v))
        out[key] = new
        return out
    items = list(output)
    i = next(i for i, v in enumerate(items) if torch.is_tensor(v))
    items[i] = new
    return tuple(items) if isinstance(output, tuple) else items


def site_rows(name, tensor, n_texts, width):
    """A site's output as ``(n_texts, width, n_features)``, or a clear error."""
    if (
        tensor is None
        or tensor.dim() < 3
        or tuple(tensor.shape[:2])
        != (
            n_texts,
            width,
        )
    ):
        shape = None if tensor is None else tuple(tensor.shape)
        raise ValueError(
            f"site {name!r} gave {'no tensor' if shape is None else f'shape {shape}'}"
            f", not (texts, tokens, features) = ({n_texts}, {width}, ...): it is "
            "not a per-token module. Choose a module that outputs one vector per "
            "token (a block, its attention or MLP, a linear layer)."
        )
    return tensor.reshape(n_texts, width, -1)


@contextlib.contextmanager
def _hooks(model, names, hook):
    modules = dict(model.named_modules())
    handles = [
        modules[name].register_forward_hook(
            lambda module, args, output, name=name: hook(name, output)
        )
        for name in names
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def capture_sites(model, names):
    """Record the first output tensor of each module ``names`` during a forward pass.

    Yields a dict that holds ``{name: tensor}`` once the pass has run. A
    module that runs twice in one pass (weights shared across layers) is a
    ValueError: its outputs would be ambiguous.
    """
    captured = {}

    def hook(name, output):
        if name in captured:
            raise ValueError(
                f"site {name!r} ran more than once in one forward pass (a module "
                "shared between layers); choose a module that runs once."
            )
        captured[name] = first_tensor(output)

    with _hooks(model, names, hook):
        yield captured
    missing = [name for name in names if name not in captured]
    if missing:
        raise ValueError(
            f"the sites {missing} did not run in the forward pass (for an "
            "encoder-decoder model only the encoder runs); choose modules the "
            "forward pass goes through."
        )


@contextlib.contextmanager
def replace_sites(model, replacements):
    """Replace module outputs during forward passes: ``{name: function}``.

    Each function takes the output's first tensor and returns its
    replacement (same shape and dtype); the rest of a tuple output is kept.
    """

    def hook(name, output):
        return replace_first(output, replacements[name](first_tensor(output)))

    with _hooks(model, list(replacements), hook):
        yield


def hidden_state_modules(model, layers, input_ids, attention_mask):
    """``{layer: module path}``: the module that produces each hidden state.

    Found on the probe batch: the first module (in the order they finish)
    whose output is exactly the hidden state -- the innermost producer, which
    its parents pass on unchanged (BERT: ``encoder.layer.2.output.LayerNorm``
    for hidden state 3; GPT-2: ``h.2``; the last hidden state is the final
    norm's output where the model has one). Replacing that output replaces
    the hidden state downstream.
    """
    import torch

    from ._tokens import hidden_states

    finished = []
    names = module_names(model)
    with _hooks(model, names, lambda name, out: finished.append((name, out))):
        hidden = hidden_states(model, input_ids, attention_mask)
    found = {}
    for layer in layers:
        target = hidden[layer]
        for name, output in finished:
            tensor = first_tensor(output)
            if (
                tensor is not None
                and tensor.shape == target.shape
                and torch.equal(tensor, target)
            ):
                found[layer] = name
                break
        else:
            raise ValueError(
                f"no submodule of {type(model).__name__} outputs hidden state "
                f"{layer} (it is computed outside any module); name the module to "
                "splice with site=... instead."
            )
    return found
