"""REAT: additive decomposition of RNN predictions (Du et al. 2019), for words, phrases, clauses.

An RNN's hidden state is written as ``h_t = α_t ⊙ h_{t−1} + h̃_t``: ``h̃_t`` is the evidence that
word ``t`` adds, and ``α_t`` is how much of the older evidence survives step ``t``. The logit
``z_c = W_c h_T + b_c`` then splits over words (Eq. 13) and over any contiguous phrase (Eq. 14):

    S(x_t)     = W_c [ (h_t − α_t ⊙ h_{t−1}) ⊙ Π_{k=t+1..T} α_k ]
    S(x_{q..r}) = W_c [ (h_r − Π_{j=q..r} α_j ⊙ h_{q−1}) ⊙ Π_{k=r+1..T} α_k ]

- GRU: ``α_t = z_t`` (Keras's update gate); the decomposition is exact.
- LSTM: ``α_t = f_t ⊙ o_t / o_{t−1}`` (the paper's approximation ``c_t ≈ h_t / o_t``), ``o_0 := 1``.
- Bidirectional (Eq. 22): the backward RNN is decomposed the same way in its own reading order
  (its products run over positions 1..q−1); both parts are multiplied by their half of ``W_c``
  and added (``merge_mode`` concat, or sum / ave with the whole / half ``W_c``).
- NaiveREAT: ``S(x_t) = W_c (h_t − h_{t−1})``.

**Exactness.** For every architecture the word scores telescope: ``Σ_t S(x_t) = W_c h_T −
W_c (Π_t α_t) h_0``, which with zero initial states is the target logit minus the Dense bias.
Likewise a phrase's score equals the sum of its words' scores, for GRU *and* LSTM: the identity
only needs the same ``α`` on both sides, and ``h̃_t`` is *defined* as ``h_t − α_t ⊙ h_{t−1}``.
The LSTM approximation (``tanh(c) ≈ c``, i.e. ``c_t ≈ h_t / o_t``) concerns how much of ``h̃_t``
really is word ``t``'s evidence, not the arithmetic. A consequence: phrase scores
from Eq. 14 carry no information beyond the word scores, but they are what the paper defines
and what hierarchical explanations show.

**How it is computed.** One pass of the layer's gate path (`call_with_gates`) gives h, the gates
and the cell states. Then, with ``P_t = Π_{k=t..T} α_k`` (a reverse cumulative product) and
``G_t = h_t ⊙ P_{t+1}`` (``G_0 = h_0 ⊙ P_1``), Eq. 14 is ``W_c (G_r − G_{q−1})`` because
``Π_{j=q..r} α_j ⊙ P_{r+1} = P_q``. So every span of any length costs one subtraction of two
entries of ``g = W_c G`` (batch, T+1): phrase scores are a gather on top of the word pass.

**Masks.** At masked steps ``α = 1`` and the update is 0 (Keras holds the state there), so padding,
left or right, changes nothing and scores 0.

**LSTM stabilizer.** ``α_t = f_t o_t / o_{t−1}`` divides by an output gate, which can be ≈ 0
(saturated sigmoid; exactly 0 in float32 below ≈ −104): the literal ratio then overflows and
gives inf/NaN. The ratios telescope inside every product: ``Π_{k=t+1..T} α_k = (o_T / o_t)
Π_{k=t+1..T} f_k``, and ``h_t / o_t = tanh(c_t)``. We therefore evaluate the algebraically
equal form

    S(x_t) = W_c [ o_T ⊙ Π_{k=t+1..T} f_k ⊙ (tanh(c_t) − f_t ⊙ tanh(c_{t−1})) ]

with no division at all (``tanh(c_0)`` read as ``h_0`` since ``o_0 := 1``; ``o_T`` = the output gate
of the last real step). It equals the paper's formula wherever that is finite, stays finite and
exactly additive where it is not.

Models: Embedding → one LSTM/GRU or Bidirectional(LSTM/GRU) with ``return_sequences=False`` →
(Dropout) → Dense head. Stacked RNNs, pooling or hidden Dense layers are outside the paper and are
refused with a ValueError naming the layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from keras_relevance import capabilities as caps
from keras_relevance import chunking, recurrence
from keras_relevance.graph import MethodResult, ModelGraph
from keras_relevance.layers import check_explainable

__all__ = [
    "Hierarchy",
    "Level",
    "explain_naive_reat",
    "explain_reat",
    "build_hierarchy",
    "cumulative_scores",
    "hierarchy",
    "phrase_scores",
    "reat_scores",
]

_RNN = (keras.layers.LSTM, keras.layers.GRU)


# ------------------------------------------------------------------------------- the plan
def _outside_paper(graph: ModelGraph, layer, why: str) -> ValueError:
    return ValueError(
        f"REAT cannot explain model {graph.model.name!r}: layer {layer.name!r} "
        f"({type(layer).__name__}) {why}. REAT (Du et al. 2019) decomposes one LSTM/GRU or "
        "Bidirectional(LSTM/GRU) whose last hidden state feeds the Dense head directly "
        "(Dropout allowed); use method='lrp' or a gradient method for other architectures"
    )


def _is_rnn(layer) -> bool:
    return isinstance(layer, _RNN) or (
        isinstance(layer, keras.layers.Bidirectional) and isinstance(layer.forward_layer, _RNN)
    )


def _find_rnn(graph: ModelGraph):
    """The one recurrent layer between the embedding and the head (only inert layers around)."""
    if not any(_is_rnn(s.layer) for s in graph.body):
        found = ", ".join(f"{s.layer.name!r} ({type(s.layer).__name__})" for s in graph.body)
        raise ValueError(
            f"REAT cannot explain model {graph.model.name!r}: it has no LSTM/GRU layer (body "
            f"layers: {found or 'none'}). REAT (Du et al. 2019) decomposes the hidden state of "
            "one LSTM/GRU or Bidirectional(LSTM/GRU); use method='lrp' or a gradient method"
        )
    def producer(key):
        return None if key == graph.start_key else graph._producer.get(key)

    step = producer(graph.head_step.inputs[0])
    while step is not None and caps.is_inert(step.layer):
        step = producer(step.inputs[0])
    if step is None or not _is_rnn(step.layer):
        layer = graph.head if step is None else step.layer
        raise _outside_paper(graph, layer, "sits between the RNN and the Dense head")
    rnn = step.layer
    before = producer(step.inputs[0])
    while before is not None and caps.is_inert(before.layer):
        before = producer(before.inputs[0])
    if before is not None:
        why = ("is stacked on another RNN (stacked RNNs)" if _is_rnn(before.layer)
               else "comes before the recurrent layer")
        raise _outside_paper(graph, before.layer if not _is_rnn(before.layer) else rnn, why)
    inner = rnn.forward_layer if isinstance(rnn, keras.layers.Bidirectional) else rnn
    if inner.return_sequences:
        raise _outside_paper(
            graph, rnn, "has return_sequences=True; REAT needs the last hidden state only"
        )
    if isinstance(rnn, keras.layers.Bidirectional) and rnn.merge_mode not in (
        "concat",
        "sum",
        "ave",
    ):
        raise _outside_paper(
            graph, rnn, f"has merge_mode={rnn.merge_mode!r}; only concat, sum and ave are additive"
        )
    check_explainable(rnn, "reat")
    return rnn


def _trace(layer, x, mask, naive, dtype):
    """The gate trace REAT reads, in word order, from the shared recurrence (no copies)."""
    lstm = isinstance(layer, keras.layers.LSTM)
    want = ("h",) if naive else (("h", "c", "f", "o") if lstm else ("h", "z"))
    records, _, state0 = recurrence.run(layer, x, mask, recurrence.PLAIN, want, dtype=dtype)
    backwards = layer.go_backwards
    trace = {"h": records["h"], "h0": state0[0]}
    if naive or not lstm:
        trace["h_prev"] = recurrence.previous(records["h"], state0[0], backwards)
    if naive:
        return trace
    if lstm:  # the LSTM's previous states are its own shifted (see _direction)
        trace["c"], trace["f"], trace["o"] = records["c"], records["f"], records["o"]
    else:
        trace["z"] = records["z"]
    return trace


class _Plan:
    """What REAT needs of one graph, and its `tf.function`s (built once per graph)."""

    def __init__(self, graph: ModelGraph):
        self.graph = graph
        self.rnn = _find_rnn(graph)
        self.bidirectional = isinstance(self.rnn, keras.layers.Bidirectional)
        inner = self.rnn.forward_layer if self.bidirectional else self.rnn
        self.units = int(inner.units)
        self.input_dim = int(inner.cell.kernel.shape[0])
        self.dtype = graph.compute_dtype
        self._functions: dict[str, Callable] = {}

    # ----------------------------------------------------------------- tf.function
    def function(self, mode: str) -> Callable:
        """The compiled computation for mode "reat" or "naive"; traced once (None dims)."""
        fn = self._functions.get(mode)
        if fn is None:
            length = self.graph.fixed_length
            signature = [
                tf.TensorSpec([None, length, self.input_dim], self.dtype),
                tf.TensorSpec([None, length], tf.bool),
                tf.TensorSpec([None], tf.int32),
            ]

            def compute(embeddings, mask, target):
                return self._compute(embeddings, mask, target, naive=mode == "naive")

            fn = tf.function(compute, input_signature=signature)
            self._functions[mode] = fn
        return fn

    def _traces(self, embeddings, mask, naive=False):
        """[(trace, backward?, head-kernel columns, scale, layer)], traces in word order."""
        model_mask = self.graph.model_mask(embeddings, mask)
        if self.bidirectional:
            fwd, bwd = self.rnn.forward_layer, self.rnn.backward_layer
            uf, ub = int(fwd.units), int(bwd.units)
            tf_ = _trace(fwd, embeddings, model_mask, naive, self.dtype)
            tb = _trace(bwd, embeddings, model_mask, naive, self.dtype)
            if self.rnn.merge_mode == "concat":
                return [(tf_, False, slice(0, uf), 1.0, fwd),
                        (tb, True, slice(uf, uf + ub), 1.0, bwd)]
            scale = 0.5 if self.rnn.merge_mode == "ave" else 1.0
            return [(tf_, False, slice(0, uf), scale, fwd), (tb, True, slice(0, ub), scale, bwd)]
        trace = _trace(self.rnn, embeddings, model_mask, naive, self.dtype)
        return [(trace, bool(self.rnn.go_backwards), slice(0, self.units), 1.0, self.rnn)]

    def _compute(self, embeddings, mask, target, naive):
        graph = self.graph
        kernel = tf.cast(graph.head.kernel, self.dtype) @ tf.constant(graph.score_matrix,
                                                                     self.dtype)
        traces = self._traces(embeddings, mask, naive)
        # the scores from the same pass: the RNN's last states → (inert layers) → the head
        finals = [tf.cast(t["h"][:, 0] if backward else t["h"][:, -1], self.dtype)
                  for t, backward, _, _, _ in traces]
        if len(finals) == 1 or self.rnn.merge_mode == "concat":
            features = tf.concat(finals, axis=-1)
        else:
            features = (finals[0] + finals[1]) * (0.5 if self.rnn.merge_mode == "ave" else 1.0)
        scores = graph.scores(graph.head_logits(features))
        predicted = tf.cast(tf.argmax(scores, axis=-1), tf.int32)
        target = tf.where(target < 0, predicted, target)
        w_target = tf.transpose(tf.gather(kernel, target, axis=1))  # (batch, hidden)
        shape = tf.shape(mask)
        word = tf.zeros(shape, self.dtype)
        cumulative = tf.zeros([shape[0], shape[1] + 1], self.dtype)
        for trace, backward, columns, scale, layer in traces:
            trace = {k: tf.cast(v, self.dtype) for k, v in trace.items()}
            w = w_target[:, columns] * scale
            if naive:
                vec = tf.where(mask[..., None], trace["h"] - trace["h_prev"], 0.0)
                word += tf.einsum("btu,bu->bt", vec, w)
                continue
            kind = "lstm" if isinstance(layer, keras.layers.LSTM) else "gru"
            vec, gs, factor = _direction(kind, trace, mask, backward, layer.cell.activation)
            if factor is not None:  # the LSTM's o_T, constant over time: folded into W
                w = w * factor
            word += tf.einsum("btu,bu->bt", vec, w)
            g = tf.einsum("btu,bu->bt", gs, w)  # (batch, time + 1), word order
            # a span [s, e) is g[e] − g[s] forward, g[s] − g[e] backward
            cumulative += -g if backward else g
        return tf.where(mask, word, 0.0), cumulative, scores, target

    # ----------------------------------------------------------------- entry
    def run(self, embeddings, mask, target, naive=False):
        """Word scores (batch, time) and the cumulative evidence g (batch, time + 1)."""
        return self.run_all(embeddings, mask, target, naive)[:2]

    def run_all(self, embeddings, mask, target, naive=False):
        """Word scores, cumulative g, class scores and resolved targets (NumPy)."""
        embeddings = tf.cast(tf.convert_to_tensor(embeddings), self.dtype)
        mask = tf.cast(tf.convert_to_tensor(mask), tf.bool)
        target = tf.cast(tf.convert_to_tensor(target), tf.int32)
        if embeddings.shape.rank != 3 or embeddings.shape[-1] != self.input_dim:
            raise ValueError(
                f"embeddings must have shape (batch, time, {self.input_dim}); "
                f"got {tuple(embeddings.shape)}"
            )
        batch, time = int(embeddings.shape[0]), int(embeddings.shape[1])
        if time == 0:
            empty = np.zeros((batch, 0), self.dtype)
            return empty, np.zeros((batch, 1), self.dtype), None, np.asarray(target)
        fn = self.function("naive" if naive else "reat")
        word, cumulative, scores, target = fn(embeddings, mask, target)
        return word.numpy(), cumulative.numpy(), scores.numpy(), target.numpy()


def _direction(kind, trace, mask, backward, activation):
    """Word vectors (batch, time, units), G (batch, time + 1, units) and a factor of W (LSTM:
    o of the last step read; GRU: None) for one direction, all in word order, so that
    S = (W·factor)·vec and a span [s, e) is (W·factor)·(G[e] − G[s]) (forward) or
    (W·factor)·(G[s] − G[e]) (backward, whose G holds the initial term at position T).

    "After t" means later in the direction's own reading order: positions > t forward, < t
    backward; cumulative sums and products run that way, so nothing is reversed.
    """
    m = mask[..., None]
    ahead = not backward  # cumulative ops over the steps read after t run towards the end
    first = -1 if backward else 0  # the direction's first step

    def join(g0, body):
        return tf.concat([body, g0], axis=1) if backward else tf.concat([g0, body], axis=1)

    one = tf.ones_like(trace["h"])
    if kind == "gru":
        alpha = tf.where(m, trace["z"], one)
        update = tf.where(m, trace["h"] - alpha * trace["h_prev"], 0.0)
        tail = tf.math.cumprod(alpha, axis=1, exclusive=True, reverse=ahead)  # Π_{k after t} α_k
        g0 = (trace["h_prev"] * alpha * tail)[:, first:][:, :1]
        return update * tail, join(g0, trace["h"] * tail), None
    # LSTM, stabilized: Π_{k after t} α_k = o_T/o_t Π_{k after t} f_k and h_t/o_t = act(c_t)
    f = tf.where(m, trace["f"], one)
    m_int = tf.cast(m, tf.int32)
    seen = tf.cumsum(m_int, axis=1, reverse=backward) > 0  # a real step read at or before t
    u = tf.where(seen, activation(trace["c"]), trace["h"])  # h_t / o_t  (o := 1 before any step)
    # masked steps hold the state, so u before step t is u after the step read before it
    u_prev = recurrence.previous(u, trace["h0"], backward)
    # o of the last real step read (1 for a row without any), (batch, units): a factor of W
    steps = tf.shape(mask)[1]
    positions = tf.range(steps)[None, :]
    order = (steps - 1 - positions) if backward else positions  # reading order of each position
    last = tf.argmax(tf.where(mask, order, -1), axis=1, output_type=tf.int32)
    o_last = tf.where(tf.reduce_any(mask, axis=1)[:, None],
                      tf.gather(trace["o"], last, batch_dims=1), 1.0)
    tail = tf.math.cumprod(f, axis=1, exclusive=True, reverse=ahead)  # Π_{k after t} f_k
    update = tf.where(m, u - f * u_prev, 0.0)
    g0 = (u_prev * f * tail)[:, first:][:, :1]
    return tail * update, join(g0, u * tail), o_last


def _plan(chain: ModelGraph) -> _Plan:
    return chain.cached("reat_plan", lambda: _Plan(chain))


# ------------------------------------------------------------------------------- public API
def reat_scores(chain: ModelGraph, embeddings, mask, target) -> tuple[np.ndarray, np.ndarray]:
    """Word scores (batch, time) and the cumulative evidence ``g`` (batch, time + 1).

    The score of the span ``[s, e)`` (end exclusive) is ``g[:, e] − g[:, s]`` (Eq. 14 / 22), and
    ``g[:, T] − g[:, 0]`` is the whole sentence's score.
    """
    return _plan(chain).run(embeddings, mask, target)


def explain_reat(chain: ModelGraph, embeddings, mask, target, **options) -> MethodResult:
    """REAT word scores (Eq. 13, 16, 20, 22) with the method-function contract.

    With zero initial states the scores add up to the target logit minus the Dense bias.

    >>> result = explain_reat(chain, *chain.embed(ids), target)  # doctest: +SKIP
    >>> result.relevance.sum(axis=1)  # logit − bias            # doctest: +SKIP
    """
    if options:
        raise TypeError(f"explain_reat takes no options, got {sorted(options)}")
    return _one_pass(chain, embeddings, mask, target, naive=False)


def explain_naive_reat(chain: ModelGraph, embeddings, mask, target, **options) -> MethodResult:
    """NaiveREAT: ``S(x_t) = W_c (h_t − h_{t−1})`` (the paper's baseline; sums like REAT)."""
    if options:
        raise TypeError(f"explain_naive_reat takes no options, got {sorted(options)}")
    return _one_pass(chain, embeddings, mask, target, naive=True)


def _one_pass(graph, embeddings, mask, target, naive):
    word, _, scores, target = _plan(graph).run_all(embeddings, mask, target, naive)
    return MethodResult(relevance=word, scores=scores, target=target)


# both compute the scores and resolve the predicted class in their own traced pass
explain_reat.one_pass = explain_naive_reat.one_pass = True


def _is_pair(item) -> bool:
    return (
        isinstance(item, Sequence | np.ndarray)
        and len(item) in (2, 3)
        and all(isinstance(v, int | np.integer) for v in list(item)[:2])
    )


def normalize_spans(spans, batch: int, time: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Spans → ``(index (batch, n, 2) int64, valid (batch, n) bool or None)``, checked.

    ``spans`` is a shared list of ``(start, end)`` pairs, or one such list per example (they may
    differ in length: the missing entries are marked invalid); a third element (a label) is
    ignored. Checked: ``0 <= start <= end <= time``.
    """
    try:
        arr = np.asarray(spans)
    except ValueError:  # ragged
        arr = None
    valid = None
    if (
        arr is not None
        and np.issubdtype(arr.dtype, np.integer)
        and arr.ndim in (2, 3)
        and arr.shape[-1] in (2, 3)
    ):
        arr = arr[..., :2].astype(np.int64)
        if arr.ndim == 2:  # shared
            index = np.broadcast_to(arr, (batch, *arr.shape))
        elif arr.shape[0] != batch:
            raise ValueError(
                f"spans must be one list of (start, end) pairs for all examples or one list per "
                f"example; got {arr.shape[0]} lists for {batch} examples"
            )
        else:
            index = arr
    elif arr is not None and arr.size == 0 and arr.ndim == 1:  # no spans at all
        index = np.zeros((batch, 0, 2), np.int64)
    else:
        index, valid = _ragged_spans(list(spans), batch)
    starts, ends = index[..., 0], index[..., 1]
    bad = (starts < 0) | (starts > ends) | (ends > time)
    if valid is not None:
        bad &= valid
    if bad.any():
        b, j = np.argwhere(bad)[0]
        raise ValueError(
            f"span ({starts[b, j]}, {ends[b, j]}) of example {b} is outside "
            f"0 <= start <= end <= {time} (end exclusive, in token positions)"
        )
    return index, valid


def _ragged_spans(spans: list, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """The slow path: per-example lists of different lengths, or labels of any type."""
    if spans and all(_is_pair(s) for s in spans):
        per_example = [spans] * batch
    else:
        if len(spans) != batch:
            raise ValueError(
                f"spans must be one list of (start, end) pairs for all examples or one list per "
                f"example; got {len(spans)} lists for {batch} examples"
            )
        per_example = [list(s) for s in spans]
    width = max((len(s) for s in per_example), default=0)
    index = np.zeros((batch, width, 2), np.int64)
    valid = np.zeros((batch, width), bool)
    for b, items in enumerate(per_example):
        for j, item in enumerate(items):
            if not _is_pair(item):
                raise TypeError(f"span {item!r} (example {b}) is not a (start, end) pair of ints")
            index[b, j] = int(item[0]), int(item[1])
            valid[b, j] = True
    return index, valid


def phrase_scores(chain: ModelGraph, embeddings, mask, spans, target) -> np.ndarray:
    """REAT scores of token spans (Eq. 14; Eq. 22 for bidirectional RNNs), (batch, n_spans).

    Args:
        chain: the model's `ModelGraph`.
        embeddings, mask, target: as for `explain_reat`.
        spans: ``(start, end)`` token positions, end exclusive: one list shared by all examples,
            or one list per example (or an int array (n, 2) / (batch, n, 2)). Any length,
            overlapping allowed; an empty span scores 0.

    Returns:
        (batch, n_spans) scores; with per-example lists of different lengths, ``n_spans`` is the
        longest and missing entries are NaN.

    >>> phrase_scores(chain, emb, mask, [(0, 2), (1, 5)], target)  # doctest: +SKIP
    """
    mask = tf.convert_to_tensor(mask)
    batch, time = int(mask.shape[0]), int(mask.shape[1])
    index, valid = normalize_spans(spans, batch, time)
    _, g = _plan(chain).run(embeddings, mask, target)
    rows = np.arange(batch)[:, None]
    out = g[rows, index[..., 1]] - g[rows, index[..., 0]]
    if valid is not None:
        out[~valid] = np.nan
    return out


# ------------------------------------------------------------------------------- hierarchy
@dataclass
class Level:
    """One level of a hierarchical explanation: spans over the example's tokens and their scores.

    Attributes:
        level: "word", "phrase" or "clause".
        tokens: the example's tokens (padding dropped).
        spans: ``(start, end)`` token ranges, end exclusive.
        scores: one REAT score per span.
        labels: optional label per span ("NP", "VP", an SST sentiment label, ...).
    """

    level: str
    tokens: list[str]
    spans: list[tuple[int, int]]
    scores: np.ndarray
    labels: list | None = None

    @property
    def texts(self) -> list[str]:
        return [" ".join(self.tokens[s:e]) for s, e in self.spans]

    def token_scores(self, fill: float = 0.0) -> np.ndarray:
        """Per-token scores for a word-style heatmap: each token gets the score of the shortest
        span that covers it, tokens in no span get ``fill``."""
        out = np.full(len(self.tokens), fill, np.float64)
        best = np.full(len(self.tokens), np.inf)
        for (s, e), score in zip(self.spans, self.scores, strict=True):
            for i in range(s, e):
                if e - s < best[i]:
                    best[i], out[i] = e - s, score
        return out

    def heatmap(self, label: str | None = None):
        """A `keras_relevance.render.Heatmap` of `token_scores()`."""
        from keras_relevance.render import Heatmap

        return Heatmap(self.tokens, self.token_scores(), label=label or self.level)

    def to_dict(self) -> dict:
        return {
            "level": self.level,
            "tokens": list(self.tokens),
            "spans": [list(s) for s in self.spans],
            "scores": [float(v) for v in self.scores],
            "labels": None if self.labels is None else list(self.labels),
        }


@dataclass
class Hierarchy:
    """Word, phrase and clause levels of one example (``hierarchy["phrase"]`` picks a level).

    Attributes:
        tokens: the example's tokens (padding dropped).
        target: the explained class.
        total: the sentence's score (= Σ word scores = target logit − Dense bias for zero
            initial states).
        levels: the levels, finest first.
    """

    tokens: list[str]
    target: int
    total: float
    levels: list[Level] = field(default_factory=list)

    def __getitem__(self, name: str) -> Level:
        for level in self.levels:
            if level.level == name:
                return level
        raise KeyError(f"no level {name!r}; levels: {[lv.level for lv in self.levels]}")

    def __contains__(self, name: str) -> bool:
        return any(level.level == name for level in self.levels)

    def to_dict(self) -> dict:
        return {
            "tokens": list(self.tokens),
            "target": int(self.target),
            "total": float(self.total),
            "levels": [level.to_dict() for level in self.levels],
        }


def _phrases_for(tokens, phrases, tagger, nltk_data):
    """Phrase spans (start, end, label) of one example in token indices, or None (skip)."""
    if phrases is None or phrases is False:
        return None
    if phrases in ("auto", "pos") or callable(phrases):
        use = phrases if callable(phrases) else tagger
        try:
            return chunking.phrase_spans(tokens, tagger=use, nltk_data=nltk_data)
        except chunking.TaggerUnavailableError as err:
            if phrases == "pos":
                raise
            warnings.warn(f"{err} Skipping the phrase level.", stacklevel=4)
            return None
    raise ValueError(
        f"phrases must be 'auto', 'pos', None, a tagger or span lists; got {phrases!r}"
    )


def _span_scores(g_row, bounds, spans, b):
    """Scores of token-index spans of example b; bounds[i] = position of token i (and the end)."""
    n = len(bounds) - 1
    spans = [(int(s[0]), int(s[1])) for s in spans]
    for s, e in spans:
        if not 0 <= s <= e <= n:
            raise ValueError(f"span ({s}, {e}) of example {b} is outside its {n} tokens")
    if not spans:
        return spans, np.zeros(0, g_row.dtype)
    idx = np.array([(bounds[s], bounds[e] if e > s else bounds[s]) for s, e in spans])
    return spans, g_row[idx[:, 1]] - g_row[idx[:, 0]]


def hierarchy(
    chain: ModelGraph,
    embeddings,
    mask,
    target,
    tokens: Sequence[Sequence[str]],
    phrases="auto",
    clauses="auto",
    tagger: chunking.Tagger | None = None,
    nltk_data=None,
) -> list[Hierarchy]:
    """Hierarchical REAT explanations: word, phrase and clause levels with their scores.

    Args:
        chain, embeddings, mask, target: as for `explain_reat`.
        tokens: one token list per example, either one token per position (padding included)
            or one per real (unmasked) position.
        phrases: "auto" (noun / verb chunks from NLTK's tagger when available, else a warning
            and no phrase level), "pos" (the same, but a missing tagger raises), a tagger
            callable ``tokens -> universal tags``, None (no phrase level), or one span list per
            example in token indices (user spans, or SST gold constituents from
            `chunking.sst_constituents`), items ``(start, end)`` or ``(start, end, label)``.
        clauses: "auto" (`chunking.clause_spans`), None, or one span list per example.
        tagger, nltk_data: passed to `chunking.phrase_spans`.

    Returns:
        one `Hierarchy` per example.

    >>> h = hierarchy(chain, emb, mask, target, tokens)[0]   # doctest: +SKIP
    >>> h["clause"].texts, h["clause"].scores                  # doctest: +SKIP
    """
    mask_np = np.asarray(mask, bool)
    word, g = _plan(chain).run(embeddings, mask_np, target)
    return build_hierarchy(word, g, mask_np, target, tokens, phrases, clauses, tagger, nltk_data)


def cumulative_scores(relevance, mask) -> np.ndarray:
    """g (batch, time + 1) of an additive explanation: a span [s, e) scores g[e] − g[s]."""
    rel = np.where(np.asarray(mask, bool), np.asarray(relevance, np.float64), 0.0)
    return np.concatenate([np.zeros((rel.shape[0], 1)), np.cumsum(rel, axis=1)], axis=1)


def build_hierarchy(word, g, mask, target, tokens, phrases="auto", clauses="auto", tagger=None,
                    nltk_data=None) -> list[Hierarchy]:
    """Word, phrase and clause levels from word scores and their cumulative sums `g`.

    REAT passes its own `g` (Eq. 14 / 22); any additive explanation passes
    `cumulative_scores(relevance, mask)`, so a phrase scores the sum of its words.
    """
    mask_np = np.asarray(mask, bool)
    batch, time = mask_np.shape
    if len(tokens) != batch:
        raise ValueError(f"got tokens for {len(tokens)} examples, the batch has {batch}")
    target_np = np.asarray(target).reshape(-1)
    out = []
    for b in range(batch):
        real = np.flatnonzero(mask_np[b])
        toks = [str(t) for t in tokens[b]]
        if len(toks) == time and len(real) != time:
            toks = [toks[i] for i in real]
        elif len(toks) != len(real):
            raise ValueError(
                f"example {b} has {len(real)} real tokens and {time} positions, but "
                f"{len(toks)} tokens were given"
            )
        # token index i sits at position real[i]; masked positions add nothing to g
        bounds = np.append(real, real[-1] + 1 if len(real) else 0)
        levels = [Level("word", toks, [(i, i + 1) for i in range(len(toks))], word[b, real])]
        if isinstance(phrases, str) or phrases is None or phrases is False or callable(phrases):
            found = _phrases_for(toks, phrases, tagger, nltk_data)
        else:
            found = phrases[b]
        if found is not None:
            spans, values = _span_scores(g[b], bounds, found, b)
            labels = [s[2] if len(s) > 2 else None for s in found]
            levels.append(Level("phrase", toks, spans, values, labels))
        if clauses is not None and clauses is not False:
            found = chunking.clause_spans(toks) if clauses == "auto" else clauses[b]
            spans, values = _span_scores(g[b], bounds, found, b)
            levels.append(Level("clause", toks, spans, values))
        total = float(g[b, -1] - g[b, 0])
        out.append(Hierarchy(toks, int(target_np[b]), total, levels))
    return out
