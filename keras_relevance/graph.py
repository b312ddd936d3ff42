"""A Keras model seen as its own graph: text input → Embedding → any graph of layers → Dense head.

Every explanation method works on this view. `ModelGraph.from_model` flattens the model's graph once
(nested Sequential / Functional sub-models are inlined), finds the one Embedding, the preprocessing
before it (TextVectorization / StringLookup / IntegerLookup) and the Dense head, and checks every
layer in between against the capability table (`keras_relevance.capabilities`). `walk` then runs the
graph from embeddings in topological order, passing masks as Keras does (`compute_mask`, `mask=`
arguments), with each layer either called as it is (gradients, perturbations) or replaced by its LRP
handler (`keras_relevance.lrp`). Explanations start at the head's logits.

**Targets, once.** A k-unit head has k classes, class scores = the logits. A one-unit head is a
binary classifier: classes 0 and 1, the score of class 1 is the logit z and of class 0 is −z, the
predicted class is z > 0. `scores` applies this rule; everything else reads class scores.

The method-function contract shared by all explainers:

    def explain_<name>(graph, embeddings, mask, target, **options) -> MethodResult

`embeddings` is a float tensor (batch, time, dim), `mask` a bool tensor (batch, time) (True at real
tokens), `target` an int32 tensor (batch,). The result holds NumPy arrays.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf
from keras.src import tree
from keras.src.backend.common.keras_tensor import KerasTensor

from keras_relevance import capabilities as caps
from keras_relevance.graph_steps import (
    Step,
    fill,
    flatten,
    functional_of,
    output_masks,
    plain_call,
    prune_mask_ops,
    rank,
)

_GRAPHS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → its ModelGraph
_PREPROCESSING = ("TextVectorization", "StringLookup", "IntegerLookup", "InputLayer")
_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid", "log_softmax", "linear")


class MethodResult(NamedTuple):
    """What one explanation method returns (NumPy arrays)."""

    relevance: np.ndarray  # (batch, time) word-level relevance
    per_dim: np.ndarray | None = None  # (batch, time, dim) where the method has it
    delta: np.ndarray | None = None  # (batch,) conservation error (LRP only)
    scores: np.ndarray | None = None  # (batch, classes) when the method's pass computed them
    target: np.ndarray | None = None  # (batch,) the explained classes, predicted ones resolved


@dataclass
class WalkResult:
    """What `ModelGraph.walk` returns: the head's input and, when recorded, every step's outputs."""

    features: Any
    mask: Any
    values: dict = field(default_factory=dict)


class ModelGraph:
    """A text classifier's graph, ready to be explained.

    Args:
        model: a built Keras 3 Sequential or Functional model with one text input.

    Attributes:
        model: the original model.
        embedding: the Embedding layer (None when the model takes embeddings).
        head: the Dense layer whose logits are explained.
        steps: every layer call in topological order (nested models inlined).
        body: the steps between the embedding and the head.

    >>> graph = ModelGraph.from_model(model)     # doctest: +SKIP
    >>> emb, mask = graph.embed(ids)             # doctest: +SKIP
    >>> scores = graph.logits(emb, mask)         # doctest: +SKIP
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self._cache: dict = {}
        functional = functional_of(model)
        if len(tree.flatten(functional.inputs)) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(tree.flatten(functional.inputs))} inputs; "
                "keras_relevance explains models with one text input"
            )
        outputs = tree.flatten(functional.outputs)
        if len(outputs) != 1:
            raise ValueError(
                f"model {model.name!r} has {len(outputs)} outputs; keras_relevance explains "
                "models with one output (the classifier head)"
            )
        self.input_tensor = tree.flatten(functional.inputs)[0]
        self.alias: dict[int, int] = {}
        self.steps: list[Step] = []
        out_keys = flatten(functional, [id(self.input_tensor)], "", self.steps, self.alias, set())
        self.output_key = out_keys[0]
        self.steps = prune_mask_ops(self.steps, self.output_key, self.alias)
        self._producer = {k: s for s in self.steps for k in s.outputs}
        self._find_embedding()
        self._find_head()
        self._check_body()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_model(cls, model: keras.Model) -> ModelGraph:
        """The graph of `model` (one per model; checked and built on the first call)."""
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
        graph = _GRAPHS.get(model)
        if graph is None:
            if not model.built:
                raise ValueError(
                    f"model {model.name!r} is not built: call it on data or build(input_shape) "
                    "first (a Sequential trained by fit is built by its first batch)"
                )
            graph = _GRAPHS[model] = cls(model)
        return graph

    def cached(self, key, build):
        """`build()` once per model and `key`: the traced functions of every method live here."""
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def _find_embedding(self) -> None:
        embeddings = [s for s in self.steps if isinstance(s.layer, keras.layers.Embedding)]
        if len(embeddings) > 1:
            names = ", ".join(repr(s.name) for s in embeddings)
            raise ValueError(
                f"model {self.model.name!r} has {len(embeddings)} Embedding layers ({names}); "
                "keras_relevance explains models with one word Embedding"
            )
        self.embedding_step = embeddings[0] if embeddings else None
        self.embedding = embeddings[0].layer if embeddings else None
        if self.embedding_step is None:
            self.start_key = id(self.input_tensor)
            self.preprocessing: list[Step] = []
            start = 0
        else:
            index = self.steps.index(self.embedding_step)
            self.preprocessing = self.steps[:index]
            for step in self.preprocessing:
                if type(step.layer).__name__ not in _PREPROCESSING:
                    raise ValueError(
                        f"{step.describe()} of model {self.model.name!r} sits before the "
                        "Embedding; only TextVectorization / StringLookup / IntegerLookup may "
                        "(explanations are of the embedded words)"
                    )
            self.start_key = self.embedding_step.outputs[0]
            start = index + 1
        self.body_and_head = self.steps[start:]

    def _find_head(self) -> None:
        key = self.output_key
        self.trailing: list[Step] = []
        step = self._producer.get(key)
        while step is not None and caps.is_probability_activation(step.layer):
            self.trailing.insert(0, step)
            step = self._producer.get(step.inputs[0])
        if step is None or not isinstance(step.layer, keras.layers.Dense):
            last = "<input>" if step is None else step.describe()
            raise ValueError(
                f"model {self.model.name!r} must end in a Dense layer (the classifier head, "
                f"optionally followed by a softmax/sigmoid activation); its last layer is {last}"
            )
        activation = caps.activation_name(step.layer.activation)
        if activation not in _PROBABILITY_ACTIVATIONS:
            raise ValueError(
                f"the head {step.describe()} has activation {activation!r}; explanations start "
                "at the head's logits, so its activation must map logits to probabilities "
                f"({', '.join(_PROBABILITY_ACTIVATIONS)})"
            )
        self.head_step = step
        self.head = step.layer
        head_index = self.body_and_head.index(step)
        self.body = self.body_and_head[:head_index]
        later = self.body_and_head[head_index + 1 :]
        extra = [s for s in later if s not in self.trailing]
        if extra:
            raise ValueError(
                f"{extra[0].describe()} of model {self.model.name!r} comes after the head "
                f"{step.describe()} without being its softmax/sigmoid"
            )

    def _check_body(self) -> None:
        reachable = {self.start_key}
        for step in self.body:
            if not any(k in reachable for k in step.inputs):
                raise ValueError(
                    f"{step.describe()} of model {self.model.name!r} does not depend on the "
                    "embedded words; explanations need every path to start at the Embedding"
                )
            reachable.update(step.outputs)
        if self.head_step.inputs[0] not in reachable:
            raise ValueError(f"the head of model {self.model.name!r} does not see the words")

    # ------------------------------------------------------------------ properties
    @property
    def compute_dtype(self) -> str:
        """The float dtype explanations are computed in (float32 for mixed-precision models)."""
        dtype = self.head.kernel.dtype
        dtype = getattr(dtype, "name", dtype)
        return "float32" if dtype in ("float16", "bfloat16") else str(dtype)

    @property
    def units(self) -> int:
        """Units of the head (1 for a binary sigmoid head)."""
        return int(self.head.units)

    @property
    def num_classes(self) -> int:
        """Classes a target may name: 2 for a one-unit head, else its units."""
        return 2 if self.units == 1 else self.units

    @property
    def score_matrix(self) -> np.ndarray:
        """S (units, classes): class scores = logits @ S ([[−1, +1]] for a one-unit head)."""
        if self.units == 1:
            return np.array([[-1.0, 1.0]])
        return np.eye(self.units)

    @property
    def vocab_size(self) -> int | None:
        return None if self.embedding is None else int(self.embedding.input_dim)

    @property
    def mask_zero(self) -> bool:
        """True when the model masks padding (Embedding(mask_zero=True) or a Masking layer)."""
        if self.embedding is not None:
            return bool(self.embedding.mask_zero)
        return self.masking_layer is not None

    @property
    def masking_layer(self):
        """A Masking layer applied directly to a float input (the model's own token mask)."""
        if self.embedding is not None:
            return None
        for step in self.body:
            if isinstance(step.layer, keras.layers.Masking) and step.inputs == [self.start_key]:
                return step.layer
        return None

    @property
    def takes_strings(self) -> bool:
        """True when the model's input is raw text (a TextVectorization / StringLookup inside)."""
        return any(type(s.layer).__name__ in ("TextVectorization", "StringLookup")
                   for s in self.preprocessing)

    @property
    def embedding_dim(self) -> int:
        if self.embedding is not None:
            return int(self.embedding.output_dim)
        return int(self.input_tensor.shape[-1])

    @property
    def fixed_length(self) -> int | None:
        """The static sequence length of the model's input, if it has one."""
        shape = self.input_tensor.shape
        if self.takes_strings or len(shape) < 2 or shape[1] is None:
            return None
        return int(shape[1])

    # ------------------------------------------------------------------ forward pieces
    def model_mask(self, emb, token_mask):
        """The mask the model's layers see: the token mask where the model masks padding."""
        if self.embedding is not None:
            return token_mask if self.embedding.mask_zero else None
        layer = self.masking_layer
        # a model that takes embeddings: its Masking layer's mask, else the caller's
        return token_mask if layer is None else layer.compute_mask(emb)

    def embed(self, ids) -> tuple[tf.Tensor, tf.Tensor]:
        """Token ids (batch, time) → (embeddings (batch, time, dim), token mask (batch, time)).

        The token mask is False at padding: id 0 where the Embedding masks it or the ids come from
        the model's TextVectorization (the model may still read that padding: relevance reaching
        it is reported, not given to a word). Without an Embedding, `ids` are already
        embeddings; the mask is the Masking layer's, else all True.
        """
        dtype = self.compute_dtype
        if self.embedding is None:
            emb = tf.cast(ids, dtype)
            layer = self.masking_layer
            if layer is not None:
                return emb, tf.reduce_any(tf.not_equal(emb, layer.mask_value), axis=-1)
            return emb, tf.ones(tf.shape(emb)[:2], tf.bool)
        ids = tf.convert_to_tensor(ids)
        emb = tf.cast(tf.gather(self.embedding.embeddings, ids), dtype)
        return emb, self.token_mask(ids)

    def token_mask(self, ids):
        """(batch, time) bool, False at padding: id 0 where the Embedding masks it or the ids
        come from the model's TextVectorization (id 0 is padding, never a word)."""
        if self.embedding is not None and (self.embedding.mask_zero or self.takes_strings):
            return tf.not_equal(ids, 0)
        return tf.ones(tf.shape(ids)[:2], tf.bool)

    def walk(self, emb, token_mask, op=None, record=False) -> WalkResult:
        """Run the body from embeddings; return the head's input (and every step's outputs).

        Args:
            emb: (batch, time, dim) embeddings.
            token_mask: (batch, time) bool; becomes the model's mask where it masks padding.
            op: `op(step, args, kwargs) -> outputs` replacing each layer call (default: the
                layer itself at inference); `kwargs` already hold the masks Keras would pass.
            record: keep every step's outputs in `WalkResult.values` (by tensor key).
        """
        start_mask = self.model_mask(emb, token_mask)
        if op is None and start_mask is not None:
            # as the Embedding's output carries its mask in Keras (MultiHeadAttention reads it)
            emb = tf.identity(emb)
            try:
                keras.src.backend.set_keras_mask(emb, start_mask)
            except AttributeError:  # an eager tensor that takes no attributes
                pass
        values = {self.start_key: emb}
        masks = {self.start_key: start_mask}
        call = op or plain_call
        for step in self.body:
            args, kwargs, previous = fill(step, values, masks, self.alias)
            outputs = call(step, args, kwargs)
            flat = tree.flatten(outputs)
            out_masks = output_masks(step.layer, args, previous, outputs)
            for key, value, mask in zip(step.outputs, flat, out_masks, strict=False):
                values[key] = value
                masks[key] = mask
        key = self.head_step.inputs[0]
        return WalkResult(values[key], masks[key], values if record else {})

    def head_logits(self, features) -> tf.Tensor:
        """The head's pre-activation output x @ kernel + bias, (batch, units)."""
        kernel = tf.cast(self.head.kernel, features.dtype)
        z = tf.matmul(features, kernel)
        if self.head.use_bias:
            z = z + tf.cast(self.head.bias, features.dtype)
        return z

    def scores(self, logits) -> tf.Tensor:
        """Class scores (batch, classes) from head logits (batch, units): the target rule."""
        if self.units == 1:
            return tf.concat([-logits, logits], axis=-1)
        return logits

    def logits(self, emb, mask=None) -> tf.Tensor:
        """Class scores (batch, classes) of the model on embeddings (see `scores`)."""
        if mask is None:
            mask = tf.ones(tf.shape(emb)[:2], tf.bool)
        features = self.walk(emb, mask).features
        return self.scores(tf.cast(self.head_logits(features), self.compute_dtype))

    def departure(self, ids) -> str:
        """Where our walk departs from the model: the first step whose LRP forward differs from
        the layer's own output, or a note that the model's call() is not its graph."""
        from keras_relevance import lrp, rules

        emb, mask = self.embed(ids)
        plain = self.walk(emb, mask, record=True).values
        try:
            with tf.GradientTape() as tape:
                ctx = lrp.Context(rules.composite(None), self.compute_dtype, tape)
                ours = self.walk(emb, mask, op=lrp.lrp_op(ctx), record=True).values
        except (ValueError, TypeError, AttributeError):
            ours = {}
        for step in self.body:
            for key in step.outputs:
                if key in ours and key in plain:
                    a, b = np.asarray(ours[key]), np.asarray(plain[key])
                    if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-5):
                        return f"the walk departs from the model at {step.describe()}"
        return (
            "every layer of the graph agrees, so the model's call() departs from its own graph "
            "(a subclassed model or a layer that behaves differently inside it); write the "
            "model as a functional keras.Model whose call is its graph"
        )

    # ------------------------------------------------------------------ preprocessing
    def vectorize(self, texts) -> np.ndarray:
        """Raw inputs → token ids through the model's own preprocessing layers (this makes the
        graph a `keras_relevance.batch.TextSource`: `vocabulary`, `standardize`, `split`)."""
        if self.embedding_step is None:
            raise ValueError(f"model {self.model.name!r} has no Embedding: it takes embeddings")
        x = tf.convert_to_tensor(texts)
        if self.takes_strings and x.shape.rank == 1:
            x = x[:, None] if len(self.input_tensor.shape) == 2 else x
        values = {id(self.input_tensor): x}
        for step in self.preprocessing:
            args, kwargs = tree.map_structure(
                lambda t: values.get(self.alias.get(id(t), id(t))) if isinstance(
                    t, KerasTensor) else t, (list(step.args), dict(step.kwargs)))
            for key, value in zip(step.outputs, tree.flatten(step.layer(*args, **kwargs)),
                                  strict=False):
                values[key] = value
        ids = values[self.embedding_step.inputs[0]]
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(0)
        return np.asarray(ids).astype(np.int32)

    @property
    def vocabulary(self) -> list[str] | None:
        """The vocabulary of the model's TextVectorization / StringLookup (index = id)."""
        for step in reversed(self.preprocessing):
            getter = getattr(step.layer, "get_vocabulary", None)
            if getter is not None:
                return [t.decode() if isinstance(t, bytes) else str(t) for t in getter()]
        return None

    @property
    def text_layer(self):
        """The model's TextVectorization layer, if any."""
        for step in self.preprocessing:
            if isinstance(step.layer, keras.layers.TextVectorization):
                return step.layer
        return None

    def _text_setting(self, key: str):
        layer = self.text_layer
        return None if layer is None else layer.get_config().get(key)

    # the TextSource settings of the model's TextVectorization (keras_relevance.batch)
    standardize = property(lambda self: self._text_setting("standardize"))
    split = property(lambda self: self._text_setting("split"))
    output_sequence_length = property(lambda self: self._text_setting("output_sequence_length"))
    ngrams = property(lambda self: self._text_setting("ngrams"))

    # ------------------------------------------------------------------ helpers
    def time_trim_safe(self) -> bool:
        """True when trailing padding cannot change the scores, so it may be cut off.

        That holds when the model masks padding and every layer that sees the time axis is
        mask-safe (`capabilities`), up to the layers that remove the time axis with the mask.
        """
        if not self.mask_zero or self.embedding is None or self.fixed_length is not None:
            return False
        for step in self.body:
            shapes = [rank(t) for t in step.node.input_tensors]
            if all(r is not None and r < 3 for r in shapes):
                continue
            if not caps.time_safe(step.layer):
                return False
        return True

    def min_length(self) -> int:
        """The shortest input the model can run (valid convolutions and pooling shorten time)."""
        for length in range(1, 4097):
            if self._runs_at(length):
                return length
        return 4097

    def _runs_at(self, length: int) -> bool:
        lengths = {self.start_key: length}
        for step in self.body:
            ins = [lengths.get(k) for k in step.inputs]
            known = [n for n in ins if n is not None]
            n = caps.output_length(step.layer, known[0]) if known else None
            if n is not None and n < 1:
                return False
            out_rank = [rank(t) for t in step.node.outputs]
            for key, r in zip(step.outputs, out_rank, strict=False):
                lengths[key] = n if r is not None and r >= 3 else None
        return True


def time_trim_safe(graph: ModelGraph) -> bool:
    """`graph.time_trim_safe()` (trailing padding cannot change the scores)."""
    return graph.time_trim_safe()


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
