"""Deletion and insertion curves and AOPC (Arras et al. 2016/2017, Samek et al. 2017, xplique).

Deleting a word sets its embedding vector to zero and keeps the sequence length and mask
(`deletion="zero"`, Arras et al.), or drops the word and shifts the rest left
(`deletion="remove"`, ERASER). Relevance can be an array (batch, time), an `Explanation`, an
explanation function `f(ids, target) -> (batch, time)` (Captum style) or a method name. Ties in
relevance go to the earlier word, padding is never deleted, and a text shorter than the number
of deletions asked for has all its words deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from keras_relevance.evaluation._scoring import (
    RelevanceLike,
    Scorer,
    check_labels,
    curve_scores,
    deletion_ranks,
    get_relevance,
    random_relevance,
    score_of,
    score_setup,
)


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
    labels = check_labels(labels, len(ids))
    scorer = Scorer(model, batch_size, verbose)
    rel = get_relevance(relevance, model, ids, labels, method_options)
    mask = scorer.mask(ids)
    scorer.start(len(ids) * (max_deletions + 1))
    logits = curve_scores(
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
        "curves": {name: [K+1 floats]}, "random_mean": [...], "random_std": [...],
        "index": (n_kind,) rows of `ids`, "hits": {name: bool (n_kind, K+1)},
        "random_hits": float (n_kind, K+1) (the share of random runs still right)}}`; a kind
        with no examples has `None` curves. `hits` give curves of any subset of the texts and
        per-text bootstrap intervals (`analysis.bootstrap_ci`).

    >>> res = deletion_curves(model, ids, y, methods=["lrp", "sa"])  # doctest: +SKIP
    >>> res["correct"]["curves"]["lrp"]                              # doctest: +SKIP
    [1.0, 0.62, 0.45, 0.37, 0.31, 0.27]
    """
    ids = np.asarray(ids)
    labels = check_labels(labels, len(ids))
    for kind in kinds:
        if kind not in ("correct", "misclassified"):
            raise ValueError(f"kinds must be 'correct' / 'misclassified', got {kind!r}")
    sources = dict(relevance or {})
    for name in methods:
        sources.setdefault(name, name)
    if not sources and not random_seeds:
        raise ValueError("nothing to evaluate: give relevance, methods or random_seeds")
    scorer = Scorer(model, batch_size, verbose)
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
        entry: dict[str, Any] = {"n": int(len(idx)), "order": order, "curves": {},
                                 "index": idx, "hits": {}, "random_hits": None}
        result[kind] = entry
        if len(idx) == 0:
            entry["curves"] = {name: None for name in sources}
            entry["random_mean"] = entry["random_std"] = None
            continue
        sub_ids, sub_labels, sub_mask = ids[idx], labels[idx], mask[idx]

        def curve(
            rel, order=order, sub_ids=sub_ids, sub_labels=sub_labels, sub_mask=sub_mask, idx=idx
        ):
            logits = curve_scores(
                scorer,
                sub_ids,
                deletion_ranks(rel, sub_mask, order),
                sub_mask,
                max_deletions,
                deletion,
                base[idx],
            )
            return (logits.argmax(-1) == sub_labels[None]).T  # (n_kind, K+1)

        for name, source in sources.items():
            if isinstance(source, str):
                options = (method_options or {}).get(name, {})
                rel = get_relevance(source, model, sub_ids, sub_labels, options)
            else:
                rel = get_relevance(source, model, ids, labels)[idx]
            entry["hits"][name] = curve(rel)
            entry["curves"][name] = entry["hits"][name].mean(axis=0).tolist()
        if random_seeds:
            hits = np.stack(
                [curve(random_relevance(mask, seed)[idx]) for seed in range(random_seeds)]
            )
            entry["random_hits"] = hits.mean(axis=0)
            runs = hits.mean(axis=1)
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
    kind: str = "deletion",
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
        kind: "deletion" (above) or "insertion": the insertion AOPC of `insertion_curves`,
            1/(L+1) Σ_k [f(x_(k)) − f(x_(0))] with x_(k) holding only the k most relevant words
            (then `curve` holds the mean gains).

    Returns:
        `{"aopc": float, "curve": [L+1 mean f(x) − f(x^(k))], "per_example": (batch,) array}`.
    """
    if kind == "insertion":
        res = insertion_curves(model, ids, relevance, target, steps=steps, score=score,
                               deletion=deletion, batch_size=batch_size,
                               method_options=method_options, verbose=verbose)
        gains = res["per_example"] - res["per_example"][:, :1]
        return {"aopc": res["aopc"], "curve": gains.mean(axis=0).tolist(),
                "per_example": res["per_example_aopc"]}
    if kind != "deletion":
        raise ValueError(f"kind must be 'deletion' or 'insertion', got {kind!r}")
    ids, scorer, base, target, mask = score_setup(model, ids, target, batch_size, verbose)
    rel = get_relevance(relevance, model, ids, target, method_options)
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' or 'lerf', got {order!r}")
    ranks = deletion_ranks(rel, mask, "decreasing" if order == "morf" else "increasing")
    scorer.start(len(ids) * steps)
    logits = curve_scores(scorer, ids, ranks, mask, steps, deletion, base)
    scores = np.stack([score_of(z, target, score) for z in logits])  # (L+1, batch)
    drops = scores[0][None] - scores
    per_example = drops.mean(axis=0)
    return {
        "aopc": float(per_example.mean()) if len(ids) else float("nan"),
        "curve": drops.mean(axis=1).tolist(),
        "per_example": per_example,
    }


def insertion_curves(
    model,
    ids,
    relevance: RelevanceLike,
    target=None,
    *,
    steps: int | None = 10,
    score: str = "probability",
    deletion: str = "zero",
    labels=None,
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> dict:
    """Insertion curves (Petsiuk et al. 2018, xplique's `Insertion`) and their AOPC.

    Start from the text with every word deleted and insert the words back, most relevant first:
    x_(k) holds only the k most relevant words. A faithful explanation makes the target's
    score rise fast. `insertion AOPC` = mean over examples of 1/(K+1) Σ_{k=0..K}
    [f(x_(k)) − f(x_(0))] (higher is better), `auc` = mean of f(x_(k)) over k (xplique's
    area under the insertion curve on the word axis).

    Args:
        model: a Keras model, model view or `Explainer`.
        ids: int (batch, time) token ids.
        relevance: relevance for `target`: array, Explanation, `explain_fn(ids, target)`, or a
            method name.
        target: None (the predicted class), an int, or (batch,) ints.
        steps: K words inserted at most; None: up to the longest text.
        score: "probability" or "logit" of the target.
        deletion: how the not-yet-inserted words are deleted: "zero" or "remove".
        labels: (batch,) true classes to also report accuracy after each insertion.

    Returns:
        `{"x": [0..K], "curve": [mean f(x_(k))], "aopc": float, "auc": float,
        "accuracy": [K+1] or None, "per_example": (batch, K+1) f(x_(k)),
        "per_example_aopc": (batch,)}`.

    >>> res = insertion_curves(model, ids, "lrp")  # doctest: +SKIP
    >>> res["aopc"]                                # doctest: +SKIP
    """
    ids, scorer, base, target, mask = score_setup(model, ids, target, batch_size, verbose)
    rel = get_relevance(relevance, model, ids, target, method_options)
    if steps is None:
        steps = int(mask.sum(axis=1).max()) if len(ids) else 0
    if isinstance(steps, bool) or int(steps) < 1:
        raise ValueError(f"steps must be a positive int or None, got {steps!r}")
    steps = int(steps)
    ranks = deletion_ranks(rel, mask, "decreasing")
    scorer.start(len(ids) * (steps + 1))
    logits = curve_scores(scorer, ids, ranks, mask, steps, deletion, insert=True)
    values = score_of(logits, target[None], score).T  # (batch, K+1)
    gains = (values - values[:, :1]).mean(axis=1)
    n = len(ids)
    accuracy = None
    if labels is not None:
        labels = check_labels(labels, n)
        accuracy = (logits.argmax(-1) == labels[None]).mean(axis=1).tolist()
    return {
        "x": list(range(steps + 1)),
        "curve": values.mean(axis=0).tolist() if n else [float("nan")] * (steps + 1),
        "aopc": float(gains.mean()) if n else float("nan"),
        "auc": float(values.mean()) if n else float("nan"),
        "accuracy": accuracy,
        "per_example": values,
        "per_example_aopc": gains,
    }


__all__ = ["aopc", "deletion_curve", "deletion_curves", "insertion_curves"]
