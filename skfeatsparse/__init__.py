"""Measure how sparse and linear a language model's activations are.

skfeatsparse implements the sparse dictionary learning and the scale-invariant
sparsity metrics of Deng, Tao & Benton, "Measuring Feature Sparsity in Language
Models" (NeurIPS 2023 workshop), as scikit-learn estimators.

Sub-packages
------------
decomposition
    :class:`~skfeatsparse.decomposition.GreedyL1DictionaryLearning` and
    :func:`~skfeatsparse.decomposition.greedy_l1_encode`.
metrics
    The paper's metrics as scikit-learn scorers and as array functions.
datasets
    The paper's synthetic sparse-linear data and its controls.
activations
    :class:`~skfeatsparse.activations.TransformerActivations`: text to layer
    activations of a Hugging Face model.
studies
    The paper's studies (Figures 1-3) as functions, for the command line and you.
testing
    Hypothesis-driven property checks for any sparse coder.
utils
    Ground-floor helpers: optional imports, dask arrays, devices.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "datasets",
    "decomposition",
    "metrics",
    "studies",
    "testing",
    "utils",
)
__all__ = [*_SUBMODULES, "__version__"]


def __getattr__(name):
    # Sub-packages are imported on first use, so ``import skfeatsparse`` stays
    # fast: torch and transformers load only when activations are needed.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
