"""One capability table: what keras_relevance knows about each layer type.

For every supported layer class: its LRP handler (`keras_relevance.lrp_layers`), whether it is the
identity at inference (`inert`), whether trailing masked padding cannot change what it passes on
(`time_safe`, which lets explainers cut batches after their last real token), its role in REAT
("inert" may sit around the RNN, "rnn" is decomposed), and a check of options it refuses. The
graph view, LRP, REAT and the explainers all read this table; `register_rule` extends it.

>>> import keras_relevance as kr                                          # doctest: +SKIP
>>> kr.register_rule(MyScale, lambda step, args, kwargs, ctx: args[0] * step.layer.factor)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras

from keras_relevance import lrp_layers as h

Handler = Callable  # handler(step, args, kwargs, ctx) -> outputs


@dataclass(frozen=True)
class Capability:
    lrp: Handler | None = None
    inert: bool = False
    time_safe: bool = False
    reat: str | None = None
    check: Callable | None = None  # layer -> reason it is refused, or None


_SIGMOID_LIKE = ("sigmoid", "hard_sigmoid")
_PROBABILITY = ("softmax", "sigmoid", "log_softmax")


def activation_name(fn) -> str:
    return h.activation_name(fn)


def _check_rnn(layer):
    inner = [layer.forward_layer, layer.backward_layer] if isinstance(
        layer, keras.layers.Bidirectional) else [layer]
    if isinstance(layer, keras.layers.Bidirectional) and layer.merge_mode == "mul":
        return "merge_mode='mul' is not linear (use 'concat', 'sum' or 'ave')"
    for rnn in inner:
        if not isinstance(rnn, keras.layers.LSTM | keras.layers.GRU | keras.layers.SimpleRNN):
            return f"it wraps {type(rnn).__name__}, which has no LRP rule"
        if getattr(rnn, "stateful", False):
            return "stateful RNNs are not supported (the initial state must be 0)"
        ract = getattr(rnn.cell, "recurrent_activation", None)
        if ract is not None and activation_name(ract) not in _SIGMOID_LIKE:
            name = activation_name(ract)
            return f"recurrent_activation={name!r} is no gate in [0, 1] (sigmoid needed)"
    return None


def _check_conv(layer):
    if layer.data_format != "channels_last" or layer.groups != 1:
        return "only channels_last, groups=1 convolutions"
    return None


def _check_pool(layer):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return "only channels_last"
    if getattr(layer, "keepdims", False):
        return "keepdims=True is not supported"
    return None


_L = keras.layers
_TABLE: dict[type, Capability] = {
    _L.Dropout: Capability(h.identity, inert=True, time_safe=True, reat="inert"),
    _L.GaussianNoise: Capability(h.identity, inert=True, time_safe=True, reat="inert"),
    _L.GaussianDropout: Capability(h.identity, inert=True, time_safe=True, reat="inert"),
    _L.AlphaDropout: Capability(h.identity, inert=True, time_safe=True, reat="inert"),
    _L.ActivityRegularization: Capability(h.identity, inert=True, time_safe=True, reat="inert"),
    _L.Dense: Capability(h.dense, time_safe=True),
    _L.EinsumDense: Capability(h.einsum_dense_layer),
    _L.Activation: Capability(h.activation, time_safe=True),
    _L.ReLU: Capability(h.activation, time_safe=True),
    _L.LeakyReLU: Capability(h.activation, time_safe=True),
    _L.ELU: Capability(h.activation, time_safe=True),
    _L.PReLU: Capability(h.activation, time_safe=True),
    _L.LSTM: Capability(h.rnn, time_safe=True, reat="rnn", check=_check_rnn),
    _L.GRU: Capability(h.rnn, time_safe=True, reat="rnn", check=_check_rnn),
    _L.SimpleRNN: Capability(h.rnn, time_safe=True, check=_check_rnn),
    _L.Bidirectional: Capability(h.bidirectional, time_safe=True, reat="rnn", check=_check_rnn),
    _L.Conv1D: Capability(h.conv1d, check=_check_conv),
    _L.MaxPooling1D: Capability(h.plain, check=_check_pool),
    _L.AveragePooling1D: Capability(h.average_pool, check=_check_pool),
    _L.GlobalMaxPooling1D: Capability(h.global_max_pool, check=_check_pool),
    _L.GlobalAveragePooling1D: Capability(h.global_average_pool, time_safe=True,
                                          check=_check_pool),
    _L.Flatten: Capability(h.plain),
    _L.Reshape: Capability(h.plain),
    _L.Permute: Capability(h.plain),
    _L.Masking: Capability(h.plain, time_safe=True),
    _L.Concatenate: Capability(h.plain, time_safe=True),
    _L.Maximum: Capability(h.plain, time_safe=True),
    _L.Add: Capability(h.merge_sum(lambda k: [1.0] * k), time_safe=True),
    _L.Subtract: Capability(h.merge_sum(lambda k: [1.0, -1.0]), time_safe=True),
    _L.Average: Capability(h.merge_sum(lambda k: [1.0 / k] * k), time_safe=True),
    _L.BatchNormalization: Capability(h.batch_norm, time_safe=True),
    _L.LayerNormalization: Capability(h.layer_norm, time_safe=True),
    _L.Attention: Capability(h.attention, time_safe=True),
    _L.AdditiveAttention: Capability(h.attention, time_safe=True),
    _L.MultiHeadAttention: Capability(h.multi_head_attention, time_safe=True),
}


def capability(layer) -> Capability | None:
    """The table's entry for `layer` (its class or the nearest registered base class)."""
    for cls in type(layer).__mro__:
        if cls in _TABLE:
            return _TABLE[cls]
    return None


