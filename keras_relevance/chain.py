"""A Keras model seen as a chain: Embedding → body layers → Dense head.

Every explanation method works on this view. `ModelChain.from_model` checks the structure once,
`embed` turns token ids into embedding vectors plus a mask, and `logits` runs the rest of the
model from embeddings with the head's activation stripped (explanations start at the logit).

This module also holds the method-function contract shared by all explainers:

    def explain_<name>(chain, embeddings, mask, target, **options) -> MethodResult

`embeddings` is a float tensor (batch, time, dim), `mask` a bool tensor (batch, time),
`target` an int32 tensor (batch,). The result holds NumPy arrays.
"""

from __future__ import annotations

import inspect
import weakref
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

_SKIPPED = (keras.layers.InputLayer,)
_CHAINS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → its ModelChain


class MethodResult(NamedTuple):
    """What one explanation method returns (NumPy arrays)."""

    relevance: np.ndarray  # (batch, time) word-level relevance
    per_dim: np.ndarray | None = None  # (batch, time, dim) where the method has it
    delta: np.ndarray | None = None  # (batch,) conservation error (LRP only)


def _is_softmax_like(activation) -> bool:
    name = getattr(activation, "__name__", str(activation))
    return name in ("softmax", "sigmoid", "log_softmax")


class ModelChain:
    """A model decomposed into `embedding`, `body` and `head`.

    Args:
        model: a built Keras 3 model whose layers form a single chain
            (Sequential, or Functional with one input and one path).

    Attributes:
        model: the original model.
        embedding: the first `keras.layers.Embedding`, or None if the model takes embeddings.
        body: layers between the embedding and the head, in call order.
        head: the last `keras.layers.Dense`; its activation is stripped in `logits`.
        trailing_activation: a final `Activation("softmax")`-like layer that is dropped, or None.

    >>> chain = ModelChain.from_model(model)  # doctest: +SKIP
    >>> emb, mask = chain.embed(ids)          # doctest: +SKIP
    >>> logits = chain.logits(emb, mask)      # doctest: +SKIP
    """

    def __init__(self, model, embedding, body, head, trailing_activation=None):
        self.model = model
        self.embedding = embedding
        self.body = list(body)
        self.head = head
        self.trailing_activation = trailing_activation
        self._cache: dict = {}

    def cached(self, key, build):
        """`build()` once per model and `key`: the traced functions of every method live here.

        `from_model` returns one chain per model, so a new `Explainer` (or evaluation call) on the
        same model reuses what was traced before instead of tracing again.
        """
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: keras.Model) -> ModelChain:
        """The chain of `model` (one per model; checked and built on the first call)."""
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
        chain = _CHAINS.get(model)
        if chain is None:
            chain = _CHAINS[model] = cls._decompose(model)
        return chain

    @classmethod
    def _decompose(cls, model: keras.Model) -> ModelChain:
        if not model.built:
            raise ValueError(
                f"model {model.name!r} is not built: call it on data or build(input_shape) first"
            )
        layers = [layer for layer in model.layers if not isinstance(layer, _SKIPPED)]
        _check_single_chain(model, layers)
        if not layers:
            raise ValueError(f"model {model.name!r} has no layers to explain")
        trailing = None
        if isinstance(layers[-1], keras.layers.Activation) and _is_softmax_like(
            layers[-1].activation
        ):
            trailing = layers.pop()
        if not layers or not isinstance(layers[-1], keras.layers.Dense):
            last = layers[-1].name if layers else "<none>"
            raise ValueError(
                f"model {model.name!r} must end in a Dense layer (the classifier head); "
                f"its last layer is {last!r}"
            )
        head = layers.pop()
        embedding = None
        if layers and isinstance(layers[0], keras.layers.Embedding):
            embedding = layers.pop(0)
        return cls(model, embedding, layers, head, trailing)

    # ------------------------------------------------------------------ properties
    @property
    def compute_dtype(self) -> str:
        """The float dtype explanations are computed in (float32 for mixed-precision models)."""
        dtype = self.head.kernel.dtype
        dtype = getattr(dtype, "name", dtype)
        return "float32" if dtype in ("float16", "bfloat16") else str(dtype)

    @property
    def num_classes(self) -> int:
        return int(self.head.units)

    @property
    def vocab_size(self) -> int | None:
        return None if self.embedding is None else int(self.embedding.input_dim)

    @property
    def mask_zero(self) -> bool:
        return bool(self.embedding is not None and self.embedding.mask_zero)

    # ------------------------------------------------------------------ forward pieces
    def embed(self, ids) -> tuple[tf.Tensor, tf.Tensor]:
        """Token ids (batch, time) → (embeddings (batch, time, dim), mask (batch, time) bool).

        Without an Embedding layer, `ids` must already be embeddings; the mask is all True.
        """
        dtype = self.compute_dtype
        if self.embedding is None:
            emb = tf.cast(ids, dtype)
            return emb, tf.ones(tf.shape(emb)[:2], tf.bool)
        ids = tf.convert_to_tensor(ids)
        emb = tf.cast(tf.gather(self.embedding.embeddings, ids), dtype)
        if self.embedding.mask_zero:
            mask = tf.not_equal(ids, 0)
        else:
            mask = tf.ones(tf.shape(ids), tf.bool)
        return emb, mask

    def body_outputs(self, emb, mask, training=False) -> tf.Tensor:
        """Run the body layers on embeddings, propagating the mask as Keras does."""
        x = emb
        current_mask = mask
        for layer in self.body:
            if current_mask is not None and _accepts_mask(layer):
                # Dropout & co. support masking (pass it on) but their call() takes no mask
                kwargs = {"mask": current_mask} if _call_takes_mask(layer) else {}
                y = layer(x, training=training, **kwargs)
                current_mask = layer.compute_mask(x, current_mask)
            else:
                y = layer(x, training=training)
                current_mask = None
            x = y
        return x

    def logits(self, emb, mask=None, training=False) -> tf.Tensor:
        """Pre-activation scores of the head, (batch, classes)."""
        x = self.body_outputs(emb, mask, training=training)
        return head_logits(self.head, x)


