"""Layer-wise relevance propagation (Arras et al. 2017) over a `ModelChain`.

The model is re-run by an LRP twin: a forward pass over the chain's own layers that reads their
variables (nothing is copied, later weight updates are seen) and is built from the primitives in
`keras_relevance.rules`, whose gradients are the LRP messages. One backward pass seeded with
`onehot(target) * logit` then delivers the relevance of every embedding dimension. The whole
computation is one `tf.function` per (model, ε, δ, embedding size) with `None` batch and time
dimensions, so new batch sizes and lengths do not retrace.

>>> chain = ModelChain.from_model(model)                     # doctest: +SKIP
>>> emb, mask = chain.embed(ids)                             # doctest: +SKIP
>>> res = explain_lrp(chain, emb, mask, target, bias_factor=1.0)  # doctest: +SKIP
>>> res.relevance.shape, abs(res.delta).max() < 1e-4          # doctest: +SKIP
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from keras_relevance import rules
from keras_relevance.chain import MethodResult, ModelChain

__all__ = ["explain_lrp", "lrp_function", "SUPPORTED_LAYERS"]

SUPPORTED_LAYERS = (
    "Dense (activation linear/relu/tanh; the head's activation is stripped)",
    "Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout (identity at inference)",
    "Activation / ReLU (linear, relu, tanh)",
    "LSTM, GRU (reset_after True/False; activation tanh, recurrent_activation sigmoid)",
    "Bidirectional(LSTM|GRU) with merge_mode 'concat' or 'sum'",
    "Conv1D (padding valid/same/causal, activation linear/relu/tanh)",
    "GlobalMaxPooling1D, GlobalAveragePooling1D, Flatten",
)

_IDENTITY_LAYERS = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
)
_POOLING = (keras.layers.GlobalMaxPooling1D, keras.layers.GlobalAveragePooling1D)
_PASS_ACTIVATIONS = ("linear", "relu", "tanh")


# --------------------------------------------------------------------------- checks
def _act_name(fn) -> str:
    return getattr(fn, "__name__", str(fn))


def _unsupported(layer, why: str | None = None) -> ValueError:
    what = f"layer {layer.name!r} ({type(layer).__name__})"
    reason = f": {why}" if why else " has no LRP rule"
    return ValueError(
        f"{what}{reason}. Supported layers: " + "; ".join(SUPPORTED_LAYERS) + "."
    )


def _check_activation(layer, arg: str, allowed, owner=None) -> None:
    name = _act_name(getattr(layer, arg))
    if name not in allowed:
        raise _unsupported(
            owner or layer,
            f"argument {arg}={name!r} is not supported by LRP (allowed: {list(allowed)})",
        )


def _check_rnn(layer, owner=None) -> None:
    owner = owner or layer
    if not isinstance(layer, keras.layers.LSTM | keras.layers.GRU):
        raise _unsupported(owner, f"wrapped layer {type(layer).__name__} has no LRP rule")
    _check_activation(layer.cell, "activation", ("tanh",), owner)
    _check_activation(layer.cell, "recurrent_activation", ("sigmoid", "hard_sigmoid"), owner)
    if getattr(layer, "stateful", False):
        raise _unsupported(owner, "stateful RNNs are not supported (the initial state must be 0)")


def check_chain(chain: ModelChain) -> None:
    """Raise ValueError naming the first layer of `chain` that LRP cannot explain."""
    for layer in chain.body:
        if isinstance(layer, keras.layers.Bidirectional):
            _check_rnn(layer.forward_layer, layer)
            _check_rnn(layer.backward_layer, layer)
            if layer.merge_mode not in ("concat", "sum"):
                raise _unsupported(
                    layer, f"merge_mode={layer.merge_mode!r} (use 'concat' or 'sum')"
                )
        elif isinstance(layer, keras.layers.LSTM | keras.layers.GRU):
            _check_rnn(layer)
        elif isinstance(layer, keras.layers.Dense):
            _check_activation(layer, "activation", _PASS_ACTIVATIONS)
        elif isinstance(layer, keras.layers.Conv1D):
            if layer.data_format != "channels_last" or layer.groups != 1:
                raise _unsupported(layer, "only channels_last, groups=1 convolutions")
            if layer.padding not in ("valid", "same", "causal"):
                raise _unsupported(layer, f"padding={layer.padding!r}")
            _check_activation(layer, "activation", _PASS_ACTIVATIONS)
        elif isinstance(layer, keras.layers.Activation):
            _check_activation(layer, "activation", _PASS_ACTIVATIONS)
        elif isinstance(layer, keras.layers.ReLU):
            if layer.max_value is not None or layer.negative_slope or layer.threshold:
                raise _unsupported(layer, "only a plain ReLU (no max_value/slope/threshold)")
        elif isinstance(layer, _POOLING):
            if layer.data_format != "channels_last" or layer.keepdims:
                raise _unsupported(layer, "only channels_last without keepdims")
        elif isinstance(layer, (*_IDENTITY_LAYERS, keras.layers.Flatten)):
            pass
        else:
            raise _unsupported(layer)


# --------------------------------------------------------------------------- the twin
class _Context:
    """What one traced LRP pass shares: options, dtype and the zero tensors whose relevance counts
    as 'left over' (initial states, convolution padding)."""

    def __init__(self, eps, bias_factor, dtype, tape):
        self.eps = eps
        self.bias_factor = bias_factor
        self.dtype = dtype
        self.tape = tape
        self.leftover = []

    def zeros(self, shape):
        z = tf.zeros(shape, self.dtype)
        self.tape.watch(z)
        self.leftover.append(z)
        return z

    def var(self, v):
        return tf.cast(v, self.dtype)


def _accepts_mask(layer) -> bool:
    if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
        return True
    return bool(getattr(layer, "supports_masking", False))


def _forward(chain: ModelChain, x, mask, ctx: _Context):
    """The LRP twin's forward pass: embeddings → logits, masks propagated as `chain.logits` does."""
    current_mask = mask
    for layer in chain.body:
        layer_mask = current_mask if (current_mask is not None and _accepts_mask(layer)) else None
        y = _layer_forward(layer, x, layer_mask, ctx)
        current_mask = layer.compute_mask(x, layer_mask) if layer_mask is not None else None
        x = y
    head = chain.head
    bias = ctx.var(head.bias) if head.use_bias else None
    return rules.lrp_linear(x, ctx.var(head.kernel), bias, ctx.eps, ctx.bias_factor)


