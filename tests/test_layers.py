"""ExplainableLSTM / ExplainableGRU against stock Keras, gate traces, converter, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_relevance.layers import (
    GRU_TRACE_KEYS,
    LSTM_TRACE_KEYS,
    ExplainableGRU,
    ExplainableLSTM,
    bidirectional_call_with_gates,
    check_explainable,
    explainable_twin,
    make_explainable,
)

BATCH, TIME, DIM, UNITS = 3, 6, 5, 4

MASKS = {
    "none": None,
    "right": np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]], bool),
    "left": np.array([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]], bool),
    "gaps": np.array([[1, 0, 1, 1, 0, 1], [0, 1, 1, 0, 1, 0], [1, 1, 0, 0, 0, 1]], bool),
}

KINDS = {
    "lstm": (keras.layers.LSTM, ExplainableLSTM, {}),
    "gru": (keras.layers.GRU, ExplainableGRU, {"reset_after": True}),
    "gru_v1": (keras.layers.GRU, ExplainableGRU, {"reset_after": False}),
}


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _inputs(dtype="float64", seed=0):
    return np.random.default_rng(seed).normal(size=(BATCH, TIME, DIM)).astype(dtype)


def _pair(kind, seed=0, **options):
    """A built stock layer and its explainable copy with the same random weights (incl. bias)."""
    stock_cls, ours_cls, extra = KINDS[kind]
    options = {"units": UNITS, **extra, **options}
    stock = stock_cls(**options, bias_initializer=keras.initializers.RandomNormal(seed=seed))
    stock.build((None, None, DIM))
    ours = ours_cls(**options)
    ours.build((None, None, DIM))
    ours.set_weights(stock.get_weights())
    return stock, ours


def _close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- equality with stock
@pytest.mark.parametrize("mask_kind", sorted(MASKS))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sequences_and_states_match_stock_float64(float64, kind, go_backwards, mask_kind):
    stock, ours = _pair(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x, mask = _inputs(), MASKS[mask_kind]
    expected = stock(x, mask=mask)
    outputs, states, trace = ours.call_with_gates(x, mask=mask)
    _close(outputs, expected[0], 1e-12)
    assert len(states) == len(expected) - 1
    for got, want in zip(states, expected[1:], strict=True):
        _close(got, want, 1e-12)
    # the stock `call` of the explainable layer is untouched
    for got, want in zip(ours(x, mask=mask), expected, strict=True):
        _close(got, want, 1e-12)
    assert all(v.shape == (BATCH, TIME, UNITS) for v in trace.values())


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_last_output_matches_stock_float64(float64, kind, go_backwards):
    stock, ours = _pair(kind, go_backwards=go_backwards)
    x = _inputs()
    for mask in (None, MASKS["gaps"], MASKS["left"]):
        outputs, _, _ = ours.call_with_gates(x, mask=mask)
        _close(outputs, stock(x, mask=mask), 1e-12)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_zero_output_for_mask_matches_stock(float64, kind):
    stock, ours = _pair(kind, return_sequences=True, zero_output_for_mask=True)
    x, mask = _inputs(), MASKS["gaps"]
    outputs, _, _ = ours.call_with_gates(x, mask=mask)
    _close(outputs, stock(x, mask=mask), 1e-12)
    assert np.all(np.asarray(outputs)[~mask] == 0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_initial_state_matches_stock(float64, kind):
    stock, ours = _pair(kind, return_sequences=True, return_state=True)
    x, mask = _inputs(), MASKS["left"]
    rng = np.random.default_rng(3)
    n_states = 2 if kind == "lstm" else 1
    init = [rng.normal(size=(BATCH, UNITS)) for _ in range(n_states)]
    expected = stock(x, mask=mask, initial_state=init)
    outputs, states, trace = ours.call_with_gates(x, mask=mask, initial_state=init)
    _close(outputs, expected[0], 1e-12)
    _close(states[0], expected[1], 1e-12)
    _close(trace["h_prev"][:, 0], init[0], 0)


@pytest.mark.parametrize("mask_kind", ["none", "gaps"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_float32_matches_stock(kind, mask_kind):
    stock, ours = _pair(kind, return_sequences=True, return_state=True, go_backwards=True)
    x, mask = _inputs("float32"), MASKS[mask_kind]
    expected = stock(x, mask=mask)
    outputs, states, trace = ours.call_with_gates(x, mask=mask)
    assert outputs.dtype == tf.float32 and trace["h"].dtype == tf.float32
    _close(outputs, expected[0], 1e-5)
    _close(states[-1], expected[-1], 1e-5)


@pytest.mark.parametrize(
    ("kind", "go_backwards", "mask_kind", "tol", "use_float64"),
    [
        ("lstm", False, "gaps", 1e-10, True),
        ("lstm", True, "right", 1e-10, True),
        ("gru", True, "gaps", 1e-10, True),
        ("gru_v1", False, "left", 1e-10, True),
        ("lstm", True, "gaps", 1e-5, False),
        ("gru", False, "gaps", 1e-5, False),
    ],
)
def test_input_gradients_match_stock(kind, go_backwards, mask_kind, tol, use_float64, request):
    if use_float64:
        request.getfixturevalue("float64")
    dtype = "float64" if use_float64 else "float32"
    stock, ours = _pair(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = tf.constant(_inputs(dtype))
    mask = MASKS[mask_kind]
    weights = tf.constant(np.random.default_rng(7).normal(size=(BATCH, TIME, UNITS)).astype(dtype))

    def loss(outputs, last_state):
        return tf.reduce_sum(outputs * weights) + tf.reduce_sum(last_state**2)

    with tf.GradientTape() as tape:
        tape.watch(x)
        expected = stock(x, mask=mask)
        want_loss = loss(expected[0], expected[-1])
    want = tape.gradient(want_loss, x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs, states, _ = ours.call_with_gates(x, mask=mask)
        got_loss = loss(outputs, states[-1])
    got = tape.gradient(got_loss, x)
    _close(got_loss, want_loss, tol)
    _close(got, want, tol)
    # gradients w.r.t. the weights too (shared variables, as LRP twins use them)
    got_weights = tape.gradient(got_loss, ours.trainable_variables)
    with tf.GradientTape() as tape:
        expected = stock(x, mask=mask)
        want_weights = tape.gradient(loss(expected[0], expected[-1]), stock.trainable_variables)
    for g, w in zip(got_weights, want_weights, strict=True):
        _close(g, w, tol * 10)


# ----------------------------------------------------------------------------- the trace
def _numpy_preactivations(layer, x, h_prev):
    kernel, recurrent, bias = (
        w.numpy() for w in (layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias)
    )
    return x @ kernel, h_prev @ recurrent, bias


@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_trace_recurrence(float64, go_backwards):
    _, ours = _pair("lstm", return_sequences=True, go_backwards=go_backwards)
    x, mask = _inputs(), MASKS["gaps"]
    _, states, trace = ours.call_with_gates(x, mask=mask)
    t = {k: np.asarray(v) for k, v in trace.items()}
    xw, hu, b = _numpy_preactivations(ours, x, t["h_prev"])
    z = xw + hu + b
    for n, key in enumerate(("zi", "zf", "zg", "zo")):
        _close(t[key], z[..., n * UNITS : (n + 1) * UNITS], 1e-12)
    _close(t["i"], _sigmoid(t["zi"]), 1e-12)
    _close(t["f"], _sigmoid(t["zf"]), 1e-12)
    _close(t["g"], np.tanh(t["zg"]), 1e-12)
    _close(t["o"], _sigmoid(t["zo"]), 1e-12)
    c_new = t["f"] * t["c_prev"] + t["i"] * t["g"]
    h_new = t["o"] * np.tanh(c_new)
    _close(t["c"][mask], c_new[mask], 1e-12)
    _close(t["h"][mask], h_new[mask], 1e-12)
    # masked steps hold the state exactly
    np.testing.assert_array_equal(t["c"][~mask], t["c_prev"][~mask])
    np.testing.assert_array_equal(t["h"][~mask], t["h_prev"][~mask])
    # states chain in processing order
    order = range(TIME - 1, -1, -1) if go_backwards else range(TIME)
    order = list(order)
    for prev, cur in zip(order, order[1:], strict=False):
        np.testing.assert_array_equal(t["h_prev"][:, cur], t["h"][:, prev])
        np.testing.assert_array_equal(t["c_prev"][:, cur], t["c"][:, prev])
    _close(states[0], t["h"][:, order[-1]], 0)
    _close(states[1], t["c"][:, order[-1]], 0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_trace_recurrence(float64, reset_after):
    kind = "gru" if reset_after else "gru_v1"
    _, ours = _pair(kind, return_sequences=True, go_backwards=True)
    x, mask = _inputs(), MASKS["left"]
    _, states, trace = ours.call_with_gates(x, mask=mask)
    t = {k: np.asarray(v) for k, v in trace.items()}
    u = UNITS
    kernel, recurrent, bias = (
        w.numpy() for w in (ours.cell.kernel, ours.cell.recurrent_kernel, ours.cell.bias)
    )
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, np.zeros(3 * u))
    xw = x @ kernel + b_in
    hu = t["h_prev"] @ recurrent + b_rec
    _close(t["zz"], xw[..., :u] + hu[..., :u], 1e-12)
    _close(t["zr"], xw[..., u : 2 * u] + hu[..., u : 2 * u], 1e-12)
    _close(t["xg"], xw[..., 2 * u :], 1e-12)
    _close(t["z"], _sigmoid(t["zz"]), 1e-12)
    _close(t["r"], _sigmoid(t["zr"]), 1e-12)
    if reset_after:
        _close(t["hg"], hu[..., 2 * u :], 1e-12)
        _close(t["zg"], t["xg"] + t["r"] * t["hg"], 1e-12)
    else:
        _close(t["hg"], (t["r"] * t["h_prev"]) @ recurrent[:, 2 * u :], 1e-12)
        _close(t["zg"], t["xg"] + t["hg"], 1e-12)
    _close(t["g"], np.tanh(t["zg"]), 1e-12)
    h_new = t["z"] * t["h_prev"] + (1 - t["z"]) * t["g"]
    _close(t["h"][mask], h_new[mask], 1e-12)
    np.testing.assert_array_equal(t["h"][~mask], t["h_prev"][~mask])
    _close(states[0], t["h"][:, 0], 0)  # go_backwards: the last step consumed position 0


def test_lstm_one_unit_by_hand(float64):
    """A 1-unit LSTM with constant weights, computed by hand."""
    layer = ExplainableLSTM(
        1,
        return_sequences=True,
        kernel_initializer=keras.initializers.Constant(0.5),
        recurrent_initializer=keras.initializers.Constant(-1.0),
        bias_initializer=keras.initializers.Constant(0.25),
        unit_forget_bias=False,
    )
    x = np.array([[[1.0], [2.0]]])
    outputs, (h, c), trace = layer.call_with_gates(x)
    # step 1: z = 0.5 * 1 + 0.25 = 0.75 for every gate
    s1, g1 = _sigmoid(0.75), np.tanh(0.75)
    c1 = s1 * g1
    h1 = s1 * np.tanh(c1)
    # step 2: z = 0.5 * 2 - h1 + 0.25
    z2 = 1.25 - h1
    c2 = _sigmoid(z2) * c1 + _sigmoid(z2) * np.tanh(z2)
    h2 = _sigmoid(z2) * np.tanh(c2)
    np.testing.assert_allclose(np.asarray(outputs)[0, :, 0], [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(trace["c"])[0, :, 0], [c1, c2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(trace["zf"])[0, :, 0], [0.75, z2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(h)[0, 0], h2, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(c)[0, 0], c2, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(layer(x))[0, :, 0], [h1, h2], rtol=1e-14)


def test_gru_one_unit_by_hand(float64):
    layer = ExplainableGRU(
        1,
        kernel_initializer=keras.initializers.Constant(1.0),
        recurrent_initializer=keras.initializers.Constant(2.0),
        bias_initializer=keras.initializers.Constant(0.5),
    )
    x = np.array([[[1.0], [-1.0]]])
    outputs, (h,), trace = layer.call_with_gates(x)
    # reset_after: every input part = x + 0.5, every recurrent part = 2 h + 0.5
    # step 1 (h0 = 0): zz = zr = 1.5 + 0.5 = 2, hg = 0.5, zg = 1.5 + r * 0.5
    h1 = (1 - _sigmoid(2.0)) * np.tanh(1.5 + _sigmoid(2.0) * 0.5)
    # step 2: zz = zr = -0.5 + 2 h1 + 0.5 = 2 h1, hg = 2 h1 + 0.5, zg = -0.5 + r * hg
    gate2 = _sigmoid(2 * h1)
    hg2 = 2 * h1 + 0.5
    g2 = np.tanh(-0.5 + gate2 * hg2)
    h2 = gate2 * h1 + (1 - gate2) * g2
    np.testing.assert_allclose(np.asarray(trace["h"])[0, :, 0], [h1, h2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(trace["hg"])[0, :, 0], [0.5, hg2], rtol=1e-14)
    np.testing.assert_allclose(np.asarray(outputs)[0, 0], h2, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(layer(x))[0, 0], h2, rtol=1e-14)


def test_works_inside_tf_function_without_retracing():
    _, ours = _pair("lstm", return_sequences=True)
    traces = []

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, DIM], tf.float32),
            tf.TensorSpec([None, None], tf.bool),
        ]
    )
    def run(x, mask):
        traces.append(1)
        outputs, _, trace = ours.call_with_gates(x, mask=mask)
        return outputs, trace["f"]

    x = _inputs("float32")
    for length in (TIME, TIME - 2):
        outputs, f = run(x[:, :length], MASKS["gaps"][:, :length])
        eager, _, trace = ours.call_with_gates(x[:, :length], mask=MASKS["gaps"][:, :length])
        _close(outputs, eager, 1e-6)
        _close(f, trace["f"], 1e-6)
    assert len(traces) == 1


def test_training_flag(float64):
    _, ours = _pair("gru", return_sequences=True)
    x = _inputs()
    _close(ours.call_with_gates(x, training=True)[0], ours.call_with_gates(x)[0], 0)
    dropped = ExplainableLSTM(2, dropout=0.5)
    with pytest.raises(NotImplementedError, match="training=True"):
        dropped.call_with_gates(x, training=True)
    assert dropped.call_with_gates(x)[0].shape == (BATCH, 2)


def test_any_activation_still_traces(float64):
    stock, ours = _pair(
        "lstm", return_sequences=True, activation="relu", recurrent_activation="hard_sigmoid"
    )
    x = _inputs()
    _close(ours.call_with_gates(x)[0], stock(x), 1e-12)


# ----------------------------------------------------------------------------- bidirectional
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_matches_layer(float64, kind, merge_mode):
    cls = ExplainableLSTM if kind == "lstm" else ExplainableGRU
    bidi = keras.layers.Bidirectional(
        cls(UNITS, return_sequences=True, bias_initializer="random_normal"), merge_mode=merge_mode
    )
    x, mask = _inputs(), MASKS["gaps"]
    expected = bidi(x, mask=mask)
    assert isinstance(bidi.backward_layer, cls)
    outputs, traces = bidirectional_call_with_gates(bidi, x, mask=mask)
    _close(outputs, expected, 1e-12)
    forward, backward = traces["forward"], traces["backward"]
    # both in word order: each direction's own output at word t is its h at word t
    y_fwd = np.asarray(bidi.forward_layer(x, mask=mask))
    y_bwd = np.asarray(bidi.backward_layer(x, mask=mask))[:, ::-1]
    _close(np.asarray(forward["h"])[mask], y_fwd[mask], 1e-12)
    _close(np.asarray(backward["h"])[mask], y_bwd[mask], 1e-12)


def test_bidirectional_last_output_and_states_stock_layer(float64):
    bidi = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_state=True))
    x, mask = _inputs(), MASKS["right"]
    rng = np.random.default_rng(1)
    init = [rng.normal(size=(BATCH, UNITS)) for _ in range(4)]
    expected = bidi(x, mask=mask, initial_state=init)
    outputs, traces = bidirectional_call_with_gates(bidi, x, mask=mask, initial_state=init)
    assert len(outputs) == 5
    for got, want in zip(outputs, expected, strict=True):
        _close(got, want, 1e-12)
    # forward ends at the last word, backward at the first
    _close(traces["backward"]["h"][:, 0], outputs[3], 0)
    _close(traces["forward"]["h"][:, -1], outputs[1], 0)
    _close(traces["backward"]["h_prev"][:, -1], init[2], 0)


# ----------------------------------------------------------------------------- serialization
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_config_round_trip(kind):
    _, ours = _pair(kind, return_sequences=True, go_backwards=True, dropout=0.1)
    config = ours.get_config()
    clone = type(ours).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(ours)
    assert serialized["registered_name"].startswith("keras_relevance>")
    assert type(keras.saving.deserialize_keras_object(serialized)) is type(ours)
    stock_cls = KINDS[kind][0]
    assert {k: v for k, v in config.items() if k != "name"} == {
        k: v for k, v in stock_cls.from_config(config).get_config().items() if k != "name"
    }


def test_keras_save_load_identical_predictions(tmp_path):
    ids = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(20, DIM, mask_zero=True)(ids)
    seq = keras.layers.Bidirectional(ExplainableLSTM(UNITS, return_sequences=True))(emb)
    last = ExplainableGRU(UNITS, reset_after=False)(seq)
    model = keras.Model(ids, keras.layers.Dense(2)(last))
    data = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    _close(loaded.predict(data, verbose=0), model.predict(data, verbose=0), 0)
    types = {type(layer).__name__ for layer in loaded.layers}
    assert {"Bidirectional", "ExplainableGRU"} <= types
    assert isinstance(loaded.layers[2].forward_layer, ExplainableLSTM)


def test_stock_weights_are_a_drop_in():
    stock, ours = _pair("lstm")
    assert [w.shape for w in stock.weights] == [w.shape for w in ours.weights]
    assert [w.name for w in stock.weights] == [w.name for w in ours.weights]


# ----------------------------------------------------------------------------- conversion
def _sequential():
    return keras.Sequential(
        [
            keras.Input((TIME,), dtype="int32"),
            keras.layers.Embedding(20, DIM, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True)),
            keras.layers.GRU(UNITS, return_sequences=True),
            keras.layers.LSTM(UNITS),
            keras.layers.Dense(3),
        ]
    )


def _functional():
    ids = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(20, DIM, mask_zero=True)(ids)
    seq = keras.layers.GRU(UNITS, return_sequences=True, reset_after=False)(emb)
    seq = keras.layers.Bidirectional(keras.layers.GRU(UNITS), merge_mode="sum")(seq)
    return keras.Model(ids, keras.layers.Dense(3, activation="softmax")(seq))


IDS = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9], [0, 0, 3, 4, 0, 0]])


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_make_explainable(build):
    model = build()
    converted = make_explainable(model)
    assert type(converted) is type(model)
    assert converted is not model
    _close(converted.predict(IDS, verbose=0), model.predict(IDS, verbose=0), 0)
    for layer in converted.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            assert isinstance(layer.forward_layer, (ExplainableLSTM, ExplainableGRU))
            assert isinstance(layer.backward_layer, (ExplainableLSTM, ExplainableGRU))
        elif isinstance(layer, keras.layers.RNN):
            assert isinstance(layer, (ExplainableLSTM, ExplainableGRU))
    # a copy, not shared variables
    original = [w.copy() for w in model.get_weights()]
    converted.set_weights([w * 0 for w in converted.get_weights()])
    for a, b in zip(model.get_weights(), original, strict=True):
        np.testing.assert_array_equal(a, b)


def test_make_explainable_nested_and_already_explainable():
    inner = keras.Sequential([keras.Input((TIME, DIM)), keras.layers.LSTM(UNITS)])
    ids = keras.Input((TIME,), dtype="int32")
    emb = keras.layers.Embedding(20, DIM)(ids)
    out = keras.layers.Dense(2)(inner(emb))
    model = keras.Model(ids, out)
    converted = make_explainable(model)
    _close(converted.predict(IDS, verbose=0), model.predict(IDS, verbose=0), 0)
    nested = [layer for layer in converted.layers if isinstance(layer, keras.Model)]
    assert isinstance(nested[0].layers[0], ExplainableLSTM)
    again = make_explainable(converted)
    _close(again.predict(IDS, verbose=0), model.predict(IDS, verbose=0), 0)


def test_explainable_twin():
    stock = keras.layers.GRU(UNITS, go_backwards=True, reset_after=False, name="my_gru")
    x = _inputs("float32")
    expected = stock(x)
    twin = explainable_twin(stock)
    assert isinstance(twin, ExplainableGRU) and twin.name == "my_gru"
    _close(twin(x), expected, 0)
    assert explainable_twin(twin) is twin
    bidi = keras.layers.Bidirectional(keras.layers.LSTM(UNITS), merge_mode="mul")
    expected = bidi(x)
    bidi_twin = explainable_twin(bidi)
    assert isinstance(bidi_twin.backward_layer, ExplainableLSTM)
    assert bidi_twin.backward_layer.go_backwards
    _close(bidi_twin(x), expected, 0)
    unbuilt = explainable_twin(keras.layers.LSTM(2))
    assert isinstance(unbuilt, ExplainableLSTM) and not unbuilt.built


@keras.saving.register_keras_serializable(package="tests")  # Bidirectional copies it by config
class _CustomCell(keras.layers.Layer):
    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units))

    def call(self, inputs, states):
        h = tf.matmul(inputs, self.kernel) + states[0]
        return h, [h]


class _MyLSTM(keras.layers.LSTM):
    """A user's subclass: its `call` may differ, so it gets no twin."""


