"""Per-layer float64 NumPy forward passes and LRP backward rules for `reference_graph_lrp`.

Written from notes/LRP_SPEC.md, one rule per layer type, sharing no code with `keras_relevance`.
Everything works on ONE sample (no batch axis): a sequence is (T, F), a vector (F,), a mask (T,)
of bools or None. Each `fwd_<kind>(layer, inputs, masks, ctx)` returns `(out, out_mask, back)`
where `back(r_out) -> (r_inputs, leftover)`: one relevance array per input (in the order of
`inputs`), and the relevance left at zero tensors (initial RNN states, convolution padding).

The ε-rule, for z_j = Σ_i x_i w_ij + b_j with N inputs, as an explicit message matrix:

    R_{i←j} = (x_i w_ij + δ·(b_j + ε·sign(z_j)) / N) / (z_j + ε·sign(z_j)) · R_j ,  sign(0) = +1
"""

from __future__ import annotations

import numpy as np

F64 = np.float64


def sgn(z):
    return np.where(np.asarray(z) >= 0, 1.0, -1.0)


def arr(v):
    return np.asarray(v.numpy() if hasattr(v, "numpy") else v, F64)


def messages(x, w, b, z, r, ctx, n=None):
    """ε-rule relevance of the inputs x (I,) of z = x @ w + b (J,), from r (J,); N = n or I."""
    n = x.shape[0] if n is None else n
    stab = ctx.eps * sgn(z)
    m = x[:, None] * w + ctx.bf * (b + stab)[None, :] / n
    return (m / (z + stab)[None, :] * r[None, :]).sum(axis=1)


def rows_messages(x, w, b, z, r, ctx):
    """`messages` row by row over a leading time axis (or once for a vector)."""
    if x.ndim == 1:
        return messages(x, w, b, z, r, ctx)
    return np.stack([messages(x[t], w, b, z[t], r[t], ctx) for t in range(x.shape[0])])


def sum_rule(terms, r, ctx):
    """Element-wise z = Σ_k terms_k: R_k = (x_k + δ·stab/K) / (z + stab) · R."""
    z = sum(terms)
    stab = ctx.eps * sgn(z)
    return [(t + ctx.bf * stab / len(terms)) / (z + stab) * r for t in terms]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


ACTS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "softmax": _softmax,
    "log_softmax": lambda z: z - z.max(-1, keepdims=True)
    - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)),
    "elu": lambda z: np.where(z > 0, z, np.exp(z) - 1.0),
    "softplus": lambda z: np.log1p(np.exp(z)),
}


def act(fn):
    name = getattr(fn, "__name__", str(fn))
    if name not in ACTS:
        raise ValueError(f"reference: no activation {name!r}")
    return ACTS[name]


def _identity_back(r):
    return [r], 0.0


# ------------------------------------------------------------------------- embedding
def fwd_embedding(layer, inputs, masks, ctx):
    ids = np.asarray(inputs[0]).astype(int)
    table = arr(layer.embeddings)
    mask = ids != 0 if layer.mask_zero else None
    ctx.embedding_mask = mask

    def back(r):  # the relevance per embedding dimension is the answer: keep it, stop here
        ctx.r_embedding = r if ctx.r_embedding is None else ctx.r_embedding + r
        return [None], 0.0

    return table[ids], mask, back


# ------------------------------------------------------------------------------ dense
def fwd_dense(layer, inputs, masks, ctx):
    x = inputs[0]
    w = arr(layer.kernel)
    b = arr(layer.bias) if layer.use_bias else np.zeros(w.shape[1])
    z = x @ w + b

    def back(r):
        if layer is ctx.head and w.shape[1] == 1:  # one unit: scores [-z, z] = z @ [[-1, 1]]
            s = np.array([[-1.0, 1.0]])
            return [rows_messages(x, w @ s, b @ s, z @ s, r, ctx)], 0.0
        return [rows_messages(x, w, b, z, r, ctx)], 0.0

    if layer is ctx.head:
        ctx.head_z = z
    return act(layer.activation)(z), masks[0], back


def fwd_identity(layer, inputs, masks, ctx):
    return inputs[0], masks[0], _identity_back


