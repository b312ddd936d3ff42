"""An independent NumPy copy of REAT (Du et al. 2019), written from the paper's formulas.

Slow on purpose: one sentence at a time, a Python loop over time, float64, its own GRU/LSTM forward
pass computed from the Keras weights (gate order z, r, h and i, f, c, o). Masked positions are
dropped before the forward pass (Keras holds the state there, which is the same thing) and get
score 0. Nothing here imports keras_relevance.

Formulas (h_t = α_t ⊙ h_{t−1} + h̃_t, logit part W_c h_T):
- word (Eq. 13):   S(x_t) = W_c [ (h_t − α_t ⊙ h_{t−1}) ⊙ Π_{k=t+1..T} α_k ]
- phrase (Eq. 14): S(x_q..x_r) = W_c [ (h_r − Π_{j=q..r} α_j ⊙ h_{q−1}) ⊙ Π_{k=r+1..T} α_k ]
- GRU (Eq. 16):    α_t = u_t (the update gate, Keras's z)
- LSTM (Eq. 20):   α_t = f_t ⊙ o_t / o_{t−1}, with o_0 := 1 (the literal ratio, no stabilizer)
- bidirectional (Eq. 22): the backward RNN reads the sentence right to left, so its phrase term
  uses h_q, h_{r+1} and the products over positions 1..q−1; the two evidences are concatenated and
  multiplied by W_c (= forward part with W_c's first half plus backward part with its second half).
- NaiveREAT: S(x_t) = W_c (h_t − h_{t−1}).
"""

from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def gru_forward(x, kernel, recurrent, bias, reset_after=True, h0=None):
    """Returns h (T+1, units) with h[0] = h0, and the update gates z (T, units)."""
    units = recurrent.shape[0]
    h = np.zeros(units) if h0 is None else np.asarray(h0, float)
    if bias is None:
        b_in = b_rec = np.zeros(3 * units)
    elif reset_after:
        b_in, b_rec = bias[0], bias[1]
    else:
        b_in, b_rec = bias, np.zeros(3 * units)
    hs, zs = [h], []
    for x_t in x:
        zs_, rs_, hs_ = slice(0, units), slice(units, 2 * units), slice(2 * units, 3 * units)
        xw = x_t @ kernel + b_in
        z = _sigmoid(xw[zs_] + h @ recurrent[:, zs_] + b_rec[zs_])
        r = _sigmoid(xw[rs_] + h @ recurrent[:, rs_] + b_rec[rs_])
        if reset_after:
            cand = np.tanh(xw[hs_] + r * (h @ recurrent[:, hs_] + b_rec[hs_]))
        else:
            cand = np.tanh(xw[hs_] + (r * h) @ recurrent[:, hs_])
        h = z * h + (1 - z) * cand
        hs.append(h)
        zs.append(z)
    return {"h": np.array(hs), "alpha": np.array(zs).reshape(len(x), units)}


def lstm_forward(x, kernel, recurrent, bias, h0=None, c0=None):
    """Returns h, c (T+1, units) with the initial states first; f, o (T, units); α per Eq. 20."""
    units = recurrent.shape[0]
    h = np.zeros(units) if h0 is None else np.asarray(h0, float)
    c = np.zeros(units) if c0 is None else np.asarray(c0, float)
    b = np.zeros(4 * units) if bias is None else bias
    hs, cs, fs, os_ = [h], [c], [], []
    for x_t in x:
        z = x_t @ kernel + h @ recurrent + b
        i = _sigmoid(z[:units])
        f = _sigmoid(z[units : 2 * units])
        g = np.tanh(z[2 * units : 3 * units])
        o = _sigmoid(z[3 * units :])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        fs.append(f)
        os_.append(o)
    f = np.array(fs).reshape(len(x), units)
    o = np.array(os_).reshape(len(x), units)
    o_prev = np.vstack([np.ones((1, units)), o[:-1]])  # o_0 := 1
    return {"h": np.array(hs), "c": np.array(cs), "f": f, "o": o, "alpha": f * o / o_prev}


