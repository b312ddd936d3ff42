"""NumPy-only analyses of relevance over a corpus, and the statistics the metrics share.

Nothing here runs a model: the functions take relevance arrays (or `Explanation`s) with tokens,
tags or embeddings. `keras_relevance.evaluation` re-exports the analyses under their old names.

- corpus analyses: `top_words` (Arras et al. 2017, Table 1), `position_distribution` (Fig. 4),
  `pos_distribution` (Du et al. 2019, Fig. 7), `document_vectors` and `pca` (Arras et al. 2016,
  Fig. 3), `lexicon_interpretability` (Du et al. 2019, Eq. 24), `clause_scores_from_relevance`;
- statistics: `kendall_tau_b`, `spearman`, `average_precision`, `token_f1`, `bootstrap_ci`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np


# ---------------------------------------------------------------------------------- lexicon
def clause_scores_from_relevance(relevance, spans: Sequence[Sequence[tuple[int, int]]]) -> list:
    """Score each (start, end) span (end exclusive) by the sum of its words' relevance."""
    rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
    return [
        np.asarray([float(np.sum(np.asarray(r)[s:e])) for s, e in row], np.float64)
        for r, row in zip(rel, spans, strict=True)
    ]


def lexicon_interpretability(
    tokens: Sequence[Sequence[str]],
    relevance,
    lexicon,
    lower: bool = True,
    tags: Sequence[Sequence[str]] | None = None,
    keep_tags: Collection[str] = ("ADJ",),
    match: str = "all_pairs",
) -> dict:
    """REAT interpretability (Du et al. 2019, Eq. 24) against an opinion lexicon.

    Only texts holding both lexicon-positive and lexicon-negative words count. score =
    #matches / #texts counted.

    Args:
        tokens: the words of each text (aligned with relevance positions).
        relevance: (batch, time) array (or per-text 1-D arrays / an Explanation) for the
            **positive** class.
        lexicon: `(positive words, negative words)`, e.g. `datasets.load_opinion_lexicon()`.
        lower: compare lowercased words.
        tags: per-text POS tags aligned with `tokens` (e.g. `chunking.pos_tags`); when given,
            only lexicon words tagged one of `keep_tags` count (the paper's restriction to
            adjectives: `keep_tags=("ADJ",)`, universal tags).
        match: the reading of "positive words score higher than negative words":
            `"all_pairs"` — every positive word outscores every negative word (min > max);
            `"mean"` — the positive words' mean score exceeds the negative words' mean.
            With one word of each polarity the two agree.

    Returns:
        `{"score": float, "matches": int, "texts": int, "eligible": [text index],
        "matched": [bool per eligible text]}`.
    """
    if match not in ("all_pairs", "mean"):
        raise ValueError(f"match must be 'all_pairs' or 'mean', got {match!r}")
    if tags is not None and len(tags) != len(tokens):
        raise ValueError(f"tags has {len(tags)} texts for {len(tokens)} token lists")
    rel = relevance.relevance if hasattr(relevance, "relevance") else relevance
    positive, negative = lexicon
    norm = (lambda w: w.lower()) if lower else (lambda w: w)
    positive = {norm(w) for w in positive}
    negative = {norm(w) for w in negative}
    keep = set(keep_tags)
    eligible, matched = [], []
    for i, (words, scores) in enumerate(zip(tokens, rel, strict=True)):
        scores = np.asarray(scores, np.float64)
        if tags is not None and len(tags[i]) != len(words):
            raise ValueError(f"text {i}: {len(tags[i])} tags for {len(words)} tokens")
        counted = [tags is None or tags[i][t] in keep for t in range(len(words))]
        pos = [scores[t] for t, w in enumerate(words) if counted[t] and norm(w) in positive]
        neg = [scores[t] for t, w in enumerate(words) if counted[t] and norm(w) in negative]
        if pos and neg:
            eligible.append(i)
            if match == "all_pairs":
                matched.append(bool(min(pos) > max(neg)))
            else:
                matched.append(bool(np.mean(pos) > np.mean(neg)))
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


