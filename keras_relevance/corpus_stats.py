"""Dataset-level aggregates of `explain_corpus`, accumulated shard by shard from the stream.

Each shard stores the *sums* of its rows (mergeable by addition) in its Parquet footer; the
aggregates of a run are the merge of its committed shards, so they count every document exactly
once, also across resumes and workers. Per method:

- top words per class (Arras et al. 2017, Table 1): a word's mean relevance over its occurrences
  in documents explained for that class, with the count;
- relevance by relative position: `evaluation.position_distribution` sums in 10 bins;
- with labels: the word-deletion curve of correctly classified documents (Arras et al. 2017:
  accuracy after deleting the k most relevant words, `evaluation.deletion_curve`) and AOPC
  (`evaluation.aopc`, k most relevant words deleted, target logit) of every labelled document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

BINS = 10
TOP_K = 20
MIN_COUNT = 3


def batch_evaluation(explainer, ids, relevance, target, labels, steps: int) -> dict:
    """Deletion / AOPC sums of one batch for one method (rows with a label and a token)."""
    from keras_relevance import evaluation

    ids = np.asarray(ids)
    mask = ids != 0
    keep = (np.asarray(labels) >= 0) & mask.any(axis=1)
    if steps <= 0 or not keep.any():
        return {}
    ids, relevance, target, labels = ids[keep], relevance[keep], target[keep], labels[keep]
    out = {}
    res = evaluation.aopc(explainer, ids, relevance, target, steps=steps, verbose=False)
    out["aopc"] = {
        "n": int(len(ids)),
        "sum": float(np.sum(res["per_example"])),
        "curve_sum": (np.asarray(res["curve"]) * len(ids)).tolist(),
    }
    correct = target == labels  # relevance is for the predicted class = the true class here
    if correct.any():
        acc = evaluation.deletion_curve(
            explainer, ids[correct], labels[correct], relevance[correct],
            max_deletions=steps, verbose=False,
        )
        out["deletion"] = {"n": int(correct.sum()), "accuracy_sum": (acc * correct.sum()).tolist()}
    return out


def shard_statistics(rows: Sequence[Mapping], methods: Sequence[str], evaluations) -> dict:
    """Mergeable sums of one shard. `evaluations`: {method: [batch_evaluation results]}."""
    from keras_relevance.evaluation import position_distribution

    stats = {
        "docs": len(rows),
        "tokens": int(sum(len(r["tokens"]) for r in rows)),
        "labelled": int(sum(r["label"] is not None for r in rows)),
        "correct": int(sum(r["label"] is not None and r["label"] == r["target"] for r in rows)),
        "methods": {},
    }
    for m in methods:
        words: dict[str, dict[str, list]] = {}
        for r in rows:
            table = words.setdefault(str(r["target"]), {})
            for w, s in zip(r["tokens"], r[f"relevance_{m}"], strict=True):
                entry = table.setdefault(w, [0.0, 0])
                entry[0] += float(s)
                entry[1] += 1
        pos = position_distribution([np.asarray(r[f"relevance_{m}"]) for r in rows], bins=BINS)
        entry = {
            "words": words,
            "position": {k: pos[k] for k in ("total", "positive", "negative", "count")},
        }
        for part in evaluations.get(m, []):
            for key, value in part.items():
                entry[key] = merge(entry.get(key), value)
        stats["methods"][m] = entry
    return stats


def merge(a, b):
    """Add two statistics trees (dicts, lists of numbers, numbers); None is the empty tree."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = merge(a.get(key), value)
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            raise ValueError(f"cannot merge statistics of lengths {len(a)} and {len(b)}")
        return [merge(x, y) for x, y in zip(a, b, strict=True)]
    return a + b


def finalize(stats: Mapping | None, top_k: int = TOP_K, min_count: int = MIN_COUNT) -> dict:
    """Readable aggregates (what aggregates.json holds) from merged sums."""
    stats = stats or {"docs": 0, "tokens": 0, "labelled": 0, "correct": 0, "methods": {}}
    out = {key: stats.get(key, 0) for key in ("docs", "tokens", "labelled", "correct")}
    out.update({"top_k": top_k, "min_count": min_count, "bins": BINS, "methods": {}})
    for m, entry in stats.get("methods", {}).items():
        top = {}
        for cls, table in sorted(entry.get("words", {}).items(), key=lambda kv: int(kv[0])):
            means = [(w, s / n, n) for w, (s, n) in table.items() if n >= min_count]
            most = sorted(means, key=lambda x: (-x[1], x[0]))[:top_k]
            least = sorted(means, key=lambda x: (x[1], x[0]))[:top_k]
            top[cls] = {"most": [list(x) for x in most], "least": [list(x) for x in least]}
        pos = entry.get("position", {})
        total = np.asarray(pos.get("total", [0.0] * BINS), np.float64)
        count = np.asarray(pos.get("count", [0] * BINS), np.float64)
        norm = np.abs(total).sum()
        result = {
            "top_words": top,
            "position": {
                "bins": [(b + 1) / BINS for b in range(BINS)],
                **{k: pos.get(k) for k in ("total", "positive", "negative", "count")},
                "mean": np.where(count > 0, total / np.maximum(count, 1), 0.0).tolist(),
                "fraction": (total / norm if norm > 0 else np.zeros(BINS)).tolist(),
            },
        }
        if entry.get("aopc"):
            a = entry["aopc"]
            result["aopc"] = {
                "n": a["n"],
                "aopc": a["sum"] / a["n"],
                "curve": [v / a["n"] for v in a["curve_sum"]],
            }
        if entry.get("deletion"):
            d = entry["deletion"]
            result["deletion"] = {
                "n": d["n"],
                "x": list(range(len(d["accuracy_sum"]))),
                "accuracy": [v / d["n"] for v in d["accuracy_sum"]],
            }
        out["methods"][m] = result
    return out


def folder_aggregates(out, **kwargs) -> dict:
    """Merge the aggregate sums stored in every committed shard of `out` and finalize them."""
    from keras_relevance.shards import committed_shards, shard_aggregates

    out = Path(out)
    _, shards = committed_shards(out)
    total = None
    for index in sorted(shards):
        total = merge(total, shard_aggregates(out / shards[index]["file"]))
    result = finalize(total, **kwargs)
    result["shards"] = len(shards)
    return result
