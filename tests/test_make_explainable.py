"""make_explainable on the functional graphs users write: branches, attention, nested, strings.

Each model is built as keras.io examples build it. The converted copy must predict what the
original predicts (float32 and float64), swap every LSTM/GRU for its explainable twin (SimpleRNN
stays), keep every layer's state (BatchNormalization moving statistics, an adapted
TextVectorization's vocabulary), survive a `.keras` round-trip, and explain identically.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_relevance as kr
from keras_relevance.layers import ExplainableGRU, ExplainableLSTM, make_explainable

VOCAB, DIM, TIME, UNITS = 40, 8, 9, 5
TEXTS = [
    "a good film, truly GOOD!",
    "dull plot and bad acting",
    "good",
    "the worst film ever made; dull",
    "an unexpectedly moving story with words never seen",
]
# real-looking ids: right padding with 0 (one row without padding, one very short)
IDS = np.array(
    [
        [5, 12, 7, 33, 2, 0, 0, 0, 0],
        [9, 3, 3, 18, 25, 31, 4, 11, 6],
        [14, 0, 0, 0, 0, 0, 0, 0, 0],
        [21, 8, 39, 2, 17, 0, 0, 0, 0],
    ],
    dtype="int32",
)


def _randomize(model, seed=0):
    """Random weights everywhere (non-zero biases, moving statistics far from 0 / 1)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _randomize(layer, seed + 1)
            continue
        for variable in layer.weights:
            value = rng.normal(scale=0.5, size=variable.shape)
            if "variance" in variable.path:
                value = np.abs(value) + 0.5
            variable.assign(value.astype(variable.dtype))
    return model


def _kim_cnn_bilstm():
    """keras.io Kim CNN (Conv1D 3/4/5, max-pooled) + a BiLSTM branch, Concatenate, BatchNorm."""
    ids = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, DIM)(ids)  # no mask: Conv1D does not take one
    branches = [
        keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(4, width, activation="relu")(emb))
        for width in (3, 4, 5)
    ]
    seq = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))(emb)
    branches.append(keras.layers.GRU(UNITS, go_backwards=True)(seq))
    x = keras.layers.Concatenate()(branches)
    x = keras.layers.BatchNormalization()(keras.layers.Dense(6, activation="relu")(x))
    x = keras.layers.Dropout(0.5)(x)
    return keras.Model(ids, keras.layers.Dense(3, activation="softmax")(x), name="kim_bilstm")


def _attention():
    """BiLSTM states attended with keras.layers.Attention, plus a MultiHeadAttention block."""
    ids = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)(ids)
    seq = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))(emb)
    att = keras.layers.Attention()([seq, seq])
    mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)(emb, emb)
    mha = keras.layers.LayerNormalization()(keras.layers.Add()([mha, emb]))
    gru = keras.layers.GRU(UNITS, return_sequences=True, reset_after=False)(mha)
    x = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling1D()(att), keras.layers.GlobalAveragePooling1D()(gru)]
    )
    return keras.Model(ids, keras.layers.Dense(2)(x), name="attention")


def _nested():
    """An encoder sub-model (Functional) and a Sequential head, nested in the outer model."""
    tokens = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)(tokens)
    states = keras.layers.LSTM(UNITS, return_sequences=True)(emb)
    encoder = keras.Model(tokens, keras.layers.SimpleRNN(UNITS)(states), name="encoder")
    head = keras.Sequential(
        [keras.Input((UNITS,)), keras.layers.BatchNormalization(), keras.layers.Dense(1)],
        name="head",
    )
    ids = keras.Input((TIME,), dtype="int32")
    return keras.Model(ids, head(encoder(ids)), name="nested")


def _vectorizer():
    vectorize = keras.layers.TextVectorization(max_tokens=VOCAB, output_sequence_length=TIME)
    vectorize.adapt(TEXTS[:4])
    return vectorize


def _strings():
    """keras.io's end-to-end model: an adapted TextVectorization inside, raw strings in."""
    vectorize = _vectorizer()
    text = keras.Input((1,), dtype="string")
    emb = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)(vectorize(text))
    x = keras.layers.Bidirectional(keras.layers.LSTM(UNITS))(emb)
    return keras.Model(text, keras.layers.Dense(1, activation="sigmoid")(x), name="strings")


