"""Drop-in explainable LSTM / GRU layers, their gate traces, and a model converter.

`ExplainableLSTM` and `ExplainableGRU` subclass the stock Keras layers: same constructor, same
weights (gate order i, f, c, o and z, r, h), same `call` (so cuDNN stays the training path on GPU).
They add one method, `call_with_gates`, that runs the recurrence a second way (one input matmul
for all steps, then a `tf.while_loop` over time) and returns every gate, state and
pre-activation, aligned to input positions. Explanation methods (LRP, REAT) read these traces.

Keras RNN cells cannot return extra per-step outputs, which is why the gates leave through a
separate loop instead of the layer's own `call`.

>>> layer = ExplainableLSTM(8, return_sequences=True)  # doctest: +SKIP
>>> outputs, (h, c), trace = layer.call_with_gates(x, mask=mask)  # doctest: +SKIP
>>> trace["f"].shape  # (batch, time, 8)  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import keras
import tensorflow as tf

__all__ = [
    "ExplainableGRU",
    "ExplainableLSTM",
    "bidirectional_call_with_gates",
    "check_explainable",
    "explainable_twin",
    "make_explainable",
]

LSTM_TRACE_KEYS = ("i", "f", "g", "o", "c", "h", "h_prev", "c_prev", "zi", "zf", "zg", "zo")
GRU_TRACE_KEYS = ("z", "r", "g", "h", "h_prev", "zz", "zr", "zg", "xg", "hg")

_TANH_LIKE = frozenset({"tanh", "softsign"})
_SIGMOID_LIKE = frozenset({"sigmoid", "hard_sigmoid"})


# ----------------------------------------------------------------------------- helpers
def _describe(layer) -> str:
    return f"{type(layer).__name__} layer {layer.name!r}"


def _activation_name(fn) -> str:
    name = getattr(fn, "__name__", None)
    if name is None:
        name = str(keras.activations.serialize(fn))
    return name


def _is_stock_rnn(layer) -> bool:
    """A plain keras LSTM/GRU (or one of ours), whose recurrence we know."""
    return type(layer) in (keras.layers.LSTM, keras.layers.GRU, ExplainableLSTM, ExplainableGRU)


def _prepare_inputs(layer, inputs, mask, initial_state, training):
    """Validate and convert the arguments of `call_with_gates`; build the layer if needed."""
    where = f"{_describe(layer)}: call_with_gates"
    if isinstance(inputs, (str, bytes)) or inputs is None:
        raise TypeError(
            f"{where} argument `inputs` must be a float tensor of shape (batch, time, features); "
            f"got {type(inputs).__name__}"
        )
    try:
        x = tf.convert_to_tensor(inputs)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{where} argument `inputs` must be a float tensor of shape (batch, time, features); "
            f"got {type(inputs).__name__}"
        ) from err
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(
            f"{where} argument `inputs` must be a float tensor of shape (batch, time, features); "
            f"got dtype {x.dtype.name}"
        )
    if x.shape.rank != 3:
        raise ValueError(
            f"{where} argument `inputs` must have rank 3 (batch, time, features); "
            f"got shape {tuple(x.shape)}"
        )
    if not layer.built:
        layer.build(tuple(x.shape))
    input_dim = layer.cell.kernel.shape[0]
    if x.shape[-1] is not None and x.shape[-1] != input_dim:
        raise ValueError(
            f"{where} argument `inputs` has {x.shape[-1]} features, but the layer was built for "
            f"{input_dim}"
        )
    if training and (layer.cell.dropout > 0 or layer.cell.recurrent_dropout > 0):
        raise NotImplementedError(
            f"{where}(training=True) with dropout={layer.cell.dropout}, "
            f"recurrent_dropout={layer.cell.recurrent_dropout} is not supported: gate traces are "
            "for inference; pass training=False"
        )
    dtype = layer.compute_dtype
    x = tf.cast(x, dtype)

    if mask is not None:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        try:
            mask = tf.convert_to_tensor(mask)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{where} argument `mask` must be a bool tensor (batch, time)") from err
        if mask.shape.rank != 2:
            raise ValueError(
                f"{where} argument `mask` must have shape (batch, time); got {tuple(mask.shape)}"
            )
        if mask.dtype != tf.bool:
            mask = tf.cast(mask, tf.bool)

    n_states = 2 if isinstance(layer, keras.layers.LSTM) else 1
    if initial_state is None:
        if layer.stateful and layer.states is not None:
            initial_state = list(layer.states)
        else:
            zeros = tf.zeros(tf.stack([tf.shape(x)[0], layer.cell.units]), dtype=dtype)
            initial_state = [zeros] * n_states
    else:
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if len(initial_state) != n_states:
            raise ValueError(
                f"{where} argument `initial_state` must hold {n_states} tensor(s); "
                f"got {len(initial_state)}"
            )
    initial_state = [tf.cast(tf.convert_to_tensor(s), dtype) for s in initial_state]
    return x, mask, initial_state


def _loop(step, xz, mask, states, n_records, go_backwards):
    """Run `step` over time; return per-step records (time-major, input order) and final states.

    `xz` (time, batch, k) is time-major, `mask` (batch, time) in input order; with `go_backwards`
    the loop reads and writes position T-1-t at step t, so nothing needs reversing. Reading
    `xz[index]` slices along the leading axis, which needs no copy (an unstack would copy all).
    `step(x_t, m_t, states) -> (new_states, records)` with `n_records` (batch, k) tensors per
    step, each written to its own TensorArray and stacked once afterwards.
    """
    steps = tf.shape(xz)[0]
    ms = None if mask is None else tf.transpose(mask)
    records = tuple(tf.TensorArray(xz.dtype, size=steps) for _ in range(n_records))

    def body(t, records, *states):
        index = steps - 1 - t if go_backwards else t
        new_states, values = step(xz[index], None if ms is None else ms[index], states)
        records = tuple(ta.write(index, v) for ta, v in zip(records, values, strict=True))
        return (t + 1, records, *new_states)

    out = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), records, *states),
        parallel_iterations=32,
        maximum_iterations=steps,
    )
    return [ta.stack() for ta in out[1]], list(out[2:])


def _batch_major(x):
    return tf.transpose(x, [1, 0, 2])


def _select_keys(layer, keys, all_keys):
    """The requested trace keys, validated, in the canonical order of `all_keys`."""
    if keys is None:
        return all_keys
    if isinstance(keys, str):
        keys = (keys,)
    keys = tuple(keys)
    unknown = [k for k in keys if k not in all_keys]
    if unknown:
        raise ValueError(
            f"{_describe(layer)}: call_with_gates argument `keys` has unknown trace key(s) "
            f"{unknown}; choose from {list(all_keys)}"
        )
    return tuple(k for k in all_keys if k in keys)


def _previous(h, h0, go_backwards):
    """The state before each input position was consumed, from the states after it (batch-major)."""
    if go_backwards:
        return tf.concat([h[:, 1:], h0[:, None]], axis=1)
    return tf.concat([h0[:, None], h[:, :-1]], axis=1)


def _outputs(layer, h, mask, final_h):
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
        if zero_output:
            keep = mask
        else:
            keep = tf.cumsum(tf.cast(mask, tf.int32), axis=1, reverse=go_backwards) > 0
        y = tf.where(keep[..., None], h, tf.zeros([], h.dtype))
    return tf.reverse(y, [1]) if go_backwards else y  # processing order, like `call`


def _lstm_call_with_gates(layer, inputs, mask=None, initial_state=None, training=False, keys=None):
    keys = _select_keys(layer, keys, LSTM_TRACE_KEYS)
    x, mask, (h0, c0) = _prepare_inputs(layer, inputs, mask, initial_state, training)
    cell, dtype = layer.cell, layer.compute_dtype
    kernel = tf.cast(tf.convert_to_tensor(cell.kernel), dtype)
    recurrent = tf.cast(tf.convert_to_tensor(cell.recurrent_kernel), dtype)
    act, ract = cell.activation, cell.recurrent_activation
    go_backwards = layer.go_backwards
    # only the records the requested keys need leave the loop
    want_c = bool({"c", "c_prev"}.intersection(keys))
    want_z = bool({"i", "f", "g", "o", "zi", "zf", "zg", "zo"}.intersection(keys))

    xz = tf.einsum("tbd,dk->tbk", _batch_major(x), kernel)  # one input matmul, time-major
    if cell.use_bias:
        xz = xz + tf.cast(tf.convert_to_tensor(cell.bias), dtype)

    def step(x_t, m, states):
        h, c = states
        z = x_t + tf.matmul(h, recurrent)
        zi, zf, zg, zo = tf.split(z, 4, axis=-1)  # keras.layers.LSTM order
        c_new = ract(zf) * c + ract(zi) * act(zg)
        h_new = ract(zo) * act(c_new)
        if m is not None:
            m = m[:, None]
            c_new = tf.where(m, c_new, c)
            h_new = tf.where(m, h_new, h)
        records = (h_new,) + ((c_new,) if want_c else ()) + ((z,) if want_z else ())
        return (h_new, c_new), records

    records, (h_final, c_final) = _loop(
        step, xz, mask, (h0, c0), n_records=1 + want_c + want_z, go_backwards=go_backwards
    )
    h = _batch_major(records[0])
    trace = {"h": h}
    if "h_prev" in keys:
        trace["h_prev"] = _previous(h, h0, go_backwards)
    if want_c:
        trace["c"] = c = _batch_major(records[1])
        if "c_prev" in keys:
            trace["c_prev"] = _previous(c, c0, go_backwards)
    if want_z:
        # the four pre-activations leave the loop as one record: one stack, one transpose
        zi, zf, zg, zo = tf.split(_batch_major(records[-1]), 4, axis=-1)
        trace.update(zi=zi, zf=zf, zg=zg, zo=zo)
        # gates are recomputed from the pre-activations: the same element-wise ops, same values
        for key, fn, pre in (("i", ract, zi), ("f", ract, zf), ("g", act, zg), ("o", ract, zo)):
            if key in keys:
                trace[key] = fn(pre)
    return _outputs(layer, h, mask, h_final), [h_final, c_final], {k: trace[k] for k in keys}


def _gru_call_with_gates(layer, inputs, mask=None, initial_state=None, training=False, keys=None):
    keys = _select_keys(layer, keys, GRU_TRACE_KEYS)
    x, mask, (h0,) = _prepare_inputs(layer, inputs, mask, initial_state, training)
    cell, dtype, units = layer.cell, layer.compute_dtype, layer.cell.units
    kernel = tf.cast(tf.convert_to_tensor(cell.kernel), dtype)
    recurrent = tf.cast(tf.convert_to_tensor(cell.recurrent_kernel), dtype)
    act, ract = cell.activation, cell.recurrent_activation
    reset_after, go_backwards = cell.reset_after, layer.go_backwards
    input_bias = recurrent_bias = None
    if cell.use_bias:
        bias = tf.cast(tf.convert_to_tensor(cell.bias), dtype)
        if reset_after:
            input_bias, recurrent_bias = bias[0], bias[1]
        else:
            input_bias = bias
    # only the records the requested keys need leave the loop
    want_zr = bool({"z", "r", "zz", "zr"}.intersection(keys))
    want_hg = "hg" in keys
    want_zg = bool({"g", "zg"}.intersection(keys))

    xz = tf.einsum("tbd,dk->tbk", _batch_major(x), kernel)  # one input matmul, time-major
    if input_bias is not None:
        xz = xz + input_bias
    rec_zr, rec_h = recurrent[:, : 2 * units], recurrent[:, 2 * units :]

    def step(x_t, m, states):
        (h,) = states
        x_zr, xg = x_t[:, : 2 * units], x_t[:, 2 * units :]
        if reset_after:
            inner = tf.matmul(h, recurrent)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            zzr = x_zr + inner[:, : 2 * units]
            hg = inner[:, 2 * units :]
            z, r = tf.split(ract(zzr), 2, axis=-1)
            zg = xg + r * hg
        else:
            zzr = x_zr + tf.matmul(h, rec_zr)
            z, r = tf.split(ract(zzr), 2, axis=-1)
            hg = tf.matmul(r * h, rec_h)
            zg = xg + hg
        h_new = z * h + (1 - z) * act(zg)
        if m is not None:
            h_new = tf.where(m[:, None], h_new, h)
        records = (
            (h_new,)
            + ((zzr,) if want_zr else ())
            + ((hg,) if want_hg else ())
            + ((zg,) if want_zg else ())
        )
        return (h_new,), records

    records, (h_final,) = _loop(
        step,
        xz,
        mask,
        (h0,),
        n_records=1 + want_zr + want_hg + want_zg,
        go_backwards=go_backwards,
    )
    records = list(records)
    h = _batch_major(records.pop(0))
    trace = {"h": h}
    if "h_prev" in keys:
        trace["h_prev"] = _previous(h, h0, go_backwards)
    if want_zr:
        trace["zz"], trace["zr"] = tf.split(_batch_major(records.pop(0)), 2, axis=-1)
        trace["z"], trace["r"] = ract(trace["zz"]), ract(trace["zr"])
    if want_hg:
        trace["hg"] = _batch_major(records.pop(0))
    if want_zg:
        trace["zg"] = _batch_major(records.pop(0))
        trace["g"] = act(trace["zg"])
    if "xg" in keys:
        trace["xg"] = _batch_major(xz[..., 2 * units :])
    return _outputs(layer, h, mask, h_final), [h_final], {k: trace[k] for k in keys}


def _call_with_gates(layer, inputs, mask=None, initial_state=None, training=False, keys=None):
    if isinstance(layer, keras.layers.LSTM):
        return _lstm_call_with_gates(layer, inputs, mask, initial_state, training, keys)
    if isinstance(layer, keras.layers.GRU):
        return _gru_call_with_gates(layer, inputs, mask, initial_state, training, keys)
    raise TypeError(f"{_describe(layer)}: gate traces exist only for LSTM and GRU layers")


# ----------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="keras_relevance")
class ExplainableLSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` plus `call_with_gates`, which returns the gate trace.

    Same constructor arguments, weights and `call` as the stock layer (cuDNN stays the training
    path). `set_weights` from a stock LSTM is a true drop-in.

    >>> layer = ExplainableLSTM(4, return_sequences=True)
    >>> outputs, (h, c), trace = layer.call_with_gates(tf.zeros((2, 3, 5)))
    >>> tuple(trace["c"].shape)
    (2, 3, 4)
    """

    def call_with_gates(
        self,
        inputs: tf.Tensor,
        mask: tf.Tensor | None = None,
        initial_state: Sequence[tf.Tensor] | None = None,
        training: bool = False,
        keys: Sequence[str] | None = None,
    ) -> tuple[tf.Tensor, list[tf.Tensor], dict[str, tf.Tensor]]:
        """Run the layer and return `(outputs, [h, c], trace)`.

        Args:
            inputs: float tensor (batch, time, features).
            mask: optional bool tensor (batch, time); masked steps hold the state.
            initial_state: optional `[h0, c0]`.
            training: only False is meaningful for layers with dropout.
            keys: optional subset of the trace keys below; only those are computed and
                returned (default: all). Unknown keys raise a ValueError.

        Returns:
            `outputs` as `call` returns them (sequence in processing order, or the last step),
            the final states `[h, c]`, and `trace`: a dict of (batch, time, units) tensors aligned
            to input positions (also with `go_backwards`) with keys
            `i, f, g, o, c, h, h_prev, c_prev, zi, zf, zg, zo` (`z* = x W + h_prev U + b`).
        """
        return _lstm_call_with_gates(self, inputs, mask, initial_state, training, keys)