def _layer_forward(layer, x, mask, ctx):
    if isinstance(layer, keras.layers.Bidirectional):
        return _bidirectional(layer, x, mask, ctx)
    if isinstance(layer, keras.layers.LSTM | keras.layers.GRU):
        return _rnn(layer, x, mask, ctx, zero_output=layer.zero_output_for_mask)
    if isinstance(layer, keras.layers.Dense):
        bias = ctx.var(layer.bias) if layer.use_bias else None
        z = rules.lrp_linear(x, ctx.var(layer.kernel), bias, ctx.eps, ctx.bias_factor)
        return rules.lrp_activation(z, layer.activation)
    if isinstance(layer, keras.layers.Conv1D):
        return _conv1d(layer, x, ctx)
    if isinstance(layer, keras.layers.Activation):
        return rules.lrp_activation(x, layer.activation)
    if isinstance(layer, keras.layers.ReLU):
        return rules.lrp_activation(x, tf.nn.relu)
    if isinstance(layer, keras.layers.GlobalMaxPooling1D):
        return rules.lrp_max_pool(x, axis=1)
    if isinstance(layer, keras.layers.GlobalAveragePooling1D):
        return rules.lrp_mean_pool(x, mask, ctx.eps, ctx.bias_factor)
    if isinstance(layer, keras.layers.Flatten):
        return tf.reshape(x, [tf.shape(x)[0], -1])
    if isinstance(layer, _IDENTITY_LAYERS):
        return x
    raise _unsupported(layer)


