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
import tempfile
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

_TANH_LIKE = frozenset({"tanh", "softsign"})
_SIGMOID_LIKE = frozenset({"sigmoid", "hard_sigmoid"})
# stock recurrent layers without an explainable twin: make_explainable copies them unchanged
_KEPT_RNNS = (
    keras.layers.SimpleRNN,
    keras.layers.ConvLSTM1D,
    keras.layers.ConvLSTM2D,
    keras.layers.ConvLSTM3D,
)


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
        "keras.layers.GRU (also inside Bidirectional) have explainable twins; stock SimpleRNN and "
        "ConvLSTM layers are copied unchanged by make_explainable, but keras.layers.RNN over a "
        "custom cell and subclasses of the Keras RNN layers are refused"
    )


def _rnn_kind(layer) -> str | None:
    """'twin' (LSTM/GRU), 'keep' (stock RNN without a twin), None (not an RNN); raises if custom."""
    if isinstance(layer, keras.layers.Bidirectional):
        kinds = {_rnn_kind(sub) for sub in (layer.forward_layer, layer.backward_layer)}
        return "twin" if "twin" in kinds else "keep"
    if not isinstance(layer, keras.layers.RNN):
        return None
    if _is_stock_rnn(layer):
        return "twin"
    if type(layer) in _KEPT_RNNS:
        return "keep"
    raise _unconvertible(layer)


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

    Works on Sequential and Functional models of any shape (branches, merges, attention, nested
    sub-models, string inputs through an adapted `TextVectorization`), with Bidirectional and
    stacked RNNs. Every layer gets a copy of the original's state: all weights (trainable and
    not, e.g. BatchNormalization moving statistics) and the vocabulary and IDF weights of
    lookup layers (`TextVectorization`, `StringLookup`, `IntegerLookup`), so predictions are
    identical and the copy shares no variable or table with `model`. SimpleRNN and ConvLSTM
    layers have no explainable twin and are copied unchanged.

    Args:
        model: a built Sequential or Functional Keras model.

    Raises:
        ValueError: the model has no LSTM/GRU layer, or holds an RNN layer that cannot be
            converted (a custom cell or a subclass of a Keras RNN layer); the message names it.

    >>> model = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4), keras.layers.Dense(2)])
    >>> type(make_explainable(model).layers[0]).__name__
    'ExplainableGRU'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"make_explainable argument `model` must be a keras.Model; got {type(model).__name__}"
        )

    def clone(layer):
        if _rnn_kind(layer) == "twin":
            return _unbuilt_twin(layer)
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
    _copy_state(model, new_model)
    return new_model


def _check_rnn_layers(model):
    """Fail early, naming the layer, for RNN layers the converter cannot handle."""
    kinds = [_rnn_kind(layer) for layer in _walk(model)]
    if "twin" not in kinds:
        raise ValueError(f"model {model.name!r} has no LSTM or GRU layer to make explainable")


def _walk(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk(layer)
        else:
            yield layer


def _copy_state(source: keras.Model, target: keras.Model) -> None:
    """Copy every layer's state from `source` into its clone `target`, layer by layer.

    Layer by layer (not `target.set_weights(source.get_weights())`) so that a mismatch names
    the layer, and so that state kept outside Keras variables (lookup tables) comes along.
    """
    pairs = [
        [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        for model in (source, target)
    ]  # cloning renames the inputs
    if [layer.name for layer in pairs[0]] != [layer.name for layer in pairs[1]]:
        raise ValueError(
            f"make_explainable: the layers of model {source.name!r} do not line up with its copy"
        )
    for old, new in zip(*pairs, strict=True):
        if isinstance(old, keras.Model) and isinstance(new, keras.Model):
            _copy_state(old, new)
            continue
        weights = old.get_weights()
        if [w.shape for w in weights] != [tuple(v.shape) for v in new.weights]:
            raise ValueError(
                f"make_explainable: the weights of {_describe(old)} in model {source.name!r} do "
                "not line up with its converted copy (is the model built?)"
            )
        new.set_weights(weights)  # trainable and non-trainable (moving statistics) alike
        if _overrides(old, "save_own_variables") or _overrides(new, "load_own_variables"):
            # the layer's own loading hook, as keras.saving.load_model calls it: Normalization
            # recomputes its mean/variance from the adapted variables, lookups take IDF weights
            store = {}
            old.save_own_variables(store)
            new.load_own_variables(store)
        if hasattr(old, "get_vocabulary") and hasattr(old, "set_vocabulary"):
            _copy_vocabulary(old, new)
        elif hasattr(old, "save_assets") and hasattr(new, "load_assets"):
            with tempfile.TemporaryDirectory() as folder:  # Keras's own path, through a folder
                old.save_assets(folder)
                new.load_assets(folder)


def _overrides(layer, method: str) -> bool:
    return getattr(type(layer), method) is not getattr(keras.layers.Layer, method)


def _copy_vocabulary(old, new) -> None:
    """The vocabulary (and IDF weights) of a TextVectorization / StringLookup / IntegerLookup.

    `from_config` restores only a vocabulary given to the constructor; an adapted one lives in a
    lookup table that `.keras` files carry as an asset. This follows Keras's own loading order
    (`load_own_variables`, then `load_assets` → `set_vocabulary`), in memory instead of through
    a vocabulary.txt file (whose `splitlines` would split tokens holding line separators).
    """
    store = {}
    old.save_own_variables(store)  # the IDF weights in tf_idf mode, nothing otherwise
    vocabulary = old.get_vocabulary(include_special_tokens=True)
    if new.get_vocabulary(include_special_tokens=True) != vocabulary:
        idf = store.get("idf_weights")
        # full vocabulary (special tokens first) with as many IDF weights: no padding added
        new.set_vocabulary(vocabulary, idf_weights=None if idf is None else idf[: len(vocabulary)])
    new.load_own_variables(store)  # exact IDF weights, back padding for pad_to_max_tokens too
    if new.get_vocabulary(include_special_tokens=True) != vocabulary:
        raise ValueError(
            f"make_explainable could not copy the vocabulary of {_describe(old)}: "
            f"{old.vocabulary_size()} entries, the copy has {new.vocabulary_size()}"
        )

