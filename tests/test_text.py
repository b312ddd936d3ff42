"""keras_relevance.text: character offsets and the vocabulary."""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_relevance.text import (
    OOV_ID,
    PAD_ID,
    TextBatch,
    TextSource,
    Tokenized,
    Vocabulary,
    to_batch,
    tokenize,
    unknown_tokens,
)


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


# ------------------------------------------------------------------ any Unicode, all tokenizers
HOSTILE = [
    "8\xa01/2",  # SST-5: NBSP (2 bytes in UTF-8) made tensorflow-text's offsets split a character
    "it is 8 1/2 weeks , 10 / 10 ! ?",
    "x\u2003y\u3000z\u2028w\x85v\u202fu",  # em space, ideographic space, line sep, NEL, NNBSP
    "cafe\u0301s na\u0308ive e\u0301x \u0301lead",  # combining characters (NFD)
    "👨\u200d👩\u200d👧 ok 👍🏽x 🇫🇷🇩🇪!",  # ZWJ sequence, skin tone, flags
    "a\u200bb\ufeffc\x00d\ttab\nnew\r\nline",  # zero-width space, BOM, NUL, controls
    "東京タワー שלום مرحبا ภาษาไทย Ωμέγα",
    "<script>alert('x')</script> &amp; \"quoted\" (paren) [sq] {br}",
    "Can\u2019t won't it's 'em",
    "",
    "   \n\t ",
]


@pytest.mark.parametrize("tokenizer", ["whitespace", "unicode_script", "treebank"])
@pytest.mark.parametrize("lower", [True, False])
def test_offsets_slice_the_raw_text_for_any_unicode(tokenizer, lower):
    from keras_relevance.text import _treebank_token

    out = tokenize(HOSTILE, lower=lower, tokenizer=tokenizer)
    for text, t in zip(HOSTILE, out, strict=True):
        ends = ([0] + t.ends)[: len(t)]
        for token, s, e, prev_end in zip(t.tokens, t.starts, t.ends, ends, strict=True):
            assert prev_end <= s < e <= len(text), (text, t)  # ordered, no overlap, non-empty
            piece = _treebank_token(text, s, e) if tokenizer == "treebank" else text[s:e]
            assert token == (piece.lower() if lower else piece)
            assert not any(c.isspace() for c in text[s:e])
        if tokenizer == "whitespace":  # an independent oracle: str.split
            assert [text[s:e] for s, e in t.spans()] == text.split()


def test_unicode_script_keeps_words_and_graphemes_whole():
    texts = ["8\xa01/2", "it is 8 1/2 weeks", "cafe\u0301s! e\u0301x", "👨\u200d👩\u200d👧 👍🏽x",
             "a\u200bb\ufeff", "🇫🇷🇩🇪"]  # fmt: skip
    got = [t.tokens for t in tokenize(texts, lower=False)]
    assert got[0] == ["8", "1/2"]
    assert got[1] == ["it", "is", "8", "1/2", "weeks"]  # was "81/2" spanning the space
    assert got[2] == ["cafe\u0301s", "!", "e\u0301x"]
    assert got[3] == ["👨\u200d👩\u200d👧", "👍🏽", "x"]
    assert got[4] == ["a", "b"]  # invisible-only tokens dropped
    (flags,) = tokenize(["🇫🇷🇩🇪"], tokenizer="treebank")
    assert flags.tokens == ["🇫🇷", "🇩🇪"]
    assert tokenize(["8\xa01/2"], tokenizer="whitespace")[0].tokens == ["8", "1/2"]
    with pytest.raises(ValueError, match="text 1 is not valid Unicode"):
        tokenize(["ok", "a\ud800b"])


# ------------------------------------------------------------------ Keras vocabularies
SENTENCES = ["A good film!", "a bad film", "the plot is thin, the acting good", "GREAT acting."]


def adapted(**kwargs):
    import keras

    layer = keras.layers.TextVectorization(**kwargs)
    layer.adapt(SENTENCES)
    return layer