@keras.saving.register_keras_serializable(package="keras_relevance")
class ExplainableGRU(keras.layers.GRU):
    """`keras.layers.GRU` plus `call_with_gates`, which returns the gate trace.

    Same constructor arguments, weights and `call` as the stock layer, for both `reset_after`
    values.

    >>> layer = ExplainableGRU(4, return_sequences=True)
    >>> outputs, (h,), trace = layer.call_with_gates(tf.zeros((2, 3, 5)))
    >>> tuple(trace["z"].shape)
    (2, 3, 4)
    """

    def call_with_gates(
        self,
        inputs: tf.Tensor,
        mask: tf.Tensor | None = None,
        initial_state: Sequence[tf.Tensor] | None = None,
        training: bool = False,
        keys: Sequence[str] | None = None,
    ) -> tuple[tf.Tensor, list[tf.Tensor], dict[str, tf.Tensor]]:
        """Run the layer and return `(outputs, [h], trace)`.

        Args:
            inputs: float tensor (batch, time, features).
            mask: optional bool tensor (batch, time); masked steps hold the state.
            initial_state: optional `[h0]`.
            training: only False is meaningful for layers with dropout.
            keys: optional subset of the trace keys below; only those are computed and
                returned (default: all). Unknown keys raise a ValueError.

        Returns:
            `outputs` as `call` returns them, the final state `[h]`, and `trace`: a dict of
            (batch, time, units) tensors aligned to input positions with keys
            `z, r, g, h, h_prev, zz, zr, zg, xg, hg`, where `zg = xg + r * hg` (reset_after=True,
            `hg = h_prev U_h + b_rec`) or `zg = xg + hg` (reset_after=False, `hg = (r*h_prev) U_h`).
        """
        return _gru_call_with_gates(self, inputs, mask, initial_state, training, keys)


