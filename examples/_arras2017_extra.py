"""Arras et al. (2017) analyses beyond deletion, used by `reproduce_arras2017.py`.

- Fig. 4: LRP relevance by word position, the left-to-right and right-to-left encoder
  separately. The split is exact: a pass-through layer after the Bidirectional stops the LRP
  messages into one direction's half of the state (a user rule, `kr.register_rule`), so the Dense
  layer's ε-rule still divides by the full logit; forward + backward = LRP of the model (checked).
- Table 1 with the paper's statistic: all word occurrences of the test set ranked by relevance
  (repetitions kept), the first / last distinct words, beside our mean-per-word statistic.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import keras_relevance as kr
from keras_relevance.explainer import Explainer


@keras.saving.register_keras_serializable(package="keras_relevance_examples")
class DirectionStop(keras.layers.Layer):
    """Identity on a Bidirectional's concatenated output; LRP passes relevance only into the
    `keep` direction ("forward": the first half, "backward": the second)."""

    def __init__(self, keep: str = "forward", **kwargs):
        super().__init__(**kwargs)
        if keep not in ("forward", "backward"):
            raise ValueError(f"keep must be 'forward' or 'backward', got {keep!r}")
        self.keep = keep

    def call(self, x):
        return x

    def get_config(self):
        return {**super().get_config(), "keep": self.keep}


def _direction_stop_rule(step, args, kwargs, ctx):
    x = args[0]
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    if step.layer.keep == "forward":
        return tf.concat([first, tf.stop_gradient(second)], axis=-1)
    return tf.concat([tf.stop_gradient(first), second], axis=-1)


kr.register_rule(DirectionStop, _direction_stop_rule)


def direction_relevance(model: keras.Model, ids, target, eps: float = 1e-3) -> dict:
    """LRP relevance of each encoder direction: `{"forward", "backward", "full"}` (batch, time).

    `model` is Embedding → Dropout → Bidirectional → Dense (the reproduction's model)."""
    emb, drop, bi, dense = model.layers
    parts = {}
    for keep in ("forward", "backward"):
        inp = keras.Input((None,), dtype="int32")
        out = dense(DirectionStop(keep)(bi(drop(emb(inp)))))
        split = keras.Model(inp, out, name=f"bilstm_{keep}_only")
        parts[keep] = Explainer(split).explain(ids, method="lrp", target=target,
                                               eps=eps).relevance
    parts["full"] = Explainer(model).explain(ids, method="lrp", target=target, eps=eps).relevance
    gap = float(np.abs(parts["forward"] + parts["backward"] - parts["full"]).max())
    scale = float(np.abs(parts["full"]).max()) or 1.0
    if gap > 1e-4 * max(scale, 1.0):
        raise AssertionError(f"forward + backward relevance misses LRP by {gap:.2e}")
    parts["max_abs_gap"] = gap
    return parts


def position_profile(relevance, lengths, bins: int = 10) -> np.ndarray:
    """(texts, bins): each text's mean relevance in each tenth of its length (relative
    position; NaN where a short text has no word in a bin)."""
    out = np.full((len(lengths), bins), np.nan)
    for i, n in enumerate(lengths):
        r = np.asarray(relevance[i][:n], np.float64)
        where = np.minimum(((np.arange(n) + 0.5) * bins / max(n, 1)).astype(int), bins - 1)
        for b in range(bins):
            if (where == b).any():
                out[i, b] = r[where == b].mean()
    return out


def position_from(relevance, lengths, n: int = 20, from_end: bool = False) -> np.ndarray:
    """(texts, n): relevance at word position 1..n from the start (or from the end), NaN where a
    text is shorter."""
    out = np.full((len(lengths), n), np.nan)
    for i, length in enumerate(lengths):
        r = np.asarray(relevance[i][:length], np.float64)
        r = r[::-1] if from_end else r
        out[i, : min(n, length)] = r[:n]
    return out


def occurrence_ranking(tokens, relevance, k: int = 10) -> dict:
    """The paper's Table 1 statistic: every occurrence (word, relevance) ranked, repetitions
    kept; the first `k` distinct words from the top and from the bottom."""
    pairs = [(float(r[t]), w) for words, r in zip(tokens, relevance, strict=True)
             for t, w in enumerate(words)]
    pairs.sort(key=lambda p: p[0])

    def distinct(seq):
        seen = []
        for _, w in seq:
            if w not in seen:
                seen.append(w)
            if len(seen) == k:
                break
        return seen

    return {"most": distinct(reversed(pairs)), "least": distinct(pairs)}


def centre_of_relevance(relevance, lengths) -> np.ndarray:
    """Per text: the |relevance|-weighted mean relative position (0 = first word, 1 = last)."""
    out = np.full(len(lengths), np.nan)
    for i, n in enumerate(lengths):
        a = np.abs(np.asarray(relevance[i][:n], np.float64))
        if n > 1 and a.sum() > 0:
            out[i] = float((a * np.arange(n) / (n - 1)).sum() / a.sum())
    return out


def fig4(runs, interval, bins: int = 10, n_abs: int = 20) -> dict:
    """Fig. 4 over seeds: relevance (true class) by relative and absolute position, per encoder
    direction; `interval(groups)` makes the mean and 95% interval from per-seed per-text values."""
    per_seed = []
    for r in runs:
        x, y = r["x_test"], r["y_test"]
        lengths = (x != 0).sum(axis=1)
        parts = direction_relevance(r["model"], x, y)
        per_seed.append({
            d: {"relative": position_profile(parts[d], lengths, bins),
                "from_start": position_from(parts[d], lengths, n_abs),
                "from_end": position_from(parts[d], lengths, n_abs, from_end=True),
                "centre": centre_of_relevance(parts[d], lengths),
                "total": np.array([parts[d][i, :n].sum() for i, n in enumerate(lengths)])}
            for d in ("forward", "backward", "full")} | {"gap": parts["max_abs_gap"]})
    out = {"bins": bins, "max_abs_gap": max(s["gap"] for s in per_seed)}
    for d in ("forward", "backward", "full"):
        out[d] = {
            key: [interval([s[d][key][:, b] for s in per_seed]) for b in range(width)]
            for key, width in (("relative", bins), ("from_start", n_abs), ("from_end", n_abs))}
        out[d]["centre"] = interval([s[d]["centre"] for s in per_seed])
        out[d]["total"] = interval([s[d]["total"] for s in per_seed])
    return out


def plot_fig4(summary: dict, path, svg_lines) -> None:
    """Relevance by relative position per direction, with the interval bands."""
    bins = summary["bins"]
    x = (np.arange(bins) + 0.5) / bins
    series = {}
    for d, name in (("forward", "left-to-right encoder"), ("backward", "right-to-left encoder"),
                    ("full", "both (LRP)")):
        cells = summary[d]["relative"]
        series[name] = ([c["mean"] for c in cells], [c["ci"][0] for c in cells],
                        [c["ci"][1] for c in cells])
    svg_lines(path, x, series, "Arras'17 Fig. 4: LRP relevance (true class) by position",
              "relative word position in the sentence", "mean relevance of a word")
