"""LRP handlers: each layer type's forward, rebuilt from the rules of `keras_relevance.rules`.

A handler has the signature `handler(step, args, kwargs, ctx) -> outputs`: `args` / `kwargs` are
the layer's call arguments with the LRP tensors filled in and the masks Keras would pass; `ctx`
(`lrp.Context`) carries the composite (`ctx.rule(layer)`), the dtype and the zero tensors whose
relevance is "left over" (initial states, convolution padding). The gradient of the returned
outputs is the LRP message. Which handler serves which layer is the capability table's business
(`keras_relevance.capabilities`); users add their own with `kr.register_rule`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_relevance import recurrence, rules


def activation_name(fn) -> str:
    name = getattr(fn, "__name__", None)
    if name is None:
        name = str(keras.activations.serialize(fn))
    return name.removesuffix("_v2")  # tf.nn.softmax is softmax_v2


class LrpOps(recurrence.Ops):
    """The recurrence's operations with LRP messages as gradients (ε-rule, gates get 0)."""

    differentiated = True

    def __init__(self, rule: rules.Epsilon):
        self.eps, self.bias_factor = rule.eps, rule.bias_factor

    def stop(self, h):
        return tf.stop_gradient(h)

    def linear2(self, x, h, wx, wh, b, *, z, gate=None):
        return rules.lrp_linear2(x, h, wx, wh, b, self.eps, self.bias_factor, gate=gate, z=z)

    def gate_mul(self, gate, signal):
        return rules.gate_mul(gate, signal)

    def add(self, a, b):
        return rules.lrp_add(a, b, self.eps, self.bias_factor)

    def act(self, x, fn):
        return rules.lrp_activation(x, fn)


def _epsilon(ctx, layer) -> rules.Epsilon:
    rule = ctx.rule(layer)
    if type(rule) is not rules.Epsilon:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}): the composite gives it {rule!r}, "
            "which has no form for this layer; only Epsilon applies here"
        )
    return rule


# ------------------------------------------------------------------------- simple handlers
def identity(step, args, kwargs, ctx):
    """Dropout & co.: the identity at inference."""
    return args[0]


def plain(step, args, kwargs, ctx):
    """Routing layers (Flatten, Reshape, Concatenate, Maximum, MaxPooling1D, Masking, Permute):
    their gradient already routes each output's relevance to the input it came from."""
    return step.layer(*args, **kwargs)


def activation(step, args, kwargs, ctx):
    """Element-wise activations (Activation, ReLU, LeakyReLU, ELU, PReLU): relevance passes."""
    layer = step.layer
    return rules.lrp_activation(args[0], lambda v: layer(v))


def dense(step, args, kwargs, ctx):
    layer = step.layer
    bias = ctx.var(layer.bias) if layer.use_bias else None
    z = ctx.rule(layer).linear(args[0], ctx.var(layer.kernel), bias)
    return rules.lrp_activation(z, layer.activation)


def _vjp_share(forward_ones, like):
    def share(q):
        with tf.GradientTape() as tape:
            probe = tf.zeros_like(like)
            tape.watch(probe)
            out = forward_ones(probe)
        return tape.gradient(out, probe, output_gradients=q)

    return share


def einsum_dense(layer, x, ctx):
    """EinsumDense (MultiHeadAttention's projections): ε-rule, N = the contracted size."""
    kernel = ctx.var(layer.kernel)
    equation = layer.equation
    ins, out = equation.split("->")
    kernel_letters = ins.split(",")[1]
    n_in = float(np.prod([int(d) for c, d in zip(kernel_letters, kernel.shape, strict=True)
                          if c not in out]))
    bias = ctx.var(layer.bias) if layer.bias is not None else None
    rule = _epsilon(ctx, layer)
    ones = tf.ones_like(kernel)
    z = rule.map(x, lambda v: tf.einsum(equation, v, kernel), bias, n_in,
                 share=_vjp_share(lambda v: tf.einsum(equation, v, ones), x))
    return rules.lrp_activation(z, layer.activation) if layer.activation is not None else z


def einsum_dense_layer(step, args, kwargs, ctx):
    return einsum_dense(step.layer, args[0], ctx)