def bidirectional_call_with_gates(
    bidi_layer: keras.layers.Bidirectional,
    inputs: tf.Tensor,
    mask: tf.Tensor | None = None,
    initial_state: Sequence[tf.Tensor] | None = None,
    training: bool = False,
    keys: Sequence[str] | None = None,
):
    """Run a `Bidirectional` LSTM/GRU and return both directions' gate traces in word order.

    Works for stock and explainable wrapped layers alike.

    Args:
        bidi_layer: a `keras.layers.Bidirectional` wrapping an LSTM or GRU.
        inputs: float tensor (batch, time, features).
        mask: optional bool tensor (batch, time).
        initial_state: optional list, forward states first, then backward states.
        training: as in `call_with_gates`.
        keys: as in `call_with_gates`, for both directions (default: all keys).

    Returns:
        `(outputs, {"forward": trace, "backward": trace})`; `outputs` equals what the layer's own
        call returns (with the final states appended when `return_state=True`).

    >>> bidi = keras.layers.Bidirectional(ExplainableGRU(3, return_sequences=True))
    >>> out, traces = bidirectional_call_with_gates(bidi, tf.zeros((2, 4, 5)))
    >>> tuple(out.shape), sorted(traces)
    ((2, 4, 6), ['backward', 'forward'])
    """
    if not isinstance(bidi_layer, keras.layers.Bidirectional):
        raise TypeError(
            "bidirectional_call_with_gates argument `bidi_layer` must be a "
            f"keras.layers.Bidirectional; got {type(bidi_layer).__name__}"
        )
    forward, backward = bidi_layer.forward_layer, bidi_layer.backward_layer
    for sub in (forward, backward):
        if not isinstance(sub, (keras.layers.LSTM, keras.layers.GRU)):
            raise TypeError(
                f"{_describe(bidi_layer)} wraps {_describe(sub)}: gate traces exist only for "
                "LSTM and GRU layers"
            )
    if not bidi_layer.built:
        # validates `inputs` with a message naming the layer, and builds both directions
        _prepare_inputs(forward, inputs, None, None, False)
        _prepare_inputs(backward, inputs, None, None, False)
        bidi_layer.built = True
    forward_state = backward_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        forward_state, backward_state = list(initial_state[:half]), list(initial_state[half:])
    y, forward_final, forward_trace = _call_with_gates(
        forward, inputs, mask, forward_state, training, keys
    )
    y_rev, backward_final, backward_trace = _call_with_gates(
        backward, inputs, mask, backward_state, training, keys
    )
    dtype = bidi_layer.compute_dtype
    y, y_rev = tf.cast(y, dtype), tf.cast(y_rev, dtype)
    if bidi_layer.return_sequences:
        y_rev = tf.reverse(y_rev, [1])
    merge_mode = bidi_layer.merge_mode
    if merge_mode == "concat":
        output = tf.concat([y, y_rev], axis=-1)
    elif merge_mode == "sum":
        output = y + y_rev
    elif merge_mode == "ave":
        output = (y + y_rev) / 2
    elif merge_mode == "mul":
        output = y * y_rev
    else:
        output = (y, y_rev)
    if bidi_layer.return_state:
        states = tuple(forward_final) + tuple(backward_final)
        output = output + states if merge_mode is None else (output,) + states
    traces = {"forward": forward_trace, "backward": backward_trace}
    return output, traces


