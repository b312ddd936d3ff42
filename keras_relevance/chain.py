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

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

_SKIPPED = (keras.layers.InputLayer,)


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

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: keras.Model) -> ModelChain:
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
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
                y = layer(x, mask=current_mask, training=training)
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


def _accepts_mask(layer) -> bool:
    if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
        return True
    return bool(getattr(layer, "supports_masking", False))


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
