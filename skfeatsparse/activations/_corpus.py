"""Text corpora that exist on every machine: no download, no copied text.

The default corpus is the English prose of the Python standard library's
docstrings, split into sentences at run time. It stands in for the paper's
Wikipedia abstract sentences (Section 4.2) where nothing can be downloaded.
"""

import importlib
import inspect
import re
import sys
import warnings
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


def _docstrings(module):
    """Docstrings of a module, its public classes/functions and their methods."""
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


def _sentences(doc, min_words, max_words):
    """Prose sentences of one docstring: paragraphs of plain lines, split."""
    for paragraph in re.split(r"\n\s*\n", doc or ""):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t", ">>>", "-", "*", ":")) for line in lines):
            continue  # code, lists, field lists
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            n_words = len(sentence.split())
            if (
                min_words <= n_words <= max_words
                and sentence[0].isupper()
                and sentence[-1] in ".!?"
                and not _CODE.search(sentence)
                and sum(c.isalpha() for c in sentence) >= 0.75 * len(sentence)
            ):
                yield sentence


def default_corpus(
    n_texts=None, *, min_words=5, max_words=40, shuffle=False, random_state=None
):
    """English sentences from the Python standard library's docstrings.

    Works offline on any machine and ships no text: the sentences are read at
    run time from the docstrings of a fixed list of standard-library modules
    (their public classes, functions and methods), split at sentence ends,
    keeping only plain prose (no code, markup or lists), without duplicates.
    The order is deterministic for a given Python version; it interleaves the
    modules, so the first ``n_texts`` already mix many topics. Different Python
    versions have different docstrings, hence slightly different corpora.

    Parameters
    ----------
    n_texts : int, default=None
        Number of sentences to return; ``None`` returns all of them
        (several thousand).
    min_words, max_words : int, default=5, 40
        Keep sentences with this many whitespace-separated words.
    shuffle : bool, default=False
        Shuffle the sentences before taking the first ``n_texts``.
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffle; ignored when ``shuffle=False``.

    Returns
    -------
    texts : list of str
        One sentence per element.

    See Also
    --------
    load_texts : Read your own corpus, one text per line.

    Examples
    --------
    >>> from skfeatsparse.activations import default_corpus
    >>> texts = default_corpus(100)
    >>> len(texts), all(isinstance(t, str) for t in texts)
    (100, True)
    """
    if min_words < 1 or max_words < min_words:
        raise ValueError(
            f"need 1 <= min_words <= max_words, got min_words={min_words}, "
            f"max_words={max_words}."
        )
    per_module = []
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - module gone in this Python
            continue
        with warnings.catch_warnings():  # e.g. typing.io's deprecation
            warnings.simplefilter("ignore", DeprecationWarning)
            docs = list(_docstrings(module))
        per_module.append(
            [s for doc in docs for s in _sentences(doc, min_words, max_words)]
        )
    texts, seen = [], set()
    # Round robin over modules: any prefix of the corpus covers many topics.
    for i in range(max(map(len, per_module), default=0)):
        for sentences in per_module:
            if i < len(sentences) and sentences[i] not in seen:
                seen.add(sentences[i])
                texts.append(sentences[i])
    if shuffle:
        order = check_random_state(random_state).permutation(len(texts))
        texts = [texts[i] for i in order]
    if n_texts is not None:
        if not 1 <= n_texts <= len(texts):
            raise ValueError(
                f"n_texts={n_texts} is out of range: the default corpus has "
                f"{len(texts)} sentences of {min_words} to {max_words} words on "
                f"Python {sys.version_info.major}.{sys.version_info.minor}; "
                "ask for fewer, widen min_words/max_words, or pass your own texts."
            )
        texts = texts[:n_texts]
    return texts


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
