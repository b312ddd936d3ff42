"""Measuring explanations: deletion curves, AOPC, ERASER, REAT metrics, and corpus analyses.

Every perturbation metric runs the model from embeddings (`ModelGraph.embed` / `.logits`), where
**deleting a word sets its embedding vector to zero** and keeps the sequence length and mask
(Arras et al. 2016/2017). `deletion="remove"` instead drops the word and shifts the rest left
(ERASER's convention). Results are plain dicts of floats / lists / NumPy arrays, ready to log
(`keras_relevance_tb.summary.deletion_curve` takes `result["correct"]["curves"]` as is).

Relevance can be given as
- a NumPy array (batch, time) (or anything with a `.relevance` attribute, e.g. an `Explanation`),
- a method name ("lrp", "sa", …): computed with `Explainer(model).explain(ids, method, target)`,
- a callable `f(ids, target) -> (batch, time)`.

Ties in relevance are broken by position (earlier words first), padding is never deleted, and a
sentence shorter than the number of deletions asked for has all its words deleted.

The analyses (`top_words`, `position_distribution`, `pos_distribution`, `document_vectors`,
`pca`) only need relevance arrays and tokens / tags / embeddings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

DEFAULT_BINS = (1, 5, 10, 20, 50)

RelevanceLike = Any  # np.ndarray | Explanation | str | Callable[[ids, target], np.ndarray]


# ---------------------------------------------------------------------------------- model side
def _chain_of(model):
    from keras_relevance.graph import ModelGraph

    if isinstance(model, ModelGraph):
        return model
    chain = getattr(model, "chain", None)  # an Explainer
    if isinstance(chain, ModelGraph):
        return chain
    return ModelGraph.from_model(model)


def _explainer_of(model):
    from keras_relevance.explainer import Explainer

    if isinstance(model, Explainer):
        return model
    from keras_relevance.graph import ModelGraph

    if isinstance(model, ModelGraph):
        return Explainer(model.model)
    return Explainer(model)


class _Scorer:
    """Batched logits of a chain with some words deleted."""

    def __init__(self, model, batch_size: int = 256, verbose="auto"):
        import tensorflow as tf

        self._tf = tf
        self.chain = _chain_of(model)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.verbose = verbose
        self._progbar = None
        self._fn = None

    # progress over all rows of one evaluation call
    def start(self, rows: int) -> None:
        show = self.verbose if self.verbose != "auto" else rows >= 50 * self.batch_size
        self._progbar = None
        if show and rows:
            import keras

            self._progbar = keras.utils.Progbar(rows, unit_name="example")

    def _compiled(self, dim: int):
        if self._fn is None:
            tf = self._tf
            chain = self.chain
            dtype = chain.compute_dtype

            def build():
                return tf.function(
                    lambda emb, mask: chain.logits(emb, mask),
                    input_signature=[
                        tf.TensorSpec([None, None, dim], dtype),
                        tf.TensorSpec([None, None], tf.bool),
                    ],
                    reduce_retracing=True,
                )

            # cached on the chain: repeated metric calls (one per corpus batch) trace it once
            self._fn = chain.cached(("evaluation.logits", dim), build)
        return self._fn

    def mask(self, ids) -> np.ndarray:
        """(batch, time) True at real tokens, as the chain's embedding sees them."""
        ids = np.asarray(ids)
        if self.chain.embedding is None:
            return np.ones(ids.shape[:2], bool)
        if self.chain.mask_zero:
            return ids != 0
        return np.ones(ids.shape, bool)

    def logits(self, ids, delete=None, deletion: str = "zero") -> np.ndarray:
        """Logits (batch, classes) float64 with `delete` (batch, time) words deleted."""
        tf = self._tf
        ids = np.asarray(ids)
        n = ids.shape[0]
        out = []
        for start in range(0, n, self.batch_size):
            part = ids[start : start + self.batch_size]
            dele = None if delete is None else np.asarray(delete[start : start + self.batch_size])
            emb, mask = self.chain.embed(part)
            if dele is not None and dele.any():
                if deletion == "zero":
                    keep = tf.constant(~dele, emb.dtype)
                    emb = emb * keep[:, :, None]
                elif deletion == "remove":
                    emb, mask = _compact(emb.numpy(), mask.numpy(), dele)
                    emb, mask = tf.constant(emb), tf.constant(mask)
                else:
                    raise ValueError(f"deletion must be 'zero' or 'remove', got {deletion!r}")
            fn = self._compiled(int(emb.shape[-1]))
            out.append(np.asarray(fn(emb, mask), np.float64))
            if self._progbar is not None:
                self._progbar.add(len(part))
        if not out:
            return np.zeros((0, self.chain.num_classes))
        return np.concatenate(out)


