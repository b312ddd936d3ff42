"""A slow, independent NumPy implementation of LRP (Arras et al. 2017; CNN: Arras et al. 2016).

Written from the papers' formulas, one sentence at a time, in float64: an explicit forward pass
that stores every gate, then an explicit backward pass that redistributes relevance step by
step with the message matrix

    R_{i←j} = (z_i w_ij + δ·(b_j + ε·sign(z_j)) / N) / (z_j + ε·sign(z_j)) · R_j ,  sign(0) = +1.

It shares no code with `keras_relevance.lrp`. The model is described by a *spec*: a list of
plain dicts holding NumPy weights (`spec_from_model` reads one from a Keras model).

Public API:
    spec_from_model(model) -> list[dict]
    forward(spec, x) -> logits                      # x: (T, E) one unpadded sentence
    lrp_sentence(spec, x, target, eps, bias_factor)
        -> dict(per_dim, relevance, logits, leftover, delta)
    lrp_batch(spec, emb, target, lengths=None, eps, bias_factor)
        -> dict(relevance, per_dim, delta, logits)

Spec layer kinds: "lstm", "gru" (W, U, b_in, b_rec, reset_after), "bidirectional" (forward,
backward, merge), "dense" (W, b, activation), "conv1d" (K, b, stride, dilation, padding,
activation), "maxpool", "avgpool", "activation", "identity", "flatten". The last layer must be a
dense head (its activation is ignored: explanations start at the logit).
"""

from __future__ import annotations

import numpy as np

