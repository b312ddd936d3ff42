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

from collections.abc import Sequence

import keras
import tensorflow as tf

from keras_relevance import recurrence

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

# ----------------------------------------------------------------------------- helpers
def _describe(layer) -> str:
    return f"{type(layer).__name__} layer {layer.name!r}"


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


def _lstm_call_with_gates(layer, inputs, mask=None, initial_state=None, training=False, keys=None):
    keys = _select_keys(layer, keys, LSTM_TRACE_KEYS)
    x, mask, state0 = _prepare_inputs(layer, inputs, mask, initial_state, training)
    act, ract = layer.cell.activation, layer.cell.recurrent_activation
    # only the records the requested keys need leave the loop
    want_c = bool({"c", "c_prev"}.intersection(keys))
    want_z = bool({"i", "f", "g", "o", "zi", "zf", "zg", "zo"}.intersection(keys))
    want = ("h",) + (("c",) if want_c else ()) + (("z",) if want_z else ())
    records, (h_final, c_final), (h0, c0) = recurrence.run(
        layer, x, mask, recurrence.PLAIN, want, state0)
    h = records["h"]
    trace = {"h": h}
    go_backwards = layer.go_backwards
    if "h_prev" in keys:
        trace["h_prev"] = recurrence.previous(h, h0, go_backwards)
    if want_c:
        trace["c"] = c = records["c"]
        if "c_prev" in keys:
            trace["c_prev"] = recurrence.previous(c, c0, go_backwards)
    if want_z:
        # the four pre-activations leave the loop as one record: one stack, one transpose
        zi, zf, zg, zo = tf.split(records["z"], 4, axis=-1)
        trace.update(zi=zi, zf=zf, zg=zg, zo=zo)
        for key, fn, pre in (("i", ract, zi), ("f", ract, zf), ("g", act, zg), ("o", ract, zo)):
            if key in keys:
                trace[key] = fn(pre)
    out = recurrence.outputs(layer, h, mask, h_final)
    return out, [h_final, c_final], {k: trace[k] for k in keys}


def _gru_call_with_gates(layer, inputs, mask=None, initial_state=None, training=False, keys=None):
    keys = _select_keys(layer, keys, GRU_TRACE_KEYS)
    x, mask, state0 = _prepare_inputs(layer, inputs, mask, initial_state, training)
    act, ract = layer.cell.activation, layer.cell.recurrent_activation
    want = ("h",) + (("zzr",) if {"z", "r", "zz", "zr"}.intersection(keys) else ()) + (
        ("hg",) if "hg" in keys else ()) + (("zg",) if {"g", "zg"}.intersection(keys) else ())
    records, (h_final,), (h0,) = recurrence.run(layer, x, mask, recurrence.PLAIN, want, state0)
    h = records["h"]
    trace = {"h": h}
    if "h_prev" in keys:
        trace["h_prev"] = recurrence.previous(h, h0, layer.go_backwards)
    if "zzr" in records:
        trace["zz"], trace["zr"] = tf.split(records["zzr"], 2, axis=-1)
        trace["z"], trace["r"] = ract(trace["zz"]), ract(trace["zr"])
    if "hg" in records:
        trace["hg"] = records["hg"]
    if "zg" in records:
        trace["zg"] = records["zg"]
        trace["g"] = act(trace["zg"])
    if "xg" in keys:
        w = recurrence.Weights(layer, layer.compute_dtype)
        xg = tf.einsum("btd,dk->btk", x, w.w_g)
        trace["xg"] = xg + w.b_g if w.b_g is not None else xg
    out = recurrence.outputs(layer, h, mask, h_final)
    return out, [h_final], {k: trace[k] for k in keys}


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

    LRP and REAT treat the recurrent activation as a gate in [0, 1] (sigmoid-like); the rules
    come from the capability table (`keras_relevance.capabilities`). Gradient and perturbation
    methods work with any configuration.

    Args:
        layer: an LSTM/GRU (stock or explainable) or a Bidirectional wrapping one.
        method: the explanation method's name ("lrp", "reat", "naive_reat", or any other).

    >>> check_explainable(ExplainableLSTM(4, recurrent_activation="tanh"))
    Traceback (most recent call last):
    ...
    ValueError: ExplainableLSTM layer 'explainable_lstm...' cannot be explained with lrp: \
recurrent_activation='tanh' is no gate in [0, 1] (sigmoid needed)
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
    from keras_relevance import capabilities  # the one table of what LRP / REAT accept

    reason = capabilities._check_rnn(layer)
    if reason:
        raise ValueError(f"{_describe(layer)} cannot be explained with {method}: {reason}")


from keras_relevance.convert import explainable_twin, make_explainable  # noqa: E402,F401
