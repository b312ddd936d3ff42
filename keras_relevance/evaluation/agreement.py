"""Agreement of an explanation with leave-one-out (ferret's `taucorr_loo`) and with human
rationales (ferret's plausibility: token-level AUPRC and token F1)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from keras_relevance.analysis import average_precision, kendall_tau_b, token_f1
from keras_relevance.evaluation._scoring import (
    RelevanceLike,
    Scorer,
    get_relevance,
    resolve_target,
    score_of,
    score_setup,
)


def leave_one_out(
    model,
    ids,
    target=None,
    *,
    score: str = "probability",
    deletion: str = "remove",
    batch_size: int = 256,
    verbose="auto",
) -> np.ndarray:
    """Leave-one-out scores (batch, time): f(x) − f(x without word t), 0 at padding.

    f is the target's probability (or logit); the word is removed (`deletion="remove"`, as
    ferret does) or its embedding zeroed (`"zero"`, the `occlusion` method's convention).
    """
    ids, scorer, base, target, mask = score_setup(model, ids, target, batch_size, verbose)
    used = np.flatnonzero(mask.any(axis=0))  # positions holding a word in some text
    loo = np.zeros(mask.shape)
    full = score_of(base, target, score)
    scorer.start(len(used) * len(ids))
    for start in range(0, len(used), 16):  # 16 positions at a time bounds the memory
        pos = used[start : start + 16]
        delete = np.zeros((len(pos), *mask.shape), bool)
        delete[np.arange(len(pos)), :, pos] = True
        delete &= mask[None]
        logits = scorer.logits(ids, delete, deletion)  # (P, batch, classes)
        loo[:, pos] = (full[None] - score_of(logits, target[None], score)).T
    return np.where(mask, loo, 0.0)


def taucorr_loo(
    model,
    ids,
    relevance: RelevanceLike,
    target=None,
    *,
    score: str = "probability",
    deletion: str = "remove",
    batch_size: int = 256,
    method_options: Mapping | None = None,
    verbose="auto",
) -> dict:
    """Kendall's τ-b between relevance and leave-one-out scores, per text (ferret's
    `taucorr_loo`, DeYoung-style faithfulness without retraining).

    Args:
        relevance: relevance for `target` (array, Explanation, `explain_fn(ids, target)`, name).
        target: None (predicted class), an int or (batch,) ints.
        score / deletion: as in `leave_one_out`.

    Returns:
        `{"taucorr_loo": mean τ over texts with a defined τ, "per_example": (batch,) τ (NaN for
        texts under two words or with constant scores), "loo": (batch, time)}`.
    """
    ids, _, _, target, mask = score_setup(model, ids, target, batch_size, verbose)
    rel = get_relevance(relevance, model, ids, target, method_options)
    loo = leave_one_out(model, ids, target, score=score, deletion=deletion,
                        batch_size=batch_size, verbose=verbose)
    taus = np.array([kendall_tau_b(r[m], lo[m]) for r, lo, m in zip(rel, loo, mask, strict=True)])
    defined = taus[np.isfinite(taus)]
    return {
        "taucorr_loo": float(defined.mean()) if len(defined) else float("nan"),
        "per_example": taus,
        "loo": loo,
    }


def plausibility(
    model,
    ids,
    relevance: RelevanceLike,
    rationales,
    target=None,
    *,
    k: int | None = None,
    method_options: Mapping | None = None,
) -> dict:
    """Token-level AUPRC and token F1 of the relevance against human rationales (ferret).

    Per text, over its real words: AUPRC = average precision of the relevance as a score for
    the rationale words; token F1 = F1 of the top-k words (k = None: as many as the rationale
    holds). Texts without a rationale word are left out of the means.

    Args:
        model: needed only when `relevance` is a method name or a function (else may be None).
        ids: (batch, time) token ids (0 = padding).
        relevance: relevance for `target`.
        rationales: bool (batch, time) or per-text bool arrays: the human rationale for the
            target class (e.g. `datasets.sst_rationales`).
        target: the class the rationales and relevance are for (None: predicted).

    Returns:
        `{"auprc": float, "token_f1": float, "n": texts counted,
        "per_example": {"auprc": (batch,), "token_f1": (batch,)}}`.
    """
    ids = np.asarray(ids)
    if len(rationales) != len(ids):
        raise ValueError(f"got rationales for {len(rationales)} texts, ids have {len(ids)}")
    if isinstance(relevance, str) or (callable(relevance) and not hasattr(relevance, "relevance")):
        if model is None:
            raise ValueError("a method name or function needs the model")
        scorer = Scorer(model)
        target = resolve_target(target, scorer.logits(ids))
        mask = scorer.mask(ids)
    else:
        mask = getattr(relevance, "mask", None)
        mask = ids != 0 if mask is None else np.asarray(mask, bool)
    rel = get_relevance(relevance, model, ids, target, method_options)
    ap = np.full(len(ids), np.nan)
    f1 = np.full(len(ids), np.nan)
    for i, (r, m) in enumerate(zip(rel, mask, strict=True)):
        gold = np.zeros(len(r), bool)
        row = np.asarray(rationales[i], bool)
        gold[: len(row)] = row[: len(r)]
        ap[i] = average_precision(r[m], gold[m])
        f1[i] = token_f1(r[m], gold[m], k)
    counted = np.isfinite(ap)
    return {
        "auprc": float(ap[counted].mean()) if counted.any() else float("nan"),
        "token_f1": float(f1[counted].mean()) if counted.any() else float("nan"),
        "n": int(counted.sum()),
        "per_example": {"auprc": ap, "token_f1": f1},
    }




__all__ = ["leave_one_out", "plausibility", "taucorr_loo"]
