"""REAT word / phrase / hierarchy scores against the independent NumPy copy in reference_reat.py."""

import functools
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_relevance import reat
from keras_relevance.graph import ModelGraph

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
import reference_reat as ref  # noqa: E402

ARCHS = [("gru", False), ("lstm", False), ("gru", True), ("lstm", True)]
VOCAB, DIM, UNITS, CLASSES = 12, 3, 4, 3


def build(kind, bidi, dtype="float64", seed=0, merge_mode="concat", reset_after=True, body=()):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        if kind == "gru":
            rnn = keras.layers.GRU(UNITS, reset_after=reset_after)
        else:
            rnn = keras.layers.LSTM(UNITS)
        if bidi:
            rnn = keras.layers.Bidirectional(rnn, merge_mode=merge_mode)
        model = keras.Sequential(
            [
                keras.Input((None,), dtype="int32"),
                keras.layers.Embedding(VOCAB, DIM, mask_zero=True),
                rnn,
                *body,
                keras.layers.Dense(CLASSES),
            ]
        )
    finally:
        keras.config.set_dtype_policy(previous)
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.8, w.shape))
    return model


@functools.cache
def cached(kind, bidi, **kw):
    model = build(kind, bidi, **kw)
    return model, ModelGraph.from_model(model)


def batch_ids(seed=1, batch=4, time=7):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (batch, time)).astype(np.int32)
    ids[1, 5:] = 0  # right padding
    ids[2, :2] = 0  # left padding
    ids[3, 3] = 0  # a hole
    return ids


def inputs(chain, ids, target=None):
    emb, mask = chain.embed(ids)
    if target is None:
        target = np.arange(len(ids)) % CLASSES
    return emb, mask, tf.constant(target, tf.int32)


def rnn_weights(model):
    rnn = model.layers[1]
    if isinstance(rnn, keras.layers.Bidirectional):
        return rnn.forward_layer.get_weights() + rnn.backward_layer.get_weights()
    return rnn.get_weights()


def reference(model, chain, emb, mask, target, spans=(), naive=False):
    rnn = model.layers[1]
    bidi = isinstance(rnn, keras.layers.Bidirectional)
    inner = rnn.forward_layer if bidi else rnn
    return ref.reference(
        "lstm" if isinstance(inner, keras.layers.LSTM) else "gru",
        rnn_weights(model),
        chain.head.kernel.numpy(),
        np.asarray(emb),
        np.asarray(mask),
        np.asarray(target),
        spans,
        bidirectional=bidi,
        reset_after=getattr(inner, "reset_after", True),
        merge_mode=rnn.merge_mode if bidi else "concat",
        naive=naive,
    )


def logit_minus_bias(model, chain, ids, target):
    logits = np.asarray(chain.logits(*chain.embed(ids)))
    return logits[np.arange(len(ids)), np.asarray(target)] - chain.head.bias.numpy()[target]


def assert_total(words, model, chain, ids, target, atol=1e-12):
    total = logit_minus_bias(model, chain, ids, np.asarray(target))
    np.testing.assert_allclose(words.sum(1), total, rtol=0, atol=atol)


SPANS = [(0, 3), (2, 7), (1, 2), (0, 7), (4, 4), (3, 6), (5, 7)]


# ------------------------------------------------------------------------ against the reference
@pytest.mark.parametrize("kind, bidi", ARCHS)
def test_words_and_spans_equal_reference(kind, bidi):
    model, chain = cached(kind, bidi)
    emb, mask, target = inputs(chain, batch_ids())
    words = reat.explain_reat(chain, emb, mask, target).relevance
    spans = reat.phrase_scores(chain, emb, mask, SPANS, target)
    ref_words, ref_spans = reference(model, chain, emb, mask, target, SPANS)
    np.testing.assert_allclose(words, ref_words, rtol=0, atol=1e-10)
    np.testing.assert_allclose(spans, ref_spans, rtol=0, atol=1e-10)
    assert np.all(words[~np.asarray(mask)] == 0.0)


