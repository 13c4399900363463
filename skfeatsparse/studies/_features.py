"""The paper's Appendix G: a token's features and the tokens that activate them.

A dictionary fitted on a model's token embeddings decomposes one token into
its largest coefficients (its top features); each feature is described by
the tokens whose codes have the largest coefficient for it (its
max-activating tokens). Beside them, the token's nearest neighbours in
embedding space by cosine (the paper's Table 3 baseline). Used by the
``skfeatsparse features`` command.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..activations import TransformerActivations, token_embeddings
from ._protocol import fit_dictionary

# Vocabulary rows coded at once when looking for max-activating tokens.
_CHUNK = 4096


def single_token_id(tokenizer, word):
    """The id of ``word`` as one token of ``tokenizer``, else a ValueError.

    Tried in order: the word after a space (how a word inside a sentence is
    spelled by byte-level BPE, ``"Ġseason"``, and SentencePiece,
    ``"▁season"``), the word alone (WordPiece lower-cases and strips it), and
    the tokenizer's own token string (e.g. ``"Ġseason"``, ``"##ing"``).
    """
    if not isinstance(word, str) or not word.strip():
        raise ValueError(f"a token must be a non-empty word, got {word!r}.")
    tried = {}
    unknown = getattr(tokenizer, "unk_token_id", None)
    for text in (" " + word, word):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) == 1 and ids[0] != unknown:  # [UNK] is not the word
            return int(ids[0])
        tried[text] = tokenizer.convert_ids_to_tokens(ids)
    vocab = tokenizer.get_vocab()
    if word in vocab:
        return int(vocab[word])
    pieces = "; ".join(f"{t!r} -> {p}" for t, p in tried.items())
    raise ValueError(
        f"{word!r} is not one token of this tokenizer ({pieces}); give a word "
        "that is a single token, or the token's own string."
    )


@dataclass
class TokenFeatures:
    """One token decomposed by a dictionary: Appendix G's table for it.

    Attributes
    ----------
    word, token, token_id
        What was asked, the tokenizer's string for it and its id.
    features : ndarray of int
        The token's top atoms (indices into ``components_``), by coefficient.
    coefficients : ndarray of float
        Their coefficients in the token's code, largest first.
    top_tokens : list of list of str
        Per feature, the tokens with the largest coefficient for it (the
        whole vocabulary coded; only tokens that use it), largest first;
        ``top_coefficients`` their coefficients.
    neighbours : list of str
        The nearest tokens by cosine of the (uncentred) embeddings, the token
        itself left out, nearest first; ``neighbour_cosines`` their cosines.
    code : ndarray of float
        The token's whole code (``n_components``): ``code @ components_ +
        mean_`` is its reconstruction.
    relative_error : float
        ``||embedding - reconstruction|| / ||embedding - mean_||``.
    """

    word: str
    token: str
    token_id: int
    features: np.ndarray
    coefficients: np.ndarray
    top_tokens: list
    top_coefficients: list
    neighbours: list
    neighbour_cosines: np.ndarray
    code: np.ndarray = field(repr=False)
    relative_error: float

    def to_dict(self):
        """JSON-ready: every field but the whole code (its non-zeros instead)."""
        nonzero = np.flatnonzero(self.code)
        return {
            "word": self.word,
            "token": self.token,
            "token_id": self.token_id,
            "features": self.features.tolist(),
            "coefficients": self.coefficients.tolist(),
            "top_tokens": self.top_tokens,
            "top_coefficients": [list(map(float, c)) for c in self.top_coefficients],
            "neighbours": self.neighbours,
            "neighbour_cosines": self.neighbour_cosines.tolist(),
            "n_nonzero": int(nonzero.size),
            "relative_error": float(self.relative_error),
        }

    def to_table(self):
        """A Markdown table: a line per feature, a last line of neighbours."""
        return _table(self.to_dict())

    def caption(self):
        """``'season' = token 'Ġseason' (id 3645): 12 non-zero ...``."""
        return _caption(self.to_dict())


def _rows_of(record):
    return record.to_dict() if isinstance(record, TokenFeatures) else record


def _caption(r):
    return (
        f"{r['word']!r} = token {r['token']!r} (id {r['token_id']}): "
        f"{r['n_nonzero']} non-zero coefficients, relative error "
        f"{r['relative_error']:.2f}"
    )


def _table(r):
    lines = [
        "| feature | coefficient | tokens that activate it most |",
        "|---|---|---|",
    ]
    for atom, coef, tokens in zip(r["features"], r["coefficients"], r["top_tokens"]):
        lines.append(f"| {atom} | {coef:.3f} | {_token_list(tokens)} |")
    neighbours = ", ".join(
        f"{_show(t)} ({c:.2f})" for t, c in zip(r["neighbours"], r["neighbour_cosines"])
    )
    lines.append(f"| nearest by cosine | - | {neighbours} |")
    return "\n".join(lines)


def format_token_features(results):
    """The tables of :func:`token_features` (or of their ``to_dict()``), captioned.

    Per token: a line per top feature (its coefficient and max-activating
    tokens), then its nearest neighbours by cosine (the paper's baseline).
    """
    return "\n\n".join(f"{_caption(r)}\n\n{_table(r)}" for r in map(_rows_of, results))


def _show(token):
    return repr(token).replace("|", "¦")  # a pipe would split the table


def _token_list(tokens):
    return ", ".join(_show(t) for t in tokens)


def fit_token_dictionary(
    embeddings, *, dictionary_ratio=1, random_state=0, **fit_params
):
    """A dictionary of ``dictionary_ratio`` x d atoms on all the token embeddings.

    The paper's Sec. 4.1 setting (centred, adaptive penalty), every row used:
    Appendix G describes the features of the whole vocabulary.
    """
    return fit_dictionary(
        np.asarray(embeddings, dtype=np.float32),
        dictionary_ratio=dictionary_ratio,
        random_state=random_state,
        fit_params=fit_params,
    )


def _transform(dictionary, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return dictionary.transform(X)


def token_features(
    model,
    tokens,
    *,
    dictionary=None,
    n_features=5,
    n_top=8,
    n_neighbours=8,
    dictionary_ratio=1,
    random_state=0,
    **fit_params,
):
    """Decompose tokens into their top features: the paper's Appendix G.

    Parameters
    ----------
    model : str, path or TransformerActivations
        What :class:`~skfeatsparse.activations.TransformerActivations` takes,
        or a fitted one.
    tokens : sequence of str
        Words, each a single token of the model's tokenizer (see
        :func:`single_token_id`: ``"season"`` is ``"Ġseason"`` for SmolLM2);
        a word that is several tokens is a ValueError.
    dictionary : fitted GreedyL1DictionaryLearning, default=None
        A dictionary fitted on this model's token embeddings (e.g. cached
        from an earlier call); ``None`` fits one
        (:func:`fit_token_dictionary` with ``dictionary_ratio``,
        ``random_state`` and ``fit_params``).
    n_features : int, default=5
        Top features listed per token (fewer if its code has fewer non-zeros).
    n_top : int, default=8
        Max-activating tokens listed per feature.
    n_neighbours : int, default=8
        Nearest neighbours by cosine listed per token.

    Returns
    -------
    results : list of TokenFeatures
        One per token, in order; :func:`format_token_features` prints them.
    dictionary : GreedyL1DictionaryLearning
        The dictionary used (to reuse or cache).
    """
    for name, value in (("n_features", n_features), ("n_top", n_top),
                        ("n_neighbours", n_neighbours)):  # fmt: skip
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if isinstance(tokens, str):
        tokens = [tokens]
    if isinstance(model, TransformerActivations):
        act = model if hasattr(model, "model_") else model.fit()
    else:
        act = TransformerActivations(model).fit()
    tokenizer = act.tokenizer_
    ids = [single_token_id(tokenizer, word) for word in tokens]
    E = np.asarray(token_embeddings(act.model_), dtype=np.float32)
    if dictionary is None:
        dictionary = fit_token_dictionary(
            E, dictionary_ratio=dictionary_ratio, random_state=random_state,
            **fit_params,
        )  # fmt: skip
    elif dictionary.n_features_in_ != E.shape[1]:
        raise ValueError(
            f"the dictionary has {dictionary.n_features_in_} features, the "
            f"model's token embeddings {E.shape[1]}: fit it on this model."
        )
    codes = _codes_of(dictionary, E, ids)
    picked = []
    for code in codes:
        order = np.argsort(-code, kind="stable")
        n = min(n_features, int(np.count_nonzero(code)))
        picked.append(order[:n])
    atoms = np.unique(np.concatenate(picked)) if picked else np.array([], int)
    top = _max_activating(dictionary, E, atoms, n_top)
    unit = E / np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
    results = []
    for word, token_id, code, features in zip(tokens, ids, codes, picked):
        cosine = unit @ unit[token_id]
        cosine[token_id] = -np.inf
        near = np.argsort(-cosine, kind="stable")[:n_neighbours]
        x = E[token_id]
        reconstruction = code @ dictionary.components_ + dictionary.mean_
        centred = np.linalg.norm(x - dictionary.mean_)
        error = np.linalg.norm(x - reconstruction) / max(centred, 1e-12)
        results.append(
            TokenFeatures(
                word=word,
                token=tokenizer.convert_ids_to_tokens(token_id),
                token_id=token_id,
                features=features.astype(int),
                coefficients=code[features].astype(float),
                top_tokens=[
                    tokenizer.convert_ids_to_tokens(top[a][0].tolist())
                    for a in features
                ],
                top_coefficients=[top[a][1] for a in features],
                neighbours=tokenizer.convert_ids_to_tokens(near.tolist()),
                neighbour_cosines=cosine[near].astype(float),
                code=code,
                relative_error=float(error),
            )
        )
    return results, dictionary


def _codes_of(dictionary, E, ids):
    """The codes of rows ``ids`` as the chunked pass over the vocabulary has them.

    Coded within their chunk, not alone: where two atoms tie (near-duplicate
    atoms), how BLAS rounds a product decides between them, and the token's
    features must be those its max-activating tokens were found for.
    """
    codes = np.empty((len(ids), dictionary.components_.shape[0]), np.float32)
    for start in sorted({i - i % _CHUNK for i in ids}):
        chunk = _transform(dictionary, E[start : start + _CHUNK])
        for j, i in enumerate(ids):
            if start <= i < start + _CHUNK:
                codes[j] = chunk[i - start]
    return codes


def _max_activating(dictionary, E, atoms, n_top):
    """Per atom: the ids and coefficients of the ``n_top`` largest codes for it.

    The whole vocabulary is coded in chunks; only the asked-for columns are
    kept (a dense code of every token would not fit in memory at 8d).
    """
    if atoms.size == 0:
        return {}
    columns = np.empty((E.shape[0], atoms.size), np.float32)
    for start in range(0, E.shape[0], _CHUNK):
        chunk = _transform(dictionary, E[start : start + _CHUNK])
        columns[start : start + _CHUNK] = chunk[:, atoms]
    out = {}
    for j, atom in enumerate(atoms):
        order = np.argsort(-columns[:, j], kind="stable")[:n_top]
        order = order[columns[order, j] > 0]  # tokens that use the atom at all
        out[int(atom)] = (order, columns[order, j].astype(float))
    return out