def _conv1d(layer, x, ctx):
    k = int(layer.kernel_size[0])
    stride = int(layer.strides[0])
    dil = int(layer.dilation_rate[0])
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
    z = rules.lrp_conv1d(x, ctx.var(layer.kernel), bias, ctx.eps, ctx.bias_factor, stride, dil)
    return rules.lrp_activation(z, layer.activation)


def _bidirectional(layer, x, mask, ctx):
    fw, bw = layer.forward_layer, layer.backward_layer
    y = _rnn(fw, x, mask, ctx, zero_output=fw.zero_output_for_mask)
    y_rev = _rnn(bw, x, mask, ctx, zero_output=bw.zero_output_for_mask)
    if layer.return_sequences:
        y_rev = tf.reverse(y_rev, axis=[1])
    if layer.merge_mode == "concat":
        return tf.concat([y, y_rev], axis=-1)
    return rules.lrp_add(y, y_rev, ctx.eps, ctx.bias_factor)


def _rnn(layer, x, mask, ctx, zero_output=False):
    """One LSTM/GRU layer: gates from one input matmul for all steps, then a while loop whose
    relevance path runs through the rules (gates stop_gradient'ed, masked steps hold the state)."""
    cell = layer.cell
    is_lstm = isinstance(layer, keras.layers.LSTM)
    units = int(cell.units)
    dtype = ctx.dtype
    eps, bf = ctx.eps, ctx.bias_factor
    gate_fn = cell.recurrent_activation
    act = cell.activation
    kernel = ctx.var(cell.kernel)
    rkernel = ctx.var(cell.recurrent_kernel)
    n_in = int(kernel.shape[0])

    if is_lstm:
        b_in = ctx.var(cell.bias) if cell.use_bias else None
        b_rec = None
        reset_after = False
    else:
        reset_after = bool(cell.reset_after)
        b_in = b_rec = None
        if cell.use_bias:
            bias = ctx.var(cell.bias)
            if reset_after:
                b_in, b_rec = bias[0], bias[1]
            else:
                b_in = bias

    batch = tf.shape(x)[0]
    steps = tf.shape(x)[1]
    h0 = ctx.zeros([batch, units])
    c0 = ctx.zeros([batch, units]) if is_lstm else None

    if layer.go_backwards:
        x = tf.reverse(x, axis=[1])
        if mask is not None:
            mask = tf.reverse(mask, axis=[1])
    xt = tf.transpose(x, [1, 0, 2])  # (time, batch, in)
    xproj = tf.matmul(tf.reshape(tf.stop_gradient(xt), [-1, n_in]), kernel)
    if b_in is not None:
        xproj = xproj + b_in
    xproj = tf.reshape(xproj, [steps, batch, kernel.shape[1]])

    x_ta = tf.TensorArray(dtype, size=steps, element_shape=[None, n_in]).unstack(xt)
    p_ta = tf.TensorArray(dtype, size=steps, element_shape=[None, kernel.shape[1]]).unstack(xproj)
    m_ta = None
    if mask is not None:
        m_ta = tf.TensorArray(tf.bool, size=steps, element_shape=[None]).unstack(
            tf.transpose(mask, [1, 0])
        )
    out_ta = None
    if layer.return_sequences:
        out_ta = tf.TensorArray(dtype, size=steps, element_shape=[None, units])

    u = units
    if is_lstm:
        w_g, u_g = kernel[:, 2 * u:3 * u], rkernel[:, 2 * u:3 * u]
        b_g = b_in[2 * u:3 * u] if b_in is not None else None
    else:
        w_g, u_g = kernel[:, 2 * u:], rkernel[:, 2 * u:]
        b_g = b_in[2 * u:] if b_in is not None else None
        b_rec_g = b_rec[2 * u:] if b_rec is not None else None

    def lstm_step(x_t, p_t, h, c):
        hs = tf.stop_gradient(h)
        z = p_t + tf.matmul(hs, rkernel)
        i = gate_fn(z[:, :u])
        f = gate_fn(z[:, u:2 * u])
        o = gate_fn(z[:, 3 * u:])
        g_pre = rules.lrp_linear2(x_t, h, w_g, u_g, b_g, eps, bf, z=z[:, 2 * u:3 * u])
        g = rules.lrp_activation(g_pre, act)
        c_new = rules.lrp_add(rules.gate_mul(f, c), rules.gate_mul(i, g), eps, bf)
        h_new = rules.gate_mul(o, rules.lrp_activation(c_new, act))
        return h_new, c_new

    def gru_step(x_t, p_t, h):
        hs = tf.stop_gradient(h)
        if reset_after:
            hu = tf.matmul(hs, rkernel)
            if b_rec is not None:
                hu = hu + b_rec
            zt = gate_fn(p_t[:, :u] + hu[:, :u])
            r = gate_fn(p_t[:, u:2 * u] + hu[:, u:2 * u])
            zg = p_t[:, 2 * u:] + r * hu[:, 2 * u:]
            if b_g is None and b_rec_g is None:
                b_eff = None
            else:
                b_eff = (b_g if b_g is not None else 0.0) + (
                    r * b_rec_g if b_rec_g is not None else 0.0
                )
            g_pre = rules.lrp_linear2(x_t, h, w_g, u_g, b_eff, eps, bf, gate=r, z=zg)
        else:
            hu = tf.matmul(hs, rkernel[:, :2 * u])
            zt = gate_fn(p_t[:, :u] + hu[:, :u])
            r = gate_fn(p_t[:, u:2 * u] + hu[:, u:])
            rh = rules.gate_mul(r, h)
            zg = p_t[:, 2 * u:] + tf.matmul(r * hs, u_g)
            g_pre = rules.lrp_linear2(x_t, rh, w_g, u_g, b_g, eps, bf, z=zg)
        g = rules.lrp_activation(g_pre, act)
        h_new = rules.lrp_add(rules.gate_mul(zt, h), rules.gate_mul(1.0 - zt, g), eps, bf)
        return (h_new,)

    def body(t, states, outs):
        x_t = x_ta.read(t)
        p_t = p_ta.read(t)
        new = lstm_step(x_t, p_t, *states) if is_lstm else gru_step(x_t, p_t, *states)
        out = new[0]
        if m_ta is not None:
            m_t = m_ta.read(t)[:, None]
            new = tuple(tf.where(m_t, n, s) for n, s in zip(new, states, strict=True))
            out = tf.where(m_t, out, tf.zeros_like(out)) if zero_output else new[0]
        if out_ta is not None:
            outs = outs.write(t, out)
        return t + 1, tuple(new), outs

    states0 = (h0, c0) if is_lstm else (h0,)
    _, final, outs = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), states0, out_ta if out_ta is not None else tf.constant(0)),
        maximum_iterations=steps,
    )
    if layer.return_sequences:
        return tf.transpose(outs.stack(), [1, 0, 2])
    return final[0]


