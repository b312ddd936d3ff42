"""LRP rules as small `tf.custom_gradient` primitives.

Each primitive computes the plain forward op; its backward is the LRP rule's message.
Convention ("relevance as message"): the upstream gradient a primitive receives IS the relevance
of its output, and what it returns is the relevance of its inputs. Start the backward pass with
`onehot(target) * logit` at the head's output; what arrives at the embeddings is then the
relevance per embedding dimension (this works for any bias factor δ, where `x * grad` would not).

ε-rule for a weighted connection z_j = Σ_i x_i w_ij + b_j with N inputs (Arras et al. 2017):

    R_i = Σ_j (x_i w_ij + δ·(b_j + ε·sign(z_j)) / N) / (z_j + ε·sign(z_j)) · R_j ,  sign(0) = +1

Gates (the first factor of `gate_mul`) get no relevance; activations pass relevance unchanged.
Weights and biases get no relevance (their "gradient" is None). Non-tensor options (ε, δ, axes)
are bound in Python, so a primitive is traced once per option set.

>>> z = lrp_linear(x, w, b, eps=1e-3, bias_factor=1.0)  # doctest: +SKIP
>>> r_x = tape.gradient(z, x, output_gradients=r_z)      # doctest: +SKIP
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "sign",
    "lrp_linear",
    "lrp_linear2",
    "lrp_add",
    "gate_mul",
    "lrp_activation",
    "lrp_max_pool",
    "lrp_mean_pool",
    "lrp_conv1d",
]


def sign(z: tf.Tensor) -> tf.Tensor:
    """+1 where z >= 0, -1 where z < 0 (never 0, unlike `tf.sign`)."""
    return tf.where(z >= 0, tf.ones_like(z), -tf.ones_like(z))


def _stabilizer(z, eps):
    return eps * sign(z)


def _as_2d(x):
    shape = tf.shape(x)
    return tf.reshape(x, [-1, shape[-1]]), shape


# --------------------------------------------------------------------------- linear maps
def lrp_linear(x, w, b=None, eps: float = 1e-3, bias_factor: float = 0.0):
    """ε-rule linear map z = x @ w + b (x: (..., I), w: (I, J), b: (J,) or None); N = I."""
    n_in = float(w.shape[0])
    has_bias = b is not None

    @tf.custom_gradient
    def _linear(x, w, *bias):
        x2, shape = _as_2d(x)
        z = tf.matmul(x2, w)
        if has_bias:
            z = z + bias[0]

        def grad(r):
            r2 = tf.reshape(r, tf.shape(z))
            stab = _stabilizer(z, eps)
            s = r2 / (z + stab)
            r_x = x2 * tf.matmul(s, w, transpose_b=True)
            if bias_factor:
                num = stab + bias[0] if has_bias else stab
                r_x = r_x + bias_factor * tf.reduce_sum(num * s, -1, keepdims=True) / n_in
            return (tf.reshape(r_x, shape), None) + (None,) * len(bias)

        out_shape = tf.concat([shape[:-1], tf.shape(w)[-1:]], 0)
        return tf.reshape(z, out_shape), grad

    return _linear(x, w, *([b] if has_bias else []))


def lrp_linear2(x, h, wx, wh, b=None, eps: float = 1e-3, bias_factor: float = 0.0, *,
                gate=None, z=None):
    """ε-rule over two inputs of one linear map: z = x @ wx + gate ⊙ (h @ wh) + b.

    The recurrent pre-activation of an LSTM/GRU: [x, h_prev] are the N = I_x + I_h inputs.

    Args:
        x: (batch, I_x); h: (batch, I_h); wx: (I_x, J); wh: (I_h, J).
        b: (J,) or (batch, J) bias, or None (all of the bias of z, e.g. b_in + r ⊙ b_rec).
        gate: optional (batch, J) multiplier of the h-part (a GRU's reset gate with
            reset_after=True); it is treated as a fixed weight and gets no relevance.
        z: the pre-activation if already computed (it must equal the formula; saves matmuls).
    """
    n_in = float(wx.shape[0] + wh.shape[0])
    extra = [t for t in (b, gate, z) if t is not None]
    has_b, has_gate, has_z = b is not None, gate is not None, z is not None

    @tf.custom_gradient
    def _linear2(x, h, wx, wh, *extra):
        it = iter(extra)
        bias = next(it) if has_b else None
        g = tf.stop_gradient(next(it)) if has_gate else None
        if has_z:
            out = next(it)
        else:
            hw = tf.matmul(h, wh)
            out = tf.matmul(x, wx) + (g * hw if has_gate else hw)
            if has_b:
                out = out + bias

        def grad(r):
            stab = _stabilizer(out, eps)
            s = r / (out + stab)
            r_x = x * tf.matmul(s, wx, transpose_b=True)
            s_h = s * g if has_gate else s
            r_h = h * tf.matmul(s_h, wh, transpose_b=True)
            if bias_factor:
                num = stab + bias if has_b else stab
                share = bias_factor * tf.reduce_sum(num * s, -1, keepdims=True) / n_in
                r_x = r_x + share
                r_h = r_h + share
            return (r_x, r_h, None, None) + (None,) * len(extra)

        return tf.identity(out), grad

    return _linear2(x, h, wx, wh, *extra)


def lrp_add(a, b, eps: float = 1e-3, bias_factor: float = 0.0):
    """Element-wise sum z = a + b split by the ε-rule with N = 2 and no bias.

    R_a = (a + δ·ε·sign(z)/2) / (z + ε·sign(z)) · R (the LSTM's c_t = f⊙c_prev + i⊙g).
    """

    @tf.custom_gradient
    def _add(a, b):
        z = a + b

        def grad(r):
            stab = _stabilizer(z, eps)
            s = r / (z + stab)
            share = bias_factor * stab / 2.0 if bias_factor else 0.0
            return (a + share) * s, (b + share) * s

        return z, grad

    return _add(a, b)


def gate_mul(gate, signal):
    """z = gate ⊙ signal: the gate gets no relevance, the signal gets all of it."""

    @tf.custom_gradient
    def _gate_mul(gate, signal):
        def grad(r):
            return None, r

        return tf.stop_gradient(gate) * signal, grad

    return _gate_mul(gate, signal)


def lrp_activation(x, fn):
    """y = fn(x) with relevance passed through unchanged (tanh, sigmoid, relu, linear)."""

    @tf.custom_gradient
    def _act(x):
        def grad(r):
            return r

        return fn(x), grad

    return _act(x)


# --------------------------------------------------------------------------- pooling
def lrp_max_pool(x, axis: int = 1):
    """1-max-pool over `axis`: all relevance goes to the (first) winner."""

    @tf.custom_gradient
    def _max(x):
        y = tf.reduce_max(x, axis=axis)

        def grad(r):
            winner = tf.one_hot(tf.argmax(x, axis=axis), tf.shape(x)[axis], axis=axis,
                                dtype=x.dtype)
            return winner * tf.expand_dims(r, axis)

        return y, grad

    return _max(x)


def lrp_mean_pool(x, mask=None, eps: float = 1e-3, bias_factor: float = 0.0):
    """Masked mean over time of x (batch, time, F): ε-rule with weights 1/n, N = n valid steps."""
    if mask is None:
        mask = tf.ones(tf.shape(x)[:2], tf.bool)

    @tf.custom_gradient
    def _mean(x):
        m = tf.cast(mask, x.dtype)[:, :, None]
        n = tf.maximum(tf.reduce_sum(m, axis=1), 1.0)  # (batch, 1)
        z = tf.reduce_sum(x * m, axis=1) / n

        def grad(r):
            stab = _stabilizer(z, eps)
            s = (r / (z + stab))[:, None, :]
            num = x / n[:, None, :]
            if bias_factor:
                num = num + bias_factor * stab[:, None, :] / n[:, None, :]
            return m * num * s

        return z, grad

    return _mean(x)


# --------------------------------------------------------------------------- convolution
def _conv(x, kernel, strides, dilation):
    return tf.nn.convolution(x, kernel, strides=strides, padding="VALID", dilations=dilation)


def _conv_backprop(x_like, kernel, s, strides, dilation):
    """Σ over the windows covering each input element of s ⊙ kernel (the conv's transpose)."""
    with tf.GradientTape() as tape:
        tape.watch(x_like)
        y = _conv(x_like, kernel, strides, dilation)
    return tape.gradient(y, x_like, output_gradients=s)


def lrp_conv1d(x, kernel, b=None, eps: float = 1e-3, bias_factor: float = 0.0,
               strides: int = 1, dilation: int = 1):
    """ε-rule on a 'valid' Conv1D seen as a linear map over windows.

    x: (batch, time, E); kernel: (K, E, F); b: (F,) or None. Each output z[t', f] has
    N = K·E inputs (the window over consecutive steps, all dims). Pad x beforehand for 'same'.
    """
    n_in = float(kernel.shape[0] * kernel.shape[1])
    k_width = int(kernel.shape[0])
    has_bias = b is not None

    @tf.custom_gradient
    def _conv1d(x, kernel, *bias):
        z = _conv(x, kernel, strides, dilation)
        if has_bias:
            z = z + bias[0]

        def grad(r):
            stab = _stabilizer(z, eps)
            s = r / (z + stab)
            r_x = x * _conv_backprop(tf.zeros_like(x), kernel, s, strides, dilation)
            if bias_factor:
                num = stab + bias[0] if has_bias else stab
                q = bias_factor * tf.reduce_sum(num * s, -1, keepdims=True) / n_in
                ones = tf.ones([k_width, 1, 1], x.dtype)
                r_x = r_x + _conv_backprop(tf.zeros_like(x[..., :1]), ones, q, strides, dilation)
            return (r_x, None) + (None,) * len(bias)

        return z, grad

    return _conv1d(x, kernel, *([b] if has_bias else []))