__all__ = ["spec_from_model", "forward", "lrp_sentence", "lrp_batch"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _hard_sigmoid(z):
    return np.clip(z / 6.0 + 0.5, 0.0, 1.0)


_GATES = {"sigmoid": _sigmoid, "hard_sigmoid": _hard_sigmoid}
_ACTS = {"linear": lambda z: z, "relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}


def _sgn(z):
    return np.where(z >= 0, 1.0, -1.0)


def _messages(z_in, w, b, z, r_out, eps, bias_factor):
    """Relevance of the N inputs of z = z_in @ w + b, from the message matrix R_{i←j}."""
    n = z_in.shape[0]
    s = _sgn(z)
    m = (z_in[:, None] * w + bias_factor * (b + eps * s)[None, :] / n) / (z + eps * s)[None, :]
    return (m * r_out[None, :]).sum(axis=1)


def _split_sum(terms, z, r_out, eps, bias_factor):
    """Element-wise z = Σ terms: each term is one input of its unit (N = len(terms), no bias)."""
    n = len(terms)
    s = _sgn(z)
    return [(t + bias_factor * eps * s / n) / (z + eps * s) * r_out for t in terms]


# ------------------------------------------------------------------------------------ LSTM
def _lstm_forward(p, xs):
    units = p["U"].shape[0]
    gate = _GATES[p.get("recurrent_activation", "sigmoid")]
    w = {k: p["W"][:, n * units:(n + 1) * units] for n, k in enumerate("ifgo")}
    u = {k: p["U"][:, n * units:(n + 1) * units] for n, k in enumerate("ifgo")}
    b = {k: p["b"][n * units:(n + 1) * units] for n, k in enumerate("ifgo")}
    h = np.zeros(units)
    c = np.zeros(units)
    steps = []
    for x in xs:
        zi = x @ w["i"] + h @ u["i"] + b["i"]
        zf = x @ w["f"] + h @ u["f"] + b["f"]
        zg = x @ w["g"] + h @ u["g"] + b["g"]
        zo = x @ w["o"] + h @ u["o"] + b["o"]
        i, f, g, o = gate(zi), gate(zf), np.tanh(zg), gate(zo)
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        steps.append(dict(x=x, h_prev=h, c_prev=c, i=i, f=f, g=g, o=o, zg=zg, c=c_new, h=h_new))
        h, c = h_new, c_new
    return steps


def _lstm_backward(p, steps, r_h, eps, bias_factor):
    """r_h: (T, H) relevance arriving at each h_t from above. Returns (R_x (T, E), leftover)."""
    units = p["U"].shape[0]
    w_g = p["W"][:, 2 * units:3 * units]
    u_g = p["U"][:, 2 * units:3 * units]
    b_g = p["b"][2 * units:3 * units]
    w_full = np.vstack([w_g, u_g])
    n_x = w_g.shape[0]
    r_x = np.zeros((len(steps), n_x))
    r_h_next = np.zeros(units)
    r_c_next = np.zeros(units)
    for t in range(len(steps) - 1, -1, -1):
        s = steps[t]
        r_ht = r_h[t] + r_h_next
        r_ct = r_c_next + r_ht  # h = o ⊙ tanh(c): the gate o gets nothing
        r_cprev, r_ig = _split_sum([s["f"] * s["c_prev"], s["i"] * s["g"]], s["c"], r_ct, eps,
                                   bias_factor)
        r_in = _messages(np.concatenate([s["x"], s["h_prev"]]), w_full, b_g, s["zg"], r_ig, eps,
                         bias_factor)
        r_x[t] = r_in[:n_x]
        r_h_next = r_in[n_x:]
        r_c_next = r_cprev
    return r_x, r_h_next.sum() + r_c_next.sum()


# ------------------------------------------------------------------------------------- GRU
def _gru_forward(p, xs):
    units = p["U"].shape[0]
    gate = _GATES[p.get("recurrent_activation", "sigmoid")]
    W, U, b_in, b_rec = p["W"], p["U"], p["b_in"], p["b_rec"]
    sl = [slice(n * units, (n + 1) * units) for n in range(3)]
    h = np.zeros(units)
    steps = []
    for x in xs:
        z = gate(x @ W[:, sl[0]] + b_in[sl[0]] + h @ U[:, sl[0]] + b_rec[sl[0]])
        r = gate(x @ W[:, sl[1]] + b_in[sl[1]] + h @ U[:, sl[1]] + b_rec[sl[1]])
        x_h = x @ W[:, sl[2]] + b_in[sl[2]]
        if p["reset_after"]:
            zg = x_h + r * (h @ U[:, sl[2]] + b_rec[sl[2]])
        else:
            zg = x_h + (r * h) @ U[:, sl[2]]
        g = np.tanh(zg)
        h_new = z * h + (1.0 - z) * g
        steps.append(dict(x=x, h_prev=h, z=z, r=r, zg=zg, g=g, h=h_new))
        h = h_new
    return steps


def _gru_backward(p, steps, r_h, eps, bias_factor):
    units = p["U"].shape[0]
    W_h, U_h = p["W"][:, 2 * units:], p["U"][:, 2 * units:]
    b_in_h, b_rec_h = p["b_in"][2 * units:], p["b_rec"][2 * units:]
    n_x = W_h.shape[0]
    r_x = np.zeros((len(steps), n_x))
    r_h_next = np.zeros(units)
    for t in range(len(steps) - 1, -1, -1):
        s = steps[t]
        r_ht = r_h[t] + r_h_next
        r_keep, r_new = _split_sum([s["z"] * s["h_prev"], (1.0 - s["z"]) * s["g"]], s["h"], r_ht,
                                   eps, bias_factor)
        if p["reset_after"]:
            # ĥ's pre-activation over [x, h_prev]: weights W_h and r_j·U_h[:, j],
            # bias b_in + r⊙b_rec
            inputs = np.concatenate([s["x"], s["h_prev"]])
            weights = np.vstack([W_h, U_h * s["r"][None, :]])
            bias = b_in_h + s["r"] * b_rec_h
            r_in = _messages(inputs, weights, bias, s["zg"], r_new, eps, bias_factor)
            r_from_g = r_in[n_x:]
        else:
            # inputs [x, r⊙h_prev]; r⊙h_prev passes everything on to h_prev
            inputs = np.concatenate([s["x"], s["r"] * s["h_prev"]])
            r_in = _messages(inputs, np.vstack([W_h, U_h]), b_in_h, s["zg"], r_new, eps,
                             bias_factor)
            r_from_g = r_in[n_x:]
        r_x[t] = r_in[:n_x]
        r_h_next = r_keep + r_from_g
    return r_x, r_h_next.sum()


# ------------------------------------------------------------------------------ recurrent
def _rnn_run(p, xs):
    """Run one direction; go_backwards reads xs reversed and keeps outputs in processing order."""
    seq = xs[::-1] if p.get("go_backwards") else xs
    steps = (_lstm_forward if p["kind"] == "lstm" else _gru_forward)(p, seq)
    units = p["U"].shape[0]
    hs = np.array([s["h"] for s in steps]).reshape(len(steps), units)
    out = hs if p["return_sequences"] else (hs[-1] if len(hs) else np.zeros(units))
    return out, steps


def _rnn_back(p, steps, r_out, eps, bias_factor):
    units = p["U"].shape[0]
    r_h = np.zeros((len(steps), units))
    if p["return_sequences"]:
        r_h[:] = r_out
    elif len(steps):
        r_h[-1] = r_out
    back = _lstm_backward if p["kind"] == "lstm" else _gru_backward
    if not len(steps):
        return np.zeros((0, p["W"].shape[0])), float(r_out.sum())
    r_x, left = back(p, steps, r_h, eps, bias_factor)
    if p.get("go_backwards"):
        r_x = r_x[::-1]
    return r_x, left


# --------------------------------------------------------------------------------- conv
def _conv_windows(p, T):
    k, stride, dil = p["K"].shape[0], p["stride"], p["dilation"]
    span = (k - 1) * dil + 1
    if p["padding"] == "valid":
        before = after = 0
    elif p["padding"] == "causal":
        before, after = span - 1, 0
    else:
        out_len = -(-T // stride)
        total = max((out_len - 1) * stride + span - T, 0)
        before, after = total // 2, total - total // 2
    padded = T + before + after
    n_out = (padded - span) // stride + 1 if padded >= span else 0
    windows = [[t * stride + j * dil for j in range(k)] for t in range(n_out)]
    return before, after, windows


def _conv_forward(p, xs):
    before, after, windows = _conv_windows(p, xs.shape[0])
    xp = np.concatenate([np.zeros((before, xs.shape[1])), xs, np.zeros((after, xs.shape[1]))])
    k, e, f = p["K"].shape
    w = p["K"].reshape(k * e, f)
    zs = np.array([xp[idx].reshape(-1) @ w + p["b"] for idx in windows]).reshape(-1, f)
    return _ACTS[p["activation"]](zs), dict(xp=xp, zs=zs, windows=windows, before=before)


def _conv_backward(p, cache, r_out, eps, bias_factor):
    xp, zs, windows = cache["xp"], cache["zs"], cache["windows"]
    k, e, f = p["K"].shape
    w = p["K"].reshape(k * e, f)
    r_xp = np.zeros_like(xp)
    for t, idx in enumerate(windows):
        r_in = _messages(xp[idx].reshape(-1), w, p["b"], zs[t], r_out[t], eps, bias_factor)
        for j, row in enumerate(idx):
            r_xp[row] += r_in[j * e:(j + 1) * e]
    r_x = r_xp[cache["before"]:cache["before"] + cache["T"]]
    left = r_xp.sum() - r_x.sum()
    return r_x, left


# ------------------------------------------------------------------------------ layers
def _layer_forward(p, a):
    kind = p["kind"]
    if kind in ("lstm", "gru"):
        out, steps = _rnn_run(p, a)
        return out, steps
    if kind == "bidirectional":
        fw_out, fw_steps = _rnn_run(p["forward"], a)
        bw_out, bw_steps = _rnn_run(p["backward"], a)
        if p["forward"]["return_sequences"]:
            bw_out = bw_out[::-1]  # back to word order
        out = np.concatenate([fw_out, bw_out], -1) if p["merge"] == "concat" else fw_out + bw_out
        return out, (fw_out, bw_out, fw_steps, bw_steps)
    if kind == "dense":
        z = a @ p["W"] + p["b"]
        return _ACTS[p["activation"]](z), (a, z)
    if kind == "conv1d":
        out, cache = _conv_forward(p, a)
        cache["T"] = a.shape[0]
        return out, cache
    if kind == "maxpool":
        return a.max(axis=0), a
    if kind == "avgpool":
        return a.mean(axis=0), a
    if kind == "flatten":
        return a.reshape(-1), a.shape
    if kind == "activation":
        return _ACTS[p["activation"]](a), None
    if kind == "identity":
        return a, None
    raise ValueError(f"unknown layer kind {kind!r}")


def _layer_backward(p, cache, r, eps, bias_factor):
    """Relevance of the layer's input, and relevance left at initial states / padding."""
    kind = p["kind"]
    if kind in ("lstm", "gru"):
        return _rnn_back(p, cache, r, eps, bias_factor)
    if kind == "bidirectional":
        fw_out, bw_out, fw_steps, bw_steps = cache
        if p["merge"] == "concat":
            units = fw_out.shape[-1]
            r_fw, r_bw = r[..., :units], r[..., units:]
        else:
            r_fw, r_bw = _split_sum([fw_out, bw_out], fw_out + bw_out, r, eps, bias_factor)
        if p["backward"]["return_sequences"]:
            r_bw = r_bw[::-1]  # to the backward layer's processing order
        rx_fw, left_fw = _rnn_back(p["forward"], fw_steps, r_fw, eps, bias_factor)
        rx_bw, left_bw = _rnn_back(p["backward"], bw_steps, r_bw, eps, bias_factor)
        return rx_fw + rx_bw, left_fw + left_bw
    if kind == "dense":
        a, z = cache
        if a.ndim == 1:
            return _messages(a, p["W"], p["b"], z, r, eps, bias_factor), 0.0
        return np.array([_messages(a[t], p["W"], p["b"], z[t], r[t], eps, bias_factor)
                         for t in range(a.shape[0])]).reshape(a.shape), 0.0
    if kind == "conv1d":
        return _conv_backward(p, cache, r, eps, bias_factor)
    if kind == "maxpool":
        a = cache
        r_in = np.zeros_like(a)
        for f in range(a.shape[1]):
            r_in[int(np.argmax(a[:, f])), f] = r[f]
        return r_in, 0.0
    if kind == "avgpool":
        a = cache
        T = a.shape[0]
        r_in = np.zeros_like(a)
        for f in range(a.shape[1]):
            r_in[:, f] = _messages(a[:, f], np.full((T, 1), 1.0 / T), np.zeros(1),
                                   np.array([a[:, f].mean()]), np.array([r[f]]), eps, bias_factor)
        return r_in, 0.0
    if kind == "flatten":
        return r.reshape(cache), 0.0
    if kind in ("identity", "activation"):
        return r, 0.0
    raise ValueError(f"unknown layer kind {kind!r}")


# ------------------------------------------------------------------------------ public
def forward(spec, x):
    """Logits (pre-activation of the dense head) for one sentence x (T, E)."""
    a = np.asarray(x, np.float64)
    for p in spec[:-1]:
        a, _ = _layer_forward(p, a)
    head = spec[-1]
    return a @ head["W"] + head["b"]


def lrp_sentence(spec, x, target, eps=1e-3, bias_factor=0.0):
    """LRP of one unpadded sentence x (T, E) for class `target`.

    Returns a dict: per_dim (T, E), relevance (T,), logits (C,), leftover (relevance at the zero
    initial states and convolution padding) and delta = logit − Σ relevance − leftover.
    """
    a = np.asarray(x, np.float64)
    caches = []
    for p in spec[:-1]:
        a, cache = _layer_forward(p, a)
        caches.append(cache)
    head = spec[-1]
    logits = a @ head["W"] + head["b"]
    r_out = np.zeros_like(logits)
    r_out[target] = logits[target]
    r = _messages(a, head["W"], head["b"], logits, r_out, eps, bias_factor)
    leftover = 0.0
    for p, cache in zip(reversed(spec[:-1]), reversed(caches), strict=True):
        r, left = _layer_backward(p, cache, r, eps, bias_factor)
        leftover += left
    per_dim = np.asarray(r).reshape(np.shape(x))
    return dict(per_dim=per_dim, relevance=per_dim.sum(axis=-1), logits=logits,
                leftover=leftover, delta=logits[target] - per_dim.sum() - leftover)


def lrp_batch(spec, emb, target, lengths=None, eps=1e-3, bias_factor=0.0):
    """`lrp_sentence` over a right-padded batch (B, T, E): each sentence cut to its length.

    Returns a dict of arrays: relevance (B, T), per_dim (B, T, E), delta (B,), logits (B, C);
    padded positions get 0.
    """
    emb = np.asarray(emb, np.float64)
    b, t, e = emb.shape
    lengths = [t] * b if lengths is None else [int(n) for n in lengths]
    target = np.broadcast_to(np.asarray(target), (b,))
    per_dim = np.zeros((b, t, e))
    delta = np.zeros(b)
    logits = []
    for n in range(b):
        res = lrp_sentence(spec, emb[n, :lengths[n]], int(target[n]), eps, bias_factor)
        per_dim[n, :lengths[n]] = res["per_dim"]
        delta[n] = res["delta"]
        logits.append(res["logits"])
    return dict(relevance=per_dim.sum(-1), per_dim=per_dim, delta=delta, logits=np.array(logits))


def spec_from_model(model):
    """Read a spec (NumPy float64 weights) from a Keras model: [Embedding] → body → Dense head.

    The Embedding, InputLayer and a trailing softmax/sigmoid Activation are skipped.
    """
    import keras

    def rnn(layer):
        cell = layer.cell
        W = np.asarray(cell.kernel.numpy(), np.float64)
        U = np.asarray(cell.recurrent_kernel.numpy(), np.float64)
        units = U.shape[0]
        p = dict(kind="lstm" if isinstance(layer, keras.layers.LSTM) else "gru", W=W, U=U,
                 return_sequences=bool(layer.return_sequences),
                 go_backwards=bool(layer.go_backwards),
                 recurrent_activation=cell.recurrent_activation.__name__)
        bias = np.asarray(cell.bias.numpy(), np.float64) if cell.use_bias else None
        if p["kind"] == "lstm":
            p["b"] = bias if bias is not None else np.zeros(4 * units)
        else:
            p["reset_after"] = bool(cell.reset_after)
            if bias is None:
                p["b_in"], p["b_rec"] = np.zeros(3 * units), np.zeros(3 * units)
            elif cell.reset_after:
                p["b_in"], p["b_rec"] = bias[0], bias[1]
            else:
                p["b_in"], p["b_rec"] = bias, np.zeros(3 * units)
        return p

    spec = []
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    if layers and isinstance(layers[0], keras.layers.Embedding):
        layers = layers[1:]
    if isinstance(layers[-1], keras.layers.Activation):
        layers = layers[:-1]
    for la in layers:
        if isinstance(la, keras.layers.Bidirectional):
            spec.append(dict(kind="bidirectional", forward=rnn(la.forward_layer),
                             backward=rnn(la.backward_layer), merge=la.merge_mode))
        elif isinstance(la, keras.layers.LSTM | keras.layers.GRU):
            spec.append(rnn(la))
        elif isinstance(la, keras.layers.Dense):
            W = np.asarray(la.kernel.numpy(), np.float64)
            b = np.asarray(la.bias.numpy(), np.float64) if la.use_bias else np.zeros(W.shape[1])
            spec.append(dict(kind="dense", W=W, b=b, activation=la.activation.__name__))
        elif isinstance(la, keras.layers.Conv1D):
            K = np.asarray(la.kernel.numpy(), np.float64)
            b = np.asarray(la.bias.numpy(), np.float64) if la.use_bias else np.zeros(K.shape[2])
            spec.append(dict(kind="conv1d", K=K, b=b, stride=la.strides[0],
                             dilation=la.dilation_rate[0], padding=la.padding,
                             activation=la.activation.__name__))
        elif isinstance(la, keras.layers.GlobalMaxPooling1D):
            spec.append(dict(kind="maxpool"))
        elif isinstance(la, keras.layers.GlobalAveragePooling1D):
            spec.append(dict(kind="avgpool"))
        elif isinstance(la, keras.layers.Flatten):
            spec.append(dict(kind="flatten"))
        elif isinstance(la, keras.layers.ReLU):
            spec.append(dict(kind="activation", activation="relu"))
        elif isinstance(la, keras.layers.Activation):
            spec.append(dict(kind="activation", activation=la.activation.__name__))
        elif isinstance(la, keras.layers.Dropout | keras.layers.SpatialDropout1D):
            spec.append(dict(kind="identity"))
        else:
            raise ValueError(f"reference_lrp has no rule for {type(la).__name__}")
    return spec