@pytest.mark.parametrize("kind, bidi", ARCHS)
def test_naive_reat_equals_reference(kind, bidi):
    model, chain = cached(kind, bidi)
    emb, mask, target = inputs(chain, batch_ids())
    words = reat.explain_naive_reat(chain, emb, mask, target).relevance
    ref_words, _ = reference(model, chain, emb, mask, target, naive=True)
    np.testing.assert_allclose(words, ref_words, rtol=0, atol=1e-10)
    # W_c (h_t − h_{t−1}) telescopes too
    total = logit_minus_bias(model, chain, batch_ids(), np.asarray(target))
    np.testing.assert_allclose(words.sum(1), total, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("gru", {"reset_after": False}),
        ("gru", {"merge_mode": "sum"}),
        ("lstm", {"merge_mode": "ave"}),
    ],
)
def test_variants_equal_reference(kind, kw):
    model, chain = cached(kind, "merge_mode" in kw, **kw)
    emb, mask, target = inputs(chain, batch_ids(seed=3))
    words, g = reat.reat_scores(chain, emb, mask, target)
    ref_words, ref_spans = reference(model, chain, emb, mask, target, SPANS)
    np.testing.assert_allclose(words, ref_words, rtol=0, atol=1e-10)
    np.testing.assert_allclose(reat.phrase_scores(chain, emb, mask, SPANS, target), ref_spans,
                               rtol=0, atol=1e-10)


# ------------------------------------------------------------------------ exactness
@pytest.mark.parametrize("kind, bidi", ARCHS)
def test_scores_add_up_to_logit_minus_bias(kind, bidi):
    model, chain = cached(kind, bidi)
    ids = batch_ids(seed=5)
    target = np.array([0, 1, 2, 0])
    emb, mask, tgt = inputs(chain, ids, target)
    words = reat.explain_reat(chain, emb, mask, tgt).relevance
    total = logit_minus_bias(model, chain, ids, target)
    np.testing.assert_allclose(words.sum(1), total, rtol=0, atol=1e-12)
    whole = reat.phrase_scores(chain, emb, mask, [(0, ids.shape[1])], tgt)[:, 0]
    np.testing.assert_allclose(whole, total, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind, bidi", ARCHS)
def test_phrase_equals_sum_of_its_words(kind, bidi):
    """Holds for every α (telescoping), so for the LSTM's approximate α as well."""
    model, chain = cached(kind, bidi)
    ids = batch_ids(seed=6, batch=4, time=9)
    emb, mask, target = inputs(chain, ids)
    words = reat.explain_reat(chain, emb, mask, target).relevance
    spans = [(s, e) for s in range(10) for e in range(s, 10)]  # every span, overlapping
    scores = reat.phrase_scores(chain, emb, mask, spans, target)
    sums = np.stack([words[:, s:e].sum(1) for s, e in spans], axis=1)
    np.testing.assert_allclose(scores, sums, rtol=0, atol=1e-12)


def test_float32_model_adds_up():
    model = build("lstm", True, dtype="float32", seed=4)
    chain = ModelGraph.from_model(model)
    ids = batch_ids(seed=8)
    target = np.array([2, 1, 0, 1])
    words = reat.explain_reat(chain, *inputs(chain, ids, target)).relevance
    assert words.dtype == np.float32
    np.testing.assert_allclose(words.sum(1), logit_minus_bias(model, chain, ids, target), atol=1e-5)


def test_go_backwards_layer_adds_up(float64):
    rnn = keras.layers.GRU(UNITS, go_backwards=True)
    model = keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(VOCAB, DIM, mask_zero=True),
         rnn, keras.layers.Dense(CLASSES)]
    )
    chain = ModelGraph.from_model(model)
    ids = batch_ids(seed=9)
    target = np.array([0, 1, 2, 0])
    emb, mask, tgt = inputs(chain, ids, target)
    words = reat.explain_reat(chain, emb, mask, tgt).relevance
    assert_total(words, model, chain, ids, target)
    # a go_backwards GRU is the backward half of a bidirectional one: compare with the reference
    x = np.asarray(emb)
    for b in range(len(ids)):
        keep = np.flatnonzero(ids[b])
        run = ref.gru_forward(x[b, keep][::-1], *[np.asarray(w) for w in rnn.get_weights()])
        expect = ref.word_scores(run["h"], run["alpha"], chain.head.kernel.numpy()[:, target[b]])
        np.testing.assert_allclose(words[b, keep], expect[::-1], atol=1e-12)


