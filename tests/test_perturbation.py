"""Occlusion and LIME vs NumPy references (float64)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_relevance.explainer import Explainer
from keras_relevance.perturbation import (
    _lime_plan,
    _unique_rows,
    lime_kernel,
    lime_masks,
    target_score_fn,
    time_trim_safe,
    weighted_ridge,
)

IDS = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 0, 0, 0], [8, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])


def _build(layers, seed=0):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(seed)
        return keras.Sequential(layers())
    finally:
        keras.config.set_dtype_policy(previous)


@pytest.fixture(scope="module")
def gru():
    return Explainer(_build(lambda: [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(10, 3, mask_zero=True),
        keras.layers.GRU(4),
        keras.layers.Dense(3, activation="softmax"),
    ]), batch_size=3)


@pytest.fixture(scope="module")
def bow():
    """Linear bag of words: logit_c = b_c + (1/n) Σ_t e_t · w_c (masked average)."""
    return Explainer(_build(lambda: [
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(10, 4, mask_zero=True),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(2),
    ], seed=2))


def _bow_coefficients(ex, ids, target):
    emb = np.asarray(ex.model.layers[0].embeddings)
    kernel = np.asarray(ex.model.layers[-1].kernel)
    mask = ids != 0
    n = np.maximum(mask.sum(1, keepdims=True), 1)
    return (emb[ids] @ kernel)[np.arange(len(ids)), :, target] / n * mask


# ------------------------------------------------------------------------------ occlusion
def test_occlusion_vs_numpy_loop(gru):
    chain = gru.chain
    target = np.array([0, 1, 2, 1])
    e = gru.explain(IDS, method="occlusion", target=target)
    emb_all, mask_all = (np.asarray(a) for a in chain.embed(IDS))
    expected = np.zeros(IDS.shape)
    for b in range(len(IDS)):
        emb, mask = emb_all[b : b + 1], mask_all[b : b + 1]
        base = np.asarray(chain.logits(tf.constant(emb), tf.constant(mask)))[0, target[b]]
        for t in range(IDS.shape[1]):
            if not mask[0, t]:
                continue
            x = emb.copy()
            x[0, t] = 0.0
            score = np.asarray(chain.logits(tf.constant(x), tf.constant(mask)))[0, target[b]]
            expected[b, t] = base - score
    np.testing.assert_allclose(e.relevance, expected, atol=1e-12)
    assert e.per_dim is None and e.delta is None
    small = gru.explain(IDS, method="occlusion", target=target, eval_batch_size=2)
    np.testing.assert_allclose(small.relevance, e.relevance, atol=1e-12)


def test_occlusion_of_linear_model_is_exact(bow):
    e = bow.explain(IDS, method="occlusion")
    np.testing.assert_allclose(e.relevance, _bow_coefficients(bow, IDS, e.target), atol=1e-12)


# ------------------------------------------------------------------------------ LIME parts
def test_lime_masks():
    z = lime_masks(7, 500, seed=3)
    assert z.shape == (500, 7) and z.dtype == bool and z[0].all()
    removed = (~z[1:]).sum(1)
    assert removed.min() >= 1 and removed.max() <= 7
    assert set(np.unique(removed)) == set(range(1, 8))  # sizes uniform over 1..n
    np.testing.assert_array_equal(z, lime_masks(7, 500, seed=3))
    assert not np.array_equal(z, lime_masks(7, 500, seed=4))


def test_lime_kernel_matches_lime_package_formula():
    z = lime_masks(6, 50, seed=0).astype(float)
    ones = np.ones(6)
    norms = np.linalg.norm(z, axis=1)
    cos = np.divide(z @ ones, norms * np.linalg.norm(ones), out=np.zeros(50), where=norms > 0)
    d = (1 - cos) * 100  # lime: pairwise cosine distance × 100, kernel width 25
    expected = np.sqrt(np.exp(-(d**2) / 25**2))
    np.testing.assert_allclose(lime_kernel(z.astype(bool), 0.25), expected, atol=1e-12)


def test_weighted_ridge_vs_augmented_least_squares():
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(40, 5)), rng.normal(size=40), rng.uniform(0.1, 1, 40)
    alpha = 0.7
    coef, intercept = weighted_ridge(x, y, w, alpha)
    # independent: min Σ w (y − b − x·β)² + α‖β‖² as one least-squares problem
    a = np.hstack([np.ones((40, 1)), x]) * np.sqrt(w)[:, None]
    a = np.vstack([a, np.hstack([np.zeros((5, 1)), np.sqrt(alpha) * np.eye(5)])])
    sol = np.linalg.lstsq(a, np.concatenate([y * np.sqrt(w), np.zeros(5)]), rcond=None)[0]
    np.testing.assert_allclose(coef, sol[1:], atol=1e-10)
    np.testing.assert_allclose(intercept, sol[0], atol=1e-10)


# ------------------------------------------------------------------------------ LIME
def test_lime_recovers_linear_bag_of_words(bow):
    target = np.array([0, 1, 1, 0])
    exact = _bow_coefficients(bow, IDS, target)
    e = bow.explain(IDS, method="lime", target=target, alpha=1e-9)
    np.testing.assert_allclose(e.relevance, exact, atol=1e-8)
    # alpha=1 shrinks a little; with one word, all perturbations sit at cosine distance 1
    # (kernel weight 3e-4), so the ridge penalty dominates there, as in the lime package
    default = bow.explain(IDS, method="lime", target=target)
    for row in (0, 1):
        scale = np.abs(exact[row]).max()
        assert np.abs(default.relevance[row] - exact[row]).max() < 0.05 * scale
    assert (default.relevance[~e.mask] == 0).all() and (default.relevance[3] == 0).all()
    assert default.options == {}


def test_lime_reproducible_and_batch_independent(gru):
    a = gru.explain(IDS, method="lime", samples=300, seed=5)
    b = gru.explain(IDS, method="lime", samples=300, seed=5)
    np.testing.assert_array_equal(a.relevance, b.relevance)
    c = gru.explain(IDS, method="lime", samples=300, seed=6)
    assert not np.allclose(a.relevance[0], c.relevance[0])
    alone = gru.explain(IDS[1:2], method="lime", samples=300, seed=5, eval_batch_size=7)
    np.testing.assert_allclose(alone.relevance[0], a.relevance[1], atol=1e-12)


def test_lime_bad_options(gru):
    for options in ({"samples": 1}, {"kernel_width": 0.0}, {"alpha": -1.0}):
        with pytest.raises(ValueError):
            gru.explain(IDS, method="lime", **options)
    with pytest.raises(TypeError):
        gru.explain(IDS, method="lime", sample=10)  # misspelt option: Python's message


def test_no_retracing(gru):
    gru.explain(IDS, method="occlusion")
    fn = target_score_fn(gru.chain).traced
    count = fn.experimental_get_tracing_count()
    for ids in (IDS[:1, :2], np.ones((5, 9), np.int32)):
        gru.explain(ids, method="occlusion")
        gru.explain(ids, method="lime", samples=20)
    assert fn.experimental_get_tracing_count() == count


def test_unique_rows_and_lime_plan_match_direct_ridge():
    z = lime_masks(5, 300, seed=1)
    unique, inverse = _unique_rows(z)
    ref, ref_inv = np.unique(z, axis=0, return_inverse=True)
    assert len(unique) == len(ref) < 300
    np.testing.assert_array_equal(unique[inverse], z)
    _, proj = _lime_plan(5, 300, 1, 0.25, 1.0)
    y = np.random.default_rng(0).normal(size=len(unique))
    coef, _ = weighted_ridge(z.astype(float), y[inverse], lime_kernel(z, 0.25), 1.0)
    np.testing.assert_allclose(proj @ y, coef, atol=1e-10)


def test_time_trim_safe(gru, bow):
    assert time_trim_safe(gru.chain) and time_trim_safe(bow.chain)
    cnn = _build(lambda: [keras.Input((None,), dtype="int32"),
                          keras.layers.Embedding(10, 3, mask_zero=False),
                          keras.layers.Conv1D(2, 2), keras.layers.GlobalMaxPooling1D(),
                          keras.layers.Dense(2)])
    assert not time_trim_safe(Explainer(cnn).chain)
