"""Layer-wise relevance propagation (Arras et al. 2017) over a model's graph.

The graph is walked as Keras runs it (`ModelGraph.walk`), each layer replaced by its LRP handler
from the capability table: a forward built from the primitives of `keras_relevance.rules`, whose
gradients are the LRP messages. Rules are objects (`rules.Epsilon`, `Gamma`, `ZPlus`, …) chosen per
layer by a composite (`rules.COMPOSITES`: "epsilon" = Arras'17, "epsilon_cons" = δ=1). One backward
pass seeded at the head's logits delivers the relevance of every embedding dimension. The whole
computation, including the forward pass that gives the class scores and the predicted class, is one
`tf.function` per (model, composite, embedding size) with `None` batch and time dimensions.

>>> graph = ModelGraph.from_model(model)                           # doctest: +SKIP
>>> res = explain_lrp(graph, *graph.embed(ids), target, bias_factor=1.0)  # doctest: +SKIP
>>> abs(res.delta).max() < 1e-4                                      # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import tensorflow as tf

from keras_relevance import capabilities as caps
from keras_relevance import rules
from keras_relevance.graph import MethodResult, ModelGraph

__all__ = ["explain_lrp", "lrp_function", "check_graph"]


class Context:
    """What one traced LRP pass shares: the composite, the dtype and the zero tensors whose
    relevance counts as 'left over' (initial states, convolution padding)."""

    def __init__(self, composite: rules.Composite, dtype, tape):
        self.composite = composite
        self.dtype = dtype
        self.tape = tape
        self.leftover = []
        self.padding = []

    def rule(self, layer) -> rules.Rule:
        return self.composite.rule_for(layer)

    def zeros(self, shape):
        z = tf.zeros(shape, self.dtype)
        self.tape.watch(z)
        self.leftover.append(z)
        return z

    def padding_zeros(self, shape):
        """A zero tensor standing for outputs at padded steps: relevance reaching it is padding's
        (reported in delta, not in any word)."""
        z = tf.zeros(shape, self.dtype)
        self.tape.watch(z)
        self.padding.append(z)
        return z

    def var(self, v):
        return tf.cast(v, self.dtype)


def check_graph(graph: ModelGraph) -> None:
    """Raise ValueError naming the first layer of `graph` that LRP cannot explain."""
    for step in graph.body:
        caps.check_supported(step.layer, where=step.name)


def lrp_op(ctx: Context):
    """The walk's `op`: each layer call replaced by its LRP handler."""

    def op(step, args, kwargs):
        return caps.capability(step.layer).lrp(step, args, kwargs, ctx)

    return op


def forward(graph: ModelGraph, emb, mask, ctx: Context, record: bool = False):
    """The LRP forward: embeddings → head logits (batch, units), and the walk's result."""
    walked = graph.walk(emb, mask, op=lrp_op(ctx), record=record)
    head = graph.head
    bias = ctx.var(head.bias) if head.use_bias else None
    z = ctx.rule(head).linear(walked.features, ctx.var(head.kernel), bias)
    return z, walked


def resolve_target(graph: ModelGraph, scores, target):
    """Inside a traced function: target < 0 means the predicted class (argmax of the scores)."""
    predicted = tf.cast(tf.argmax(scores, axis=-1), tf.int32)
    return tf.where(target < 0, predicted, target)


def lrp_function(graph: ModelGraph, eps: float = 1e-3, bias_factor: float = 0.0,
                 dim: int | None = None, composite=None):
    """The traced LRP pass: `fn(emb, mask, target) -> (per_dim, delta, scores, target, padding)`.

    `target` −1 explains the predicted class. `padding` is the relevance that reached masked
    positions (excluded from the words, counted in delta). Cached on the graph per composite and
    embedding size.
    """
    check_graph(graph)
    composite = rules.composite(composite, eps=eps, bias_factor=bias_factor)
    dim = graph.embedding_dim if dim is None else int(dim)
    key = ("lrp", repr(composite), int(dim))
    return graph.cached(key, lambda: _build(graph, composite, dim))


def _build(graph: ModelGraph, composite: rules.Composite, dim: int):
    dtype = graph.compute_dtype
    score_matrix = tf.constant(graph.score_matrix, dtype)
    length = graph.fixed_length

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, length, dim], dtype),
            tf.TensorSpec([None, length], tf.bool),
            tf.TensorSpec([None], tf.int32),
        ],
        autograph=False,
    )
    def lrp(emb, mask, target):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            ctx = Context(composite, dtype, tape)
            z, _ = forward(graph, emb, mask, ctx)
        scores = graph.scores(z)
        target = resolve_target(graph, scores, target)
        seed = tf.transpose(tf.gather(score_matrix, target, axis=1)) * z  # S[:, c] ⊙ z
        grads = tape.gradient(
            z, [emb, *ctx.padding, *ctx.leftover], output_gradients=seed,
            unconnected_gradients=tf.UnconnectedGradients.ZERO,
        )
        token = tf.cast(mask, dtype)[:, :, None]
        per_dim = grads[0] * token
        padding = tf.reduce_sum(grads[0] * (1.0 - token), axis=[1, 2])
        n_pad = len(ctx.padding)
        for g in grads[1:1 + n_pad]:
            padding += tf.reduce_sum(tf.reshape(g, [tf.shape(g)[0], -1]), axis=1)
        left = tf.zeros_like(padding)
        for g in grads[1 + n_pad:]:
            left += tf.reduce_sum(tf.reshape(g, [tf.shape(g)[0], -1]), axis=1)
        score_t = tf.gather(scores, target, batch_dims=1)
        delta = score_t - tf.reduce_sum(per_dim, axis=[1, 2]) - left
        return per_dim, delta, scores, target, padding

    return lrp