def test_bidirectional_with_a_different_backward_layer(float64):
    bidi = keras.layers.Bidirectional(
        keras.layers.LSTM(3), backward_layer=keras.layers.GRU(3, go_backwards=True)
    )
    model = keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(VOCAB, DIM, mask_zero=True),
         bidi, keras.layers.Dense(CLASSES)]
    )
    chain = ModelGraph.from_model(model)
    ids = batch_ids(seed=13)
    target = np.array([2, 2, 1, 0])
    emb, mask, tgt = inputs(chain, ids, target)
    words = reat.explain_reat(chain, emb, mask, tgt).relevance
    assert_total(words, model, chain, ids, target)
    spans = reat.phrase_scores(chain, emb, mask, [(1, 4), (0, 7)], tgt)
    np.testing.assert_allclose(spans[:, 0], words[:, 1:4].sum(1), atol=1e-12)


# ------------------------------------------------------------------------ LSTM stabilizer
def _gate_killer_lstm(k):
    """A float64 LSTM whose output gate is sigmoid(−k) ≈ 0 at token 5 only."""
    model = build("lstm", False, seed=11)
    emb_layer, rnn = model.layers[0], model.layers[1]
    table = emb_layer.embeddings.numpy()
    table[5] = [1.0, 0.0, 0.0]
    table[:, 0] = np.where(np.arange(VOCAB) == 5, 1.0, 0.0)
    emb_layer.embeddings.assign(table)
    kernel = rnn.cell.kernel.numpy()
    kernel[0, 3 * UNITS :] = -k  # output-gate columns, read from dimension 0
    rnn.cell.kernel.assign(kernel)
    return model, ModelGraph.from_model(model)