@pytest.mark.parametrize(
    ("layer", "name"),
    [
        (keras.layers.RNN(_CustomCell(), name="custom_rnn"), "custom_rnn"),
        (keras.layers.Bidirectional(keras.layers.RNN(_CustomCell(), name="inner")), "inner"),
        (_MyLSTM(2, name="my_lstm"), "my_lstm"),
    ],
)
def test_make_explainable_names_unconvertible_layer(layer, name):
    model = keras.Sequential(
        [keras.Input((TIME, DIM)), keras.layers.LSTM(2, return_sequences=True), layer]
    )
    with pytest.raises(ValueError, match=rf"{name}.*cannot be made explainable"):
        make_explainable(model)
    with pytest.raises(ValueError, match="cannot be made explainable"):
        explainable_twin(layer)


def test_make_explainable_keeps_simple_rnn():
    simple = keras.layers.SimpleRNN(2, return_sequences=True)
    bidi = keras.layers.Bidirectional(keras.layers.SimpleRNN(2))
    only_simple = keras.Sequential(
        [keras.Input((TIME, DIM)), simple, bidi, keras.layers.Dense(2)], name="only_simple"
    )
    with pytest.raises(ValueError, match="'only_simple' has no LSTM or GRU"):
        make_explainable(only_simple)
    simple = keras.layers.SimpleRNN(3, return_sequences=True, name="simple")
    model = keras.Sequential([keras.Input((TIME, DIM)), simple, keras.layers.GRU(3)])
    converted = make_explainable(model)
    assert type(converted.layers[0]) is keras.layers.SimpleRNN
    assert type(converted.layers[1]) is ExplainableGRU
    x = _inputs("float32")
    _close(converted(x), model(x), 0)
    with pytest.raises(ValueError, match="'simple'.*cannot be made explainable"):
        explainable_twin(simple)  # there is no twin to give


def test_make_explainable_without_rnn():
    model = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(2)], name="plain")
    with pytest.raises(ValueError, match="'plain' has no LSTM or GRU"):
        make_explainable(model)
    with pytest.raises(TypeError, match="`model`"):
        make_explainable("not a model")


# ----------------------------------------------------------------------------- checks / bad input
def test_check_explainable():
    check_explainable(ExplainableLSTM(2, unit_forget_bias=True))
    check_explainable(keras.layers.GRU(2, recurrent_activation="hard_sigmoid"))
    check_explainable(keras.layers.Bidirectional(ExplainableGRU(2)), method="reat")
    # the candidate's activation passes relevance (the capability table): relu is fine
    check_explainable(ExplainableLSTM(2, activation="relu", name="relu_lstm"))
    tanh_gates = ExplainableLSTM(2, recurrent_activation="tanh", name="tanh_lstm")
    with pytest.raises(ValueError, match=r"'tanh_lstm'.*recurrent_activation='tanh'"):
        check_explainable(tanh_gates)
    check_explainable(tanh_gates, method="integrated_gradients")  # gradients do not care
    gate = ExplainableGRU(2, recurrent_activation="tanh", name="tanh_gates")
    with pytest.raises(ValueError, match=r"'forward_tanh_gates'.*recurrent_activation='tanh'"):
        check_explainable(keras.layers.Bidirectional(gate), method="reat")
    with pytest.raises(ValueError, match="'dense_x'.*only LSTM and GRU"):
        check_explainable(keras.layers.Dense(2, name="dense_x"))


def test_bad_inputs():
    layer = ExplainableLSTM(2, name="lstm_under_test")
    with pytest.raises(ValueError, match=r"'lstm_under_test'.*`inputs` must have rank 3"):
        layer.call_with_gates(np.zeros((2, 3), "float32"))
    with pytest.raises(TypeError, match=r"'lstm_under_test'.*`inputs`.*str"):
        layer.call_with_gates("a sentence")
    with pytest.raises(TypeError, match=r"`inputs`.*dtype string"):
        layer.call_with_gates(tf.constant([[["a"]]]))
    layer.call_with_gates(np.zeros((1, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"'lstm_under_test'.*`inputs` has 5 features.*4"):
        layer.call_with_gates(np.zeros((1, 3, 5), "float32"))
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, time\)"):
        layer.call_with_gates(np.zeros((1, 3, 4), "float32"), mask=np.ones((1, 3, 1), bool))
    with pytest.raises(ValueError, match=r"`initial_state` must hold 2"):
        layer.call_with_gates(np.zeros((1, 3, 4), "float32"), initial_state=[np.zeros((1, 2))])
    with pytest.raises(TypeError, match="`bidi_layer`"):
        bidirectional_call_with_gates(layer, np.zeros((1, 3, 4), "float32"))
    bidi = keras.layers.Bidirectional(ExplainableGRU(2, name="g"))
    with pytest.raises(ValueError, match=r"'forward_g'.*`inputs` must have rank 3"):
        bidirectional_call_with_gates(bidi, np.zeros((3, 4), "float32"))
    with pytest.raises(TypeError, match=r"'forward_g'.*`inputs`"):
        bidirectional_call_with_gates(bidi, "text")


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_v1"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_trace_keys_subset_equals_full_trace(float64, kind, go_backwards):
    """`keys=` returns exactly the requested entries, bitwise equal to the full trace's."""
    _, ours = _pair(kind, return_sequences=True, go_backwards=go_backwards)
    x, mask = _inputs(), MASKS["gaps"]
    outputs, states, full = ours.call_with_gates(x, mask=mask)
    all_keys = LSTM_TRACE_KEYS if kind == "lstm" else GRU_TRACE_KEYS
    assert tuple(full) == all_keys
    subsets = [(k,) for k in all_keys] + [("h_prev", "h"), all_keys[::-1]]
    for keys in subsets:
        got_outputs, got_states, trace = ours.call_with_gates(x, mask=mask, keys=keys)
        assert set(trace) == set(keys)
        for k in keys:
            np.testing.assert_array_equal(trace[k], full[k])
        np.testing.assert_array_equal(got_outputs, outputs)
        for got, want in zip(got_states, states, strict=True):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"`keys`.*\['nope'\]"):
        ours.call_with_gates(x, mask=mask, keys=("h", "nope"))
