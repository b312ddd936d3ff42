"""Small text classifiers as keras.io tutorials and users write them (for the graph tests).

Each builder returns a built model in the CURRENT dtype policy (call inside the `float64` fixture)
with random weights and biases (`randomize`), vocabulary `VOCAB`, so that biases, moving
statistics and every rule's δ-share are exercised.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import layers

VOCAB, EMB, UNITS = 30, 6, 5
SENTENCES = [
    "a good film", "the worst movie ever", "i loved it", "not good at all", "truly great acting",
    "boring and slow", "what a fine story", "bad plot, bad actors", "an instant classic",
    "i hated the ending", "fun for the whole family", "a waste of time", "brilliant and moving",
    "dull", "the cast is superb", "weak script", "so much fun", "never again", "a small gem",
    "terrible",
]


def randomize(model, seed=0, scale=0.5):
    """Random float weights (positive moving variances) so that biases matter."""
    rng = np.random.default_rng(seed)
    for var in model.weights:
        if "float" not in str(var.dtype):
            continue
        shape = tuple(var.shape)
        if "variance" in var.path:
            var.assign(rng.uniform(0.5, 1.5, shape))
        else:
            var.assign(rng.normal(0.0, scale, shape))
    return model


def ids_batch(seed=0, batch=3, time=7, pad="right", min_len=2):
    """Random ids in [1, VOCAB) with rows padded by 0 on the `pad` side (first row full)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, (batch, time))
    for n in range(1, batch):
        length = int(rng.integers(min_len, time + 1))
        if pad == "right":
            ids[n, length:] = 0
        else:
            ids[n, :time - length] = 0
    return ids


def _text_input(time=None):
    return keras.Input((time,), dtype="int32")


def bilstm(mask_zero=True, merge="concat"):
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=mask_zero)(inp)
    x = layers.Bidirectional(layers.LSTM(UNITS), merge_mode=merge)(x)
    return randomize(keras.Model(inp, layers.Dense(3)(x)), 1)


def bilstm_sequential(mask_zero=True, merge="concat"):
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              layers.Embedding(VOCAB, EMB, mask_zero=mask_zero),
                              layers.Bidirectional(layers.LSTM(UNITS), merge_mode=merge),
                              layers.Dense(3)])
    return randomize(model, 1)


def kim_cnn(time=9, mask_zero=False):
    inp = _text_input(time)
    emb = layers.Embedding(VOCAB, EMB, mask_zero=mask_zero)(inp)
    pooled = [layers.GlobalMaxPooling1D()(layers.Conv1D(4, w, activation="relu")(emb))
              for w in (3, 4, 5)]
    x = layers.Dropout(0.5)(layers.Concatenate()(pooled))
    return randomize(keras.Model(inp, layers.Dense(3, activation="softmax")(x)), 2)


def bilstm_attention():
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    h = layers.Bidirectional(layers.LSTM(UNITS, return_sequences=True))(x)
    att = layers.Attention(use_scale=True)([h, h])
    out = layers.Dense(2, activation="softmax")(layers.GlobalAveragePooling1D()(att))
    return randomize(keras.Model(inp, out), 3)


def mha_classifier(heads=2):
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    x = layers.MultiHeadAttention(num_heads=heads, key_dim=3)(x, x)
    out = layers.Dense(3)(layers.GlobalAveragePooling1D()(x))
    return randomize(keras.Model(inp, out), 4)


def sigmoid_gru():
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    x = layers.GRU(UNITS)(x)
    return randomize(keras.Model(inp, layers.Dense(1, activation="sigmoid")(x)), 5)


def softmax_lstm():
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    x = layers.Dropout(0.2)(layers.LSTM(UNITS)(x))
    x = layers.Activation("softmax")(layers.Dense(4)(x))
    return randomize(keras.Model(inp, x), 6)


def vectorizer(length=8):
    tv = layers.TextVectorization(max_tokens=VOCAB, output_sequence_length=length)
    tv.adapt(SENTENCES)
    return tv


def text_gru(length=8):
    """Input(string) → TextVectorization → Embedding(mask_zero) → GRU → Dense(1, sigmoid)."""
    inp = keras.Input((1,), dtype="string")
    x = vectorizer(length)(inp)
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(x)
    x = layers.GRU(UNITS)(x)
    return randomize(keras.Model(inp, layers.Dense(1, activation="sigmoid")(x)), 7)