# ----------------------------------------------------------------------------- checks
def check_explainable(layer, method: str = "lrp") -> None:
    """Raise a ValueError naming the layer and argument if `method` cannot honour its config.

    LRP and REAT treat the recurrent activation as a gate in [0, 1] (sigmoid-like) and the cell
    activation as a sign-preserving squashing function (tanh-like). Gradient and perturbation
    methods work with any configuration.

    Args:
        layer: an LSTM/GRU (stock or explainable) or a Bidirectional wrapping one.
        method: the explanation method's name ("lrp", "reat", "naive_reat", or any other).

    >>> check_explainable(ExplainableLSTM(4, activation="relu"))
    Traceback (most recent call last):
    ...
    ValueError: ExplainableLSTM layer 'explainable_lstm...' cannot be explained with lrp: \
argument `activation` is 'relu', but lrp needs one of ['softsign', 'tanh']
    """
    if isinstance(layer, keras.layers.Bidirectional):
        check_explainable(layer.forward_layer, method)
        check_explainable(layer.backward_layer, method)
        return
    if not isinstance(layer, (keras.layers.LSTM, keras.layers.GRU)):
        raise ValueError(
            f"{_describe(layer)} cannot be explained with {method}: only LSTM and GRU layers "
            "(optionally inside Bidirectional) have gate traces"
        )
    method = method.lower()
    if method not in ("lrp", "reat", "naive_reat"):
        return
    checks = [("recurrent_activation", layer.recurrent_activation, _SIGMOID_LIKE)]
    if method == "lrp" or isinstance(layer, keras.layers.LSTM):
        checks.append(("activation", layer.activation, _TANH_LIKE))
    for argument, fn, allowed in checks:
        name = _activation_name(fn)
        if name not in allowed:
            raise ValueError(
                f"{_describe(layer)} cannot be explained with {method}: argument `{argument}` "
                f"is {name!r}, but {method} needs one of {sorted(allowed)}"
            )


