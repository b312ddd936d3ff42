"""explain_lrp against the independent NumPy reference (tests/reference_lrp.py), in float64."""

import keras
import numpy as np
import pytest
import reference_lrp as ref
import tensorflow as tf

from keras_relevance.graph import ModelGraph
from keras_relevance.lrp import explain_lrp, lrp_function

E, H, T, B, C = 5, 4, 6, 3, 3


def _randomize(model, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0.0, scale, w.shape) for w in model.get_weights()])
    return model


def _model(body, seed=0):
    model = keras.Sequential([keras.Input((None, E)), *body, keras.layers.Dense(C)])
    return _randomize(model, seed)


def _lstm(**kw):
    return keras.layers.LSTM(H, **kw)


def _gru(**kw):
    return keras.layers.GRU(H, **kw)


BODIES = {
    "lstm": lambda: [_lstm()],
    "lstm_backwards": lambda: [_lstm(go_backwards=True)],
    "gru_reset_after": lambda: [_gru(reset_after=True)],
    "gru_reset_before": lambda: [_gru(reset_after=False)],
    "bilstm": lambda: [keras.layers.Bidirectional(_lstm())],
    "bigru": lambda: [keras.layers.Bidirectional(_gru())],
    "bilstm_sum": lambda: [keras.layers.Bidirectional(_lstm(), merge_mode="sum")],
    "lstm_stack": lambda: [_lstm(return_sequences=True), keras.layers.Dropout(0.3), _lstm()],
    "gru_stack": lambda: [_gru(return_sequences=True, reset_after=False), _gru()],
    "bilstm_stack_dense": lambda: [
        keras.layers.Bidirectional(_lstm(return_sequences=True)),
        keras.layers.Bidirectional(_gru()),
        keras.layers.Dense(H, activation="relu"),
        keras.layers.Dense(H, activation="tanh"),
    ],
    "cnn_max": lambda: [
        keras.layers.Conv1D(4, 2, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
    ],
    "cnn_same_avg": lambda: [
        keras.layers.Conv1D(4, 3, padding="same"),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling1D(),
    ],
    "cnn_causal_dilated": lambda: [
        keras.layers.Conv1D(3, 2, padding="causal", dilation_rate=2, activation="tanh"),
        keras.layers.GlobalMaxPooling1D(),
    ],
}


def _explain(model, emb, mask=None, target=None, **kw):
    chain = ModelGraph.from_model(model)
    emb = tf.constant(emb)
    if mask is None:
        mask = np.ones(emb.shape[:2], bool)
    if target is None:
        target = np.arange(emb.shape[0]) % C
    return explain_lrp(chain, emb, tf.constant(mask), tf.constant(target, tf.int32), **kw)


SLOW = {"bilstm_sum", "gru_stack", "cnn_causal_dilated", "lstm_backwards"}


def _cases(names):
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in names]