BUILDERS = {"kim_bilstm": _kim_cnn_bilstm, "attention": _attention, "nested": _nested}
ALL = {**BUILDERS, "strings": _strings}


def _inputs(name):
    return tf.constant(TEXTS)[:, None] if name == "strings" else IDS


def _build(name, dtype):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        return _randomize(ALL[name]())
    finally:
        keras.config.set_dtype_policy(previous)


def _flat(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat(layer)
        else:
            yield layer


def _recurrent_types(model):
    types = []
    for layer in _flat(model):
        if isinstance(layer, keras.layers.Bidirectional):
            types.append(("bidi", type(layer.forward_layer), type(layer.backward_layer)))
        elif isinstance(layer, keras.layers.RNN):
            types.append(type(layer))
    return types


TWIN = {keras.layers.LSTM: ExplainableLSTM, keras.layers.GRU: ExplainableGRU}


def _twin_types(types):
    return [
        (t[0], TWIN[t[1]], TWIN[t[2]]) if isinstance(t, tuple) else TWIN.get(t, t) for t in types
    ]


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable)


def _predict(model, x):
    return np.asarray(model(x, training=False))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ALL))
def test_converted_predicts_the_same(name, dtype):
    model = _build(name, dtype)
    converted = make_explainable(model)
    x = _inputs(name)
    want = _predict(model, x)
    got = _predict(converted, x)
    assert got.dtype == want.dtype == np.dtype(dtype)
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    assert np.ptp(want) > 1e-3  # the outputs differ between inputs: a real comparison
    types = _recurrent_types(model)
    assert _recurrent_types(converted) == _twin_types(types)
    assert ExplainableLSTM not in types and ExplainableGRU not in types
    # every weight copied (none shared), trainable and not alike
    old, new = model.weights, converted.weights
    assert [w.path.split("/")[-1] for w in old] == [w.path.split("/")[-1] for w in new]
    for a, b in zip(old, new, strict=True):
        assert a is not b
        np.testing.assert_array_equal(_numpy(a), _numpy(b))


def test_simple_rnn_is_kept():
    converted = make_explainable(_build("nested", "float32"))
    encoder = converted.get_layer("encoder")
    assert type(encoder.layers[2]) is ExplainableLSTM
    assert type(encoder.layers[3]) is keras.layers.SimpleRNN


def test_batch_normalization_moving_statistics():
    model = _build("kim_bilstm", "float32")
    (old,) = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    before = _numpy(old.moving_mean)
    model(IDS, training=True)  # a training pass moves the statistics, as fit() does
    assert np.abs(_numpy(old.moving_mean) - before).max() > 1e-3
    converted = make_explainable(model)
    new = converted.get_layer(old.name)
    for attribute in ("moving_mean", "moving_variance", "gamma", "beta"):
        want = _numpy(getattr(old, attribute))
        np.testing.assert_array_equal(_numpy(getattr(new, attribute)), want)
    np.testing.assert_allclose(_predict(converted, IDS), _predict(model, IDS), atol=1e-6)


def test_adapted_text_vectorization_keeps_its_vocabulary():
    model = _build("strings", "float32")
    converted = make_explainable(model)
    old, new = model.layers[1], converted.layers[1]
    assert isinstance(new, keras.layers.TextVectorization) and new is not old
    assert new.get_vocabulary() == old.get_vocabulary()
    assert new.vocabulary_size() == old.vocabulary_size() > 2
    x = _inputs("strings")
    np.testing.assert_array_equal(np.asarray(new(x)), np.asarray(old(x)))
    np.testing.assert_allclose(
        converted.predict(x, verbose=0), model.predict(x, verbose=0), 0, 1e-6
    )
    # independent copies: re-adapting the original leaves the copy alone
    old.adapt(["something else entirely"])
    assert new.get_vocabulary() != old.get_vocabulary()