def test_lstm_tiny_output_gate_matches_literal_formula():
    model, chain = _gate_killer_lstm(k=60.0)  # o ≈ 1e-26 at token 5: the literal ratio still works
    ids = np.array([[2, 3, 5, 4, 7, 0], [5, 2, 5, 8, 9, 3]], np.int32)
    emb, mask, target = inputs(chain, ids, [0, 1])
    words = reat.explain_reat(chain, emb, mask, target).relevance
    ref_words, ref_spans = reference(model, chain, emb, mask, target, [(1, 4), (0, 2)])
    scale = np.abs(ref_words).max()
    np.testing.assert_allclose(words, ref_words, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(
        reat.phrase_scores(chain, emb, mask, [(1, 4), (0, 2)], target), ref_spans,
        rtol=0, atol=1e-10 * scale)


def test_lstm_zero_output_gate_stays_finite_and_exact():
    model, chain = _gate_killer_lstm(k=1000.0)  # o == 0.0 exactly at token 5
    ids = np.array([[2, 3, 5, 4, 7, 0], [5, 2, 5, 8, 9, 3]], np.int32)
    emb, mask, target = inputs(chain, ids, [0, 1])
    with np.errstate(all="ignore"):
        literal, _ = reference(model, chain, emb, mask, target)
    assert not np.isfinite(literal).all()  # the paper's α = f·o/o_prev divides by 0 here
    words = reat.explain_reat(chain, emb, mask, target).relevance
    assert np.isfinite(words).all()
    total = logit_minus_bias(model, chain, ids, np.array([0, 1]))
    np.testing.assert_allclose(words.sum(1), total, rtol=0, atol=1e-12)
    spans = reat.phrase_scores(chain, emb, mask, [(0, 3), (2, 6)], target)
    np.testing.assert_allclose(spans[:, 0], words[:, :3].sum(1), atol=1e-12)


# ------------------------------------------------------------------------ spans
def test_span_formats():
    model, chain = cached("gru", False)
    emb, mask, target = inputs(chain, batch_ids())
    words = reat.explain_reat(chain, emb, mask, target).relevance
    shared = reat.phrase_scores(chain, emb, mask, np.array([[0, 2], [1, 7]]), target)
    assert shared.shape == (4, 2)
    per = reat.phrase_scores(chain, emb, mask, [[(0, 2)], [(1, 3), (0, 0)], [], [(2, 5, "NP")]],
                             target)
    assert per.shape == (4, 2)
    assert np.isnan(per[0, 1]) and np.isnan(per[2]).all()
    np.testing.assert_allclose(per[1], [words[1, 1:3].sum(), 0.0], atol=1e-12)
    np.testing.assert_allclose(per[3, 0], words[3, 2:5].sum(), atol=1e-12)
    assert reat.phrase_scores(chain, emb, mask, [], target).shape == (4, 0)
    with pytest.raises(ValueError, match="outside"):
        reat.phrase_scores(chain, emb, mask, [(3, 2)], target)
    with pytest.raises(ValueError, match="outside"):
        reat.phrase_scores(chain, emb, mask, [(0, 8)], target)
    with pytest.raises(ValueError, match="one list per example"):
        reat.phrase_scores(chain, emb, mask, [[(0, 1)], [(0, 1)]], target)


# ------------------------------------------------------------------------ refusals
def _model(*layers):
    return keras.Sequential(
        [keras.Input((None,), dtype="int32"), keras.layers.Embedding(VOCAB, DIM), *layers]
    )


@pytest.mark.parametrize(
    "layers, match",
    [
        ([keras.layers.LSTM(2, return_sequences=True, name="first"),
          keras.layers.LSTM(2, name="second"), keras.layers.Dense(2)], "'second'.*stacked"),
        ([keras.layers.GRU(2), keras.layers.Dense(3, activation="relu", name="hidden"),
          keras.layers.Dense(2)], "'hidden'.*between"),
        ([keras.layers.GRU(2, return_sequences=True, name="seq"),
          keras.layers.GlobalMaxPooling1D(name="pool"), keras.layers.Dense(2)], "'pool'"),
        ([keras.layers.Bidirectional(keras.layers.GRU(2), merge_mode="mul", name="bi"),
          keras.layers.Dense(2)], "'bi'.*merge_mode"),
        ([keras.layers.Conv1D(2, 2, name="conv"), keras.layers.GlobalMaxPooling1D(),
          keras.layers.Dense(2)], "'conv'"),
        ([keras.layers.SimpleRNN(2, name="simple"), keras.layers.Dense(2)], "'simple'"),
        ([keras.layers.GlobalAveragePooling1D(name="avg"), keras.layers.Dense(2)], "no LSTM/GRU"),
    ],
)
def test_refuses_models_outside_the_paper(layers, match):
    chain = ModelGraph.from_model(_model(*layers))
    emb, mask = chain.embed(np.ones((1, 4), np.int32))
    with pytest.raises(ValueError, match=match):
        reat.explain_reat(chain, emb, mask, tf.constant([0]))


def test_dropout_is_allowed(float64):
    model = build("gru", False, body=(keras.layers.Dropout(0.5),))
    chain = ModelGraph.from_model(model)
    ids = batch_ids()
    target = np.array([1, 1, 1, 1])
    words = reat.explain_reat(chain, *inputs(chain, ids, target)).relevance
    assert_total(words, model, chain, ids, target)


# ------------------------------------------------------------------------ compilation
def test_one_trace_for_all_shapes():
    model, chain = cached("lstm", True)
    for batch, time in [(1, 3), (4, 7), (2, 11), (5, 1)]:
        ids = np.random.default_rng(batch).integers(1, VOCAB, (batch, time)).astype(np.int32)
        emb, mask, target = inputs(chain, ids)
        reat.explain_reat(chain, emb, mask, target)
        reat.phrase_scores(chain, emb, mask, [(0, 1)], target)
    assert reat._plan(chain).function("reat").experimental_get_tracing_count() == 1


def test_follows_weight_updates():
    model, chain = build("gru", False, seed=2), None
    chain = ModelGraph.from_model(model)
    ids = batch_ids()
    target = np.array([0, 0, 0, 0])
    reat.explain_reat(chain, *inputs(chain, ids, target))
    model.layers[1].cell.kernel.assign(model.layers[1].cell.kernel * 1.7)  # training moved on
    words = reat.explain_reat(chain, *inputs(chain, ids, target)).relevance
    assert_total(words, model, chain, ids, target)


# ------------------------------------------------------------------------ hierarchy
SENTENCE = "it 's a good film -- not a classic , but odd , entertaining and authentic .".split()


def test_hierarchy_levels_and_sums():
    model, chain = cached("gru", True)
    vocab_ids = np.array([[(hash(w) % (VOCAB - 1)) + 1 for w in SENTENCE] + [0, 0]], np.int32)
    emb, mask, target = inputs(chain, vocab_ids, [1])
    tags = ["PRON", "VERB", "DET", "ADJ", "NOUN", ".", "ADV", "DET", "ADJ", ".", "CONJ",
            "ADV", ".", "VERB", "CONJ", "ADJ", "."]
    (h,) = reat.hierarchy(chain, emb, mask, target, [SENTENCE], phrases=lambda toks: tags)
    assert [lv.level for lv in h.levels] == ["word", "phrase", "clause"]
    words = reat.explain_reat(chain, emb, mask, target).relevance[0]
    np.testing.assert_allclose(h["word"].scores, words[: len(SENTENCE)], atol=1e-12)
    assert h["phrase"].texts == ["'s", "a good film", "entertaining"]  # adjectives kept
    assert h["phrase"].labels == ["VP", "NP", "VP"]
    assert h["clause"].texts[2] == "but odd ,"
    np.testing.assert_allclose(h["clause"].scores.sum(), h.total, atol=1e-12)
    np.testing.assert_allclose(h.total, logit_minus_bias(model, chain, vocab_ids, [1])[0],
                               atol=1e-12)
    for s, (a, b) in zip(h["clause"].scores, h["clause"].spans, strict=True):
        np.testing.assert_allclose(s, words[a:b].sum(), atol=1e-12)
    tok = h["clause"].token_scores()
    assert tok.shape == (len(SENTENCE),) and tok[10] == h["clause"].scores[2]
    assert "but" in h["clause"].heatmap().to_terminal(color=False)
    assert h.to_dict()["levels"][2]["level"] == "clause"


def test_hierarchy_user_spans_left_padding_and_nltk(data_dir):
    pytest.importorskip("nltk")
    from keras_relevance.chunking import nltk_tagger

    model, chain = cached("lstm", False)
    toks = "the movie does n't serve up lots of laughs .".split()
    ids = np.array([[0, 0] + [3 + i % 8 for i in range(len(toks))]], np.int32)  # left padded
    emb, mask, target = inputs(chain, ids, [2])
    words = reat.explain_reat(chain, emb, mask, target).relevance[0, 2:]
    (h,) = reat.hierarchy(chain, emb, mask, target, [toks],
                          tagger=nltk_tagger(data_dir / "nltk_data"), phrases="pos")
    assert h["phrase"].texts == ["the movie", "does n't serve up", "lots of laughs"]
    np.testing.assert_allclose(h["phrase"].scores[1], words[2:6].sum(), atol=1e-12)
    # gold / user spans, and tokens given for every position (padding included)
    (h,) = reat.hierarchy(chain, emb, mask, target, [["<pad>", "<pad>"] + toks],
                          phrases=[[(0, 2, 4), (6, 9, 3)]], clauses=None)
    assert [lv.level for lv in h.levels] == ["word", "phrase"]
    assert h["phrase"].labels == [4, 3]
    np.testing.assert_allclose(h["phrase"].scores, [words[:2].sum(), words[6:9].sum()], atol=1e-12)


def test_hierarchy_without_tagger_keeps_words_and_clauses(monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk", None)
    model, chain = cached("gru", False)
    ids = np.array([[3, 4, 5, 6, 7]], np.int32)
    toks = "good , but dull .".split()
    emb, mask, target = inputs(chain, ids, [0])
    with pytest.warns(UserWarning, match="pip install nltk"):
        (h,) = reat.hierarchy(chain, emb, mask, target, [toks])
    assert [lv.level for lv in h.levels] == ["word", "clause"]
    assert h["clause"].texts == ["good ,", "but dull ."]
    with pytest.raises(LookupError, match="pip install nltk"):
        reat.hierarchy(chain, emb, mask, target, [toks], phrases="pos")


# ------------------------------------------------------------------------ through the Explainer
def test_explainer_methods():
    from keras_relevance.explainer import Explainer
    from keras_relevance.text import Vocabulary

    model, chain = cached("gru", True)
    explainer = Explainer(model, batch_size=3)  # several chunks
    ids = batch_ids(seed=12, batch=5)
    target = np.array([0, 1, 2, 0, 1])
    e = explainer.explain(ids, method="reat", target=target)
    emb, mask, tgt = inputs(chain, ids, target)
    np.testing.assert_allclose(e.relevance, reat.explain_reat(chain, emb, mask, tgt).relevance,
                               atol=1e-12)
    assert_total(e.relevance, model, chain, ids, target)
    naive = explainer.explain(ids, method="naive_reat", target=target)
    np.testing.assert_allclose(naive.relevance.sum(1), e.relevance.sum(1), atol=1e-12)

    scores = explainer.phrase_scores(ids, [(0, 3), (2, 7)], target=target)
    np.testing.assert_allclose(scores, reat.phrase_scores(chain, emb, mask, [(0, 3), (2, 7)], tgt),
                               atol=1e-12)
    ragged = explainer.phrase_scores(ids, [[(0, 1)], [], [(1, 2), (0, 7)], [], [(3, 3)]])
    assert ragged.shape == (5, 2) and np.isnan(ragged[1]).all() and ragged[4, 0] == 0.0

    vocab = Vocabulary(["good", "bad", "film", "but", "dull", ",", ".", "a", "is", "not"])
    texts = ["a good film , but dull .", "not bad"]
    hs = explainer.hierarchy(texts, vocab=vocab, phrases=None)
    assert [h["clause"].texts for h in hs] == [["a good film ,", "but dull ."], ["not bad"]]
    logits = explainer.predict_logits(vocab.encode(texts))
    for h, row in zip(hs, logits, strict=True):
        assert h.target == int(np.argmax(row))
        np.testing.assert_allclose(h.total, row[h.target] - chain.head.bias.numpy()[h.target],
                                   atol=1e-12)
    by_ids = explainer.hierarchy(vocab.encode(texts), vocab=vocab, phrases=[[(1, 3)], [(0, 2)]])
    np.testing.assert_allclose(by_ids[0]["phrase"].scores[0],
                               by_ids[0]["word"].scores[1:3].sum(), atol=1e-12)
    with pytest.raises(ValueError, match="vocab"):
        explainer.hierarchy(texts)


# ------------------------------------------------------------------------ real data (slow)
@pytest.mark.slow
def test_trained_sst2_gru_hierarchy(data_dir):
    """A GRU trained briefly on SST-2: scores add up; the paper's figure sentence decomposes."""
    from keras_relevance.chunking import nltk_tagger, sst_constituents
    from keras_relevance.explainer import Explainer
    from keras_relevance.text import Vocabulary

    lines = (data_dir / "sst" / "stsa.binary.train").read_text().splitlines()[:3000]
    labels = np.array([int(line[0]) for line in lines])
    toks = [line[2:].split() for line in lines]
    vocab = Vocabulary.from_tokens(toks, min_count=2)
    ids = vocab.encode(toks, max_len=40)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(len(vocab), 32, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.GRU(32)),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ids, labels, epochs=2, batch_size=64, verbose=0)
    explainer = Explainer(model)
    e = explainer.explain(ids[:200], method="reat")
    logits = explainer.predict_logits(ids[:200])
    bias = model.layers[-1].bias.numpy()
    total = logits[np.arange(200), e.target] - bias[e.target]
    np.testing.assert_allclose(e.relevance.sum(1), total, atol=1e-4)

    trees = [sst_constituents(line) for line in
             (data_dir / "sst" / "test.txt").read_text().splitlines()]
    tokens, gold = next(t for t in trees if "film -- not a classic" in " ".join(t[0]).lower())
    tokens = [t.lower() for t in tokens]
    (h,) = explainer.hierarchy([tokens], vocab=vocab, target=1,
                               tagger=nltk_tagger(data_dir / "nltk_data"))
    assert "but odd ," in h["clause"].texts
    (g,) = explainer.hierarchy([tokens], vocab=vocab, target=1, phrases=[gold])
    root = g["phrase"].spans.index((0, len(tokens)))
    np.testing.assert_allclose(g["phrase"].scores[root], h.total, atol=1e-4)