@pytest.mark.parametrize("name", _cases(sorted(BODIES)))
def test_matches_numpy_reference(float64, name):
    model = _model(BODIES[name]())
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(B, T, E))
    target = np.arange(B) % C
    spec = ref.spec_from_model(model)
    for bias_factor in (0.0, 1.0):
        res = _explain(model, emb, target=target, bias_factor=bias_factor)
        want = ref.lrp_batch(spec, emb, target, bias_factor=bias_factor)
        logits = ModelGraph.from_model(model).logits(tf.constant(emb))
        np.testing.assert_allclose(want["logits"], logits.numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.per_dim, want["per_dim"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.relevance, want["relevance"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(res.delta, want["delta"], rtol=0, atol=1e-10)
        if bias_factor == 1.0:
            assert np.abs(res.delta).max() < 1e-8, name


def test_epsilon_matches_reference(float64):
    model = _model(BODIES["bilstm"]())
    emb = np.random.default_rng(2).normal(size=(2, 4, E))
    spec = ref.spec_from_model(model)
    res = _explain(model, emb, eps=0.05)
    want = ref.lrp_batch(spec, emb, np.arange(2) % C, eps=0.05)
    np.testing.assert_allclose(res.per_dim, want["per_dim"], rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "name", _cases(["bilstm_stack_dense", "lstm_backwards", "gru_reset_before"])
)
def test_right_padding_gives_unpadded_relevance(float64, name):
    model = _model(BODIES[name]())
    rng = np.random.default_rng(3)
    lengths = [T, 3, 1, 0]
    emb = rng.normal(size=(len(lengths), T, E))
    mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
    emb_padded = np.where(mask[..., None], emb, rng.normal(size=emb.shape))  # junk in padding
    for bias_factor in (0.0, 1.0):
        padded = _explain(model, emb_padded, mask, np.zeros(4, int), bias_factor=bias_factor)
        assert np.all(padded.per_dim[~mask] == 0.0)
        assert np.all(np.isfinite(padded.per_dim))
        for n, length in enumerate(lengths):
            if length == 0:
                continue
            alone = _explain(model, emb[n:n + 1, :length], target=[0], bias_factor=bias_factor)
            np.testing.assert_allclose(padded.per_dim[n, :length], alone.per_dim[0], rtol=0,
                                       atol=1e-13)
            np.testing.assert_allclose(padded.delta[n], alone.delta[0], rtol=0, atol=1e-12)
        spec = ref.spec_from_model(model)
        want = ref.lrp_batch(spec, emb, np.zeros(4, int), lengths, bias_factor=bias_factor)
        np.testing.assert_allclose(padded.per_dim, want["per_dim"], rtol=0, atol=1e-10)


def test_masked_input_through_embedding(float64):
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(20, E, mask_zero=True),
        keras.layers.Bidirectional(_lstm()),
        keras.layers.Dense(C),
        keras.layers.Activation("softmax"),
    ])
    _randomize(model, 4)
    ids = np.array([[3, 5, 7, 0, 0], [9, 1, 2, 4, 6]])
    chain = ModelGraph.from_model(model)
    emb, mask = chain.embed(ids)
    res = explain_lrp(chain, emb, mask, tf.constant([1, 2]), bias_factor=1.0)
    assert np.all(res.relevance[0, 3:] == 0.0)
    assert np.abs(res.delta).max() < 1e-8
    spec = ref.spec_from_model(model)
    want = ref.lrp_batch(spec, emb.numpy(), [1, 2], [3, 5], bias_factor=1.0)
    np.testing.assert_allclose(res.relevance, want["relevance"], rtol=0, atol=1e-10)


def test_no_retrace_for_new_batch_and_length(float64):
    model = _model(BODIES["bigru"]())
    chain = ModelGraph.from_model(model)
    rng = np.random.default_rng(5)
    _explain(model, rng.normal(size=(2, 3, E)))
    _explain(model, rng.normal(size=(4, 7, E)))
    _explain(model, rng.normal(size=(1, 2, E)))
    fn = lrp_function(chain, 1e-3, 0.0, E)
    assert fn.experimental_get_tracing_count() == 1


def test_twin_shares_variables(float64):
    model = _model(BODIES["lstm"]())
    emb = np.random.default_rng(6).normal(size=(2, T, E))
    _explain(model, emb)
    _randomize(model, seed=7)  # new weights after the function was traced
    res = _explain(model, emb)
    want = ref.lrp_batch(ref.spec_from_model(model), emb, np.arange(2) % C)
    np.testing.assert_allclose(res.per_dim, want["per_dim"], rtol=0, atol=1e-10)


def test_float32_smoke():
    model = _model(BODIES["bilstm_stack_dense"]())
    emb = np.random.default_rng(8).normal(size=(B, T, E)).astype("float32")
    res = _explain(model, emb, bias_factor=1.0)
    assert res.per_dim.dtype == np.float32
    assert np.all(np.isfinite(res.relevance))
    assert np.abs(res.delta).max() < 1e-4


def test_unsupported_layer_is_named(float64):
    model = _model([keras.layers.Lambda(lambda x: 2.0 * x, name="doubler"), _lstm()])
    with pytest.raises(ValueError, match=r"doubler.*Lambda.*Supported.*LSTM.*register_rule"):
        _explain(model, np.zeros((1, 2, E)))


def test_unsupported_rnn_activation_is_named(float64):
    model = _model([keras.layers.Bidirectional(_gru(recurrent_activation="tanh"), name="bi")])
    with pytest.raises(ValueError, match=r"'bi'.*recurrent_activation='tanh'"):
        _explain(model, np.zeros((1, 2, E)))