# ----------------------------------------------------------------------------- conversion
def _unconvertible(layer) -> ValueError:
    return ValueError(
        f"{_describe(layer)} cannot be made explainable: only keras.layers.LSTM and "
        "keras.layers.GRU (also inside Bidirectional) are supported, not custom cells, "
        "SimpleRNN or subclasses"
    )


def _twin_config(layer):
    """The serialized config of the explainable counterpart of an LSTM/GRU (no weights)."""
    cls = ExplainableLSTM if isinstance(layer, keras.layers.LSTM) else ExplainableGRU
    twin = cls.from_config(layer.get_config())
    if hasattr(layer, "use_cudnn"):
        twin.use_cudnn = layer.use_cudnn
    return twin


def _unbuilt_twin(layer):
    if isinstance(layer, keras.layers.Bidirectional):
        for sub in (layer.forward_layer, layer.backward_layer):
            if not _is_stock_rnn(sub):
                raise _unconvertible(sub)
        config = copy.deepcopy(layer.get_config())
        config["layer"] = keras.saving.serialize_keras_object(_twin_config(layer.forward_layer))
        config["backward_layer"] = keras.saving.serialize_keras_object(
            _twin_config(layer.backward_layer)
        )
        twin = keras.layers.Bidirectional.from_config(config)
        if hasattr(layer.forward_layer, "use_cudnn"):
            twin.forward_layer.use_cudnn = layer.forward_layer.use_cudnn
            twin.backward_layer.use_cudnn = layer.backward_layer.use_cudnn
        return twin
    if _is_stock_rnn(layer):
        return _twin_config(layer)
    raise _unconvertible(layer)


