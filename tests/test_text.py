"""keras_relevance.text: character offsets and the vocabulary."""

import numpy as np
import pytest

from keras_relevance.text import OOV_ID, PAD_ID, Tokenized, Vocabulary, tokenize


def test_offsets_are_characters_for_non_ascii():
    text = "Café — naïve 😀 ok"
    (t,) = tokenize([text])
    assert t.tokens == ["café", "—", "naïve", "😀", "ok"]
    assert [text[s:e] for s, e in t.spans()] == ["Café", "—", "naïve", "😀", "ok"]
    assert t.starts == [0, 5, 7, 13, 15]
    assert t.text == text


def test_lower_false_keeps_case_and_offsets_point_into_original():
    texts = ["İstanbul ÅNGSTRÖM x", "It's GOOD,  isn't it?", ""]
    out = tokenize(texts, lower=False)
    for text, t in zip(texts, out, strict=True):
        assert [text[s:e] for s, e in t.spans()] == t.tokens
    assert out[1].tokens == ["It", "'", "s", "GOOD", ",", "isn", "'", "t", "it", "?"]
    assert out[2].tokens == [] and len(out[2]) == 0
    # lowering changes tokens, not offsets ("İ".lower() has two characters)
    low = tokenize(texts)
    assert low[0].starts == out[0].starts and low[0].ends == out[0].ends
    assert low[0].tokens[1] == "ångström"


def test_whitespace_tokenizer_and_single_string():
    (t,) = tokenize("naïve it's  fine.", tokenizer="whitespace")
    assert t.tokens == ["naïve", "it's", "fine."]
    assert t.starts == [0, 6, 12] and t.ends == [5, 10, 17]
    assert tokenize([]) == []
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenize(["x"], tokenizer="bert")
    with pytest.raises(TypeError):
        tokenize([b"bytes"])


def test_vocabulary_order_specials_and_oov():
    corpus = [["a", "good", "film"], ["a", "bad", "film"], ["a", "Film"]]
    vocab = Vocabulary.from_tokens(corpus)
    # 0 pad, 1 oov, then by count (a:3, film:3 -> alphabetical), then bad, good
    assert vocab.tokens == ["<pad>", "<unk>", "a", "film", "bad", "good"]
    assert len(vocab) == 6
    assert vocab.token_to_id("FILM") == 3 and "Good" in vocab
    assert vocab.token_to_id("plot") == OOV_ID
    assert vocab.counts["film"] == 3
    small = Vocabulary.from_tokens(corpus, max_size=4)
    assert small.tokens == ["<pad>", "<unk>", "a", "film"]
    frequent = Vocabulary.from_tokens(corpus, min_count=2)
    assert frequent.tokens[2:] == ["a", "film"]
    cased = Vocabulary.from_tokens(corpus, lower=False)
    assert "Film" in cased and cased.token_to_id("FILM") == OOV_ID


def test_encode_decode_padding_truncation():
    vocab = Vocabulary.from_texts(["A good film.", "a bad film"])
    ids = vocab.encode(["a good plot", "film"])
    assert ids.dtype == np.int32 and ids.shape == (2, 3)
    assert ids[1, 1:].tolist() == [PAD_ID, PAD_ID]
    assert ids[0, 2] == OOV_ID
    assert vocab.decode(ids) == [["a", "good", "<unk>"], ["film"]]
    assert vocab.decode(ids[1], skip_padding=False) == ["film", "<pad>", "<pad>"]
    assert vocab.encode([["a", "film"]], max_len=5).tolist() == [[2, 3, 0, 0, 0]]
    assert vocab.encode([["a", "good", "film"]], max_len=2).tolist() == [
        [2, vocab.token_to_id("good")]
    ]
    assert vocab.encode([[]]).shape == (1, 1)
    assert vocab.encode("film .").tolist() == vocab.encode([["film", "."]]).tolist()
    assert vocab.encode(tokenize(["Film"])).tolist() == [[3]]


def test_json_round_trip(tmp_path):
    vocab = Vocabulary.from_texts(["café naïve 😀", "café"], tokenizer="whitespace")
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.tokenizer == "whitespace"
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab
    assert loaded.encode(["café 😀 x"]).tolist() == vocab.encode(["café 😀 x"]).tolist()
    with pytest.raises(ValueError):
        Vocabulary.from_json('{"tokens": []}')


def test_tokenized_is_plain_data():
    t = Tokenized(["a"], [0], [1], "a")
    assert t.spans() == [(0, 1)] and len(t) == 1


def test_treebank_tokenizer_matches_sst_conventions():
    text = 'It doesn\'t work (really)... "Yes," she said -- can’t wait, café 😀.'
    (t,) = tokenize([text], tokenizer="treebank")
    assert t.tokens == [
        "it", "does", "n't", "work", "-lrb-", "really", "-rrb-", "...", "``", "yes", ",", "''",
        "she", "said", "--", "ca", "n't", "wait", ",", "café", "😀", ".",
    ]  # fmt: skip
    pieces = [text[s:e] for s, e in t.spans()]
    assert pieces[1:3] == ["does", "n't"] and pieces[4] == "(" and pieces[15:17] == ["ca", "n’t"]
    vocab = Vocabulary.from_tokens([["is", "n't", "good"]], tokenizer="treebank")
    assert vocab.encode(["Isn't GOOD"]).tolist() == [[3, 4, 2]]  # good, is, n't
    assert Vocabulary.from_json(vocab.to_json()).tokenizer == "treebank"


def test_treebank_tokenizer_round_trips_sst(data_dir):
    from keras_relevance.datasets import load_sst

    sst = load_sst(data_dir / "sst", "dev")
    raw = [t.replace("-LRB-", "(").replace("-RRB-", ")").replace("\\/", "/") for t in sst.texts]
    tokenized = tokenize(raw, lower=False, tokenizer="treebank")
    same = sum(t.tokens == toks for t, toks in zip(tokenized, sst.tokens, strict=True))
    assert same / len(sst) > 0.99
