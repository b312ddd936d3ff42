"""`make_explainable(model)`: a copy of any Sequential / Functional model with ExplainableLSTM /
ExplainableGRU layers, every other layer copied with its state (weights, lookup tables,
vocabularies), predictions identical and `.keras` round-trips intact."""

from __future__ import annotations

import copy
import tempfile

import keras

from keras_relevance.layers import (
    ExplainableGRU,
    ExplainableLSTM,
    _describe,
    _is_stock_rnn,
)

# stock recurrent layers without an explainable twin: make_explainable copies them unchanged
_KEPT_RNNS = (
    keras.layers.SimpleRNN,
    keras.layers.ConvLSTM1D,
    keras.layers.ConvLSTM2D,
    keras.layers.ConvLSTM3D,
)

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