class FakeSource:
    """A `TextSource` over a real TextVectorization layer, as the graph walk will give."""

    def __init__(self, layer, with_length=True):
        self.layer = layer
        config = layer.get_config()
        self.standardize = layer._standardize if callable(layer._standardize) else config[
            "standardize"]  # fmt: skip
        self.split = config["split"]
        self.ngrams = config["ngrams"]
        if with_length:
            self.output_sequence_length = config["output_sequence_length"]

    @property
    def vocabulary(self):
        return self.layer.get_vocabulary()

    def vectorize(self, texts):
        return self.layer(texts).numpy()


def test_vocabulary_from_keras_keeps_the_layer_ids():
    tv = adapted()
    vocab = Vocabulary.from_keras(tv)
    assert vocab.tokens[2:] == [str(w) for w in tv.get_vocabulary()[2:]]
    texts = ["a good film", "the acting is GREAT", "unknown words here", "plot"]
    np.testing.assert_array_equal(vocab.encode(texts), tv(texts).numpy())
    # the constructor detects the layout too (it used to shift every id by 2)
    same = Vocabulary(tv.get_vocabulary())
    assert same == vocab
    np.testing.assert_array_equal(same.encode(texts), tv(texts).numpy())
    assert Vocabulary.from_keras(tv.get_vocabulary()) == vocab
    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_vocabulary_from_keras_refuses_what_would_shift_ids():
    import keras

    with pytest.raises(ValueError, match="mask_token"):
        Vocabulary.from_keras(keras.layers.StringLookup(vocabulary=["a", "b"]))
    with pytest.raises(ValueError, match=r"'Film' \(id 3.*would get id 2"):
        Vocabulary.from_keras(["", "[UNK]", "film", "Film"], lower=True)
    with pytest.raises(ValueError, match="'<pad>'"):
        Vocabulary.from_keras(["", "[UNK]", "<pad>", "x"])
    cased = Vocabulary.from_keras(["", "[UNK]", "Film", "film"])
    assert not cased.lower and cased.token_to_id("film") == 3


# ------------------------------------------------------------------ one input type: to_batch
def tv_standardized(piece):
    """TextVectorization's default standardization of one word, written from its definition."""
    import string

    piece = "".join(c for c in piece if c not in string.punctuation)
    return "".join(c.lower() if c.isascii() else c for c in piece)


SOURCE_TEXTS = [
    "A GOOD film!!",
    "Unknown -- words, é ok\xa0film",
    "",
    "   ",
    "!!! --- ...",
    "<script>alert('x')</script> good",
    "don't\tthe\nplot\r\nis 'thin'",
    "ÅNGSTRÖM 😀 cafe\u0301 the\u2003film",
    "acting acting acting acting acting acting",
]


def check_source_batch(batch, layer, texts):
    vocab = [str(w) for w in layer.get_vocabulary()]
    np.testing.assert_array_equal(batch.ids, layer(texts).numpy())
    np.testing.assert_array_equal(batch.token_mask, batch.ids != 0)
    assert batch.texts == texts and batch.oov_id == 1 and batch.pad_id == 0
    for row, text in enumerate(texts):
        ids = batch.ids[row][batch.token_mask[row]]
        assert batch.tokens[row] == [vocab[i] for i in ids]
        if batch.offsets[row] is None:
            continue
        for token, (s, e) in zip(batch.tokens[row], batch.offsets[row], strict=True):
            word = tv_standardized(text[s:e])
            assert word == token if token != "[UNK]" else word not in vocab
            # it splits at ASCII whitespace only: "a\xa0" is one word
            assert text[s:e] == text[s:e].strip(" \t\n\v\f\r") and tv_standardized(text[s]) != ""


