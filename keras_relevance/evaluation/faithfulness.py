"""ERASER comprehensiveness / sufficiency (DeYoung et al. 2020) and REAT faithfulness (Du et al.
2019, Eq. 23), with words deleted by zeroing their embeddings or by removing them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from keras_relevance.analysis import clause_scores_from_relevance
from keras_relevance.evaluation._scoring import (
    RelevanceLike,
    deletion_ranks,
    get_relevance,
    score_of,
    score_setup,
)

DEFAULT_BINS = (1, 5, 10, 20, 50)


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
    ids, scorer, base, target, mask = score_setup(model, ids, target, batch_size, verbose)
    rel = get_relevance(relevance, model, ids, target, method_options)
    lengths = mask.sum(axis=1)
    ranks = deletion_ranks(rel, mask, "decreasing")
    full = score_of(base, target, score)
    comp = np.zeros((len(ids), len(bins)))
    suff = np.zeros((len(ids), len(bins)))
    scorer.start(2 * len(ids) * len(bins))
    for j, b in enumerate(bins):
        if not 0 < b <= 100:
            raise ValueError(f"bins are percentages in (0, 100], got {b}")
        k = np.maximum(1, np.ceil(lengths * b / 100.0 - 1e-9)).astype(int)
        rationale = (ranks < k[:, None]) & mask
        comp[:, j] = full - score_of(scorer.logits(ids, rationale, deletion), target, score)
        suff[:, j] = full - score_of(scorer.logits(ids, mask & ~rationale, deletion), target, score)
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
    ids, scorer, base, target, mask = score_setup(model, ids, target, batch_size, verbose)
    if clause_scores is None:
        if relevance is None:
            raise ValueError("give clause_scores or relevance")
        rel = get_relevance(relevance, model, ids, target, method_options)
        clause_scores = clause_scores_from_relevance(rel, clause_spans)
    if len(clause_scores) != len(ids):
        raise ValueError(f"got clause scores for {len(clause_scores)} texts, ids have {len(ids)}")
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
    per_example = score_of(base, target, score) - score_of(after, target, score)
    return {
        "faithfulness": float(per_example.mean()) if len(ids) else float("nan"),
        "per_example": per_example,
        "chosen": chosen,
    }
