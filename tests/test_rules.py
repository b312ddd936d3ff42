"""Each LRP primitive against a slow NumPy matrix-form copy of its rule, in float64."""

import numpy as np
import pytest
import tensorflow as tf

from keras_relevance import rules

EPS = 1e-3


def _sgn(z):
    return np.where(z >= 0, 1.0, -1.0)


def _np_linear(x, w, b, r, eps, bf):
    """R_i = Σ_j (x_i w_ij + δ(b_j + ε sign z_j)/N) / (z_j + ε sign z_j) R_j, one row at a time."""
    out = np.zeros_like(x)
    n = w.shape[0]
    for row in range(x.shape[0]):
        z = x[row] @ w + b[row]
        s = _sgn(z)
        msg = (x[row][:, None] * w + bf * (b[row] + eps * s)[None, :] / n) / (z + eps * s)[None, :]
        out[row] = (msg * r[row][None, :]).sum(1)
    return out


def _relevance(fn, inputs, r):
    inputs = [tf.constant(v) for v in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        y = fn(*inputs)
    return y, tape.gradient(y, inputs, output_gradients=tf.constant(r))


@pytest.mark.parametrize("bf", [0.0, 1.0])
def test_lrp_linear(bf):
    rng = np.random.default_rng(0)
    x, w, b, r = rng.normal(size=(3, 5)), rng.normal(size=(5, 4)), rng.normal(size=4), rng.normal(
        size=(3, 4))
    y, (rx,) = _relevance(lambda x: rules.lrp_linear(x, tf.constant(w), tf.constant(b), EPS, bf),
                          [x], r)
    np.testing.assert_allclose(y, x @ w + b, atol=1e-14)
    np.testing.assert_allclose(rx, _np_linear(x, w, np.tile(b, (3, 1)), r, EPS, bf), atol=1e-12)
    if bf:  # conservation: Σ R_in = Σ R_out
        np.testing.assert_allclose(np.sum(rx), r.sum(), atol=1e-12)


def test_lrp_linear_rank3_and_no_bias():
    rng = np.random.default_rng(1)
    x, w, r = rng.normal(size=(2, 3, 5)), rng.normal(size=(5, 4)), rng.normal(size=(2, 3, 4))
    _, (rx,) = _relevance(lambda x: rules.lrp_linear(x, tf.constant(w), None, EPS, 1.0), [x], r)
    want = _np_linear(x.reshape(6, 5), w, np.zeros((6, 4)), r.reshape(6, 4), EPS, 1.0)
    np.testing.assert_allclose(rx, want.reshape(2, 3, 5), atol=1e-12)


@pytest.mark.parametrize("bf", [0.0, 1.0])
def test_sign_of_zero_is_plus_one(bf):
    x = np.array([[1.0, -1.0]])
    w = np.array([[2.0], [2.0]])
    r = np.array([[3.0]])
    y, (rx,) = _relevance(lambda x: rules.lrp_linear(x, tf.constant(w), None, EPS, bf), [x], r)
    assert float(y[0, 0]) == 0.0
    want = (x[0] * w[:, 0] + bf * EPS / 2) / EPS * 3.0  # denominator 0 + ε·(+1)
    np.testing.assert_allclose(rx[0], want, rtol=1e-14)
    signs = rules.sign(tf.constant([0.0, -0.0, -1e-300, 2.0], tf.float64)).numpy()
    assert np.all(signs == [1, 1, -1, 1])


@pytest.mark.parametrize("bf", [0.0, 1.0])
@pytest.mark.parametrize("gated", [False, True])
def test_lrp_linear2(bf, gated):
    rng = np.random.default_rng(2)
    x, h = rng.normal(size=(3, 5)), rng.normal(size=(3, 4))
    wx, wh = rng.normal(size=(5, 4)), rng.normal(size=(4, 4))
    b = rng.normal(size=(3, 4))  # a per-row bias (a GRU's b_in + r ⊙ b_rec)
    gate = rng.uniform(size=(3, 4)) if gated else np.ones((3, 4))
    r = rng.normal(size=(3, 4))

    def fn(x, h):
        g = tf.constant(gate) if gated else None
        return rules.lrp_linear2(x, h, tf.constant(wx), tf.constant(wh), tf.constant(b), EPS, bf,
                                 gate=g)

    y, (rx, rh) = _relevance(fn, [x, h], r)
    np.testing.assert_allclose(y, x @ wx + gate * (h @ wh) + b, atol=1e-13)
    # one linear map over [x, h] with per-row weights [wx; wh ⊙ gate_j]
    want = np.zeros((3, 9))
    for row in range(3):
        w_full = np.vstack([wx, wh * gate[row][None, :]])
        inp = np.concatenate([x[row], h[row]])
        want[row] = _np_linear(inp[None], w_full, b[row][None], r[row][None], EPS, bf)[0]
    np.testing.assert_allclose(np.hstack([rx, rh]), want, atol=1e-12)
    # the precomputed-z form gives the same messages
    z = x @ wx + gate * (h @ wh) + b
    y2, (rx2, rh2) = _relevance(
        lambda x, h: rules.lrp_linear2(x, h, tf.constant(wx), tf.constant(wh), tf.constant(b),
                                       EPS, bf, gate=tf.constant(gate), z=tf.constant(z)),
        [x, h], r)
    np.testing.assert_allclose(np.hstack([rx2, rh2]), want, atol=1e-12)


@pytest.mark.parametrize("bf", [0.0, 1.0])
def test_lrp_add(bf):
    rng = np.random.default_rng(3)
    a, b, r = rng.normal(size=(2, 4)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    a[0, 0], b[0, 0] = 0.5, -0.5  # z exactly 0
    _, (ra, rb) = _relevance(lambda a, b: rules.lrp_add(a, b, EPS, bf), [a, b], r)
    z = a + b
    s = _sgn(z)
    np.testing.assert_allclose(ra, (a + bf * EPS * s / 2) / (z + EPS * s) * r, atol=1e-12)
    np.testing.assert_allclose(rb, (b + bf * EPS * s / 2) / (z + EPS * s) * r, atol=1e-12)
    if bf:
        np.testing.assert_allclose(ra + rb, r, atol=1e-12)


def test_gate_mul_and_activation():
    rng = np.random.default_rng(4)
    g, s, r = rng.uniform(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    y, (rg, rs) = _relevance(rules.gate_mul, [g, s], r)
    np.testing.assert_allclose(y, g * s)
    assert rg is None or np.all(rg.numpy() == 0)
    np.testing.assert_array_equal(rs, r)
    for fn in (tf.tanh, tf.sigmoid, tf.nn.relu):
        y, (rx,) = _relevance(lambda x, fn=fn: rules.lrp_activation(x, fn), [s], r)
        np.testing.assert_allclose(y, fn(s))
        np.testing.assert_array_equal(rx, r)


def test_max_pool_winner_takes_all():
    x = np.array([[[1.0, 2.0], [3.0, 2.0], [0.0, -1.0]]])  # filter 1 ties: first winner
    r = np.array([[5.0, 7.0]])
    y, (rx,) = _relevance(lambda x: rules.lrp_max_pool(x, 1), [x], r)
    np.testing.assert_array_equal(y, [[3.0, 2.0]])
    np.testing.assert_array_equal(rx, [[[0.0, 7.0], [5.0, 0.0], [0.0, 0.0]]])


@pytest.mark.parametrize("bf", [0.0, 1.0])
def test_mean_pool(bf):
    rng = np.random.default_rng(5)
    x, r = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 3))
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    _, (rx,) = _relevance(lambda x: rules.lrp_mean_pool(x, tf.constant(mask), EPS, bf), [x], r)
    want = np.zeros_like(x)
    for row in range(2):
        n = mask[row].sum()
        for f in range(3):
            want[row, :n, f] = _np_linear(x[row, :n, f][None], np.full((n, 1), 1.0 / n),
                                          np.zeros((1, 1)), r[row, f].reshape(1, 1), EPS, bf)[0]
    np.testing.assert_allclose(rx, want, atol=1e-12)


@pytest.mark.parametrize("bf", [0.0, 1.0])
@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2)])
def test_conv1d(bf, stride, dilation):
    rng = np.random.default_rng(6)
    k, e, f, t = 3, 2, 4, 8
    x, kern, b = rng.normal(size=(2, t, e)), rng.normal(size=(k, e, f)), rng.normal(size=f)
    span = (k - 1) * dilation + 1
    n_out = (t - span) // stride + 1
    r = rng.normal(size=(2, n_out, f))
    y, (rx,) = _relevance(
        lambda x: rules.lrp_conv1d(x, tf.constant(kern), tf.constant(b), EPS, bf, stride, dilation),
        [x], r)
    w = kern.reshape(k * e, f)
    want = np.zeros_like(x)
    for row in range(2):
        for o in range(n_out):
            idx = [o * stride + j * dilation for j in range(k)]
            win = x[row, idx].reshape(1, -1)
            np.testing.assert_allclose(y[row, o], win[0] @ w + b, atol=1e-12)
            msg = _np_linear(win, w, b[None], r[row, o][None], EPS, bf)[0]
            for j, pos in enumerate(idx):
                want[row, pos] += msg[j * e:(j + 1) * e]
    np.testing.assert_allclose(rx, want, atol=1e-12)