def test_source_batch_matches_the_layer_with_offsets():
    layer = adapted()
    batch = to_batch(SOURCE_TEXTS, source=FakeSource(layer))
    check_source_batch(batch, layer, SOURCE_TEXTS)
    assert all(o is not None for o in batch.offsets)  # the default standardization is redone
    assert batch.tokens[0] == ["a", "good", "film"]
    assert batch.offsets[0] == [(0, 1), (2, 6), (7, 11)]  # "film!!" keeps the span of "film"
    assert batch.tokens[2] == [] and batch.tokens[3] == [] and batch.tokens[4] == []
    # TextVectorization splits at ASCII whitespace only: "é ok\xa0film" has the word "ok\xa0film"
    assert SOURCE_TEXTS[1][slice(*batch.offsets[1][-1])] == "ok\xa0film"
    assert unknown_tokens(batch)[1] == ["Unknown", "words", "é", "ok\xa0film"]
    assert unknown_tokens(batch)[7] == ["ÅNGSTRÖM", "😀", "cafe\u0301", "the\u2003film"]
    assert unknown_tokens(batch)[0] == []


@pytest.mark.parametrize("length", [None, 3, 12])
def test_source_with_output_sequence_length(length):
    layer = adapted(output_sequence_length=length)
    batch = to_batch(SOURCE_TEXTS, source=FakeSource(layer))
    check_source_batch(batch, layer, SOURCE_TEXTS)
    if length is not None:
        assert batch.ids.shape == (len(SOURCE_TEXTS), length)
    assert all(o is not None for o in batch.offsets)  # truncation by the declared length
    # without the declared length a truncated row cannot be told from a mismatch: no offsets
    blind = to_batch(SOURCE_TEXTS, source=FakeSource(layer, with_length=False))
    truncated = [len(tokenize(t, tokenizer="whitespace")[0]) > 3 for t in SOURCE_TEXTS]
    for row, offsets in enumerate(blind.offsets):
        assert (offsets is None) == (length == 3 and truncated[row] and row != 4)


@pytest.mark.parametrize(
    "options",
    [
        {"standardize": "lower"},
        {"standardize": "strip_punctuation"},
        {"standardize": None},
        {"split": "character"},
        {"split": None},
    ],
)
def test_source_settings_offsets(options):
    layer = adapted(**options)
    texts = ["A good film!", "the Acting, GOOD", "", "x"]
    batch = to_batch(texts, source=FakeSource(layer))
    np.testing.assert_array_equal(batch.ids, np.asarray(layer(texts)).reshape(len(texts), -1))
    vocab = [str(w) for w in layer.get_vocabulary()]
    std = options.get("standardize", "lower_and_strip_punctuation")
    for row, text in enumerate(texts):
        assert batch.offsets[row] is not None
        for token, (s, e) in zip(batch.tokens[row], batch.offsets[row], strict=True):
            piece = text[s:e]
            if std in ("lower", "lower_and_strip_punctuation"):
                piece = piece.lower()
            if std in ("strip_punctuation", "lower_and_strip_punctuation"):
                piece = "".join(c for c in piece if c.isalnum() or c.isspace())
            assert piece == token if token != "[UNK]" else piece not in vocab


def test_source_offsets_none_where_the_standardization_cannot_be_redone():
    import tensorflow as tf

    custom = adapted(standardize=lambda x: tf.strings.regex_replace(tf.strings.lower(x), "o", ""))
    batch = to_batch(["A good film"], source=FakeSource(custom))
    np.testing.assert_array_equal(batch.ids, custom(["A good film"]).numpy())
    assert batch.offsets == [None] and batch.tokens[0][1] == "gd"
    bigrams = adapted(ngrams=2)
    batch = to_batch(["a good film"], source=FakeSource(bigrams))
    assert batch.offsets == [None] and "a good" in batch.tokens[0]


class LyingSource(FakeSource):
    """Says it lowercases and strips, but its layer only lowercases."""

    def __init__(self):
        super().__init__(adapted(standardize="lower"))
        self.standardize = "lower_and_strip_punctuation"


