"""The text corpora: default_corpus and load_texts."""

import pytest

from skfeatsparse.activations import default_corpus, load_texts


def test_default_corpus_is_deterministic_english_sentences():
    texts = default_corpus(200)
    assert texts == default_corpus(200)
    assert len(set(texts)) == 200
    assert all(5 <= len(t.split()) <= 40 and t[0].isupper() for t in texts)
    shuffled = default_corpus(200, shuffle=True, random_state=0)
    assert shuffled == default_corpus(200, shuffle=True, random_state=0) != texts
    with pytest.raises(ValueError, match="n_texts"):
        default_corpus(10**7)


def test_load_texts_skips_blank_lines(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("first text\n\n  \nsecond text  \n", encoding="utf-8")
    assert load_texts(path) == ["first text", "second text"]
    with pytest.raises(FileNotFoundError, match="one text per line"):
        load_texts(tmp_path / "missing.txt")