def knn_accuracy(x, labels, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy (Euclidean; majority vote, ties to the nearest
    neighbour's class): how well document vectors (or a 2-D projection of them) keep the classes
    apart, the measure Arras et al. use for relevance-weighted document vectors."""
    x = np.asarray(x, np.float64)
    labels = np.asarray(labels)
    if len(x) != len(labels):
        raise ValueError(f"{len(x)} vectors for {len(labels)} labels")
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in [1, {len(x) - 1}] for {len(x)} vectors, got {k}")
    sq = (x**2).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    np.fill_diagonal(dist, np.inf)  # leave one out
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]
    hits = 0
    for i, row in enumerate(nearest):
        votes = labels[row]
        values, counts = np.unique(votes, return_counts=True)
        best = values[counts == counts.max()]
        pick = next(v for v in votes if v in best)  # ties: the nearest among the tied classes
        hits += int(pick == labels[i])
    return hits / len(x)




# ---------------------------------------------------------------------------------- statistics
def kendall_tau_b(x, y) -> float:
    """Kendall's τ-b of two score vectors (ties in either handled as in scipy's `kendalltau`).

    τ_b = (C − D) / sqrt((n0 − n1)(n0 − n2)), with C / D the concordant / discordant pairs,
    n0 = n(n−1)/2, n1 / n2 the pairs tied in x / in y. NaN when either vector is constant or
    has fewer than two entries.

    >>> kendall_tau_b([1, 2, 3], [1, 3, 2])
    0.3333333333333333
    """
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.shape} vs {y.shape}")
    n = len(x)
    if n < 2:
        return float("nan")
    i, j = np.triu_indices(n, k=1)
    dx = np.sign(x[i] - x[j])
    dy = np.sign(y[i] - y[j])
    n0 = len(i)
    n1 = int((dx == 0).sum())
    n2 = int((dy == 0).sum())
    denom = np.sqrt(float(n0 - n1) * float(n0 - n2))
    if denom == 0:
        return float("nan")
    return float((dx * dy).sum() / denom)


def rankdata(x) -> np.ndarray:
    """Ranks 1..n, ties get their average rank (scipy's `rankdata(method="average")`)."""
    x = np.asarray(x, np.float64).ravel()
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    xs = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or xs[end] != xs[start]:
            ranks[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return ranks


def spearman(x, y) -> float:
    """Spearman's rank correlation (Pearson on average ranks); NaN for constant input."""
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.shape} vs {y.shape}")
    if len(x) < 2:
        return float("nan")
    rx = rankdata(x) - (len(x) + 1) / 2.0
    ry = rankdata(y) - (len(y) + 1) / 2.0
    denom = np.sqrt((rx**2).sum() * (ry**2).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def average_precision(scores, labels) -> float:
    """Area under the precision-recall curve as average precision (sklearn's definition).

    AP = Σ_n (R_n − R_{n−1}) P_n over the distinct score thresholds, highest first (tied
    scores enter together). NaN when `labels` holds no positive.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels differ in length: {scores.shape} vs {labels.shape}")
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, lab = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]  # end of each threshold group
    tp = np.cumsum(lab)[last]
    precision = tp / (last + 1.0)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def token_f1(scores, labels, k: int | None = None) -> float:
    """F1 of the top-k scored tokens against the human rationale `labels` (bool).

    k = None takes as many tokens as the rationale holds (then precision = recall). Ties go to
    the earlier position. NaN when `labels` holds no positive.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    positives = int(labels.sum())
    if positives == 0:
        return float("nan")
    k = positives if k is None else min(int(k), len(scores))
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    top = np.argsort(-scores, kind="stable")[:k]
    hits = int(labels[top].sum())
    precision, recall = hits / k, hits / positives
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def bootstrap_ci(groups, n_boot: int = 1000, level: float = 0.95, seed: int = 0):
    """Mean and percentile bootstrap interval of per-text values, over one or several seeds.

    Args:
        groups: one 1-D array of per-text values, or a list of them (one per training seed).
            NaN entries are dropped.
        n_boot: bootstrap resamples. With several seeds each resample draws seeds with
            replacement, then texts with replacement within each drawn seed (a two-level
            bootstrap: the interval holds the spread across seeds and the noise of the texts).

    Returns:
        `(mean, (low, high))`: the mean over seeds of the per-seed means and its interval.
    """
    if isinstance(groups, np.ndarray) and groups.ndim == 1:
        groups = [groups]
    groups = [np.asarray(g, np.float64) for g in groups]
    groups = [g[np.isfinite(g)] for g in groups]
    groups = [g for g in groups if len(g)]
    if not groups:
        return float("nan"), (float("nan"), float("nan"))
    mean = float(np.mean([g.mean() for g in groups]))
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        picks = rng.integers(0, len(groups), len(groups)) if len(groups) > 1 else [0]
        stats[b] = np.mean([groups[p][rng.integers(0, len(groups[p]), len(groups[p]))].mean()
                            for p in picks])
    alpha = (1 - level) / 2
    return mean, (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha)))


__all__ = [
    "average_precision",
    "bootstrap_ci",
    "clause_scores_from_relevance",
    "document_vectors",
    "kendall_tau_b",
    "knn_accuracy",
    "lexicon_interpretability",
    "pca",
    "pos_distribution",
    "position_distribution",
    "rankdata",
    "spearman",
    "token_f1",
    "top_words",
]