def test_source_rows_that_do_not_verify_get_no_offsets():
    batch = to_batch(["a good film", "plot?"], source=LyingSource())
    assert batch.offsets[0] == [(0, 1), (2, 6), (7, 11)]
    assert batch.offsets[1] is None  # "plot?" is an unknown word to the layer, "plot" to us
    assert unknown_tokens(batch) == [[], ["[UNK]"]]


def test_source_token_lists_are_joined():
    layer = adapted()
    batch = to_batch([["a", "good", "film"], ["GREAT", "acting", "."]], source=FakeSource(layer))
    assert batch.texts == ["a good film", "GREAT acting ."]
    assert batch.tokens == [["a", "good", "film"], ["great", "acting"]]
    np.testing.assert_array_equal(batch.ids, layer(batch.texts).numpy())


def test_long_text_source_and_vocabulary():
    layer = adapted()
    words = ("a good film , the plot is thin ! unknown " * 1000).split()
    text = " ".join(words)
    assert len(words) == 10_000
    batch = to_batch(text, source=FakeSource(layer))
    assert batch.ids.shape == (1, 8_000)  # "," and "!" are stripped to nothing
    check_source_batch(batch, layer, [text])
    assert len(batch.offsets[0]) == 8_000 and len(unknown_tokens(batch)[0]) == 1000
    vocab = Vocabulary.from_texts(SENTENCES)
    vbatch = to_batch(text, vocabulary=vocab)
    assert vbatch.ids.shape == (1, 10_000)
    assert [text[s:e] for s, e in vbatch.offsets[0]] == words


def test_vocabulary_texts_tokens_and_tokenized():
    vocab = Vocabulary.from_texts(SENTENCES)
    texts = ["A good Film!", "", "8\xa01/2 plot"]
    batch = to_batch(texts, vocabulary=vocab)
    np.testing.assert_array_equal(batch.ids, vocab.encode(texts))
    assert batch.ids.shape == (3, 4) and batch.token_mask.sum(1).tolist() == [4, 0, 3]
    assert batch.tokens[0] == ["a", "good", "film", "!"] and batch.tokens[1] == []
    assert [texts[2][s:e] for s, e in batch.offsets[2]] == ["8", "1/2", "plot"]
    assert unknown_tokens(batch) == [[], [], ["8", "1/2"]]
    lists = to_batch([["a", "GOOD"], ["x"]], vocabulary=vocab)
    assert lists.tokens == [["a", "GOOD"], ["x"]] and lists.offsets is None
    np.testing.assert_array_equal(lists.ids, [[vocab.token_to_id("a"), vocab.token_to_id("good")],
                                              [OOV_ID, PAD_ID]])  # fmt: skip
    assert unknown_tokens(lists) == [[], ["x"]]
    tok = to_batch(tokenize(["a film"]), vocabulary=vocab)
    assert tok.offsets == [[(0, 1), (2, 6)]] and tok.texts == ["a film"]
    assert to_batch("a film", vocabulary=vocab).tokens == [["a", "film"]]
    arr = to_batch(np.array([["a film"], ["good"]]), vocabulary=vocab)  # (batch, 1) strings
    assert arr.texts == ["a film", "good"]
    assert to_batch([b"caf\xc3\xa9"], vocabulary=vocab).texts == ["café"]
    import tensorflow as tf

    assert to_batch(tf.constant([["a film"], ["é"]]), vocabulary=vocab).texts == ["a film", "é"]
    ragged = to_batch(tf.ragged.constant([["a", "film"], ["é"]]), vocabulary=vocab)
    assert ragged.tokens == [["a", "film"], ["é"]] and ragged.ids.shape == (2, 2)
    with pytest.raises(ValueError, match="need vocabulary= .* or source="):
        to_batch(["a film"])
    with pytest.raises(ValueError, match="not both"):
        to_batch(["a"], vocabulary=vocab, source=FakeSource(adapted()))
    with pytest.raises(ValueError, match="pad_id"):
        to_batch(["a"], vocabulary=vocab, pad_id=3)
    with pytest.raises(ValueError, match="text 0 is not UTF-8"):
        to_batch([b"\xff"], vocabulary=vocab)