# --------------------------------------------------------------------------- entry points

def lrp_function(chain: ModelChain, eps: float = 1e-3, bias_factor: float = 0.0,
                 dim: int | None = None):
    """The traced LRP pass for `chain`: `fn(emb, mask, target) -> (per_dim, delta, logits)`.

    Cached on the chain (one per model) per ε, δ and embedding size; batch and time are `None`
    dimensions.
    """
    check_chain(chain)
    dtype = chain.compute_dtype
    if dim is None:
        if chain.embedding is None:
            raise ValueError("dim is required for a model without an Embedding layer")
        dim = int(chain.embedding.output_dim)
    key = ("lrp", float(eps), float(bias_factor), int(dim))
    return chain.cached(key, lambda: _build_lrp_function(chain, eps, bias_factor, dim, dtype))


def _build_lrp_function(chain: ModelChain, eps, bias_factor, dim: int, dtype: str):
    eps, bias_factor = float(eps), float(bias_factor)
    num_classes = chain.num_classes

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, dim], dtype),
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None], tf.int32),
        ],
        autograph=False,
    )
    def lrp(emb, mask, target):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            ctx = _Context(eps, bias_factor, dtype, tape)
            logits = _forward(chain, emb, mask, ctx)
        seed = tf.one_hot(target, num_classes, dtype=dtype) * logits
        grads = tape.gradient(
            logits, [emb, *ctx.leftover], output_gradients=seed,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        per_dim = grads[0] * tf.cast(mask, dtype)[:, :, None]
        left = tf.zeros_like(target, dtype)
        for g in grads[1:]:
            left += tf.reduce_sum(tf.reshape(g, [tf.shape(g)[0], -1]), axis=1)
        logit_t = tf.reduce_sum(seed, axis=1)
        delta = logit_t - tf.reduce_sum(per_dim, axis=[1, 2]) - left
        return per_dim, delta, logits

    return lrp


def explain_lrp(chain: ModelChain, embeddings, mask, target, eps: float = 1e-3,
                bias_factor: float = 0.0) -> MethodResult:
    """LRP relevance of each word (and embedding dimension) for the `target` logit.

    Args:
        chain: the model as a `ModelChain`.
        embeddings: (batch, time, dim) float, in `chain.compute_dtype`.
        mask: (batch, time) bool; masked steps get relevance exactly 0.
        target: (batch,) int class to explain.
        eps: the ε stabilizer (1e-3 in Arras et al. 2017).
        bias_factor: δ; 0 absorbs bias and stabilizer ("LRP"), 1 spreads them over the inputs
            ("LRP-cons", Σ relevance + relevance left at the initial states = logit).

    Returns:
        `MethodResult(relevance (batch, time), per_dim (batch, time, dim), delta (batch,))` with
        delta = logit_target − Σ relevance − relevance left at initial states / conv padding.

    Raises:
        ValueError: a layer has no LRP rule (the message names it and lists supported layers);
            `eps` not a finite number > 0, or `bias_factor` not a number in [0, 1].

    >>> res = explain_lrp(chain, emb, mask, tf.constant([1, 0]))  # doctest: +SKIP
    """
    eps = _check_option("eps", eps, low=0.0, low_inclusive=False, high=math.inf)
    bias_factor = _check_option("bias_factor", bias_factor, low=0.0, low_inclusive=True, high=1.0)
    dtype = chain.compute_dtype
    emb = tf.cast(tf.convert_to_tensor(embeddings), dtype)
    if emb.shape.rank != 3:
        raise ValueError(f"embeddings must be (batch, time, dim), got shape {emb.shape}")
    mask = tf.cast(tf.convert_to_tensor(mask), tf.bool)
    target = tf.cast(tf.convert_to_tensor(target), tf.int32)
    fn = lrp_function(chain, eps, bias_factor, int(emb.shape[-1]))
    per_dim, delta, _ = fn(emb, mask, target)
    per_dim = per_dim.numpy()
    return MethodResult(relevance=per_dim.sum(axis=-1), per_dim=per_dim, delta=delta.numpy())


def _check_option(name: str, value, *, low: float, low_inclusive: bool, high: float) -> float:
    """A finite float option within its range, or a ValueError that names it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"LRP option {name}={value!r} must be a number") from None
    above = number >= low if low_inclusive else number > low
    if not (math.isfinite(number) and above and number <= high):
        bound = "[" if low_inclusive else "("
        raise ValueError(
            f"LRP option {name}={value!r} is outside {bound}{low:g}, {high:g}]"
            + (" (eps > 0 keeps the ε-rule's denominators away from 0)" if name == "eps" else "")
        )
    return number
