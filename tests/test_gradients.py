"""Gradient family vs independent NumPy references (central finite differences, float64)."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_relevance.explainer import Explainer
from keras_relevance.gradients import target_gradient_fn
from keras_relevance.graph import ModelGraph

IDS = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 0, 0], [5, 3, 0, 0, 0]])


def _build(layers, seed=0):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(seed)
        with warnings.catch_warnings():  # Keras: "Conv1D does not support masking"
            warnings.simplefilter("ignore", UserWarning)
            return keras.Sequential(layers())
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.fixture(scope="module")
def lstm():
    model = _build(lambda: [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(12, 3, mask_zero=True),
        keras.layers.LSTM(4),
        keras.layers.Dense(3, activation="softmax"),
    ])
    return Explainer(model)


@pytest.fixture(scope="module")
def cnn():
    model = _build(lambda: [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(12, 3, mask_zero=True),
        keras.layers.Conv1D(4, 2, activation="relu"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(2),
    ], seed=1)
    return Explainer(model)


def _logit(chain: ModelGraph, emb: np.ndarray, mask: np.ndarray, target: np.ndarray):
    """f_target for each row of a (n, T, D) NumPy batch (eager, no tf.function)."""
    logits = np.asarray(chain.logits(tf.constant(emb), tf.constant(mask)))
    return logits[np.arange(len(emb)), target]


def fd_gradient(chain, emb, mask, target, h=1e-6):
    """Central finite differences of f_target w.r.t. every embedding entry, one batch."""
    b, t, d = emb.shape
    n = t * d
    eye = np.eye(n).reshape(n, t, d) * h
    plus = (emb[:, None] + eye[None]).reshape(b * n, t, d)
    minus = (emb[:, None] - eye[None]).reshape(b * n, t, d)
    masks = np.repeat(mask, n, axis=0)
    targets = np.repeat(target, n)
    diff = _logit(chain, plus, masks, targets) - _logit(chain, minus, masks, targets)
    return (diff / (2 * h)).reshape(b, t, d)


def _inputs(ex, ids):
    emb, mask = ex.chain.embed(ids)
    return np.asarray(emb), np.asarray(mask)


@pytest.mark.parametrize("name", ["lstm", "cnn"])
def test_gradient_family_vs_finite_differences(name, request):
    ex = request.getfixturevalue(name)
    emb, mask = _inputs(ex, IDS)
    target = np.array([0, 1, 1]) % ex.chain.num_classes
    g = fd_gradient(ex.chain, emb, mask, target) * mask[..., None]

    sa = ex.explain(IDS, method="sa", target=target)
    np.testing.assert_allclose(sa.per_dim, g**2, atol=1e-9)
    np.testing.assert_allclose(sa.relevance, (g**2).sum(-1), atol=1e-9)
    np.testing.assert_allclose(sa.relevance.sum(1), (g**2).sum((1, 2)), atol=1e-9)  # ‖∇f‖²

    vg = ex.explain(IDS, method="gradient", target=target)
    np.testing.assert_allclose(vg.per_dim, g, atol=1e-8)
    np.testing.assert_allclose(vg.relevance, np.sqrt((g**2).sum(-1)), atol=1e-8)

    gi = ex.explain(IDS, method="grad_input", target=target)
    np.testing.assert_allclose(gi.per_dim, emb * g, atol=1e-8)
    np.testing.assert_allclose(gi.relevance, (emb * g).sum(-1), atol=1e-8)
    for e in (sa, vg, gi):
        assert (e.relevance[~mask] == 0).all() and (e.per_dim[~mask] == 0).all()


def test_integrated_gradients_hand_formula(lstm):
    emb, mask = _inputs(lstm, IDS)
    target = np.array([2, 0, 1])
    steps = 4
    grads = []
    for k in range(1, steps + 1):
        scaled = np.where(mask[..., None], emb * k / steps, emb)  # padding is not scaled
        grads.append(fd_gradient(lstm.chain, scaled, mask, target))
    expected = emb * np.mean(grads, axis=0) * mask[..., None]
    e = lstm.explain(IDS, method="integrated_gradients", target=target, steps=steps)
    np.testing.assert_allclose(e.per_dim, expected, atol=1e-8)
    np.testing.assert_allclose(e.relevance, expected.sum(-1), atol=1e-8)
    assert e.options == {"steps": steps}
    # chunking the path points does not change the result
    small = lstm.explain(IDS, method="integrated_gradients", target=target, steps=steps,
                         batch_size=3)
    np.testing.assert_allclose(small.relevance, e.relevance, atol=1e-12)


@pytest.mark.parametrize("name", ["lstm", "cnn"])
def test_integrated_gradients_completeness_improves_with_steps(name, request):
    ex = request.getfixturevalue(name)
    emb, mask = _inputs(ex, IDS)
    e0 = ex.explain(IDS, method="sa")
    baseline = np.where(mask[..., None], 0.0, emb)
    gap = _logit(ex.chain, emb, mask, e0.target) - _logit(ex.chain, baseline, mask, e0.target)
    errors = []
    for steps in (2, 8, 64):
        r = ex.explain(IDS, method="integrated_gradients", steps=steps).relevance
        errors.append(np.abs(r.sum(1) - gap).max())
    assert errors[2] < errors[0]
    assert errors[2] < 0.05 * np.abs(gap).max() + 1e-6


def test_masked_padding_equals_unpadded(lstm):
    padded = lstm.explain(IDS[1:2], method="grad_input", target=1)
    short = lstm.explain(IDS[1:2, :3], method="grad_input", target=1)
    np.testing.assert_allclose(padded.relevance[:, :3], short.relevance, atol=1e-12)


def test_no_retracing(lstm):
    fn = target_gradient_fn(lstm.chain)
    lstm.explain(IDS, method="sa")
    count = fn.experimental_get_tracing_count()
    for ids in (IDS[:1], IDS[:, :3], np.ones((7, 9), np.int32)):
        lstm.explain(ids, method="grad_input")
        lstm.explain(ids, method="integrated_gradients", steps=3)
    assert fn.experimental_get_tracing_count() == count


def test_integrated_gradients_bad_steps(lstm):
    with pytest.raises(ValueError, match="steps"):
        lstm.explain(IDS, method="integrated_gradients", steps=0)