def _input_dim(layer) -> int:
    if isinstance(layer, keras.layers.Bidirectional):
        layer = layer.forward_layer
    return layer.cell.kernel.shape[0]


def explainable_twin(layer):
    """Return an explainable layer with the same config and weights as `layer`.

    Args:
        layer: a `keras.layers.LSTM` / `GRU`, or a `Bidirectional` wrapping them. A layer that
            already is explainable is returned as is.

    Returns:
        a new `ExplainableLSTM` / `ExplainableGRU` (or a `Bidirectional` wrapping explainable
        twins), built and holding copies of the weights when `layer` is built.

    >>> twin = explainable_twin(keras.layers.LSTM(3))
    >>> type(twin).__name__
    'ExplainableLSTM'
    """
    if isinstance(layer, (ExplainableLSTM, ExplainableGRU)):
        return layer
    if isinstance(layer, keras.layers.Bidirectional) and all(
        isinstance(sub, (ExplainableLSTM, ExplainableGRU))
        for sub in (layer.forward_layer, layer.backward_layer)
    ):
        return layer
    twin = _unbuilt_twin(layer)
    if layer.built:
        batch = None
        rnn = layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        if rnn.stateful and rnn.states is not None:
            batch = keras.ops.shape(keras.tree.flatten(rnn.states)[0])[0]
        twin.build((batch, None, _input_dim(layer)))
        twin.set_weights(layer.get_weights())
    return twin