def _compact(emb: np.ndarray, mask: np.ndarray, delete: np.ndarray):
    """Drop deleted steps, shift the rest left, pad with zero vectors / False."""
    new_emb = np.zeros_like(emb)
    new_mask = np.zeros_like(mask)
    for i in range(emb.shape[0]):
        keep = np.flatnonzero(~delete[i])
        new_emb[i, : len(keep)] = emb[i, keep]
        new_mask[i, : len(keep)] = mask[i, keep]
    return new_emb, new_mask


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _score(logits: np.ndarray, target: np.ndarray, score: str) -> np.ndarray:
    if score == "logit":
        values = logits
    elif score == "probability":
        values = _softmax(logits)
    else:
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    return values[np.arange(len(target)), target]


def _get_relevance(source: RelevanceLike, model, ids, target, options=None) -> np.ndarray:
    """Resolve an array / Explanation / method name / callable to a (batch, time) array."""
    if isinstance(source, str):
        explanation = _explainer_of(model).explain(
            ids, method=source, target=np.asarray(target), **(options or {})
        )
        rel = explanation.relevance
    elif hasattr(source, "relevance"):
        rel = source.relevance
    elif callable(source):
        rel = source(ids, np.asarray(target))
        rel = getattr(rel, "relevance", rel)
    else:
        rel = source
    rel = np.asarray(rel, np.float64)
    ids = np.asarray(ids)
    if rel.shape != ids.shape[:2]:
        raise ValueError(f"relevance has shape {rel.shape}, expected {ids.shape[:2]} (batch, time)")
    if not np.isfinite(rel).all():
        raise ValueError("relevance holds NaN or Inf")
    return rel


def _check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integers, got shape {labels.shape} {labels.dtype}")
    return labels.astype(np.int64)


# ---------------------------------------------------------------------------------- orderings
def deletion_ranks(relevance, mask, order: str = "decreasing") -> np.ndarray:
    """Rank of each position in the deletion order (0 = deleted first), (batch, time) int.

    Padding gets ranks ≥ the sentence length, so `rank < k` deletes min(k, length) real words.
    Ties go to the earlier position.
    """
    rel = np.asarray(relevance, np.float64)
    mask = np.asarray(mask, bool)
    if order == "decreasing":
        keys = np.where(mask, -rel, np.inf)
    elif order == "increasing":
        keys = np.where(mask, rel, np.inf)
    else:
        raise ValueError(f"order must be 'decreasing' or 'increasing', got {order!r}")
    sorted_positions = np.argsort(keys, axis=1, kind="stable")
    ranks = np.empty_like(sorted_positions)
    rows = np.arange(rel.shape[0])[:, None]
    ranks[rows, sorted_positions] = np.arange(rel.shape[1])[None, :]
    return ranks


def random_relevance(mask, seed: int) -> np.ndarray:
    """Uniform random scores (batch, time) for the random-deletion baseline (0 at padding)."""
    mask = np.asarray(mask, bool)
    return np.where(mask, np.random.default_rng(seed).random(mask.shape), 0.0)