def fwd_activation(layer, inputs, masks, ctx):
    x = inputs[0]
    name = type(layer).__name__
    if name == "ReLU":
        neg = float(layer.negative_slope or 0.0)
        thr = float(layer.threshold or 0.0)
        y = np.where(x >= thr, x, neg * (x - thr))
        if layer.max_value is not None:
            y = np.minimum(y, float(layer.max_value))
    elif name == "LeakyReLU":
        slope = float(np.float32(layer.negative_slope))  # TF's LeakyRelu attr is a float32
        y = np.where(x >= 0, x, slope * x)
    elif name == "Softmax":
        y = _softmax(x)
    elif name == "ELU":
        y = np.where(x > 0, x, float(layer.alpha) * (np.exp(x) - 1.0))
    else:
        y = act(layer.activation)(x)
    return y, masks[0], _identity_back


def fwd_masking(layer, inputs, masks, ctx):
    x = inputs[0]
    keep = np.any(x != float(layer.mask_value), axis=-1)
    return x * keep[:, None], keep, _identity_back


# ------------------------------------------------------------------------ convolution
def _windows(n_in, k, stride, dil, padding):
    span = (k - 1) * dil + 1
    if padding == "valid":
        before = after = 0
    elif padding == "causal":
        before, after = span - 1, 0
    else:
        out_len = -(-n_in // stride)
        total = max((out_len - 1) * stride + span - n_in, 0)
        before, after = total // 2, total - total // 2
    padded = n_in + before + after
    n_out = (padded - span) // stride + 1 if padded >= span else 0
    return before, after, [[t * stride + j * dil for j in range(k)] for t in range(n_out)]


def fwd_conv1d(layer, inputs, masks, ctx):
    x = inputs[0]
    kern = arr(layer.kernel)
    k, e, f = kern.shape
    b = arr(layer.bias) if layer.use_bias else np.zeros(f)
    before, after, wins = _windows(x.shape[0], k, layer.strides[0], layer.dilation_rate[0],
                                   layer.padding)
    xp = np.concatenate([np.zeros((before, e)), x, np.zeros((after, e))])
    w = kern.reshape(k * e, f)
    z = np.array([xp[idx].reshape(-1) @ w + b for idx in wins]).reshape(-1, f)

    def back(r):
        r_xp = np.zeros_like(xp)
        for t, idx in enumerate(wins):
            r_in = messages(xp[idx].reshape(-1), w, b, z[t], r[t], ctx)
            for j, row in enumerate(idx):
                r_xp[row] += r_in[j * e:(j + 1) * e]
        r_x = r_xp[before:before + x.shape[0]]
        return [r_x], r_xp.sum() - r_x.sum()

    return act(layer.activation)(z), None, back


def _pool_windows(layer, n_in):
    p, s = layer.pool_size[0], layer.strides[0]
    if layer.padding == "valid":
        return [list(range(t * s, t * s + p)) for t in range((n_in - p) // s + 1)]
    before, _, wins = _windows(n_in, p, s, 1, "same")
    return [[i - before for i in w if 0 <= i - before < n_in] for w in wins]


def fwd_maxpool1d(layer, inputs, masks, ctx):
    x = inputs[0]
    wins = _pool_windows(layer, x.shape[0])
    arg = np.array([[w[int(np.argmax(x[w, c]))] for c in range(x.shape[1])] for w in wins])
    out = np.take_along_axis(x, arg, axis=0)

    def back(r):
        r_x = np.zeros_like(x)
        for t in range(arg.shape[0]):
            for c in range(x.shape[1]):
                r_x[arg[t, c], c] += r[t, c]
        return [r_x], 0.0

    return out, None, back


def fwd_avgpool1d(layer, inputs, masks, ctx):
    x = inputs[0]
    wins = _pool_windows(layer, x.shape[0])
    out = np.array([x[w].mean(axis=0) for w in wins])

    def back(r):
        r_x = np.zeros_like(x)
        for t, w in enumerate(wins):
            for c in range(x.shape[1]):
                n = len(w)
                r_x[w, c] += messages(x[w, c], np.full((n, 1), 1.0 / n), np.zeros(1),
                                      out[t, c:c + 1], r[t, c:c + 1], ctx)
        return [r_x], 0.0

    return out, None, back


def fwd_global_max(layer, inputs, masks, ctx):
    x = inputs[0]
    arg = np.argmax(x, axis=0)  # first winner in a tie; Keras ignores the mask here

    def back(r):
        r_x = np.zeros_like(x)
        r_x[arg, np.arange(x.shape[1])] = r
        return [r_x], 0.0

    return x[arg, np.arange(x.shape[1])], None, back


def fwd_global_avg(layer, inputs, masks, ctx):
    x = inputs[0]
    keep = np.ones(x.shape[0], bool) if masks[0] is None else masks[0]
    n = int(keep.sum())
    out = x[keep].sum(axis=0) / n

    def back(r):
        r_x = np.zeros_like(x)
        for c in range(x.shape[1]):
            r_x[keep, c] = messages(x[keep, c], np.full((n, 1), 1.0 / n), np.zeros(1),
                                    out[c:c + 1], r[c:c + 1], ctx)
        return [r_x], 0.0

    return out, None, back


def fwd_reshape(layer, inputs, masks, ctx):
    x = inputs[0]
    shape = (-1,) if type(layer).__name__ == "Flatten" else tuple(layer.target_shape)
    return x.reshape(shape), None, lambda r: ([np.reshape(r, x.shape)], 0.0)


# ---------------------------------------------------------------------------- merging
def fwd_concatenate(layer, inputs, masks, ctx):
    axis = layer.axis - 1 if layer.axis > 0 else layer.axis  # no batch axis here
    sizes = np.cumsum([a.shape[axis] for a in inputs])[:-1]
    known = [m for m in masks if m is not None]
    mask = None if not known else np.logical_and.reduce(known)
    return (np.concatenate(inputs, axis=axis), mask,
            lambda r: (np.split(r, sizes, axis=axis), 0.0))


def _merge_mask(masks):
    return None if any(m is None for m in masks) else np.logical_or.reduce(masks)


def fwd_merge_sum(layer, inputs, masks, ctx):
    """Add, Average, Subtract: a sum of summands (x_k, x_k / K, or a and -b)."""
    name = type(layer).__name__
    if name == "Average":
        terms = [a / len(inputs) for a in inputs]
    elif name == "Subtract":
        terms = [inputs[0], -inputs[1]]
    else:
        terms = list(inputs)
    return sum(terms), _merge_mask(masks), lambda r: (sum_rule(terms, r, ctx), 0.0)


def fwd_maximum(layer, inputs, masks, ctx):
    stack = np.stack(inputs)
    win = np.argmax(stack, axis=0)  # first input in a tie

    def back(r):
        return [np.where(win == k, r, 0.0) for k in range(len(inputs))], 0.0

    return stack.max(axis=0), _merge_mask(masks), back


# ---------------------------------------------------------------------- normalisation
def fwd_batchnorm(layer, inputs, masks, ctx):
    x = inputs[0]
    f = x.shape[-1]
    gamma = arr(layer.gamma) if layer.scale else np.ones(f)
    beta = arr(layer.beta) if layer.center else np.zeros(f)
    w = gamma / np.sqrt(arr(layer.moving_variance) + layer.epsilon)
    b = beta - arr(layer.moving_mean) * w
    z = x * w + b

    def back(r):
        stab = ctx.eps * sgn(z)
        return [(x * w + ctx.bf * (b + stab)) / (z + stab) * r], 0.0  # N = 1

    return z, masks[0], back


def fwd_layernorm(layer, inputs, masks, ctx):
    x = inputs[0]
    f = x.shape[-1]
    gamma = arr(layer.gamma) if layer.scale else np.ones(f)
    beta = arr(layer.beta) if layer.center else np.zeros(f)
    rows = x.reshape(-1, f)
    sigma = np.sqrt(rows.var(axis=1) + layer.epsilon)
    centre = np.eye(f) - 1.0 / f
    ws = [centre * gamma[None, :] / s for s in sigma]  # W_ij = γ_j (δ_ij − 1/F) / σ
    z = np.stack([row @ w + beta for row, w in zip(rows, ws, strict=True)])

    def back(r):
        r2 = r.reshape(-1, f)
        return [np.stack([messages(rows[t], ws[t], beta, z[t], r2[t], ctx)
                          for t in range(len(rows))]).reshape(x.shape)], 0.0

    return z.reshape(x.shape), masks[0], back