@pytest.mark.parametrize(
    ("options", "mode"),
    [
        ({"output_mode": "tf_idf", "pad_to_max_tokens": True}, "tf_idf"),
        ({"output_mode": "tf_idf"}, "tf_idf"),
        ({"output_mode": "multi_hot"}, "multi_hot"),
        ({"output_mode": "count", "vocabulary": ["good", "bad", "film"]}, "count"),
    ],
)
def test_text_vectorization_output_modes(options, mode):
    vectorize = keras.layers.TextVectorization(max_tokens=VOCAB, **options)
    if "vocabulary" not in options:
        vectorize.adapt(TEXTS[:4])
    text = keras.Input((1,), dtype="string")
    x = keras.layers.Reshape((-1, 1))(keras.layers.Dense(4)(vectorize(text)))
    model = _randomize(keras.Model(text, keras.layers.Dense(2)(keras.layers.GRU(3)(x))))
    converted = make_explainable(model)
    x = _inputs("strings")
    assert converted.layers[1].get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_array_equal(np.asarray(converted.layers[1](x)), np.asarray(vectorize(x)))
    np.testing.assert_allclose(_predict(converted, x), _predict(model, x), rtol=0, atol=1e-6)


def test_string_lookup_and_integer_lookup():
    words = keras.Input((None,), dtype="string")
    lookup = keras.layers.StringLookup(mask_token="")
    lookup.adapt([["good", "film", "bad"], ["dull", "film", "film"]])
    numbers = keras.layers.IntegerLookup(mask_token=0)
    numbers.adapt([[7, 9, 7], [3, 9, 11]])
    merged = keras.layers.Add()([lookup(words), numbers(keras.ops.zeros_like(lookup(words)))])
    emb = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)(merged)
    model = _randomize(keras.Model(words, keras.layers.Dense(2)(keras.layers.LSTM(3)(emb))))
    converted = make_explainable(model)
    for old in (lookup, numbers):
        new = converted.get_layer(old.name)
        assert new is not old and new.get_vocabulary() == old.get_vocabulary()
    x = tf.constant([["good", "film", ""], ["unseen", "dull", "bad"]])
    np.testing.assert_allclose(_predict(converted, x), _predict(model, x), rtol=0, atol=1e-6)


def test_adapted_normalization_and_discretization():
    # Normalization computes its mean/variance from the adapted variables in finalize_state(),
    # which Keras's loading hook (load_own_variables) calls and set_weights alone does not
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(8, TIME, 4)).astype("float32")
    normalize = keras.layers.Normalization()
    normalize.adapt(x)
    discretize = keras.layers.Discretization(num_bins=4)
    discretize.adapt(x[..., 0])
    features = keras.Input((TIME, 4))
    seq = keras.layers.LSTM(3, return_sequences=True)(normalize(features))
    bins = keras.layers.Embedding(4, 3)(discretize(features[..., 0]))
    x_all = keras.layers.Flatten()(keras.layers.Concatenate()([seq, bins]))
    model = keras.Model(features, keras.layers.Dense(2)(x_all))
    converted = make_explainable(model)
    np.testing.assert_allclose(_predict(converted, x), _predict(model, x), rtol=0, atol=1e-6)
    new = converted.get_layer(normalize.name)
    np.testing.assert_allclose(_numpy(new.mean), _numpy(normalize.mean), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(ALL))
def test_keras_round_trip(name, tmp_path):
    model = _build(name, "float32")
    converted = make_explainable(model)
    path = tmp_path / f"{name}.keras"
    converted.save(path)
    loaded = keras.saving.load_model(path)
    assert _recurrent_types(loaded) == _recurrent_types(converted)
    x = _inputs(name)
    np.testing.assert_allclose(_predict(loaded, x), _predict(model, x), rtol=1e-6, atol=1e-6)
    if name == "strings":
        assert loaded.layers[1].get_vocabulary() == model.layers[1].get_vocabulary()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "name",
    [
        "nested",
        "strings",
        pytest.param("kim_bilstm", marks=pytest.mark.slow),  # 10-20 s each: LRP's first trace
        pytest.param("attention", marks=pytest.mark.slow),
    ],
)
def test_explainer_gives_the_same_lrp(name, dtype):
    model = _build(name, dtype)
    converted = make_explainable(model)
    x = TEXTS if name == "strings" else IDS  # the Explainer takes the raw strings
    want = kr.Explainer(model).explain(x, method="lrp", target=1)
    got = kr.Explainer(converted).explain(x, method="lrp", target=1)
    assert np.abs(want.relevance).max() > 1e-4
    tol = 1e-6 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got.relevance, want.relevance, rtol=tol, atol=tol)
    np.testing.assert_allclose(got.logits, want.logits, rtol=tol, atol=tol)