def conv1d(step, args, kwargs, ctx):
    layer, x = step.layer, args[0]
    k = int(layer.kernel_size[0])
    stride, dil = int(layer.strides[0]), int(layer.dilation_rate[0])
    span = (k - 1) * dil + 1
    if layer.padding != "valid":
        if layer.padding == "causal":
            before, after = span - 1, 0
        else:  # "same", TensorFlow's convention: the extra pad goes after
            t = tf.shape(x)[1]
            out_len = (t + stride - 1) // stride
            total = tf.maximum((out_len - 1) * stride + span - t, 0)
            before, after = total // 2, total - total // 2
        b, e = tf.shape(x)[0], tf.shape(x)[2]
        x = tf.concat([ctx.zeros([b, before, e]), x, ctx.zeros([b, after, e])], axis=1)
    bias = ctx.var(layer.bias) if layer.use_bias else None
    z = ctx.rule(layer).conv1d(x, ctx.var(layer.kernel), bias, stride, dil)
    return rules.lrp_activation(z, layer.activation)


def global_max_pool(step, args, kwargs, ctx):
    return rules.lrp_max_pool(args[0], axis=1)


def global_average_pool(step, args, kwargs, ctx):
    rule = _epsilon(ctx, step.layer)
    return rules.lrp_mean_pool(args[0], kwargs.get("mask"), rule.eps, rule.bias_factor)


def average_pool(step, args, kwargs, ctx):
    layer, x = step.layer, args[0]
    rule = _epsilon(ctx, layer)
    pool = int(layer.pool_size[0])
    ones = tf.ones_like(x)
    return rule.map(x, lambda v: layer(v), None, float(pool),
                    share=_vjp_share(lambda v: layer(v) * float(pool), ones))


def merge_sum(coefficients):
    """Add (1, 1, …), Subtract (1, −1), Average (1/k, …): the sum rule over the k inputs."""

    def handler(step, args, kwargs, ctx):
        rule = _epsilon(ctx, step.layer)
        xs = list(args[0]) if isinstance(args[0], list | tuple) else list(args)
        coef = coefficients(len(xs))
        return rules.lrp_sum(xs, coef, rule.eps, rule.bias_factor)

    return handler


def batch_norm(step, args, kwargs, ctx):
    layer, x = step.layer, args[0]
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    if axis not in (-1, len(x.shape) - 1):
        raise ValueError(f"layer {layer.name!r} (BatchNormalization): only axis=-1 is supported")
    inv = tf.math.rsqrt(ctx.var(layer.moving_variance) + layer.epsilon)
    w = inv * (ctx.var(layer.gamma) if layer.scale else 1.0)
    b = -ctx.var(layer.moving_mean) * w
    if layer.center:
        b = b + ctx.var(layer.beta)
    return _epsilon(ctx, layer).map(x, lambda v: v * w, b, 1.0, share=lambda q: q)


def layer_norm(step, args, kwargs, ctx):
    """LayerNormalization with the normalising factor σ(x) treated as a constant."""
    layer, x = step.layer, args[0]
    axes = layer.axis if isinstance(layer.axis, list | tuple) else [layer.axis]
    if list(axes) not in ([-1], [len(x.shape) - 1]):
        raise ValueError(f"layer {layer.name!r} (LayerNormalization): only axis=-1 is supported")
    xs = tf.stop_gradient(x)
    gamma = ctx.var(layer.gamma) if layer.scale else 1.0
    beta = ctx.var(layer.beta) if layer.center else None
    rule = _epsilon(ctx, layer)
    if getattr(layer, "rms_scaling", False):
        scale = tf.math.rsqrt(tf.reduce_mean(xs**2, -1, keepdims=True) + layer.epsilon)
        return rule.map(x, lambda v: v * scale * gamma, beta, 1.0, share=lambda q: q)
    mean, var = tf.nn.moments(xs, axes=[-1], keepdims=True)
    scale = tf.math.rsqrt(var + layer.epsilon)
    features = float(x.shape[-1])

    def forward(v):
        return (v - tf.reduce_mean(v, -1, keepdims=True)) * scale * gamma

    def share(q):
        return tf.reduce_sum(q, -1, keepdims=True) * tf.ones_like(x)

    return rule.map(x, forward, beta, features, share=share)


# ------------------------------------------------------------------------- recurrent layers
def rnn_forward(layer, x, mask, ctx):
    """One LSTM / GRU / SimpleRNN layer through the shared recurrence with LRP ops."""
    ops = LrpOps(_epsilon(ctx, layer))
    batch = tf.shape(x)[0]
    n_states = 2 if isinstance(layer, keras.layers.LSTM) else 1
    state0 = [ctx.zeros([batch, int(layer.cell.units)]) for _ in range(n_states)]
    want = ("h",) if layer.return_sequences else ()
    records, finals, _ = recurrence.run(layer, x, mask, ops, want, state0, dtype=ctx.dtype)
    out = recurrence.outputs(layer, records.get("h"), mask, finals[0])
    if layer.return_sequences and mask is not None:
        # outputs Keras zeroes at padded steps: relevance reaching them is padding's
        dropped = ~recurrence.kept(layer, mask)
        if layer.go_backwards:
            dropped = tf.reverse(dropped, [1])
        out = out + ctx.padding_zeros(tf.shape(out)) * tf.cast(dropped, out.dtype)[..., None]
    return [out, *finals] if layer.return_state else out


