"""Explaining the rest of the graph zoo (issue 11): branches and merges, normalisation, pooling
windows, SimpleRNN, AdditiveAttention, nested models, Sequential stacks; the errors for what
cannot be explained; `kr.register_rule` for a user's layer; the reference checked on its own.

Numbers are compared, in float64, with the independent NumPy reference `reference_graph_lrp`.
"""

from __future__ import annotations

import graph_zoo as gz
import keras
import numpy as np
import pytest
import reference_graph_lrp as rg
import reference_lrp as rl
from keras import layers

import keras_relevance as kr

ATOL = 1e-10
ISSUE_MODELS = ("bilstm", "text_gru", "kim_cnn", "bilstm_attention", "mha", "sigmoid_gru")
OTHERS = sorted(set(gz.ZOO) - set(ISSUE_MODELS))  # the issue's models: test_graph_models.py

zoo = gz.zoo_fixture()


# --------------------------------------------------------------- the reference itself
@pytest.mark.parametrize("name", sorted(gz.ZOO))
def test_reference_forward_equals_model_and_conserves(zoo, name):
    model = zoo(name)
    x = gz.inputs_for(name)
    ref = rg.explain(model, x, bias_factor=1.0)
    out = np.asarray(model(gz.model_input(name, x)), np.float64)
    head = gz.head_of(model)
    act = head.activation.__name__
    if act in ("softmax", "sigmoid") or head.units == 1 or name in gz.SOFTMAX:
        np.testing.assert_allclose(gz.probabilities(head, ref["logits"]), out, rtol=0, atol=1e-12)
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
@pytest.mark.parametrize("name", OTHERS)
def test_lrp_equals_reference(zoo, name):
    gz.check_against_reference(zoo(name), name)


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
    with pytest.raises(ValueError) as err:
        kr.Explainer(model).explain(ids, method="lrp_cons")
    msg = str(err.value)
    assert middle.name in msg and type(middle).__name__ in msg, msg
    assert "register_rule" in msg, msg
    # gradient and perturbation methods call the layer itself (LRP_SPEC scope note)
    e = kr.Explainer(model).explain(ids, method="gradient")
    assert np.isfinite(e.relevance).all() and e.relevance.shape == ids.shape


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


def test_bidirectional_sum_merge(float64):
    """merge_mode "sum" (concat is in the issue's models, "ave" in rnn_stack_seq)."""
    model = gz.bilstm(merge="sum")
    ids = gz.ids_batch(9)
    e = kr.Explainer(model).explain(ids, method="lrp", bias_factor=0.5)
    ref = rg.explain(model, ids, bias_factor=0.5)
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)


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


def test_composites_by_name_and_object(zoo):
    """composite="epsilon_cons" is δ = 1; a Composite of Epsilon(ε, δ) is the ε-rule with δ."""
    from keras_relevance import rules

    model = zoo("cnn_pool_seq")
    x = gz.inputs_for("cnn_pool_seq")
    e = kr.Explainer(model).explain(x, method="lrp", composite="epsilon_cons", target=[0, 1, 2])
    ref = rg.explain(model, x, target=[0, 1, 2], bias_factor=1.0)
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)
    composite = rules.Composite(default=rules.Epsilon(0.01, 0.5))
    e = kr.Explainer(model).explain(x, method="lrp", composite=composite, target=[2, 1, 0])
    ref = rg.explain(model, x, target=[2, 1, 0], eps=0.01, bias_factor=0.5)
    np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=ATOL)
    np.testing.assert_allclose(e.delta, ref["delta"], rtol=0, atol=1e-8)


def test_logger_goes_on_past_a_layer_without_rule(tmp_path, float64):
    """fit with the callback on a model with a Lambda layer: LRP skipped with ONE warning,
    the other methods logged, training not interrupted (issue 11)."""
    import warnings

    from keras_relevance.callbacks import ExplanationLogger, ExplanationWarning

    model = _with_middle(layers.Lambda(lambda t: t * 3.0, name="triple"))
    model.compile("adam", "sparse_categorical_crossentropy")
    ids = gz.ids_batch(14, batch=6)
    logger = ExplanationLogger(tmp_path, ids[:2], methods=("lrp", "sa"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(ids, np.arange(6) % 2, epochs=1, verbose=0, callbacks=[logger])
    ours = [w for w in caught if issubclass(w.category, ExplanationWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert "triple" in str(ours[0].message) and "lrp" in str(ours[0].message)
    assert len(history.history["loss"]) == 1
    assert logger.skipped_methods == ["lrp"] or set(logger.skipped_methods) == {"lrp"}
    assert logger.logged_epochs == [0]


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
