"""The LSTM / GRU / SimpleRNN recurrence, written once, run with plain ops or LRP ops.

Each cell's step is one function over a small set of operations (`Ops`): the weighted sum that
forms a pre-activation (`linear2`), the gate product (`gate_mul`), the element-wise sum (`add`) and
activations (`act`). `PLAIN` computes the step as Keras does (the gate trace, `call_with_gates`);
`keras_relevance.lrp` passes ops whose gradients are LRP messages (relevance for that same step).
The input projection of all steps is one matmul before the loop; the loop reads a time-major slice.

>>> records, finals = run(layer, x, mask, PLAIN, want=("h", "z"))  # doctest: +SKIP
"""

from __future__ import annotations

import keras
import tensorflow as tf


class Ops:
    """Plain arithmetic: the forward values the recurrence computes (and their gradients)."""

    #: read each step's inputs from TensorArrays: a slice `x[t]` of a tensor that a backward
    #: pass differentiates builds a full-size zero gradient per step (quadratic in time)
    differentiated = False

    def stop(self, h):
        return h

    def linear2(self, x, h, wx, wh, b, *, z, gate=None):  # noqa: ARG002 - same signature as LRP
        """The pre-activation `x @ wx + gate ⊙ (h @ wh) + b`, already computed as `z`."""
        return z

    def gate_mul(self, gate, signal):
        return gate * signal

    def add(self, a, b):
        return a + b

    def act(self, x, fn):
        return fn(x)


PLAIN = Ops()


def kind(layer) -> str:
    """"lstm", "gru" or "simple" for a stock (or explainable) recurrent layer."""
    if isinstance(layer, keras.layers.LSTM):
        return "lstm"
    if isinstance(layer, keras.layers.GRU):
        return "gru"
    if isinstance(layer, keras.layers.SimpleRNN):
        return "simple"
    raise TypeError(f"{type(layer).__name__} layer {layer.name!r} has no known recurrence")


class Weights:
    """The cell's weights in `dtype`, split as the steps read them."""

    def __init__(self, layer, dtype):
        cell = layer.cell
        self.kind = kind(layer)
        self.units = u = int(cell.units)
        self.act, self.ract = cell.activation, getattr(cell, "recurrent_activation", None)
        self.kernel = tf.cast(tf.convert_to_tensor(cell.kernel), dtype)
        self.recurrent = tf.cast(tf.convert_to_tensor(cell.recurrent_kernel), dtype)
        self.reset_after = bool(getattr(cell, "reset_after", False))
        bias = tf.cast(tf.convert_to_tensor(cell.bias), dtype) if cell.use_bias else None
        self.b_in = self.b_rec = None
        if bias is not None:
            if self.kind == "gru" and self.reset_after:
                self.b_in, self.b_rec = bias[0], bias[1]
            else:
                self.b_in = bias
        # the candidate's columns: LSTM g = third quarter, GRU h = last third, SimpleRNN all
        cols = {"lstm": slice(2 * u, 3 * u), "gru": slice(2 * u, 3 * u), "simple": slice(0, u)}
        self.cand = cols[self.kind]
        self.w_g = self.kernel[:, self.cand]
        self.u_g = self.recurrent[:, self.cand]
        self.b_g = None if self.b_in is None else self.b_in[self.cand]
        self.b_rec_g = None if self.b_rec is None else self.b_rec[self.cand]


def _lstm_step(w, ops, x_t, xz_t, states):
    h, c = states
    u = w.units
    z = xz_t + tf.matmul(ops.stop(h), w.recurrent)
    zi, zf, zg, zo = z[:, :u], z[:, u:2 * u], z[:, 2 * u:3 * u], z[:, 3 * u:]
    i, f, o = w.ract(zi), w.ract(zf), w.ract(zo)
    g = ops.act(ops.linear2(x_t, h, w.w_g, w.u_g, w.b_g, z=zg), w.act)
    c_new = ops.add(ops.gate_mul(f, c), ops.gate_mul(i, g))
    h_new = ops.gate_mul(o, ops.act(c_new, w.act))
    return (h_new, c_new), {"h": h_new, "c": c_new, "z": z, "f": f, "o": o}


def _gru_step(w, ops, x_t, xz_t, states):
    (h,) = states
    u = w.units
    hs = ops.stop(h)
    x_zr, xg = xz_t[:, :2 * u], xz_t[:, 2 * u:]
    if w.reset_after:
        inner = tf.matmul(hs, w.recurrent)
        if w.b_rec is not None:
            inner = inner + w.b_rec
        zzr = x_zr + inner[:, :2 * u]
        hg = inner[:, 2 * u:]
        zt, r = w.ract(zzr[:, :u]), w.ract(zzr[:, u:])
        zg = xg + r * hg
        if w.b_g is None and w.b_rec_g is None:
            b_eff = None
        else:
            b_eff = (w.b_g if w.b_g is not None else 0.0) + (
                r * w.b_rec_g if w.b_rec_g is not None else 0.0)
        g_pre = ops.linear2(x_t, h, w.w_g, w.u_g, b_eff, z=zg, gate=r)
    else:
        zzr = x_zr + tf.matmul(hs, w.recurrent[:, :2 * u])
        zt, r = w.ract(zzr[:, :u]), w.ract(zzr[:, u:])
        rh = ops.gate_mul(r, h)
        hg = tf.matmul(r * hs, w.u_g)
        zg = xg + hg
        g_pre = ops.linear2(x_t, rh, w.w_g, w.u_g, w.b_g, z=zg)
    g = ops.act(g_pre, w.act)
    h_new = ops.add(ops.gate_mul(zt, h), ops.gate_mul(1.0 - zt, g))
    return (h_new,), {"h": h_new, "zzr": zzr, "hg": hg, "zg": zg, "z": zt}


