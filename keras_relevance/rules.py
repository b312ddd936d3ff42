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
    "COMPOSITES",
    "Composite",
    "Epsilon",
    "Gamma",
    "Gate",
    "Pass",
    "Rule",
    "WinnerTakesAll",
    "ZPlus",
    "composite",
    "lrp_map",
    "lrp_sum",
    "lrp_weighted_sum",
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


def lrp_sum(xs, coefficients, eps: float = 1e-3, bias_factor: float = 0.0):
    """z = Σ_k c_k x_k split by the ε-rule over its K summands (Add, Subtract, Average, a
    Bidirectional sum / ave): R_k = (c_k x_k + δ·ε·sign(z)/K) / (z + ε·sign(z)) · R."""
    coefficients = [float(c) for c in coefficients]
    k = float(len(xs))

    @tf.custom_gradient
    def _sum(*xs):
        terms = [c * x for c, x in zip(coefficients, xs, strict=True)]
        z = tf.add_n(terms)

        def grad(r):
            stab = _stabilizer(z, eps)
            s = r / (z + stab)
            share = bias_factor * stab / k if bias_factor else 0.0
            return [(t + share) * s for t in terms]

        return z, grad

    return _sum(*xs)


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


# --------------------------------------------------------------------------- any linear map
def lrp_map(x, forward, b=None, n_in: float = 1.0, eps: float = 1e-3, bias_factor: float = 0.0,
            share=None, rule_forward=None):
    """ε-rule over any linear map z = forward(x) + b (a Dense-like einsum, a normalisation, a
    weighted sum): R_x = x ⊙ Jᵀ s + δ·share((b + ε sign z) s)/N with s = R / (z + ε sign z).

    Args:
        forward: the bias-free linear map (differentiable; Jᵀ is its vector-Jacobian product).
        share: `q -> Σ_j 1[i→j] q_j` (the map's connectivity transposed), needed for δ > 0;
            default: each input is connected to every output of the last axis.
        rule_forward: a modified map used only in the backward (the Gamma / z+ rules); its
            outputs replace z in the denominator.
    """
    has_bias = b is not None
    backward_map = rule_forward or forward

    @tf.custom_gradient
    def _map(x, *bias):
        z = forward(x)
        if has_bias:
            z = z + bias[0]

        def grad(r):
            with tf.GradientTape() as tape:
                tape.watch(x)
                zr = backward_map(x)
            den = z if rule_forward is None else zr  # modified rules absorb the bias
            stab = _stabilizer(den, eps)
            s = r / (den + stab)
            r_x = x * tape.gradient(zr, x, output_gradients=s)
            if bias_factor:
                num = stab + bias[0] if has_bias else stab
                q = bias_factor * num * s / n_in
                if share is None:
                    r_x = r_x + tf.reduce_sum(q, -1, keepdims=True) * tf.ones_like(x)
                else:
                    r_x = r_x + share(q)
            return (r_x,) + (None,) * len(bias)

        return z, grad

    return _map(x, *([b] if has_bias else []))


def lrp_weighted_sum(weights, values, equation: str, key_mask=None, eps: float = 1e-3,
                     bias_factor: float = 0.0, key_axis: int = -1):
    """Attention's output `einsum(equation, weights, values)`: the weights are a gate (they
    get no relevance), the values get all of it by the ε-rule over the keys.

    `key_mask` (batch, keys) bool: the δ-share goes to unmasked keys only (N = their count).
    """
    weights = tf.stop_gradient(weights)

    def forward(v):
        return tf.einsum(equation, weights, v)

    if key_mask is None:
        n_keys = tf.cast(tf.shape(values)[1], values.dtype)
        keep = tf.ones(tf.shape(values)[:2], values.dtype)
    else:
        keep = tf.cast(key_mask, values.dtype)
        n_keys = tf.maximum(tf.reduce_sum(keep, axis=1), 1.0)

    def share(q):
        # each value element feeds every query's output of the same feature (and head)
        ones = tf.ones_like(weights)
        with tf.GradientTape() as tape:
            probe = tf.zeros_like(values)
            tape.watch(probe)
            out = tf.einsum(equation, ones, probe)
        back = tape.gradient(out, probe, output_gradients=q)
        n = tf.reshape(n_keys, [-1] + [1] * (len(values.shape) - 1))
        k = tf.reshape(keep, tf.concat([tf.shape(keep), [1] * (len(values.shape) - 2)], 0))
        return back * k / n

    n_in = 1.0  # the division by N happens in `share` (N varies per example)
    return lrp_map(values, forward, None, n_in, eps, bias_factor, share=share)