def register_rule(layer_class: type, handler: Handler, *, inert: bool = False,
                  time_safe: bool = False) -> None:
    """Explain layers of `layer_class` (and subclasses) with `handler`.

    Args:
        layer_class: a keras Layer class.
        handler: `handler(step, args, kwargs, ctx) -> outputs`, the layer's forward built from
            `keras_relevance.rules` primitives (whose gradients are LRP messages): `step.layer`
            is the layer, `args` / `kwargs` its call arguments (LRP tensors and masks),
            `ctx.rule(layer)` the composite's rule (e.g. `rules.Epsilon`) for its weights.
        inert: the layer is the identity at inference.
        time_safe: trailing masked padding cannot change what the layer passes on.

    >>> def scale(step, args, kwargs, ctx):                     # doctest: +SKIP
    ...     return rules.lrp_activation(args[0], lambda v: step.layer(v))
    >>> register_rule(MyScale, scale)                           # doctest: +SKIP
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(f"layer_class must be a keras Layer class, got {layer_class!r}")
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    _TABLE[layer_class] = Capability(handler, inert=inert, time_safe=time_safe,
                                     reat="inert" if inert else None)


def supported_names() -> list[str]:
    return sorted(cls.__name__ for cls in _TABLE)


def unsupported(layer, where: str | None = None, why: str | None = None) -> ValueError:
    what = f"layer {where or layer.name!r} ({type(layer).__name__})"
    reason = f": {why}" if why else " has no LRP rule"
    return ValueError(
        f"{what}{reason}. Supported layers: {', '.join(supported_names())}. "
        "A custom layer becomes explainable with kr.register_rule(LayerClass, handler) "
        "(see docs/dev/CONTRACTS.md)"
    )


def check_supported(layer, where: str | None = None) -> None:
    """Raise ValueError naming `layer` if LRP has no rule for it or refuses its options."""
    cap = capability(layer)
    if cap is None or cap.lrp is None:
        raise unsupported(layer, where)
    if cap.check is not None:
        reason = cap.check(layer)
        if reason:
            raise unsupported(layer, where, reason)


def is_inert(layer) -> bool:
    cap = capability(layer)
    return bool(cap and cap.inert)


def time_safe(layer) -> bool:
    cap = capability(layer)
    return bool(cap and cap.time_safe)


def is_probability_activation(layer) -> bool:
    """A trailing softmax / sigmoid layer after the head (dropped: explanations use logits)."""
    if isinstance(layer, keras.layers.Softmax):
        return True
    if isinstance(layer, keras.layers.Activation):
        return activation_name(layer.activation) in _PROBABILITY
    return False


@functools.cache
def _parameters(cls) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(cls.call).parameters)
    except (TypeError, ValueError):
        return ()


def call_parameters(layer) -> tuple[str, ...]:
    """The parameter names of `layer.call` (cached per class)."""
    return _parameters(type(layer))


def output_length(layer, length: int) -> int:
    """The time length a layer outputs for an input of `length` steps (valid convolutions and
    pooling shorten it; everything else keeps it)."""
    if isinstance(layer, keras.layers.Conv1D) and layer.padding == "valid":
        span = (int(layer.kernel_size[0]) - 1) * int(layer.dilation_rate[0]) + 1
        return (length - span) // int(layer.strides[0]) + 1
    if isinstance(layer, keras.layers.MaxPooling1D | keras.layers.AveragePooling1D):
        if layer.padding == "valid":
            return (length - int(layer.pool_size[0])) // int(layer.strides[0]) + 1
    return length