def _simple_step(w, ops, x_t, xz_t, states):
    (h,) = states
    z = xz_t + tf.matmul(ops.stop(h), w.recurrent)
    h_new = ops.act(ops.linear2(x_t, h, w.kernel, w.recurrent, w.b_in, z=z), w.act)
    return (h_new,), {"h": h_new, "z": z}


STEPS = {"lstm": _lstm_step, "gru": _gru_step, "simple": _simple_step}


def run(layer, x, mask, ops, want=("h",), initial_state=None, dtype=None):
    """Run `layer`'s recurrence over `x` (batch, time, in) with `ops`.

    Args:
        layer: a keras LSTM, GRU or SimpleRNN (stock or Explainable; weights are read, not copied).
        x: inputs (batch, time, features); mask: (batch, time) bool or None (masked steps hold
            the state); ops: `PLAIN` or LRP ops.
        want: per-step records to return ("h" and the step's own: LSTM "c", "z", "f", "o";
            GRU "zzr", "hg", "zg", "z" (the update gate); SimpleRNN "z"), batch-major, in
            input order.
        initial_state: list of (batch, units) tensors, or None for zeros.
        dtype: computation dtype (default: the layer's compute dtype).

    Returns:
        (records dict, final states list, initial states list).
    """
    dtype = dtype or layer.compute_dtype
    w = Weights(layer, dtype)
    x = tf.cast(x, dtype)
    n_states = 2 if w.kind == "lstm" else 1
    if initial_state is None:
        zeros = tf.zeros(tf.stack([tf.shape(x)[0], w.units]), dtype)
        initial_state = [zeros] * n_states
    xt = tf.transpose(x, [1, 0, 2])  # time-major
    xz = tf.einsum("tbd,dk->tbk", xt, w.kernel)  # one input matmul for all steps
    if w.b_in is not None:
        xz = xz + w.b_in
    step = STEPS[w.kind]
    steps = tf.shape(xt)[0]
    go_backwards = bool(layer.go_backwards)
    ms = None if mask is None else tf.transpose(tf.cast(mask, tf.bool))
    want = tuple(want)
    tas = tuple(tf.TensorArray(dtype, size=steps) for _ in want)
    if ops.differentiated:
        x_ta = tf.TensorArray(dtype, size=steps).unstack(xt)
        xz_ta = tf.TensorArray(dtype, size=steps).unstack(xz)

        def inputs_at(index):
            return x_ta.read(index), xz_ta.read(index)
    else:

        def inputs_at(index):  # a slice along the leading axis: no copy
            return xt[index], xz[index]

    def body(t, records, *states):
        index = steps - 1 - t if go_backwards else t
        new, rec = step(w, ops, *inputs_at(index), states)
        if ms is not None:
            m = ms[index][:, None]
            new = tuple(tf.where(m, n, s) for n, s in zip(new, states, strict=True))
            rec = {**rec, "h": new[0]}
            if "c" in rec:
                rec["c"] = new[1]
        records = tuple(ta.write(index, rec[k]) for ta, k in zip(records, want, strict=True))
        return (t + 1, records, *new)

    out = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), tas, *initial_state),
        parallel_iterations=32,
        maximum_iterations=steps,
    )
    records = {k: tf.transpose(ta.stack(), [1, 0, 2]) for k, ta in zip(want, out[1], strict=True)}
    return records, list(out[2:]), list(initial_state)


def outputs(layer, h, mask, final_h):
    """What the stock `call` returns, from the (held) states `h` (batch, time) in input order.

    At a masked step the stock loop repeats the previous output (zeros before the first valid
    step), or emits zeros with `zero_output_for_mask`. Since the state is held, the previous
    output equals the current (held) state once a valid step has been seen.
    """
    go_backwards = layer.go_backwards
    zero_output = bool(getattr(layer, "zero_output_for_mask", False))
    if not layer.return_sequences:
        if mask is None:
            return final_h
        if zero_output:
            keep = mask[:, 0] if go_backwards else mask[:, -1]
        else:
            keep = tf.reduce_any(mask, axis=1)
        return tf.where(keep[:, None], final_h, tf.zeros([], final_h.dtype))
    y = h
    if mask is not None:
        y = tf.where(kept(layer, mask)[..., None], h, tf.zeros([], h.dtype))
    return tf.reverse(y, [1]) if go_backwards else y  # processing order, like `call`


def kept(layer, mask):
    """(batch, time) in input order: where the stock sequence output is a state (not zeros)."""
    if getattr(layer, "zero_output_for_mask", False):
        return tf.cast(mask, tf.bool)
    return tf.cumsum(tf.cast(mask, tf.int32), axis=1, reverse=layer.go_backwards) > 0


def previous(h, h0, go_backwards):
    """The state before each input position was consumed, from the states after it."""
    if go_backwards:
        return tf.concat([h[:, 1:], h0[:, None]], axis=1)
    return tf.concat([h0[:, None], h[:, :-1]], axis=1)