def make_explainable(model: keras.Model) -> keras.Model:
    """Return a copy of `model` where every LSTM/GRU is replaced by its explainable twin.

    Works on Sequential and Functional models (also nested), with Bidirectional and stacked
    RNNs. All weights are copied, so predictions are identical.

    Args:
        model: a built Sequential or Functional Keras model.

    Raises:
        ValueError: the model has no LSTM/GRU layer, or holds an RNN layer that cannot be
            converted (custom cell, SimpleRNN, ...); the message names the layer.

    >>> model = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4), keras.layers.Dense(2)])
    >>> type(make_explainable(model).layers[0]).__name__
    'ExplainableGRU'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"make_explainable argument `model` must be a keras.Model; got {type(model).__name__}"
        )
    found = []

    def clone(layer):
        if isinstance(layer, keras.layers.Bidirectional) or isinstance(layer, keras.layers.RNN):
            found.append(layer.name)
            return _unbuilt_twin(layer)  # raises for custom cells, naming the layer
        return layer.__class__.from_config(layer.get_config())

    _check_rnn_layers(model)
    try:
        new_model = keras.models.clone_model(model, clone_function=clone, recursive=True)
    except ValueError as err:
        if "cannot be made explainable" in str(err):
            raise
        raise ValueError(
            f"make_explainable cannot clone model {model.name!r} ({type(model).__name__}): "
            f"only Sequential and Functional models are supported ({err})"
        ) from err
    if not found:
        raise ValueError(f"model {model.name!r} has no LSTM or GRU layer to make explainable")
    weights = model.get_weights()
    new_weights = new_model.get_weights()
    if len(weights) != len(new_weights) or any(
        a.shape != b.shape for a, b in zip(weights, new_weights, strict=True)
    ):
        raise ValueError(
            f"make_explainable: the weights of model {model.name!r} do not line up with its "
            "converted copy (is the model built?)"
        )
    new_model.set_weights(weights)
    return new_model


def _check_rnn_layers(model):
    """Fail early, naming the layer, for RNN layers the converter cannot handle."""
    found = False
    for layer in _walk(model):
        if isinstance(layer, keras.layers.Bidirectional):
            for sub in (layer.forward_layer, layer.backward_layer):
                if not _is_stock_rnn(sub):
                    raise _unconvertible(sub)
            found = True
        elif isinstance(layer, keras.layers.RNN):
            if not _is_stock_rnn(layer):
                raise _unconvertible(layer)
            found = True
    if not found:
        raise ValueError(f"model {model.name!r} has no LSTM or GRU layer to make explainable")


def _walk(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer
