"""Explaining the models users write (issue 11): functional graphs, branches, attention, strings.

Every number is compared, in float64, with the independent NumPy reference in
`reference_graph_lrp` (written from notes/LRP_SPEC.md), which is itself checked here against
`model(x)` and against the chain reference `reference_lrp`.
"""

from __future__ import annotations

import warnings

import graph_zoo as gz
import keras
import numpy as np
import pytest
import reference_graph_lrp as rg
import reference_lrp as rl
from keras import layers

import keras_relevance as kr

ATOL = 1e-10
METHODS = ("lrp", "lrp_cons", "sa", "gradient", "grad_input", "integrated_gradients",
           "occlusion", "lime")
FAST = {"integrated_gradients": {"steps": 8}, "lime": {"samples": 64}}
# the list of models on which every method must run
EVERY_METHOD = ("bilstm", "text_gru", "kim_cnn", "bilstm_attention", "mha", "sigmoid_gru")
# models with one recurrent layer feeding the head (REAT applies)
ONE_RNN = ("bilstm", "sigmoid_gru", "softmax_lstm", "text_gru")
SOFTMAX = ("kim_cnn", "bilstm_attention", "softmax_lstm", "cnn_pool_seq", "rnn_stack_seq")


@pytest.fixture(scope="module")
def zoo():
    """Each model built once, in float64 (the policy is restored after building)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    cache = {}

    def get(name):
        if name not in cache:
            keras.config.set_dtype_policy("float64")
            try:
                cache[name] = gz.ZOO[name]()
            finally:
                keras.config.set_dtype_policy(previous)
        return cache[name]

    keras.config.set_dtype_policy(previous)
    return get


def model_input(name, x):
    return x[:, None] if name in gz.STRING_MODELS else x


def api_input(name, x):
    return [str(s) for s in x] if name in gz.STRING_MODELS else x


def head_of(model):
    return rg._find_head(model)


def probabilities(head, scores):
    """What the model outputs, from the class scores (a head's activation applied)."""
    if head.units == 1:
        return 1.0 / (1.0 + np.exp(-scores[:, 1:]))
    e = np.exp(scores - scores.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def explain(model, name, x, method, **options):
    return kr.Explainer(model).explain(api_input(name, x), method=method,
                                       **{**FAST.get(method, {}), **options})


# --------------------------------------------------------------- the reference itself
@pytest.mark.parametrize("name", sorted(gz.ZOO))
def test_reference_forward_equals_model_and_conserves(zoo, name):
    model = zoo(name)
    x = gz.inputs_for(name)
    ref = rg.explain(model, x, bias_factor=1.0)
    out = np.asarray(model(model_input(name, x)), np.float64)
    head = head_of(model)
    act = head.activation.__name__
    if act in ("softmax", "sigmoid") or head.units == 1 or name in SOFTMAX:
        np.testing.assert_allclose(probabilities(head, ref["logits"]), out, rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(ref["logits"], out, rtol=0, atol=1e-12)
    assert np.abs(ref["delta"] - ref["padding"]).max() < 1e-12


@pytest.mark.parametrize("cell", [layers.LSTM, layers.GRU])
def test_reference_agrees_with_chain_reference(float64, cell):
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"), layers.Embedding(gz.VOCAB, gz.EMB),
        layers.Bidirectional(cell(4, return_sequences=True), merge_mode="sum"),
        layers.Conv1D(3, 2, padding="causal"), layers.GlobalAveragePooling1D(),
        layers.Dense(5, activation="relu"), layers.Dense(3)])
    gz.randomize(model)
    ids = gz.ids_batch(0)[:1]
    emb = np.asarray(model.layers[0](ids))
    for bf in (0.0, 1.0):
        ours = rg.explain(model, ids, target=1, bias_factor=bf)
        chain = rl.lrp_batch(rl.spec_from_model(model), emb, 1, bias_factor=bf)
        np.testing.assert_allclose(ours["per_dim"], chain["per_dim"], rtol=0, atol=1e-13)
        np.testing.assert_allclose(ours["delta"], chain["delta"], rtol=0, atol=1e-13)


# ------------------------------------------------------------------------- LRP numbers
@pytest.mark.parametrize("bias_factor", [0.0, 1.0])
@pytest.mark.parametrize("name", sorted(gz.ZOO))
def test_lrp_equals_reference(zoo, name, bias_factor):
    model = zoo(name)
    x = gz.inputs_for(name)
    ref = rg.explain(model, x, bias_factor=bias_factor, eps=1e-3)
    target = np.arange(len(x)) % ref["logits"].shape[1]
    ref_t = rg.explain(model, x, target=target, bias_factor=bias_factor, eps=1e-3)
    e = explain(model, name, x, "lrp", eps=1e-3, bias_factor=bias_factor)
    np.testing.assert_allclose(e.logits, ref["logits"], rtol=0, atol=ATOL)
    np.testing.assert_array_equal(e.target, ref["target"])
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(e.delta, ref["delta"], rtol=0, atol=1e-8)
    e_t = explain(model, name, x, "lrp", eps=1e-3, bias_factor=bias_factor, target=target)
    np.testing.assert_allclose(e_t.relevance, ref_t["relevance"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", sorted(gz.ZOO))
def test_lrp_cons_conserves(zoo, name):
    """|delta| < 1e-8 apart from the relevance that reached padding (it is in delta)."""
    model = zoo(name)
    x = gz.inputs_for(name)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*padding.*")
        e = explain(model, name, x, "lrp_cons")
    padding = rg.explain(model, x, target=e.target, bias_factor=1.0)["padding"]
    assert np.abs(e.delta - padding).max() < 1e-8


@pytest.mark.parametrize("name", sorted(gz.ZOO))
def test_logits_are_the_heads_scores(zoo, name):
    """e.logits are the head's pre-activation ([-z, z] for one unit) and give model(x)."""
    model = zoo(name)
    x = gz.inputs_for(name)
    e = explain(model, name, x, "sa")
    head = head_of(model)
    out = np.asarray(model(model_input(name, x)), np.float64)
    if head.units == 1:
        assert e.logits.shape == (len(x), 2)
        np.testing.assert_allclose(e.logits[:, 0], -e.logits[:, 1], rtol=0, atol=0)
        np.testing.assert_array_equal(e.target, (e.logits[:, 1] > 0).astype(int))
    expected = probabilities(head, e.logits) if head.units == 1 or name in SOFTMAX else e.logits
    np.testing.assert_allclose(expected, out, rtol=0, atol=1e-12)


# -------------------------------------------------------------------- every method
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", EVERY_METHOD)
def test_every_method_runs(zoo, name, method):
    model = zoo(name)
    x = gz.inputs_for(name)[:2]
    e = explain(model, name, x, method)
    ref = rg.explain(model, x)
    assert e.relevance.shape == ref["relevance"].shape
    assert np.isfinite(e.relevance).all()
    np.testing.assert_array_equal(e.mask, ref["mask"])
    assert np.all(e.relevance[~ref["mask"]] == 0.0)


@pytest.mark.parametrize("method", ["reat", "naive_reat"])
@pytest.mark.parametrize("name", ONE_RNN)
def test_reat_sums_to_score_minus_head_bias(zoo, name, method):
    model = zoo(name)
    x = gz.inputs_for(name)
    head = head_of(model)
    c = 1 if head.units == 1 else 2
    e = explain(model, name, x, method, target=np.full(len(x), c))
    score = e.logits[:, c]
    bias = np.asarray(head.bias.numpy(), np.float64)
    head_bias = bias[0] if head.units == 1 else bias[c]  # class 1 of one unit: z
    np.testing.assert_allclose(e.relevance.sum(1), score - head_bias, rtol=0, atol=1e-10)
    e0 = explain(model, name, x, method, target=np.zeros(len(x), int))
    bias0 = -bias[0] if head.units == 1 else bias[0]
    np.testing.assert_allclose(e0.relevance.sum(1), e0.logits[:, 0] - bias0, rtol=0, atol=1e-10)


# ------------------------------------------------------------------ equivalent forms
def test_sequential_functional_and_unmasked_agree(float64):
    functional = gz.bilstm(mask_zero=True)
    sequential = gz.bilstm_sequential(mask_zero=True)
    sequential.set_weights(functional.get_weights())
    unmasked = gz.bilstm(mask_zero=False)
    unmasked.set_weights(functional.get_weights())
    ids = gz.ids_batch(3, batch=4, pad="right")
    for method in ("lrp", "lrp_cons"):
        f = kr.Explainer(functional).explain(ids, method=method)
        s = kr.Explainer(sequential).explain(ids, method=method)
        np.testing.assert_allclose(f.relevance, s.relevance, rtol=0, atol=1e-12)
        for n, row in enumerate(ids):
            real = row[row != 0][None]
            u = kr.Explainer(unmasked).explain(real, method=method, target=f.target[n:n + 1])
            np.testing.assert_allclose(u.relevance[0], f.relevance[n, :real.shape[1]],
                                       rtol=0, atol=1e-12)
            np.testing.assert_allclose(u.logits[0], f.logits[n], rtol=0, atol=1e-12)


def test_left_and_right_padding_agree(zoo):
    model = zoo("bilstm_attention")
    right = gz.ids_batch(4, batch=3, pad="right")
    left = np.zeros_like(right)
    for n, row in enumerate(right):
        real = row[row != 0]
        left[n, len(row) - len(real):] = real
    r = kr.Explainer(model).explain(right, method="lrp_cons", target=[0, 1, 0])
    le = kr.Explainer(model).explain(left, method="lrp_cons", target=[0, 1, 0])
    for n in range(len(right)):
        np.testing.assert_allclose(np.sort(r.relevance[n][right[n] != 0]),
                                   np.sort(le.relevance[n][left[n] != 0]), rtol=0, atol=1e-10)
    ref = rg.explain(model, left, target=[0, 1, 0], bias_factor=1.0)
    np.testing.assert_allclose(le.relevance, ref["relevance"], rtol=0, atol=ATOL)


def test_sequential_built_by_fit_is_explained(float64):
    model = keras.Sequential([layers.Embedding(gz.VOCAB, gz.EMB, mask_zero=True),
                              layers.LSTM(gz.UNITS), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    ids = gz.ids_batch(5, batch=8)
    model.fit(ids, np.arange(8) % 2, epochs=1, verbose=0)
    gz.randomize(model, 12)
    e = kr.Explainer(model).explain(ids, method="lrp")
    ref = rg.explain(model, ids)
    np.testing.assert_allclose(e.logits, ref["logits"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)


# ------------------------------------------------------------------------------ errors
@keras.saving.register_keras_serializable(package="tests_graph")
class Scale(keras.layers.Layer):
    """A custom layer without an LRP rule: multiplies by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        self.supports_masking = True

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _with_middle(middle):
    inp = keras.Input((None,), dtype="int32")
    x = layers.Embedding(gz.VOCAB, gz.EMB, mask_zero=True)(inp)
    x = layers.LSTM(gz.UNITS, return_sequences=True)(x)
    x = middle(x)
    x = layers.GlobalAveragePooling1D()(x)
    return gz.randomize(keras.Model(inp, layers.Dense(2)(x)), 13)


@pytest.mark.parametrize("kind", ["custom", "lambda"])
def test_layer_without_rule_is_named(float64, kind):
    middle = (Scale(3.0, name="my_scale") if kind == "custom"
              else layers.Lambda(lambda t: t * 3.0, name="my_lambda"))
    model = _with_middle(middle)
    ids = gz.ids_batch(6)
    for method in ("lrp", "lrp_cons"):
        with pytest.raises(ValueError) as err:
            kr.Explainer(model).explain(ids, method=method)
        msg = str(err.value)
        assert middle.name in msg and type(middle).__name__ in msg, msg
        assert "register_rule" in msg, msg
    # gradient and perturbation methods call the layer itself (LRP_SPEC scope note)
    for method in ("gradient", "occlusion"):
        e = kr.Explainer(model).explain(ids, method=method)
        assert np.isfinite(e.relevance).all()


def test_subclassed_model_is_refused(float64):
    class Classifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.emb = layers.Embedding(gz.VOCAB, gz.EMB, mask_zero=True)
            self.rnn = layers.LSTM(gz.UNITS)
            self.head = layers.Dense(2)

        def call(self, ids):
            return self.head(self.rnn(self.emb(ids))) / 0.7

    model = Classifier()
    ids = gz.ids_batch(7)
    model(ids)
    for method in ("lrp", "gradient"):
        with pytest.raises((ValueError, TypeError)) as err:
            kr.Explainer(model).explain(ids, method=method)
        msg = str(err.value).lower()
        assert "subclass" in msg and "graph" in msg and "functional" in msg, msg


def test_bidirectional_mul_is_refused_by_name(float64):
    model = gz.bilstm(merge="mul")
    with pytest.raises(ValueError) as err:
        kr.Explainer(model).explain(gz.ids_batch(8), method="lrp")
    msg = str(err.value)
    assert "mul" in msg and model.layers[2].name in msg, msg


@pytest.mark.parametrize("merge", ["sum", "ave"])
def test_bidirectional_linear_merges(float64, merge):
    model = gz.bilstm(merge=merge)
    ids = gz.ids_batch(9)
    for bf in (0.0, 1.0):
        e = kr.Explainer(model).explain(ids, method="lrp", bias_factor=bf)
        ref = rg.explain(model, ids, bias_factor=bf)
        np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)


# ---------------------------------------------------------------------------- callback
def test_logger_with_one_unit_sigmoid_head(tmp_path, float64):
    """The Keras IMDB tutorial's head: curves logged for 2 epochs, no warning at all."""
    from test_callbacks import read_run

    from keras_relevance.callbacks import ExplanationLogger

    model = gz.sigmoid_gru()
    model.compile("adam", "binary_crossentropy")
    ids = gz.ids_batch(10, batch=12)
    labels = np.arange(12) % 2
    logger = ExplanationLogger(tmp_path, ids[:2], methods=("lrp", "sa"),
                               deletion_data=(ids, labels), labels=labels[:2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(ids, labels, epochs=2, verbose=0, callbacks=[logger])
    events = read_run(tmp_path / "explanations")
    deletion = {tag: steps for tag, steps in events.items() if tag.startswith("deletion/")}
    assert deletion, sorted(events)
    for steps in deletion.values():
        assert sorted(steps) == [0, 1]
        for payload in steps.values():
            assert set(payload["curves"]) == {"lrp", "sa"}
            for curve in payload["curves"].values():
                assert np.isfinite(np.asarray(curve, dtype=float)).all()


class RegisteredScale(Scale):
    """The same constant scaling, made explainable with kr.register_rule in the test."""


def _scale_reference(layer, inputs, masks, ctx):
    # LRP_SPEC: an activation-like element-wise map passes relevance unchanged
    return inputs[0] * layer.factor, masks[0], lambda r: ([r], 0.0)


def test_register_rule_makes_a_custom_layer_explainable(float64, monkeypatch):
    from keras_relevance import rules

    def handler(step, args, kwargs, ctx):
        return rules.lrp_activation(args[0], lambda v: step.layer(v))

    model = _with_middle(RegisteredScale(0.5, name="halve"))
    ids = gz.ids_batch(11)
    with pytest.raises(ValueError, match="halve"):
        kr.Explainer(model).explain(ids, method="lrp")
    kr.register_rule(RegisteredScale, handler)
    monkeypatch.setitem(rg.RULES, "RegisteredScale", _scale_reference)
    for bf in (0.0, 1.0):
        e = kr.Explainer(model).explain(ids, method="lrp", bias_factor=bf)
        ref = rg.explain(model, ids, bias_factor=bf)
        np.testing.assert_allclose(e.logits, ref["logits"], rtol=0, atol=ATOL)
        np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)
    assert np.abs(kr.Explainer(model).explain(ids, method="lrp_cons").delta).max() < 1e-8


def test_relevance_reaching_padding_is_reported(float64):
    """BiGRU(return_sequences) → GlobalMaxPooling1D reads padding: that relevance is in delta,
    and a warning says so (issue 11)."""
    inp = keras.Input((None,), dtype="int32")
    x = layers.Embedding(gz.VOCAB, gz.EMB, mask_zero=True)(inp)
    x = layers.Bidirectional(layers.GRU(gz.UNITS, return_sequences=True))(x)
    x = layers.GlobalMaxPooling1D()(x)
    model = gz.randomize(keras.Model(inp, layers.Dense(2)(x)), 17)
    ids = gz.ids_batch(12, batch=4, time=8)
    with pytest.warns(Warning, match="padding"):
        e = kr.Explainer(model).explain(ids, method="lrp_cons")
    ref = rg.explain(model, ids, target=e.target, bias_factor=1.0)
    assert np.abs(ref["padding"]).max() > 1e-6  # the case is real
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(e.delta, ref["padding"], rtol=0, atol=1e-8)
