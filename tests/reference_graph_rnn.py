"""Recurrent and attention layers for `reference_graph_lrp` (float64 NumPy, one sample).

Same conventions as `reference_graph_layers`: `fwd_<kind>(layer, inputs, masks, ctx)` returns
`(out, out_mask, back)`, `back(r_out) -> (r_inputs, leftover)`. Relevance arriving at
outputs Keras zeroes at padded steps is relevance that reached padding: it goes to
`ctx.masked_out` (counted in delta, like relevance at padded embeddings), not to the leftover.
Rules from LRP_SPEC.md: gates get zero, the signal gets all; masked steps hold the state
(relevance passes through to the previous state); attention weights are constant gates and the
values get all relevance.
"""

from __future__ import annotations

import numpy as np
from reference_graph_layers import act, arr, messages, sgn, sum_rule


# ------------------------------------------------------------------------------ cells
def _cell_params(layer):
    cell = layer.cell
    p = dict(W=arr(cell.kernel), U=arr(cell.recurrent_kernel), act=act(cell.activation),
             kind=type(cell).__name__)
    units = p["U"].shape[0]
    n_gates = {"LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}[p["kind"]]
    if p["kind"] != "SimpleRNNCell":
        p["gate"] = act(cell.recurrent_activation)
    bias = arr(cell.bias) if cell.use_bias else None
    if p["kind"] == "GRUCell":
        p["reset_after"] = bool(cell.reset_after)
        if bias is None:
            bias = np.zeros((2, 3 * units)) if cell.reset_after else np.zeros(3 * units)
        p["b_in"], p["b_rec"] = (bias[0], bias[1]) if cell.reset_after else (bias,
                                                                            np.zeros(3 * units))
    else:
        p["b"] = bias if bias is not None else np.zeros(n_gates * units)
    return p


def _sl(p, k):
    u = p["U"].shape[0]
    return slice(k * u, (k + 1) * u)


def _lstm_step(p, x, state):
    h, c = state
    z = x @ p["W"] + h @ p["U"] + p["b"]
    i, f, o = (p["gate"](z[_sl(p, k)]) for k in (0, 1, 3))
    zg = z[_sl(p, 2)]
    g = p["act"](zg)
    c_new = f * c + i * g
    h_new = o * p["act"](c_new)
    return (h_new, c_new), dict(x=x, h=h, c=c, f=f, i=i, g=g, zg=zg)


def _lstm_back(p, s, r_state, ctx):
    r_h, r_c = r_state
    r_c = r_c + r_h  # h = o ⊙ act(c): the gate o gets nothing
    r_cprev, r_g = sum_rule([s["f"] * s["c"], s["i"] * s["g"]], r_c, ctx)
    w = np.vstack([p["W"][:, _sl(p, 2)], p["U"][:, _sl(p, 2)]])
    r_in = messages(np.concatenate([s["x"], s["h"]]), w, p["b"][_sl(p, 2)], s["zg"], r_g, ctx)
    n_x = s["x"].shape[0]
    return r_in[:n_x], (r_in[n_x:], r_cprev)


def _gru_step(p, x, state):
    (h,) = state
    W, U, b_in, b_rec = p["W"], p["U"], p["b_in"], p["b_rec"]
    zs, rs, hs = (_sl(p, k) for k in range(3))
    xw = x @ W + b_in
    if p["reset_after"]:
        inner = h @ U + b_rec
        z = p["gate"](xw[zs] + inner[zs])
        r = p["gate"](xw[rs] + inner[rs])
        zg = xw[hs] + r * inner[hs]
    else:
        z = p["gate"](xw[zs] + h @ U[:, zs])
        r = p["gate"](xw[rs] + h @ U[:, rs])
        zg = xw[hs] + (r * h) @ U[:, hs]
    g = p["act"](zg)
    return (z * h + (1.0 - z) * g,), dict(x=x, h=h, z=z, r=r, g=g, zg=zg)


def _gru_back(p, s, r_state, ctx):
    (r_h,) = r_state
    hs = _sl(p, 2)
    r_keep, r_g = sum_rule([s["z"] * s["h"], (1.0 - s["z"]) * s["g"]], r_h, ctx)
    w_x, u_h = p["W"][:, hs], p["U"][:, hs]
    if p["reset_after"]:  # weights W_h and r ⊙ U_h over [x, h]; bias b_in + r ⊙ b_rec
        inputs = np.concatenate([s["x"], s["h"]])
        w = np.vstack([w_x, u_h * s["r"][None, :]])
        b = p["b_in"][hs] + s["r"] * p["b_rec"][hs]
    else:  # inputs [x, r ⊙ h]; r ⊙ h passes all of its relevance on to h
        inputs = np.concatenate([s["x"], s["r"] * s["h"]])
        w = np.vstack([w_x, u_h])
        b = p["b_in"][hs]
    r_in = messages(inputs, w, b, s["zg"], r_g, ctx)
    n_x = s["x"].shape[0]
    return r_in[:n_x], (r_keep + r_in[n_x:],)


def _simple_step(p, x, state):
    (h,) = state
    z = x @ p["W"] + h @ p["U"] + p["b"]
    return (p["act"](z),), dict(x=x, h=h, z=z)


def _simple_back(p, s, r_state, ctx):
    r_in = messages(np.concatenate([s["x"], s["h"]]), np.vstack([p["W"], p["U"]]), p["b"],
                    s["z"], r_state[0], ctx)
    n_x = s["x"].shape[0]
    return r_in[:n_x], (r_in[n_x:],)


_CELLS = {"LSTMCell": (_lstm_step, _lstm_back, 2), "GRUCell": (_gru_step, _gru_back, 1),
          "SimpleRNNCell": (_simple_step, _simple_back, 1)}


# ----------------------------------------------------------------------------- layers
def run_rnn(layer, x, mask, ctx, zero_output=None):
    """One recurrent layer over x (T, E) with mask (T,) or None.

    Outputs in processing order (reversed for go_backwards), as Keras returns them.
    """
    p = _cell_params(layer)
    step, step_back, n_states = _CELLS[p["kind"]]
    units = p["U"].shape[0]
    zero_output = layer.zero_output_for_mask if zero_output is None else zero_output
    seq = np.arange(x.shape[0])[::-1] if layer.go_backwards else np.arange(x.shape[0])
    keep = np.ones(x.shape[0], bool) if mask is None else np.asarray(mask, bool)
    state = tuple(np.zeros(units) for _ in range(n_states))
    caches, outs = [], []
    for t in seq:
        if keep[t]:
            state, cache = step(p, x[t], state)
        else:
            cache = None  # a masked step holds the state
        caches.append(cache)
        outs.append(np.zeros(units) if (cache is None and zero_output) else state[0])
    outs = np.array(outs).reshape(len(seq), units)
    out = outs if layer.return_sequences else state[0]

    def back(r):
        r_x = np.zeros_like(x)
        r_state = tuple(np.zeros(units) for _ in range(n_states))
        leftover = 0.0
        for n in range(len(seq) - 1, -1, -1):
            r_here = r[n] if layer.return_sequences else (r if n == len(seq) - 1 else 0.0)
            if caches[n] is None and zero_output:
                ctx.masked_out += np.sum(r_here)  # Keras outputs 0 at this padded step
                r_here = 0.0
            r_state = (r_state[0] + r_here,) + r_state[1:]
            if caches[n] is None:
                continue  # the state was held: its relevance goes on to the previous one
            r_xt, r_state = step_back(p, caches[n], r_state, ctx)
            r_x[seq[n]] = r_xt
        return [r_x], leftover + sum(np.sum(s) for s in r_state)

    out_mask = keep if (layer.return_sequences and mask is not None) else None
    return out, out_mask, back


def fwd_rnn(layer, inputs, masks, ctx):
    return run_rnn(layer, inputs[0], masks[0], ctx)


def fwd_bidirectional(layer, inputs, masks, ctx):
    x, mask = inputs[0], masks[0]
    if layer.merge_mode not in ("concat", "sum", "ave"):
        raise ValueError(f"reference: Bidirectional merge_mode {layer.merge_mode!r}")
    fw, _, fw_back = run_rnn(layer.forward_layer, x, mask, ctx)
    bw, _, bw_back = run_rnn(layer.backward_layer, x, mask, ctx)
    seqs = layer.return_sequences
    if seqs:
        bw = bw[::-1]  # back to word order
    if layer.merge_mode == "concat":
        out = np.concatenate([fw, bw], axis=-1)
    elif layer.merge_mode == "sum":
        out = fw + bw
    else:
        out = (fw + bw) / 2.0

    def back(r):
        units = fw.shape[-1]
        if layer.merge_mode == "concat":
            r_fw, r_bw = r[..., :units], r[..., units:]
        elif layer.merge_mode == "sum":
            r_fw, r_bw = sum_rule([fw, bw], r, ctx)
        else:
            r_fw, r_bw = sum_rule([fw / 2.0, bw / 2.0], r, ctx)
        if seqs:
            r_bw = r_bw[::-1]
        (rx_f,), left_f = fw_back(r_fw)
        (rx_b,), left_b = bw_back(r_bw)
        return [rx_f + rx_b], left_f + left_b

    out_mask = mask if (seqs and mask is not None) else None
    return out, out_mask, back


# -------------------------------------------------------------------------- attention
def _attend(values, weights, keep_q, keep_k, ctx):
    """out_q = Σ_k A_qk v_k and its backward: A a constant gate, the δ-share only to unmasked
    keys (N = their number); relevance at masked queries (zero outputs) reached padding."""
    out = weights @ values
    out[~keep_q] = 0.0
    n = max(int(keep_k.sum()), 1)

    def back(r):
        stab = ctx.eps * sgn(out)
        s = np.where(keep_q[:, None], r / (out + stab), 0.0)  # (Tq, D)
        r_v = values * (weights.T @ s) + ctx.bf * keep_k[:, None] * (stab * s).sum(0)[None] / n
        ctx.masked_out += float(np.sum(r[~keep_q]))  # zero outputs at padded queries
        return r_v, 0.0

    return out, back


def _masked_softmax(scores, allowed):
    s = np.where(allowed, scores, -np.inf)
    s = s - np.where(np.isfinite(s).any(-1, keepdims=True), s.max(-1, keepdims=True), 0.0)
    e = np.where(allowed, np.exp(s), 0.0)
    tot = e.sum(-1, keepdims=True)
    return np.divide(e, tot, out=np.zeros_like(e), where=tot > 0)


def fwd_attention(layer, inputs, masks, ctx):
    """keras.layers.Attention / AdditiveAttention: inputs [query, value(, key)]."""
    q, v = inputs[0], inputs[1]
    k = inputs[2] if len(inputs) > 2 else v
    keep_q = np.ones(len(q), bool) if masks[0] is None else masks[0]
    keep_k = np.ones(len(v), bool) if len(masks) < 2 or masks[1] is None else masks[1]
    if type(layer).__name__ == "AdditiveAttention":
        scale = arr(layer.scale) if layer.use_scale else np.ones(q.shape[-1])
        scores = (scale * np.tanh(q[:, None, :] + k[None, :, :])).sum(-1)
    elif layer.score_mode == "dot":
        scores = q @ k.T
        if layer.use_scale:
            scores = scores * arr(layer.scale)
    else:
        raise ValueError(f"reference: Attention score_mode {layer.score_mode!r}")
    weights = _masked_softmax(scores, np.broadcast_to(keep_k[None, :], scores.shape))
    out, att_back = _attend(v, weights, keep_q, keep_k, ctx)

    def back(r):
        r_v, left = att_back(r)
        r_in = [np.zeros_like(q), r_v] + ([np.zeros_like(k)] if len(inputs) > 2 else [])
        return r_in, left

    return out, masks[0], back


def fwd_mha(layer, inputs, masks, ctx):
    """MultiHeadAttention(query, value(, key)): projections, per-head A·V, output projection."""
    xq, xv = inputs[0], inputs[1]
    xk = inputs[2] if len(inputs) > 2 else xv
    keep_q = np.ones(len(xq), bool) if masks[0] is None else masks[0]
    keep_k = np.ones(len(xv), bool) if len(masks) < 2 or masks[1] is None else masks[1]

    def proj(dense, x):
        kern = arr(dense.kernel)  # (dim, heads, head_dim)
        bias = arr(dense.bias) if dense.bias is not None else np.zeros(kern.shape[1:])
        w = kern.reshape(kern.shape[0], -1)
        b = bias.reshape(-1)
        z = x @ w + b
        return z.reshape(len(x), *kern.shape[1:]), w, b, z

    q, _, _, _ = proj(layer._query_dense, xq)
    k, _, _, _ = proj(layer._key_dense, xk)
    v, wv, bv, zv = proj(layer._value_dense, xv)
    heads, head_dim = v.shape[1], v.shape[2]
    allowed = keep_q[:, None] & keep_k[None, :]
    parts, backs = [], []
    for h in range(heads):
        scores = (q[:, h] * float(np.float32(1.0 / np.sqrt(layer._key_dim)))) @ k[:, h].T
        out_h, back_h = _attend(v[:, h], _masked_softmax(scores, allowed), keep_q, keep_k, ctx)
        parts.append(out_h)
        backs.append(back_h)
    o = np.stack(parts, axis=1).reshape(len(xq), heads * head_dim)
    wo = arr(layer._output_dense.kernel).reshape(heads * head_dim, -1)
    bo = (arr(layer._output_dense.bias) if layer._output_dense.bias is not None
          else np.zeros(wo.shape[1]))
    out = o @ wo + bo

    def back(r):
        r_o = np.stack([messages(o[t], wo, bo, out[t], r[t], ctx) for t in range(len(o))])
        r_o = r_o.reshape(len(xq), heads, head_dim)
        r_v = np.zeros_like(v)
        leftover = 0.0
        for h in range(heads):
            r_v[:, h], left = backs[h](r_o[:, h])
            leftover += left
        r_v = r_v.reshape(len(xv), -1)
        r_xv = np.stack([messages(xv[t], wv, bv, zv[t], r_v[t], ctx) for t in range(len(xv))])
        r_in = [np.zeros_like(xq), r_xv] + ([np.zeros_like(xk)] if len(inputs) > 2 else [])
        return r_in, leftover

    return out, masks[0], back