def _curve_scores(scorer, ids, ranks, mask, max_deletions, deletion, base_logits=None):
    """Logits (K+1, batch, classes) after deleting the k first-ranked words, k = 0..K."""
    out = [scorer.logits(ids) if base_logits is None else base_logits]
    for k in range(1, max_deletions + 1):
        out.append(scorer.logits(ids, (ranks < k) & mask, deletion))
    return np.stack(out)


# ---------------------------------------------------------------------------------- deletion
def deletion_curve(
    model,
    ids,
    labels,
    relevance: RelevanceLike,
    order: str = "decreasing",
    max_deletions: int = 5,
    *,
    deletion: str = "zero",
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> np.ndarray:
    """Accuracy after deleting 0..K words in relevance order, on all given examples.

    Args:
        model: a Keras model, `ModelGraph` or `Explainer`.
        ids: int (batch, time) token ids.
        labels: (batch,) true classes (accuracy is argmax(logits) == label).
        relevance: relevance for the true class (array, Explanation, method name, callable).
        order: "decreasing" (most relevant first) or "increasing".
        max_deletions: K.

    Returns:
        float64 (K+1,) accuracies.
    """
    ids = np.asarray(ids)
    labels = _check_labels(labels, len(ids))
    scorer = _Scorer(model, batch_size, verbose)
    rel = _get_relevance(relevance, model, ids, labels, method_options)
    mask = scorer.mask(ids)
    scorer.start(len(ids) * (max_deletions + 1))
    logits = _curve_scores(
        scorer, ids, deletion_ranks(rel, mask, order), mask, max_deletions, deletion
    )
    return (logits.argmax(-1) == labels[None]).mean(axis=1)


def deletion_curves(
    model,
    ids,
    labels,
    relevance: Mapping[str, RelevanceLike] | None = None,
    *,
    methods: Sequence[str] = (),
    max_deletions: int = 5,
    random_seeds: int = 10,
    kinds: Sequence[str] = ("correct", "misclassified"),
    deletion: str = "zero",
    batch_size: int = 256,
    method_options: Mapping[str, Mapping] | None = None,
    verbose="auto",
) -> dict:
    """Word-deletion curves as in Arras et al. (2017, Fig. 3), with the random baseline.

    Correctly classified examples delete words in decreasing relevance (accuracy should fall
    fast); misclassified ones in increasing relevance (accuracy should rise fast). Relevance is
    for the true class. The random baseline deletes in a random order, once per seed
    `0..random_seeds-1`; its mean and standard deviation (over seeds) are reported.

    Args:
        model: a Keras model, `ModelGraph` or `Explainer`.
        ids: int (batch, time) token ids; labels: (batch,) true classes.
        relevance: {name: relevance for all examples w.r.t. the true class} (arrays / Explanations /
            callables).
        methods: method names to compute here with `Explainer.explain(..., target=labels)`.
        max_deletions: K; the curves have K+1 points (0..K words deleted).
        random_seeds: runs of the random baseline (0 to skip it).
        kinds: which subsets: "correct" and / or "misclassified".
        method_options: {method name: options for `explain`}.

    Returns:
        `{"x": [0..K], "n": n, "accuracy": float, "<kind>": {"n": int, "order": ...,
        "curves": {name: [K+1 floats]}, "random_mean": [...], "random_std": [...]}}`; a kind
        with no examples has `None` curves.

    >>> res = deletion_curves(model, ids, y, methods=["lrp", "sa"])  # doctest: +SKIP
    >>> res["correct"]["curves"]["lrp"]                              # doctest: +SKIP
    [1.0, 0.62, 0.45, 0.37, 0.31, 0.27]
    """
    ids = np.asarray(ids)
    labels = _check_labels(labels, len(ids))
    for kind in kinds:
        if kind not in ("correct", "misclassified"):
            raise ValueError(f"kinds must be 'correct' / 'misclassified', got {kind!r}")
    sources = dict(relevance or {})
    for name in methods:
        sources.setdefault(name, name)
    if not sources and not random_seeds:
        raise ValueError("nothing to evaluate: give relevance, methods or random_seeds")
    scorer = _Scorer(model, batch_size, verbose)
    mask = scorer.mask(ids)
    base = scorer.logits(ids)
    correct = base.argmax(-1) == labels
    result: dict[str, Any] = {
        "x": list(range(max_deletions + 1)),
        "n": int(len(ids)),
        "accuracy": float(correct.mean()) if len(ids) else float("nan"),
    }
    subsets = {kind: np.flatnonzero(correct if kind == "correct" else ~correct) for kind in kinds}
    rows = sum(len(s) for s in subsets.values()) * max_deletions * (len(sources) + random_seeds)
    scorer.start(rows)
    for kind, idx in subsets.items():
        order = "decreasing" if kind == "correct" else "increasing"
        entry: dict[str, Any] = {"n": int(len(idx)), "order": order, "curves": {}}
        result[kind] = entry
        if len(idx) == 0:
            entry["curves"] = {name: None for name in sources}
            entry["random_mean"] = entry["random_std"] = None
            continue
        sub_ids, sub_labels, sub_mask = ids[idx], labels[idx], mask[idx]

        def curve(
            rel, order=order, sub_ids=sub_ids, sub_labels=sub_labels, sub_mask=sub_mask, idx=idx
        ):
            logits = _curve_scores(
                scorer,
                sub_ids,
                deletion_ranks(rel, sub_mask, order),
                sub_mask,
                max_deletions,
                deletion,
                base[idx],
            )
            return (logits.argmax(-1) == sub_labels[None]).mean(axis=1)

        for name, source in sources.items():
            if isinstance(source, str):
                options = (method_options or {}).get(name, {})
                rel = _get_relevance(source, model, sub_ids, sub_labels, options)
            else:
                rel = _get_relevance(source, model, ids, labels)[idx]
            entry["curves"][name] = curve(rel).tolist()
        if random_seeds:
            runs = np.stack(
                [curve(random_relevance(mask, seed)[idx]) for seed in range(random_seeds)]
            )
            entry["random_mean"] = runs.mean(axis=0).tolist()
            entry["random_std"] = runs.std(axis=0).tolist()
        else:
            entry["random_mean"] = entry["random_std"] = None
    return result


def aopc(
    model,
    ids,
    relevance: RelevanceLike,
    target=None,
    *,
    steps: int = 10,
    order: str = "morf",
    score: str = "logit",
    deletion: str = "zero",
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> dict:
    """Area over the perturbation curve (Samek et al. 2017).

    AOPC = mean over examples of 1/(L+1) Σ_{k=0..L} [f(x) − f(x^(k))], where x^(k) has the k
    most relevant words deleted ("morf"; "lerf" deletes the least relevant first) and f is the
    target's logit (or probability with `score="probability"`).

    Args:
        target: None (the predicted class), one int, or (batch,) ints; relevance must be for it.
        steps: L.

    Returns:
        `{"aopc": float, "curve": [L+1 mean f(x) − f(x^(k))], "per_example": (batch,) array}`.
    """
    ids = np.asarray(ids)
    scorer = _Scorer(model, batch_size, verbose)
    base = scorer.logits(ids)
    target = _resolve_target(target, base)
    rel = _get_relevance(relevance, model, ids, target, method_options)
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    mask = scorer.mask(ids)
    ranks = deletion_ranks(rel, mask, "decreasing" if order == "morf" else "increasing")
    scorer.start(len(ids) * steps)
    logits = _curve_scores(scorer, ids, ranks, mask, steps, deletion, base)
    scores = np.stack([_score(z, target, score) for z in logits])  # (L+1, batch)
    drops = scores[0][None] - scores
    per_example = drops.mean(axis=0)
    return {
        "aopc": float(per_example.mean()) if len(ids) else float("nan"),
        "curve": drops.mean(axis=1).tolist(),
        "per_example": per_example,
    }


def _resolve_target(target, logits: np.ndarray) -> np.ndarray:
    n = len(logits)
    if target is None:
        return logits.argmax(-1).astype(np.int64)
    target = np.asarray(target)
    if target.ndim == 0:
        target = np.full(n, int(target))
    return _check_labels(target, n, "target")


def eraser_scores(
    model,
    ids,
    relevance: RelevanceLike,
    target=None,
    *,
    bins: Sequence[float] = DEFAULT_BINS,
    score: str = "probability",
    deletion: str = "zero",
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> dict:
    """ERASER comprehensiveness and sufficiency (DeYoung et al. 2020) over top-k% bins.

    For each bin b, the rationale r holds the ceil(b% · length) most relevant words (at least
    one). comprehensiveness = m(x)_c − m(x∖r)_c, sufficiency = m(x)_c − m(r)_c (everything but r
    deleted), m = probability (or logit with `score="logit"`), c = `target` (None: predicted).

    Returns:
        `{"bins": [...], "comprehensiveness": [mean per bin], "sufficiency": [mean per bin],
        "comprehensiveness_mean": float, "sufficiency_mean": float,
        "per_example": {"comprehensiveness": (batch, bins), "sufficiency": (batch, bins)}}`
        (the `_mean` values are the bin averages, ERASER's AOPC-style aggregate).
    """
    ids = np.asarray(ids)
    scorer = _Scorer(model, batch_size, verbose)
    base = scorer.logits(ids)
    target = _resolve_target(target, base)
    rel = _get_relevance(relevance, model, ids, target, method_options)
    mask = scorer.mask(ids)
    lengths = mask.sum(axis=1)
    ranks = deletion_ranks(rel, mask, "decreasing")
    full = _score(base, target, score)
    comp = np.zeros((len(ids), len(bins)))
    suff = np.zeros((len(ids), len(bins)))
    scorer.start(2 * len(ids) * len(bins))
    for j, b in enumerate(bins):
        if not 0 < b <= 100:
            raise ValueError(f"bins are percentages in (0, 100], got {b}")
        k = np.maximum(1, np.ceil(lengths * b / 100.0 - 1e-9)).astype(int)
        rationale = (ranks < k[:, None]) & mask
        comp[:, j] = full - _score(scorer.logits(ids, rationale, deletion), target, score)
        suff[:, j] = full - _score(scorer.logits(ids, mask & ~rationale, deletion), target, score)
    n = len(ids)
    return {
        "bins": list(bins),
        "comprehensiveness": comp.mean(axis=0).tolist() if n else [float("nan")] * len(bins),
        "sufficiency": suff.mean(axis=0).tolist() if n else [float("nan")] * len(bins),
        "comprehensiveness_mean": float(comp.mean()) if n else float("nan"),
        "sufficiency_mean": float(suff.mean()) if n else float("nan"),
        "per_example": {"comprehensiveness": comp, "sufficiency": suff},
    }


# ---------------------------------------------------------------------------------- REAT
def clause_scores_from_relevance(relevance, spans: Sequence[Sequence[tuple[int, int]]]) -> list:
    """Score each (start, end) span (end exclusive) by the sum of its words' relevance."""
    rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
    return [
        np.asarray([float(np.sum(np.asarray(r)[s:e])) for s, e in row], np.float64)
        for r, row in zip(rel, spans, strict=True)
    ]


def reat_faithfulness(
    model,
    ids,
    clause_spans: Sequence[Sequence[tuple[int, int]]],
    clause_scores: Sequence[Sequence[float]] | None = None,
    relevance: RelevanceLike | None = None,
    target=None,
    *,
    score: str = "probability",
    deletion: str = "zero",
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> dict:
    """REAT faithfulness (Du et al. 2019, Eq. 23): mean of y(x) − y(x∖A).

    A is the clause with the highest score in each text; y is the target's probability (or logit
    with `score="logit"`); x∖A deletes A's words.

    Args:
        clause_spans: per text, the clauses as (start, end) token spans (end exclusive), e.g. the
            two sides of "but" (`keras_relevance.chunking`).
        clause_scores: per text, one score per clause (e.g. REAT's hierarchical phrase scores).
            When None, each clause scores the sum of its words' `relevance`.
        relevance: word relevance for the target (array, Explanation, method name, callable).
        target: None (the predicted class), an int, or (batch,) ints.

    Returns:
        `{"faithfulness": float, "per_example": (batch,) array, "chosen": [clause index]}`.
    """
    ids = np.asarray(ids)
    if len(clause_spans) != len(ids):
        raise ValueError(f"got clause spans for {len(clause_spans)} texts, ids have {len(ids)}")
    scorer = _Scorer(model, batch_size, verbose)
    base = scorer.logits(ids)
    target = _resolve_target(target, base)
    if clause_scores is None:
        if relevance is None:
            raise ValueError("give clause_scores or relevance")
        rel = _get_relevance(relevance, model, ids, target, method_options)
        clause_scores = clause_scores_from_relevance(rel, clause_spans)
    if len(clause_scores) != len(ids):
        raise ValueError(f"got clause scores for {len(clause_scores)} texts, ids have {len(ids)}")
    mask = scorer.mask(ids)
    delete = np.zeros(ids.shape[:2], bool)
    chosen = []
    for i, (spans, scores) in enumerate(zip(clause_spans, clause_scores, strict=True)):
        scores = np.asarray(scores, np.float64)
        if len(spans) == 0 or len(scores) != len(spans):
            raise ValueError(f"text {i}: {len(spans)} clauses but {len(scores)} scores")
        best = int(np.argmax(scores))
        start, end = spans[best]
        delete[i, start:end] = True
        chosen.append(best)
    delete &= mask
    scorer.start(len(ids))
    after = scorer.logits(ids, delete, deletion)
    per_example = _score(base, target, score) - _score(after, target, score)
    return {
        "faithfulness": float(per_example.mean()) if len(ids) else float("nan"),
        "per_example": per_example,
        "chosen": chosen,
    }


def lexicon_interpretability(
    tokens: Sequence[Sequence[str]],
    relevance,
    lexicon,
    lower: bool = True,
) -> dict:
    """REAT interpretability (Du et al. 2019, Eq. 24) against an opinion lexicon.

    Only texts holding both lexicon-positive and lexicon-negative words count. A text matches
    when every positive word's score (for the positive class) is higher than every negative
    word's. score = #matches / #texts counted.

    Args:
        tokens: the words of each text (aligned with relevance positions).
        relevance: (batch, time) array (or per-text 1-D arrays / an Explanation) for the
            **positive** class.
        lexicon: `(positive words, negative words)`, e.g. `datasets.load_opinion_lexicon()`.
        lower: compare lowercased words.

    Returns:
        `{"score": float, "matches": int, "texts": int, "eligible": [text index],
        "matched": [bool per eligible text]}`.
    """
    rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
    positive, negative = lexicon
    norm = (lambda w: w.lower()) if lower else (lambda w: w)
    positive = {norm(w) for w in positive}
    negative = {norm(w) for w in negative}
    eligible, matched = [], []
    for i, (words, scores) in enumerate(zip(tokens, rel, strict=True)):
        scores = np.asarray(scores, np.float64)
        pos = [scores[t] for t, w in enumerate(words) if norm(w) in positive]
        neg = [scores[t] for t, w in enumerate(words) if norm(w) in negative]
        if pos and neg:
            eligible.append(i)
            matched.append(bool(min(pos) > max(neg)))
    matches = int(sum(matched))
    return {
        "score": matches / len(eligible) if eligible else float("nan"),
        "matches": matches,
        "texts": len(eligible),
        "eligible": eligible,
        "matched": matched,
    }


# ---------------------------------------------------------------------------------- analyses
def _rows(relevance, mask=None, tokens=None) -> list[np.ndarray]:
    """Per-text 1-D relevance over real positions."""
    rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
    if mask is None and hasattr(relevance, "mask"):
        mask = relevance.mask
    rows = []
    for i, r in enumerate(rel):
        r = np.asarray(r, np.float64)
        if tokens is not None:
            r = r[: len(tokens[i])]
        elif mask is not None:
            r = r[np.asarray(mask[i], bool)]
        rows.append(r)
    return rows


def top_words(
    tokens: Sequence[Sequence[str]],
    relevance,
    classes,
    k: int = 10,
    min_count: int = 1,
    aggregate: str = "mean",
) -> dict:
    """Most and least relevant words per class over a corpus (Arras et al. 2017, Table 1).

    Args:
        tokens: the words of each text.
        relevance: per-text relevance for `classes[i]` ((batch, time) or 1-D rows).
        classes: (batch,) the class each text's relevance is for.
        k: words per list.
        min_count: ignore words seen fewer times (for that class).
        aggregate: "mean", "sum" or "max" of a word's relevance over its occurrences.

    Returns:
        `{class: {"most": [(word, score, count)], "least": [(word, score, count)]}}`, most
        relevant first / least relevant first.
    """
    reducers: dict[str, Callable] = {"mean": np.mean, "sum": np.sum, "max": np.max}
    if aggregate not in reducers:
        raise ValueError(f"aggregate must be one of {sorted(reducers)}, got {aggregate!r}")
    rows = _rows(relevance, tokens=tokens)
    pooled: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for words, scores, c in zip(tokens, rows, np.asarray(classes).tolist(), strict=True):
        for w, s in zip(words, scores, strict=False):
            pooled[int(c)][w].append(float(s))
    out = {}
    for c in sorted(pooled):
        stats = [
            (w, float(reducers[aggregate](v)), len(v))
            for w, v in pooled[c].items()
            if len(v) >= min_count
        ]
        stats.sort(key=lambda x: (-x[1], x[0]))
        least = sorted(stats, key=lambda x: (x[1], x[0]))
        out[c] = {"most": stats[:k], "least": least[:k]}
    return out


def position_distribution(relevance, mask=None, bins: int = 10) -> dict:
    """Relevance over relative sentence position in `bins` bins (Arras et al. 2017, Fig. 4).

    Word t (0-based) of a sentence of length L falls in bin floor(t · bins / L).

    Args:
        relevance: (batch, time) array / Explanation / 1-D rows, or a mapping such as
            `{"forward": …, "backward": …}` (then one result per key).
        mask: (batch, time) real positions (default: the Explanation's, else all).

    Returns:
        `{"bins": [bin upper edges in (0, 1]], "total": [sum per bin], "mean": [mean per bin],
        "positive": [sum of positive parts], "negative": [sum of negative parts],
        "count": [words per bin], "fraction": [total / Σ|total|]}`, or `{key: that}`.
    """
    if isinstance(relevance, Mapping):
        return {key: position_distribution(value, mask, bins) for key, value in relevance.items()}
    total = np.zeros(bins)
    positive = np.zeros(bins)
    negative = np.zeros(bins)
    count = np.zeros(bins, np.int64)
    for row in _rows(relevance, mask):
        length = len(row)
        if length == 0:
            continue
        which = (np.arange(length) * bins) // length
        np.add.at(total, which, row)
        np.add.at(positive, which, np.maximum(row, 0))
        np.add.at(negative, which, np.minimum(row, 0))
        np.add.at(count, which, 1)
    norm = np.abs(total).sum()
    return {
        "bins": [(b + 1) / bins for b in range(bins)],
        "total": total.tolist(),
        "mean": np.where(count > 0, total / np.maximum(count, 1), 0.0).tolist(),
        "positive": positive.tolist(),
        "negative": negative.tolist(),
        "count": count.tolist(),
        "fraction": (total / norm if norm > 0 else np.zeros(bins)).tolist(),
    }


def pos_distribution(tags: Sequence[Sequence[str]], relevance, top_k: int = 1) -> dict:
    """Scores by part-of-speech category (Du et al. 2019, Fig. 7).

    Args:
        tags: per text, one tag per word (e.g. universal tags from `keras_relevance.chunking`).
        relevance: per-text word relevance aligned with `tags`.
        top_k: also count the tags of each text's `top_k` highest-scoring words.

    Returns:
        `{"tags": [sorted tags], "mean": [...], "sum": [...], "count": [...],
        "top_fraction": [share of the top-k words with that tag]}`.
    """
    rows = _rows(relevance, tokens=tags)
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    top: dict[str, int] = defaultdict(int)
    top_total = 0
    for tag_row, scores in zip(tags, rows, strict=True):
        for tag, s in zip(tag_row, scores, strict=False):
            sums[tag] += float(s)
            counts[tag] += 1
        best = np.argsort(-scores, kind="stable")[:top_k]
        for t in best:
            top[tag_row[t]] += 1
        top_total += len(best)
    names = sorted(counts)
    return {
        "tags": names,
        "mean": [sums[t] / counts[t] for t in names],
        "sum": [sums[t] for t in names],
        "count": [counts[t] for t in names],
        "top_fraction": [top[t] / top_total if top_total else 0.0 for t in names],
    }


def document_vectors(
    ids,
    embedding_matrix,
    relevance=None,
    mask=None,
    positive_only: bool = False,
    normalize: bool = True,
) -> np.ndarray:
    """Relevance-weighted document vectors d = Σ_t R_t · e(w_t) (Arras et al. 2016, Fig. 3).

    Args:
        ids: int (batch, time); embedding_matrix: (vocab, dim) (e.g. the Embedding's weights).
        relevance: (batch, time) weights; None gives the plain sum of word vectors (uniform).
        mask: real positions (default: ids != 0).
        positive_only: clip negative relevance to 0.
        normalize: scale each document vector to unit L2 norm (zero vectors stay zero).

    Returns:
        float64 (batch, dim).
    """
    ids = np.asarray(ids)
    emb = np.asarray(embedding_matrix, np.float64)[ids]
    mask = (ids != 0) if mask is None else np.asarray(mask, bool)
    if relevance is None:
        weights = mask.astype(np.float64)
    else:
        rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
        weights = np.where(mask, np.asarray(rel, np.float64), 0.0)
        if positive_only:
            weights = np.maximum(weights, 0.0)
    docs = np.einsum("bt,btd->bd", weights, emb)
    if normalize:
        norms = np.linalg.norm(docs, axis=1, keepdims=True)
        docs = np.divide(docs, norms, out=np.zeros_like(docs), where=norms > 0)
    return docs


def pca(x, n_components: int = 2) -> dict:
    """Principal components by NumPy SVD (no scikit-learn).

    Returns:
        `{"projection": (n, k), "components": (k, dim), "explained_variance_ratio": (k,),
        "mean": (dim,)}`; component signs are fixed so each component's largest |loading| is
        positive.
    """
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    centered = x - mean
    _, s, vt = np.linalg.svd(centered, full_matrices=False)
    k = min(n_components, vt.shape[0])
    components = vt[:k]
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    var = s**2
    ratio = var[:k] / var.sum() if var.sum() > 0 else np.zeros(k)
    return {
        "projection": centered @ components.T,
        "components": components,
        "explained_variance_ratio": ratio,
        "mean": mean,
    }


__all__ = [
    "DEFAULT_BINS",
    "aopc",
    "clause_scores_from_relevance",
    "deletion_curve",
    "deletion_curves",
    "deletion_ranks",
    "document_vectors",
    "eraser_scores",
    "lexicon_interpretability",
    "pca",
    "pos_distribution",
    "position_distribution",
    "random_relevance",
    "reat_faithfulness",
    "top_words",
]