def branches():
    """Two recurrent branches (LSTM, GRU reset_after=False) merged by Add, Average, Subtract and
    Maximum at once, the four concatenated, a hidden Dense, a head."""
    inp = _text_input()
    e = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    a = layers.LSTM(UNITS)(e)
    b = layers.GRU(UNITS, reset_after=False)(e)
    merged = [getattr(layers, m)()([a, b]) for m in ("Add", "Average", "Subtract", "Maximum")]
    x = layers.Dense(4, activation="tanh")(layers.Concatenate()(merged))
    return randomize(keras.Model(inp, layers.Dense(3)(x)), 8)


def normalised(time=8):
    inp = _text_input(time)
    e = layers.Embedding(VOCAB, EMB)(inp)
    x = layers.Conv1D(5, 3, padding="same")(e)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.LayerNormalization()(x)
    x = layers.AveragePooling1D(2)(x)
    x = layers.Flatten()(x)
    return randomize(keras.Model(inp, layers.Dense(3)(x)), 9)


def simple_rnn():
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    x = layers.SimpleRNN(UNITS)(x)
    return randomize(keras.Model(inp, layers.Dense(2)(x)), 10)


def _inner_cnn(length):
    ids = keras.Input((length,), dtype="int64")
    x = layers.Embedding(VOCAB, EMB)(ids)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(4, 3, padding="valid", activation="relu", strides=2)(x)
    x = layers.Conv1D(4, 3, padding="causal", activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(4, activation="relu")(x)
    inner = keras.Model(ids, layers.Dense(1, activation="sigmoid")(x), name="inner")
    return randomize(inner, 11)


def nested_text_cnn(length=12):
    """keras.io "text classification from scratch": an inner CNN on ids, wrapped end to end."""
    raw = keras.Input((1,), dtype="string")
    return keras.Model(raw, _inner_cnn(length)(vectorizer(length)(raw)), name="end_to_end")


def nested_ids_cnn(length=12):
    """The same inner CNN (strided 'valid' and 'causal' convolutions) nested in a model on ids."""
    ids = keras.Input((length,), dtype="int64")
    return keras.Model(ids, _inner_cnn(length)(ids), name="outer")


def additive_attention():
    inp = _text_input()
    x = layers.Embedding(VOCAB, EMB, mask_zero=True)(inp)
    h = layers.GRU(UNITS, return_sequences=True)(x)
    q = layers.Dense(UNITS)(h)
    att = layers.AdditiveAttention()([q, h])
    return randomize(keras.Model(inp, layers.Dense(2)(layers.GlobalAveragePooling1D()(att))), 14)


def cnn_pool_sequential(time=10):
    """A Sequential CNN: max- and average-pooling windows, Reshape, a softmax head."""
    model = keras.Sequential([
        keras.Input((time,), dtype="int32"), layers.Embedding(VOCAB, EMB),
        layers.Conv1D(4, 3, padding="same", activation="relu"), layers.MaxPooling1D(2),
        layers.Conv1D(3, 2, padding="valid"), layers.AveragePooling1D(2),
        layers.Reshape((-1,)), layers.Dense(3, activation="softmax")])
    return randomize(model, 15)


def rnn_stack_sequential():
    """A Sequential stack: GRU (reset_after=False) then a Bidirectional SimpleRNN (ave)."""
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"), layers.Embedding(VOCAB, EMB, mask_zero=True),
        layers.GRU(UNITS, return_sequences=True, reset_after=False),
        layers.Bidirectional(layers.SimpleRNN(UNITS), merge_mode="ave"),
        layers.Dense(3, activation="softmax")])
    return randomize(model, 16)


ZOO = {
    "bilstm": bilstm, "kim_cnn": kim_cnn, "bilstm_attention": bilstm_attention,
    "mha": mha_classifier, "mha1": lambda: mha_classifier(1), "sigmoid_gru": sigmoid_gru,
    "softmax_lstm": softmax_lstm,
    "text_gru": text_gru, "merges": branches,
    "normalised": normalised, "simple_rnn": simple_rnn, "nested": nested_text_cnn,
    "nested_ids": nested_ids_cnn,
    "additive_attention": additive_attention, "cnn_pool_seq": cnn_pool_sequential,
    "rnn_stack_seq": rnn_stack_sequential,
}
STRING_MODELS = ("text_gru", "nested")
FIXED_TIME = {"kim_cnn": 9, "normalised": 8, "cnn_pool_seq": 10, "nested_ids": 12}