def rnn(step, args, kwargs, ctx):
    if kwargs.get("initial_state") is not None:
        raise ValueError(f"layer {step.layer.name!r}: an explicit initial_state is not supported")
    return rnn_forward(step.layer, args[0], kwargs.get("mask"), ctx)


def bidirectional(step, args, kwargs, ctx):
    layer, x, mask = step.layer, args[0], kwargs.get("mask")
    y = rnn_forward(layer.forward_layer, x, mask, ctx)
    y_rev = rnn_forward(layer.backward_layer, x, mask, ctx)
    if layer.return_sequences:
        y_rev = tf.reverse(y_rev, axis=[1])
    rule = _epsilon(ctx, layer)
    if layer.merge_mode == "concat":
        return tf.concat([y, y_rev], axis=-1)
    if layer.merge_mode == "sum":
        return rules.lrp_sum([y, y_rev], [1.0, 1.0], rule.eps, rule.bias_factor)
    if layer.merge_mode == "ave":
        return rules.lrp_sum([y, y_rev], [0.5, 0.5], rule.eps, rule.bias_factor)
    return [y, y_rev]  # merge_mode=None


# ------------------------------------------------------------------------- attention
def attention(step, args, kwargs, ctx):
    """keras.layers.Attention / AdditiveAttention: weights are gates, values get all relevance."""
    layer = step.layer
    inputs = list(args[0])
    if kwargs.get("return_attention_scores"):
        raise ValueError(f"layer {layer.name!r}: return_attention_scores=True is not supported")
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    mask = kwargs.get("mask") or [None, None]
    q_mask, v_mask = mask[0], mask[1] if len(mask) > 1 else None
    stop = tf.stop_gradient
    scores = layer._calculate_scores(query=stop(q), key=stop(k))
    scores_mask = layer._calculate_score_mask(scores, v_mask, kwargs.get("use_causal_mask", False))
    _, weights = layer._apply_scores(scores=scores, value=stop(v), scores_mask=scores_mask)
    rule = _epsilon(ctx, layer)
    out = rules.lrp_weighted_sum(weights, v, "bqk,bkd->bqd", v_mask, rule.eps, rule.bias_factor)
    if q_mask is not None:
        out = tf.where(q_mask[..., None], out, tf.zeros([], out.dtype))
    return out


def multi_head_attention(step, args, kwargs, ctx):
    layer = step.layer
    if getattr(layer, "_use_gate", False) or kwargs.get("return_attention_scores"):
        raise ValueError(f"layer {layer.name!r}: gated MHA / attention scores output unsupported")
    names = ("query", "value", "key")
    given = dict(zip(names, args, strict=False))
    given.update({n: kwargs[n] for n in names if kwargs.get(n) is not None})
    query, value = given["query"], given["value"]
    key = given.get("key")
    key = value if key is None else key
    stop = tf.stop_gradient
    attention_mask = layer._compute_attention_mask(
        stop(query), stop(value), query_mask=kwargs.get("query_mask"),
        value_mask=kwargs.get("value_mask"), key_mask=kwargs.get("key_mask"),
        attention_mask=kwargs.get("attention_mask"),
        use_causal_mask=kwargs.get("use_causal_mask", False))
    q = layer._query_dense(stop(query))
    k = layer._key_dense(stop(key))
    v = einsum_dense(layer._value_dense, value, ctx)
    _, weights = layer._compute_attention(q, k, stop(v), attention_mask, training=False,
                                         return_attention_scores=True)
    rule = _epsilon(ctx, layer)
    out = rules.lrp_weighted_sum(weights, v, layer._combine_equation, kwargs.get("value_mask"),
                                 rule.eps, rule.bias_factor)
    out = einsum_dense(layer._output_dense, out, ctx)
    query_mask = kwargs.get("query_mask")
    if query_mask is not None:
        # at padded queries Keras's own attention path (fused, without scores) differs from the
        # explicit softmax: take its values there, from the projections already made; relevance
        # reaching them is padding's (in delta)
        fused, _ = layer._compute_attention(q, k, stop(v), attention_mask, training=False)
        plain = stop(layer._output_dense(fused))
        keep = tf.cast(query_mask, tf.bool)[..., None]
        out = tf.where(keep, out, plain + ctx.padding_zeros(tf.shape(out)))
    return out