def explain_lrp(graph: ModelGraph, embeddings, mask, target, eps: float = 1e-3,
                bias_factor: float = 0.0, composite=None) -> MethodResult:
    """LRP relevance of each word (and embedding dimension) for the `target` class score.

    Args:
        graph: the model as a `ModelGraph`.
        embeddings: (batch, time, dim) float, in `graph.compute_dtype`.
        mask: (batch, time) bool; masked steps get relevance exactly 0.
        target: (batch,) int class to explain (−1: the predicted class).
        eps: the ε stabilizer (1e-3 in Arras et al. 2017).
        bias_factor: δ; 0 absorbs bias and stabilizer ("LRP"), 1 spreads them over the inputs
            ("LRP-cons", Σ relevance + relevance left at the initial states = score).
        composite: a name in `rules.COMPOSITES`, a `rules.Composite` or a `rules.Rule`
            (default "epsilon" with `eps` and `bias_factor`).

    Returns:
        `MethodResult(relevance (batch, time), per_dim (batch, time, dim), delta (batch,))` with
        delta = score_target − Σ relevance − relevance left at initial states / conv padding
        (relevance that reached padding is part of delta).

    Raises:
        ValueError: a layer has no LRP rule (the message names it and lists supported layers);
            `eps` not a finite number > 0, or `bias_factor` not a number in [0, 1].
    """
    result, scores, target, padding = lrp_run(graph, embeddings, mask, target, eps, bias_factor,
                                              composite)
    score = np.abs(np.take_along_axis(scores, target[:, None], axis=1)[:, 0])
    reached = np.abs(padding) > 1e-6 * np.maximum(1.0, score)
    # a model that masks padding yet depends on it is a surprise worth a warning; one that
    # never masks (TextVectorization padding, no mask_zero) reads its padding by design
    if reached.any() and graph.mask_zero:
        warnings.warn(
            f"relevance reached padding in {int(reached.sum())} of {len(reached)} examples "
            f"(up to {float(np.abs(padding).max()):.3g}): the model's output depends on padded "
            "steps (e.g. a layer that ignores the mask, like GlobalMaxPooling1D after a masked "
            "RNN); that relevance is in delta, not in any word",
            PaddingRelevanceWarning,
            stacklevel=3,
        )
    return result._replace(scores=scores, target=target)


class PaddingRelevanceWarning(UserWarning):
    """Relevance reached padded positions (it is reported in `delta`)."""


explain_lrp.one_pass = True  # computes the scores and the predicted class in its own pass


def lrp_run(graph, embeddings, mask, target, eps=1e-3, bias_factor=0.0, composite=None):
    """`explain_lrp` plus the traced pass's scores, resolved targets and padding relevance."""
    eps = _check_option("eps", eps, low=0.0, low_inclusive=False, high=math.inf)
    bias_factor = _check_option("bias_factor", bias_factor, low=0.0, low_inclusive=True, high=1.0)
    dtype = graph.compute_dtype
    emb = tf.cast(tf.convert_to_tensor(embeddings), dtype)
    if emb.shape.rank != 3:
        raise ValueError(f"embeddings must be (batch, time, dim), got shape {emb.shape}")
    mask = tf.cast(tf.convert_to_tensor(mask), tf.bool)
    target = tf.cast(tf.convert_to_tensor(target), tf.int32)
    fn = lrp_function(graph, eps, bias_factor, int(emb.shape[-1]), composite)
    per_dim, delta, scores, target, padding = fn(emb, mask, target)
    per_dim = per_dim.numpy()
    result = MethodResult(relevance=per_dim.sum(axis=-1), per_dim=per_dim, delta=delta.numpy())
    return result, scores.numpy(), target.numpy(), padding.numpy()


def _check_option(name: str, value, *, low: float, low_inclusive: bool, high: float) -> float:
    """A finite float option within its range, or a ValueError that names it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"LRP option {name}={value!r} must be a number") from None
    above = number >= low if low_inclusive else number > low
    if not (math.isfinite(number) and above and number <= high):
        bound = "[" if low_inclusive else "("
        raise ValueError(
            f"LRP option {name}={value!r} is outside {bound}{low:g}, {high:g}]"
            + (" (eps > 0 keeps the ε-rule's denominators away from 0)" if name == "eps" else "")
        )
    return number