def inputs_for(name, seed=0):
    """A batch the model takes: raw strings, or ids (right-padded for mask models)."""
    if name in STRING_MODELS:
        return np.array(SENTENCES[seed:seed + 3] + ["good"], dtype=object)
    if name in FIXED_TIME:
        return np.random.default_rng(seed).integers(1, VOCAB, (3, FIXED_TIME[name]))
    return ids_batch(seed)
SOFTMAX = ("kim_cnn", "bilstm_attention", "softmax_lstm", "cnn_pool_seq", "rnn_stack_seq")
FAST = {"integrated_gradients": {"steps": 8}, "lime": {"samples": 64}}


# --------------------------------------------------------------------------- test helpers
def zoo_fixture():
    """A module-scoped fixture `zoo(name)`: each model built once, in float64."""
    import pytest

    @pytest.fixture(scope="module")
    def zoo():
        previous = keras.config.dtype_policy()
        cache = {}

        def get(name):
            if name not in cache:
                keras.config.set_dtype_policy("float64")
                try:
                    cache[name] = ZOO[name]()
                finally:
                    keras.config.set_dtype_policy(previous)
            return cache[name]

        return get

    return zoo


def model_input(name, x):
    """x as model(...) takes it (strings as a (batch, 1) column)."""
    return x[:, None] if name in STRING_MODELS else x


def api_input(name, x):
    """x as Explainer.explain takes it (strings as a list of str)."""
    return [str(s) for s in x] if name in STRING_MODELS else x


def head_of(model):
    import reference_graph_lrp

    return reference_graph_lrp._find_head(model)


def probabilities(head, scores):
    """What the model outputs, from the class scores (the head's activation applied)."""
    if head.units == 1:
        return 1.0 / (1.0 + np.exp(-scores[:, 1:]))
    e = np.exp(scores - scores.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def explain(model, name, x, method, **options):
    """kr.Explainer(model).explain with fast options for the slow methods."""
    import keras_relevance as kr

    return kr.Explainer(model).explain(api_input(name, x), method=method,
                                       **{**FAST.get(method, {}), **options})


def check_against_reference(model, name):
    """LRP (ε = 1e-3, δ = 0 predicted class, δ = 1 given classes), LRP-cons and the logits,
    all against the NumPy reference and model(x)."""
    import reference_graph_lrp

    x = inputs_for(name)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*padding.*")
        ref = reference_graph_lrp.explain(model, x, bias_factor=0.0, eps=1e-3)
        e = explain(model, name, x, "lrp", eps=1e-3, bias_factor=0.0)
        np.testing.assert_allclose(e.logits, ref["logits"], rtol=0, atol=1e-10)
        np.testing.assert_array_equal(e.target, ref["target"])
        np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(e.delta, ref["delta"], rtol=0, atol=1e-8)
        target = np.arange(len(x)) % ref["logits"].shape[1]
        ref1 = reference_graph_lrp.explain(model, x, target=target, bias_factor=1.0, eps=1e-3)
        e1 = explain(model, name, x, "lrp", eps=1e-3, bias_factor=1.0, target=target)
        np.testing.assert_allclose(e1.relevance, ref1["relevance"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(e1.delta, ref1["delta"], rtol=0, atol=1e-8)
        cons = explain(model, name, x, "lrp_cons", target=target)
    np.testing.assert_allclose(cons.relevance, ref1["relevance"], rtol=0, atol=1e-10)
    # conservation: all of the score is in the words, except what reached padding
    assert np.abs(cons.delta - ref1["padding"]).max() < 1e-8
    # the logits are the head's pre-activation ([-z, z] for one unit) and give model(x)
    head = head_of(model)
    out = np.asarray(model(model_input(name, x)), np.float64)
    if head.units == 1:
        assert e.logits.shape == (len(x), 2)
        np.testing.assert_array_equal(e.logits[:, 0], -e.logits[:, 1])
        np.testing.assert_array_equal(e.target, (e.logits[:, 1] > 0).astype(int))
    probs = head.units == 1 or name in SOFTMAX
    expected = probabilities(head, e.logits) if probs else e.logits
    np.testing.assert_allclose(expected, out, rtol=0, atol=1e-12)
