"""Activations as a lazy dask array: the graph of ``TransformerActivations.to_dask``.

One task per chunk of texts runs the forward passes of its texts (through
:class:`~._extraction.Extraction`, as ``transform`` does) and returns the rows
of every requested layer; one array per layer is assembled from those tasks
with known chunk sizes. The fitted transformer is one literal key of the graph,
so a distributed scheduler serialises the model once, not per chunk.
"""

import threading
import uuid
import weakref

import numpy as np

from ..utils import optional_import
from ._extraction import Extraction

# One forward pass at a time per model within a process: dask's threaded
# scheduler would otherwise run chunks concurrently on one model and one
# tokenizer, whose settings (truncation) are shared mutable state, and torch
# already spreads each pass over the cores (or the GPU). Keyed weakly: no
# model is kept alive by its lock.
_LOCKS = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _lock_of(model):
    with _LOCKS_LOCK:
        if model not in _LOCKS:
            _LOCKS[model] = threading.Lock()
        return _LOCKS[model]


def _chunk_rows(transformer, texts, layers, counts, lengths):
    """One dask chunk: ``{layer: rows}`` of ``texts``, in text order.

    ``counts`` and ``lengths`` come from the planning pass of ``to_dask``, so
    the texts are not planned (nor warned about) again.
    """
    extraction = Extraction.of(transformer)
    pairs = [(n, n) for n in layers]
    with _lock_of(extraction.model):
        return extraction.rows_in_order(
            list(texts),
            range(len(texts)),
            pairs,
            np.asarray(counts),
            np.asarray(lengths),
        )


def activation_arrays(
    transformer, texts, layers, counts, lengths, widths, *, texts_per_chunk
):
    """``{key: dask array}`` of the rows of ``texts``, one chunk per group of texts.

    Parameters
    ----------
    transformer : TransformerActivations
        Fitted; becomes one key of the graph.
    texts : list of str
        Checked by the caller.
    layers : list of int or str
        Non-negative hidden-state indices and site paths.
    counts, lengths : ndarray
        Rows and sequence length per text, from the planning pass.
    widths : dict
        Columns of each key's array.
    texts_per_chunk : int
        Texts per chunk.

    Returns
    -------
    arrays : dict of int to dask.array.Array
    """
    da = optional_import("dask.array", "TransformerActivations.to_dask")
    import dask

    name = f"transformer-activations-{uuid.uuid4().hex}"
    # The transformer is one literal key of the graph, not an argument
    # embedded in each chunk's task.
    model = dask.delayed(transformer, name=name, traverse=False)
    blocks = {n: [] for n in layers}
    for k, start in enumerate(range(0, len(texts), int(texts_per_chunk))):
        stop = min(start + int(texts_per_chunk), len(texts))
        rows = dask.delayed(_chunk_rows, pure=True)(
            model,
            tuple(texts[start:stop]),
            tuple(layers),
            counts[start:stop],
            lengths[start:stop],
            dask_key_name=f"{name}-forward-{k}",
        )
        n_rows = int(counts[start:stop].sum())
        for n in layers:
            blocks[n].append(
                da.from_delayed(
                    rows[n], (n_rows, widths[n]), dtype=np.float32,
                    name=f"{name}-{n}-{k}",
                )
            )  # fmt: skip
    return {n: da.concatenate(blocks[n], axis=0) for n in layers}