def test_ids_arrays_tensors_and_ragged():
    import tensorflow as tf

    ids = np.array([[3, 4, 0], [5, 0, 0]], dtype=np.int64)
    batch = to_batch(ids)
    assert batch.ids.dtype == np.int32 and batch.tokens is None and batch.offsets is None
    np.testing.assert_array_equal(batch.token_mask, ids != 0)
    assert to_batch(ids, mask_zero=False).token_mask.all()
    assert to_batch(ids, pad_id=4).token_mask.tolist() == [[True, False, True], [True] * 3]
    np.testing.assert_array_equal(to_batch(tf.constant(ids)).ids, ids)
    ragged = to_batch([[3, 4], [5], []])
    np.testing.assert_array_equal(ragged.ids, [[3, 4], [5, 0], [0, 0]])
    np.testing.assert_array_equal(to_batch(tf.ragged.constant([[3, 4], [5]])).ids, [[3, 4], [5, 0]])
    np.testing.assert_array_equal(to_batch([np.array([1, 2]), np.array([3])]).ids, [[1, 2], [3, 0]])
    left = to_batch(np.array([[0, 0, 7]]))  # left padding is kept as given
    assert left.token_mask.tolist() == [[False, False, True]]
    vocab = Vocabulary.from_texts(SENTENCES)
    named = to_batch(ids[:, :2] % len(vocab), vocabulary=vocab)
    assert named.tokens[0] == [vocab.id_to_token(3), vocab.id_to_token(4)] and named.oov_id == 1
    empty = to_batch(np.zeros((0, 0), np.int32))
    assert empty.ids.shape == (0, 0) and len(empty) == 0
    assert to_batch([]).ids.shape == (0, 0)
    assert to_batch([], vocabulary=vocab).tokens == []
    assert to_batch(batch) is batch


@pytest.mark.parametrize(
    "ids, kwargs, error, match",
    [
        ([[1, 2], [3]], {"mask_zero": False}, ValueError, "ragged id lists .* mask_zero=False"),
        (np.array([[1.0, 2.0]]), {}, TypeError, r"integers, got dtype float64.*astype"),
        (np.array([1, 2]), {}, ValueError, r"2-D .* \(2,\); a single sequence is ids\[None\]"),
        (np.zeros((1, 2, 3), int), {}, ValueError, r"shape \(1, 2, 3\)"),
        (np.array([[1, 2], [3, -4]]), {}, ValueError, "id -4 at row 1, position 1 is negative"),
        (np.array([[1, 2], [3, 9]]), {"vocab_size": 9}, ValueError,
         r"id 9 at row 1, position 1 is not below 9 \(vocab_size\)"),
        (np.array([[2**40]]), {}, ValueError, "int32 range"),
        (np.array([[1, None]], dtype=object), {}, TypeError, "dtype object"),
        (np.array([[True]]), {}, TypeError, "dtype bool"),
        ([[1, 2.5]], {}, TypeError, r"row 0, position 1 holds 2.5 \(float\)"),
        ([[1, 2], [3, "x"]], {}, TypeError, "row 1, position 1 holds 'x'"),
        ([[True]], {}, TypeError, "row 0, position 0 holds True"),
        (["a text", ["a", "list"]], {}, TypeError, "row 0 is a str"),
        (3, {}, TypeError, "got int"),
        (np.array([["a", "b"]]), {}, TypeError, r"\(batch,\) or \(batch, 1\)"),
        (np.array([[1, 5]]), {"vocab_size": 5, "pad_id": 7}, ValueError, "id 5 at row 0"),
        (np.array([[1, 2]]), {"vocab_size": 5, "pad_id": 7}, ValueError, "pad_id 7"),
    ],
)
def test_ids_are_validated_by_name(ids, kwargs, error, match):
    with pytest.raises(error, match=match):
        to_batch(ids, **kwargs)


