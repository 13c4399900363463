"""Text to language-model activations: the data the paper measures.

:class:`TransformerActivations` turns a list of texts into the hidden-state
activations of any Hugging Face model, one row per token (the paper's Section
4.2 samples); :func:`token_embeddings` gives the input token-embedding matrix
(Section 4.1). Provenance, streaming and an on-disk cache serve corpora whose
activations do not fit in memory. ``model="default"`` is the embedded
all-MiniLM-L6-v2, ``model="smollm2"`` the embedded SmolLM2-135M-Instruct (a
GGUF file, converted once to float32 by :func:`gguf_model_dir`), and
:func:`default_corpus` a text corpus, all offline.

torch and transformers are imported only when a model is loaded. For corpora
larger than memory, :meth:`TransformerActivations.to_dask` gives the
activations as a lazy dask array and ``cache_activations(..., format="zarr")``
stores them as chunked zarr arrays; dask and zarr are optional (``pip install
"skfeatsparse[dask]"``) and imported only by these.
"""

from ._cache import ActivationCache, cache_activations
from ._corpus import default_corpus, load_texts
from ._loading import (
    default_model_path,
    gguf_cache_dir,
    gguf_model_dir,
    token_embeddings,
)
from ._tokens import TokenProvenance
from ._transformer import TransformerActivations

__all__ = [
    "ActivationCache",
    "TokenProvenance",
    "TransformerActivations",
    "cache_activations",
    "default_corpus",
    "default_model_path",
    "gguf_cache_dir",
    "gguf_model_dir",
    "load_texts",
    "token_embeddings",
]
