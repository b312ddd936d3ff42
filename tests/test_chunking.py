"""Chunking (paper regexes over universal tags), taggers, clause splitting, SST constituents."""

import sys

import pytest

from keras_relevance import chunking
from keras_relevance.chunking import (
    TaggerUnavailableError,
    chunk_spans,
    clause_spans,
    nltk_tagger,
    phrase_spans,
    sst_constituents,
)

MOVIE = "the movie does n't serve up lots of laughs .".split()
MOVIE_TAGS = ["DET", "NOUN", "VERB", "ADV", "VERB", "PRT", "NOUN", "ADP", "NOUN", "."]


def words(tokens, spans):
    return [" ".join(tokens[s:e]) for s, e, *_ in spans]


def test_paper_regexes_on_nltk_tag_names():
    spans = chunk_spans(MOVIE_TAGS)
    assert spans == [(0, 2, "NP"), (2, 6, "VP"), (6, 9, "NP")]
    assert words(MOVIE, spans) == ["the movie", "does n't serve up", "lots of laughs"]


def test_ud_tag_names_are_the_same_chunks():
    ud = ["DET", "NOUN", "AUX", "PART", "VERB", "ADP", "NOUN", "ADP", "NOUN", "PUNCT"]
    ud[2] = "VERB"
    ud[5] = "PART"
    assert chunk_spans(ud) == chunk_spans(MOVIE_TAGS)


@pytest.mark.parametrize(
    "tags, expected",
    [
        # <DET>?<ADJ|NUM>*(<NOUN>+<ADP|CONJ>)*<ADJ>*<NOUN>+ : conjunction inside, trailing ADP
        # left out, adjectives and numbers kept (the paper's pattern lost them: DET ADJ NOUN
        # gave only the noun)
        ("DET NOUN CONJ NOUN", [(0, 4, "NP")]),
        ("NOUN NOUN ADP", [(0, 2, "NP")]),
        ("DET ADJ NOUN", [(0, 3, "NP")]),
        ("DET NUM ADJ ADJ NOUN NOUN", [(0, 6, "NP")]),
        ("NOUN ADP DET ADJ NOUN", [(0, 1, "NP"), (2, 5, "NP")]),
        ("NOUN ADP ADJ NOUN", [(0, 4, "NP")]),
        ("DET ADJ", []),
        ("ADJ", []),
        ("DET", []),
        # <VERB>*<ADV>*<PART>*<VERB>+<PART>* : needs a final verb
        ("ADV PRT VERB PRT", [(0, 4, "VP")]),
        ("VERB ADV", [(0, 1, "VP")]),
        ("ADV", []),
        ("", []),
    ],
)
def test_regex_edges(tags, expected):
    assert chunk_spans(tags.split()) == expected


def test_adjectives_stay_in_the_noun_phrase():
    tokens = "a good film".split()
    spans = phrase_spans(tokens, tagger=lambda toks: ["DET", "ADJ", "NOUN"])
    assert words(tokens, spans) == ["a good film"]
    tokens = "it has lots of very funny jokes".split()
    tags = ["PRON", "VERB", "NOUN", "ADP", "ADV", "ADJ", "NOUN"]
    # an adverb is not part of the noun pattern: "very" stays out, the adjective stays in
    assert words(tokens, phrase_spans(tokens, tagger=lambda toks: tags)) == [
        "has", "lots", "funny jokes",
    ]  # fmt: skip


def test_chunks_do_not_overlap_and_custom_patterns():
    patterns = [("X", "<NOUN><VERB>"), ("Y", "<VERB><NOUN>")]
    spans = chunk_spans("NOUN VERB NOUN".split(), patterns=patterns)
    assert spans == [(0, 2, "X")]  # the second pattern may not reuse the chunked verb


def test_nltk_tagger_with_shared_data(data_dir):
    pytest.importorskip("nltk")
    tagger = nltk_tagger(data_dir / "nltk_data")
    assert tagger(MOVIE) == [chunking.normalize_tag(t) for t in MOVIE_TAGS]
    assert tagger(MOVIE)[5] == "PART"
    spans = phrase_spans(MOVIE, tagger=tagger)
    assert words(MOVIE, spans) == ["the movie", "does n't serve up", "lots of laughs"]


def test_missing_nltk_explains_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk", None)
    with pytest.raises(TaggerUnavailableError, match="pip install nltk") as info:
        nltk_tagger()
    assert "averaged_perceptron_tagger_eng" in str(info.value)
    assert "NLTK_DATA" in str(info.value)


def test_missing_nltk_data_explains_how_to_get_it(monkeypatch, tmp_path):
    nltk = pytest.importorskip("nltk")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    monkeypatch.delenv("NLTK_DATA", raising=False)
    with pytest.raises(TaggerUnavailableError, match="universal_tagset"):
        nltk_tagger()


def test_callable_tagger_is_pluggable():
    spans = phrase_spans(MOVIE, tagger=lambda toks: MOVIE_TAGS)
    assert spans == [(0, 2, "NP"), (2, 6, "VP"), (6, 9, "NP")]
    with pytest.raises(ValueError, match="tags for"):
        phrase_spans(MOVIE, tagger=lambda toks: ["NOUN"])


def test_clauses_partition_the_sentence():
    toks = "it 's a good film -- not a classic , but odd , entertaining and authentic .".split()
    spans = clause_spans(toks)
    assert [" ".join(toks[s:e]) for s, e in spans] == [
        "it 's a good film --",
        "not a classic ,",
        "but odd ,",
        "entertaining",
        "and authentic .",
    ]
    assert spans[0][0] == 0 and spans[-1][1] == len(toks)
    assert all(a[1] == b[0] for a, b in zip(spans[:-1], spans[1:], strict=True))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("good", ["good"]),
        (". , but", [". , but"]),
        ("but good", ["but good"]),
        ("good , , bad", ["good , ,", "bad"]),
        ("good but", ["good but"]),
    ],
)
def test_clause_edges(text, expected):
    toks = text.split()
    assert [" ".join(toks[s:e]) for s, e in clause_spans(toks)] == expected


def test_sst_tree_constituents():
    tokens, spans = sst_constituents("(3 (2 it) (4 (2 's) (4 good)))")
    assert tokens == ["it", "'s", "good"]
    assert spans == [(0, 3, 3), (1, 3, 4)]
    _, with_words = sst_constituents("(3 (2 it) (4 (2 's) (4 good)))", min_length=1)
    assert (0, 1, 2) in with_words and len(with_words) == 5
    with pytest.raises(ValueError):
        sst_constituents("(3 (2 it) (4 good)")


def test_sst_file_trees(data_dir):
    lines = (data_dir / "sst" / "test.txt").read_text().splitlines()[:50]
    for line in lines:
        tokens, spans = sst_constituents(line, min_length=1)
        assert spans[0] == (0, len(tokens), spans[0][2])  # the root covers the sentence
        assert sum(1 for s, e, _ in spans if e - s == 1) == len(tokens)
        assert len(spans) == 2 * len(tokens) - 1  # binary trees