def test_vocab_size_defaults_to_the_vocabulary():
    vocab = Vocabulary.from_texts(["a b"])
    with pytest.raises(ValueError, match=r"id 4 at row 0, position 0 is not below 4"):
        to_batch(np.array([[4]]), vocabulary=vocab)
    with pytest.raises(ValueError, match="not below 12"):
        to_batch(np.array([[12]]), source=FakeSource(adapted()))
    # an Embedding smaller than the layer's vocabulary: the layer's ids are refused by name
    source = FakeSource(adapted())
    assert source.vectorize(["the a"]).tolist() == [[2, 6]]
    with pytest.raises(ValueError, match=r"id 6 at row 0, position 1 is not below 5"):
        to_batch(["the a"], source=source, vocab_size=5)


def test_text_batch_slicing_and_checks():
    vocab = Vocabulary.from_texts(SENTENCES)
    texts = ["a good film", "bad", "the plot is thin", "x"]
    batch = to_batch(texts, vocabulary=vocab)
    assert len(batch) == 4 and batch.lengths.tolist() == [3, 1, 4, 1]
    for index, rows in [(1, [1]), (-1, [3]), (slice(1, 3), [1, 2]), ([3, 0], [3, 0]),
                        (np.array([True, False, True, False]), [0, 2]), (slice(0, 0), [])]:
        part = batch[index]
        assert isinstance(part, TextBatch) and part.texts == [texts[r] for r in rows]
        np.testing.assert_array_equal(part.ids, batch.ids[rows])
        assert part.tokens == [batch.tokens[r] for r in rows]
        assert part.offsets == [batch.offsets[r] for r in rows]
        assert part.oov_id == batch.oov_id
    with pytest.raises(IndexError):
        batch[4]
    with pytest.raises(ValueError, match="tokens\\[0\\] has 2 entries for 1"):
        TextBatch(np.array([[1]]), np.array([[True]]), [["a", "b"]])
    with pytest.raises(ValueError, match="same shape"):
        TextBatch(np.array([[1]]), np.array([True]))
    with pytest.raises(ValueError, match="texts has 2 rows"):
        TextBatch(np.array([[1]]), np.array([[True]]), texts=["a", "b"])
    with pytest.raises(ValueError, match="pass oov_id="):
        unknown_tokens(to_batch([[1, 2]]))
    assert unknown_tokens(to_batch([[1, 2]]), oov_id=1) == [["<unk>"]]
    assert isinstance(FakeSource(adapted()), TextSource)


# ------------------------------------------------------------------ properties (hypothesis)
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True, database=None)
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\xa0", "\u2003", "\u3000", "\x0b"]
WORDS = ["a", "GOOD", "film", "the", "plot", "acting", "unknown", "Ω", "é", "😀", "e\u0301",
         "don't", "(film)", "film!", "--", "...", "a-b", "x_y", "[UNK]", "<pad>"]  # fmt: skip


@PROPERTY
@given(st.lists(st.text(max_size=30), min_size=1, max_size=4))
def test_property_offsets_slice_any_text(texts):
    from keras_relevance.text import _treebank_token

    for tokenizer in ("whitespace", "unicode_script", "treebank"):
        for text, t in zip(texts, tokenize(texts, tokenizer=tokenizer), strict=True):
            last = 0
            for token, (s, e) in zip(t.tokens, t.spans(), strict=True):
                assert last <= s < e <= len(text)
                last = e
                piece = _treebank_token(text, s, e) if tokenizer == "treebank" else text[s:e]
                assert token == piece.lower()
            if tokenizer == "whitespace":
                assert [text[s:e] for s, e in t.spans()] == text.split()


@functools.cache
def shared_layer(length):
    return adapted(output_sequence_length=length)


@PROPERTY
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SPACES)), max_size=8),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([None, 4]),
)
def test_property_source_offsets_agree_with_the_layer(rows, length):
    texts = ["".join(w + s for w, s in row) for row in rows]
    layer = shared_layer(length)
    batch = to_batch(texts, source=FakeSource(layer))
    check_source_batch(batch, layer, texts)
    assert all(o is not None for o in batch.offsets)
