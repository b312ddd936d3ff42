"""The graph view on the cases a new user found (issue 11, point 8), each pinned here."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_relevance as kr
from keras_relevance.graph import ModelGraph

RNG = np.random.default_rng(0)


def _ids(batch=3, time=7, vocab=30, pad_from=None):
    ids = RNG.integers(1, vocab, (batch, time)).astype("int32")
    if pad_from is not None:
        ids[1, pad_from:] = 0
    return ids


def test_subclassed_model_is_refused_with_how_to_wrap_it():
    class TemperatureModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.embed = keras.layers.Embedding(30, 4)
            self.rnn = keras.layers.GRU(3)
            self.head = keras.layers.Dense(2)

        def call(self, x):
            return self.head(self.rnn(self.embed(x))) / 0.5

    model = TemperatureModel()
    model(_ids())
    with pytest.raises(ValueError, match=r"subclassed.*TemperatureModel.*keras\.Model\(inputs"):
        kr.Explainer(model).explain(_ids(), method="sa")


def test_masking_layer_over_float_inputs_is_the_token_mask():
    inp = keras.Input((None, 4))
    x = keras.layers.Masking(0.0)(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.LSTM(3)(x)))
    emb = RNG.normal(size=(2, 5, 4)).astype("float32")
    emb[0, 3:] = 0.0  # padding
    e = kr.Explainer(model).explain(emb, method="lrp_cons")
    assert not e.mask[0, 3:].any() and e.mask[1].all()
    assert np.all(e.relevance[0, 3:] == 0.0)
    assert all(pos < 3 for pos, _ in e[0].top_tokens(5))
    assert np.abs(e.delta).max() < 1e-4


def test_unrolled_lstm_behind_a_fixed_length_input():
    inp = keras.Input((12,), dtype="int32")
    x = keras.layers.Embedding(30, 4, mask_zero=True)(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.LSTM(3, unroll=True)(x)))
    short = _ids(2, 7)  # padded to the Input's 12 steps by the explainer
    for method in ("lrp", "sa", "integrated_gradients", "occlusion", "reat"):
        e = kr.Explainer(model).explain(short, method=method)
        assert e.relevance.shape == (2, 12) and np.isfinite(e.relevance).all()
        assert np.all(e.relevance[:, 7:] == 0.0)
    with pytest.raises(ValueError, match="exactly 12 tokens"):
        kr.Explainer(model).explain(_ids(1, 13), method="sa")


def test_cnn_longer_than_a_short_input_is_refused_by_name_or_padded():
    def cnn(mask_zero):
        inp = keras.Input((None,), dtype="int32")
        x = keras.layers.Embedding(30, 4, mask_zero=mask_zero)(inp)
        x = keras.layers.Conv1D(3, 7, strides=3, activation="relu")(x)
        x = keras.layers.Conv1D(3, 7, strides=3, activation="relu")(x)
        return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalMaxPooling1D()(x)))

    assert ModelGraph.from_model(cnn(False)).min_length() == 25
    with pytest.raises(ValueError, match="at least 25 tokens"):
        kr.Explainer(cnn(False)).explain(_ids(1, 13), method="occlusion")
    e = kr.Explainer(cnn(True)).explain(_ids(1, 13), method="occlusion")  # padded with id 0
    assert e.relevance.shape == (1, 25) and np.abs(e.relevance).max() < 1e6
    assert np.all(e.relevance[:, 13:] == 0.0)


@pytest.mark.parametrize("last", [lambda: keras.layers.Softmax(),
                                  lambda: keras.layers.Activation(tf.nn.softmax),
                                  lambda: keras.layers.Activation("sigmoid")])
def test_probability_layers_after_the_head_are_explained_at_the_logits(last):
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.GRU(3)(keras.layers.Embedding(30, 4, mask_zero=True)(inp))
    logits = keras.layers.Dense(3)(x)
    model = keras.Model(inp, last()(logits))
    ids = _ids(pad_from=4)
    e = kr.Explainer(model).explain(ids, method="lrp_cons")
    z = keras.Model(inp, logits)(ids).numpy()
    np.testing.assert_allclose(e.logits, z, rtol=1e-5, atol=1e-6)
    assert np.abs(e.delta).max() < 1e-4


def test_one_unit_sigmoid_head_is_binary_everywhere():
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.GRU(3)(keras.layers.Embedding(30, 4, mask_zero=True)(inp))
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    ids = _ids(pad_from=3)
    z = keras.Model(inp, model.layers[-1].output)  # noqa: F841 - the head's input graph
    logit = ModelGraph.from_model(model).logits(*ModelGraph.from_model(model).embed(ids))
    ex = kr.Explainer(model)
    one, zero = (ex.explain(ids, method="lrp_cons", target=t) for t in (1, 0))
    np.testing.assert_allclose(one.logits[:, 1], -one.logits[:, 0])
    np.testing.assert_allclose(one.logits, np.asarray(logit), rtol=1e-6)
    np.testing.assert_allclose(zero.relevance, -one.relevance, rtol=1e-5, atol=1e-7)
    predicted = ex.explain(ids, method="sa").target
    np.testing.assert_array_equal(predicted, (one.logits[:, 1] > 0).astype(int))
    with pytest.raises(ValueError, match="out of range"):
        ex.explain(ids, method="sa", target=2)


def test_lambda_layer_runs_gradients_but_lrp_names_it():
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(30, 4)(inp)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(x)))
    assert np.isfinite(kr.Explainer(model).explain(_ids(), method="sa").relevance).all()
    with pytest.raises(ValueError, match=r"'double' \(Lambda\).*register_rule"):
        kr.Explainer(model).explain(_ids(), method="lrp")


def test_bidirectional_mul_is_refused_by_name():
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(30, 4)(inp)
    x = keras.layers.Bidirectional(keras.layers.GRU(3), merge_mode="mul", name="bimul")(x)
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match=r"bimul.*merge_mode='mul'"):
        kr.Explainer(model).explain(_ids(), method="lrp")


def test_a_model_whose_call_departs_from_its_graph_is_an_error_not_an_answer():
    inp = keras.Input((None,), dtype="int32")
    out = keras.layers.Dense(2)(keras.layers.GRU(3)(keras.layers.Embedding(30, 4)(inp)))

    class Tempered(keras.Model):  # a functional model whose call() is not its graph
        def call(self, inputs, training=None, mask=None):
            return super().call(inputs, training=training, mask=mask) / 0.5

    model = Tempered(inp, out)
    with pytest.raises(ValueError, match="do not reproduce model"):
        kr.Explainer(model).explain(_ids(), method="sa")


def test_span_scores_and_hierarchy_of_any_additive_method():
    inp = keras.Input((None,), dtype="int32")
    x = keras.layers.GRU(3)(keras.layers.Embedding(30, 4, mask_zero=True)(inp))
    model = keras.Model(inp, keras.layers.Dense(2)(x))
    ids = _ids(2, 6)
    ex = kr.Explainer(model)
    for method in ("lrp", "grad_input", "reat"):
        e = ex.explain(ids, method=method)
        spans = [(0, 2), (2, 6)]
        np.testing.assert_allclose(e.span_scores(spans), np.stack(
            [e.relevance[:, :2].sum(1), e.relevance[:, 2:].sum(1)], 1), rtol=1e-6, atol=1e-7)
    reat = ex.explain(ids, method="reat")
    np.testing.assert_allclose(reat.span_scores([(1, 4)]), ex.phrase_scores(ids, [(1, 4)]),
                               rtol=1e-5, atol=1e-6)