# --------------------------------------------------------------------------- rules as objects
class Rule:
    """An LRP rule with its parameters. Weighted connections ask it for `linear` maps."""

    name = "rule"

    def linear(self, x, w, b):  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Epsilon(Rule):
    """The ε-rule with bias factor δ (Arras et al. 2017): δ=0 "LRP", δ=1 conserving."""

    def __init__(self, eps: float = 1e-3, bias_factor: float = 0.0):
        self.eps = float(eps)
        self.bias_factor = float(bias_factor)

    def linear(self, x, w, b):
        return lrp_linear(x, w, b, self.eps, self.bias_factor)

    def conv1d(self, x, kernel, b, strides, dilation):
        return lrp_conv1d(x, kernel, b, self.eps, self.bias_factor, strides, dilation)

    def map(self, x, forward, b, n_in, share=None):
        return lrp_map(x, forward, b, n_in, self.eps, self.bias_factor, share=share)


class Gamma(Epsilon):
    """γ-rule (Montavon et al. 2019): positive weights boosted, w + γ·w⁺ (and b + γ·b⁺) in the
    backward, the bias absorbed; the forward stays the model's."""

    def __init__(self, gamma: float = 0.25, eps: float = 1e-6):
        super().__init__(eps, 0.0)
        self.gamma = float(gamma)

    def _boost(self, w):
        return w + self.gamma * tf.nn.relu(w)

    def linear(self, x, w, b):
        return lrp_map(x, lambda v: _matmul_last(v, w), b, 1.0, self.eps, 0.0,
                       rule_forward=lambda v: _matmul_last(v, self._boost(w)))

    def conv1d(self, x, kernel, b, strides, dilation):
        return lrp_map(x, lambda v: _conv(v, kernel, strides, dilation), b, 1.0, self.eps, 0.0,
                       rule_forward=lambda v: _conv(v, self._boost(kernel), strides, dilation))


class ZPlus(Gamma):
    """z⁺-rule: only positive contributions x_i w_ij⁺ (for non-negative inputs, e.g. after ReLU)."""

    def __init__(self, eps: float = 1e-6):
        super().__init__(gamma=0.0, eps=eps)
        del self.gamma

    def _boost(self, w):
        return tf.nn.relu(w)


class Gate(Rule):
    """Multiplicative connection gate ⊙ signal: the gate gets 0, the signal all (Arras 2017)."""

    def mul(self, gate, signal):
        return gate_mul(gate, signal)


class WinnerTakesAll(Rule):
    """Max pooling: all relevance to the (first) winner."""

    def pool(self, x, axis=1):
        return lrp_max_pool(x, axis)


class Pass(Rule):
    """Element-wise activations: relevance passes unchanged."""

    def act(self, x, fn):
        return lrp_activation(x, fn)


def _matmul_last(x, w):
    shape = tf.shape(x)
    z = tf.matmul(tf.reshape(x, [-1, shape[-1]]), w)
    return tf.reshape(z, tf.concat([shape[:-1], tf.shape(w)[-1:]], 0))


class Composite:
    """Maps layer types to rules for weighted connections (zennit's LayerMapComposite).

    Args:
        layer_map: [(layer class or tuple of classes, Rule)], first match wins.
        default: the rule for every other weighted connection.

    >>> c = Composite([(keras.layers.Conv1D, ZPlus())], default=Epsilon(1e-3))  # doctest: +SKIP
    """

    def __init__(self, layer_map=(), default: Rule | None = None):
        self.layer_map = list(layer_map)
        self.default = default or Epsilon()

    def rule_for(self, layer) -> Rule:
        for classes, rule in self.layer_map:
            if isinstance(layer, classes):
                return rule
        return self.default

    def __repr__(self) -> str:
        return f"Composite({self.layer_map!r}, default={self.default!r})"


def _conv1d_class():
    import keras  # rules stays importable without keras at module import

    return keras.layers.Conv1D


#: named composites: name → factory(eps, bias_factor) → Composite
COMPOSITES = {
    "epsilon": lambda eps=1e-3, bias_factor=0.0: Composite(default=Epsilon(eps, bias_factor)),
    "epsilon_cons": lambda eps=1e-3, bias_factor=1.0: Composite(default=Epsilon(eps, 1.0)),
    "epsilon_gamma": lambda eps=1e-3, bias_factor=0.0: Composite(
        [(_conv1d_class(), Gamma(0.25))], default=Epsilon(eps, bias_factor)),
    "epsilon_zplus": lambda eps=1e-3, bias_factor=0.0: Composite(
        [(_conv1d_class(), ZPlus())], default=Epsilon(eps, bias_factor)),
}


def composite(spec=None, eps: float = 1e-3, bias_factor: float = 0.0) -> Composite:
    """A `Composite` from a name in `COMPOSITES`, a Composite, or None ("epsilon")."""
    if spec is None:
        spec = "epsilon"
    if isinstance(spec, Composite):
        return spec
    if isinstance(spec, Rule):
        return Composite(default=spec)
    if spec not in COMPOSITES:
        raise KeyError(f"unknown composite {spec!r}; known: {sorted(COMPOSITES)}")
    return COMPOSITES[spec](eps=eps, bias_factor=bias_factor)