def head_logits(head: keras.layers.Dense, x) -> tf.Tensor:
    """The Dense head's pre-activation output x @ kernel + bias."""
    kernel = tf.cast(head.kernel, x.dtype)
    z = tf.matmul(x, kernel)
    if head.use_bias:
        z = z + tf.cast(head.bias, x.dtype)
    return z


_SEQUENCE_SAFE = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.GaussianNoise)


def time_trim_safe(chain: ModelChain) -> bool:
    """True when trailing padding cannot change the logits, so it may be cut off.

    That holds when the Embedding masks padding and every layer that still sees the time axis
    honours the mask (RNNs, Bidirectional, masked GlobalAveragePooling1D, dropout), up to the
    layer that removes the time axis. CNNs see padding (Conv1D drops the mask): not safe.
    """
    if not chain.mask_zero:
        return False
    for layer in chain.body:
        if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            if not getattr(layer, "return_sequences", False):
                return True
        elif isinstance(layer, keras.layers.GlobalAveragePooling1D):
            return True
        elif not isinstance(layer, _SEQUENCE_SAFE):
            return False
    return False


def row_ends(mask: np.ndarray) -> np.ndarray:
    """One past the last real token of each row (0 for rows without tokens)."""
    mask = np.asarray(mask, bool)
    if mask.shape[1] == 0:
        return np.zeros((mask.shape[0],), np.int64)
    last = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)
    return np.where(mask.any(axis=1), last, 0).astype(np.int64)


def length_chunks(ends, rows, batch_size: int, time: int, trim: bool):
    """Yield (row indices, width) chunks of `rows`: by length and cut after the last real
    token when `trim` (see `time_trim_safe`), else in order at full width."""
    rows = np.asarray(rows)
    if trim:
        rows = rows[np.argsort(ends[rows], kind="stable")]
    for start in range(0, len(rows), batch_size):
        idx = rows[start : start + batch_size]
        yield idx, (int(ends[idx].max()) if trim else time)


def _accepts_mask(layer) -> bool:
    if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
        return True
    return bool(getattr(layer, "supports_masking", False))


def _call_takes_mask(layer) -> bool:
    if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
        return True
    try:
        return "mask" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


def _check_single_chain(model, layers) -> None:
    """Refuse graphs with branches or several inputs: explanations follow one path."""
    if isinstance(model, keras.Sequential):
        return
    inputs = model.inputs if hasattr(model, "inputs") else None
    if inputs is not None and len(inputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs; keras_relevance explains "
            "single-input chains (Embedding → RNN/CNN → Dense)"
        )
    for layer in layers:
        nodes = getattr(layer, "_inbound_nodes", [])
        for node in nodes:
            parents = getattr(node, "parent_nodes", None)
            if parents is not None and len(parents) > 1:
                raise ValueError(
                    f"layer {layer.name!r} of model {model.name!r} merges several inputs; "
                    "keras_relevance explains single-path chains only"
                )