def word_scores(h, alpha, w):
    """Eq. 13 for one direction in processing order: h (T+1, u), alpha (T, u), w (u,)."""
    T = len(alpha)
    out = np.zeros(T)
    for t in range(1, T + 1):
        tail = np.ones_like(w)
        for k in range(t + 1, T + 1):
            tail = tail * alpha[k - 1]
        out[t - 1] = w @ ((h[t] - alpha[t - 1] * h[t - 1]) * tail)
    return out


def phrase_score(h, alpha, w, q, r):
    """Eq. 14 for one direction in processing order, positions q..r (1-based, inclusive)."""
    T = len(alpha)
    if r < q:
        return 0.0
    inside = np.ones_like(w)
    for j in range(q, r + 1):
        inside = inside * alpha[j - 1]
    tail = np.ones_like(w)
    for k in range(r + 1, T + 1):
        tail = tail * alpha[k - 1]
    return float(w @ ((h[r] - inside * h[q - 1]) * tail))


def naive_scores(h, w):
    return np.array([w @ (h[t] - h[t - 1]) for t in range(1, len(h))])


def _forward(kind, weights, x, reset_after):
    if kind == "gru":
        return gru_forward(x, *weights, reset_after=reset_after)
    return lstm_forward(x, *weights)


def _with_bias(weights):
    return list(weights) if len(weights) == 3 else [*weights, None]


def reference(
    kind,
    rnn_weights,
    head_kernel,
    embeddings,
    mask,
    target,
    spans=(),
    bidirectional=False,
    reset_after=True,
    merge_mode="concat",
    naive=False,
):
    """REAT word scores (batch, time) and span scores (batch, n_spans) for a whole batch.

    Args:
        kind: "gru" or "lstm".
        rnn_weights: `layer.get_weights()` (forward weights then backward weights if bidirectional).
        head_kernel: the Dense kernel (hidden, classes).
        embeddings: (batch, time, dim); mask (batch, time) bool; target (batch,) ints.
        spans: shared list of (start, end) token ranges, end exclusive, in padded positions.
    """
    embeddings = np.asarray(embeddings, np.float64)
    batch, time = mask.shape
    n = len(rnn_weights) // 2 if bidirectional else len(rnn_weights)
    fw = _with_bias([np.asarray(a, np.float64) for a in rnn_weights[:n]])
    bw = _with_bias([np.asarray(a, np.float64) for a in rnn_weights[n:]]) if bidirectional else None
    head_kernel = np.asarray(head_kernel, np.float64)
    units = fw[1].shape[0]
    words = np.zeros((batch, time))
    phrases = np.zeros((batch, len(spans)))
    for b in range(batch):
        keep = np.flatnonzero(mask[b])
        x = embeddings[b, keep]
        w = head_kernel[:, target[b]]
        if bidirectional:
            if merge_mode == "concat":
                w_f, w_b = w[:units], w[units:]
            elif merge_mode == "sum":
                w_f = w_b = w
            else:  # ave
                w_f = w_b = w / 2
        else:
            w_f = w
        run = _forward(kind, fw, x, reset_after)
        score = naive_scores(run["h"], w_f) if naive else word_scores(run["h"], run["alpha"], w_f)
        if bidirectional:
            back = _forward(kind, bw, x[::-1], reset_after)
            if naive:
                score_b = naive_scores(back["h"], w_b)
            else:
                score_b = word_scores(back["h"], back["alpha"], w_b)
            score = score + score_b[::-1]
        words[b, keep] = score
        n_real = len(keep)
        for j, (s, e) in enumerate(spans):
            inside = np.flatnonzero((keep >= s) & (keep < e))  # compacted positions, contiguous
            if len(inside) == 0:
                continue
            q, r = inside[0] + 1, inside[-1] + 1  # 1-based word order
            value = phrase_score(run["h"], run["alpha"], w_f, q, r)
            if bidirectional:  # right to left: word p is backward step n_real + 1 − p
                value += phrase_score(back["h"], back["alpha"], w_b, n_real + 1 - r, n_real + 1 - q)
            phrases[b, j] = value
    return words, phrases
