"""The typed records of the keras-relevance payloads: the schema that writer, routes and page share.

`HeatmapHeader`, `SampleRecord`, `DeletionRecord`, `AopcPoint` and `TopWordsRecord` are the typed
form of the payload lines described in `metadata` (which re-exports every name here): the writer
builds them, the routes read them and answer with their ``to_json()``; ``http_api.md`` documents
the same fields. ``from_json`` raises `PayloadError` naming the malformed field. No TensorFlow here.

>>> AopcPoint(step=3, aopc=0.25, n=40).to_json()["aopc"]
0.25
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

HEATMAP = "token_heatmap"
DELETION = "deletion_curve"
TOP_WORDS = "top_words"
SUMMARY_KINDS = (HEATMAP, DELETION, TOP_WORDS)
DELETION_KINDS = ("correct", "misclassified")


class PayloadError(ValueError):
    """A payload or metadata blob that this version of the plugin cannot read."""



def _opt_list(value: Any, what: str, kind: type | tuple = int) -> list | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        (v is None or (isinstance(v, kind) and not isinstance(v, bool))) for v in value
    ):
        raise PayloadError(f"{what} must be a list of {getattr(kind, '__name__', 'values')}")
    return value


def _opt_nums(value: Any, what: str) -> list | None:
    return _opt_list(value, what, (int, float))


def _max_abs(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()
    ):
        raise PayloadError("heatmap header: max_abs must map classes to numbers")
    return {str(k): float(v) for k, v in value.items()}


@dataclasses.dataclass(frozen=True)
class HeatmapHeader:
    """The header line of a `token_heatmap` payload (one method, one step, all samples)."""

    method: str
    classes: list[int]
    num_samples: int
    ids: list[str]
    class_names: list[str] | None = None
    labels: list[int] | None = None
    predictions: list[int] | None = None
    # largest |relevance| over all samples, per class (the dashboard's per-step colour scale)
    max_abs: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": HEATMAP,
            "max_abs": self.max_abs,
            "method": self.method,
            "classes": self.classes,
            "class_names": self.class_names,
            "num_samples": self.num_samples,
            "ids": self.ids,
            "labels": self.labels,
            "predictions": self.predictions,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HeatmapHeader:
        """Checks the fields' types (a `PayloadError` names the first wrong one)."""
        n = data.get("num_samples")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise PayloadError(f"heatmap header: num_samples {n!r} is not a count")
        ids = data.get("ids")
        if ids is None:
            ids = [str(i) for i in range(n)]
        ids = [str(i) for i in _opt_list(ids, "heatmap header ids", (str, int))]
        out = cls(
            method=str(data.get("method") or ""),
            classes=_opt_list(data.get("classes") or [], "heatmap header classes"),
            num_samples=n,
            ids=ids,
            class_names=_opt_list(data.get("class_names"), "heatmap header class_names", str),
            labels=_opt_list(data.get("labels"), "heatmap header labels"),
            predictions=_opt_list(data.get("predictions"), "heatmap header predictions"),
            max_abs=_max_abs(data.get("max_abs")),
        )
        for name in ("ids", "labels", "predictions"):
            values = getattr(out, name)
            if values is not None and len(values) != n:
                raise PayloadError(f"heatmap header: {len(values)} {name} for {n} samples")
        return out

    def class_name(self, c: int | None) -> str | None:
        """The name of class `c` (None when the run logged no names)."""
        if c is None or self.class_names is None or not 0 <= c < len(self.class_names):
            return None
        return self.class_names[c]


@dataclasses.dataclass(frozen=True)
class SampleRecord:
    """One sample line of a `token_heatmap` payload: tokens and relevance per explained class."""

    id: str
    tokens: list[str]
    scores: dict[str, list[float | None]]
    label: int | None = None
    prediction: int | None = None
    logits: list[float | None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tokens": self.tokens,
            "label": self.label,
            "prediction": self.prediction,
            "logits": self.logits,
            "scores": self.scores,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SampleRecord:
        tokens = _opt_list(data.get("tokens"), "sample tokens", str)
        scores = data.get("scores")
        if tokens is None or not isinstance(scores, dict):
            raise PayloadError("sample record needs tokens and scores")
        for c, values in scores.items():
            if _opt_nums(values, f"scores[{c}]") is None or len(values) != len(tokens):
                raise PayloadError(f"sample {data.get('id')!r}: scores[{c}] do not match tokens")
        label, prediction = data.get("label"), data.get("prediction")
        for what, v in (("label", label), ("prediction", prediction)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise PayloadError(f"sample {data.get('id')!r}: {what} {v!r} is not a class id")
        return cls(
            id=str(data.get("id")),
            tokens=tokens,
            scores=scores,
            label=label,
            prediction=prediction,
            logits=_opt_nums(data.get("logits"), "sample logits"),
        )


def _mean(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite and len(finite) == len(values) else None


def deletion_scores(
    curves: Mapping[str, Sequence[float | None]],
    random_mean: Sequence[float | None] | None,
    kind: str,
) -> tuple[dict[str, float | None], dict[str, float | None] | None, float | None]:
    """AOPC of each deletion curve, its area to the random baseline, and the random AOPC.

    With accuracy ``a_k`` after k = 0..K deleted words (Samek et al. 2017, on accuracy):
    ``AOPC = 1/(K+1) Σ_k (a_0 − a_k)`` for ``correct`` (most relevant first: accuracy falls) and
    ``1/(K+1) Σ_k (a_k − a_0)`` for ``misclassified`` (least relevant first: accuracy rises).
    The area to random is ``1/(K+1) Σ_k s (r_k − a_k)`` with ``s = +1`` (correct) or ``−1``
    (misclassified), ``r`` the random baseline's mean: positive when the method beats random.

    >>> deletion_scores({"lrp": [1.0, 0.5, 0.0]}, [1.0, 0.8, 0.6], "correct")
    ({'lrp': 0.5}, {'lrp': 0.3}, 0.2)
    """
    if kind not in DELETION_KINDS:
        raise ValueError(f"kind must be one of {list(DELETION_KINDS)}, got {kind!r}")
    sign = 1.0 if kind == "correct" else -1.0

    def aopc(curve):
        if not curve or curve[0] is None:
            return None
        value = _mean([None if v is None else sign * (curve[0] - v) for v in curve])
        return None if value is None else round(value, 6)

    scores = {m: aopc(c) for m, c in curves.items()}
    area = None
    random_aopc = None
    if random_mean is not None:
        random_aopc = aopc(list(random_mean))
        area = {}
        for m, c in curves.items():
            if len(c) != len(random_mean):
                area[m] = None
                continue
            diffs = [
                None if a is None or r is None else sign * (r - a)
                for a, r in zip(c, random_mean, strict=True)
            ]
            value = _mean(diffs)
            area[m] = None if value is None else round(value, 6)
    return scores, area, random_aopc


@dataclasses.dataclass(frozen=True)
class DeletionRecord:
    """A `deletion_curve` payload: accuracy after 0..K deletions per method, random baseline."""

    kind: str
    x: list[float]
    curves: dict[str, list[float | None]]
    random: dict[str, list[float | None] | None] | None = None
    n: int | None = None
    aopc: dict[str, float | None] = dataclasses.field(default_factory=dict)
    area: dict[str, float | None] | None = None
    random_aopc: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"summary": DELETION, "num_samples": 0, **dataclasses.asdict(self)}

    @classmethod
    def build(cls, kind, x, curves, random=None, n=None) -> DeletionRecord:
        """A record with its AOPC and area to random computed (`deletion_scores`)."""
        aopc, area, random_aopc = deletion_scores(
            curves, None if random is None else random.get("mean"), kind
        )
        return cls(kind, x, curves, random, n, aopc, area, random_aopc)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeletionRecord:
        kind = data.get("kind")
        if kind not in DELETION_KINDS:
            raise PayloadError(f"deletion payload: unknown kind {kind!r}")
        curves = data.get("curves")
        if not isinstance(curves, dict):
            raise PayloadError("deletion payload: curves is not an object")
        for m, c in curves.items():
            _opt_nums(c, f"deletion curve {m!r}")
        random = data.get("random")
        if random is not None and (
            not isinstance(random, dict) or _opt_nums(random.get("mean"), "random mean") is None
        ):
            raise PayloadError("deletion payload: random needs a mean")
        n = data.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 0):
            raise PayloadError(f"deletion payload: n {n!r} is not a count")
        x = _opt_nums(data.get("x") or [], "deletion x")
        if "aopc" not in data:  # written before AOPC was logged: compute it from the curves
            return cls.build(kind, x, curves, random, n)
        return cls(
            kind, x, curves, random, n, dict(data.get("aopc") or {}), data.get("area"),
            data.get("random_aopc"),
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class AopcPoint:
    """One point of the AOPC-over-steps chart (`GET /aopc`): one method at one step."""

    step: int
    aopc: float | None
    n: int | None
    area: float | None = None
    random_aopc: float | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _word_list(value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise PayloadError(f"{what} is not a list")
    out = []
    for item in value:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("word"), str)
            or not isinstance(item.get("count"), int)
            or not (item.get("mean") is None or isinstance(item.get("mean"), int | float))
        ):
            raise PayloadError(f"{what}: each entry needs word (str), mean (number), count (int)")
        out.append({"word": item["word"], "mean": item["mean"], "count": item["count"]})
    return out


@dataclasses.dataclass(frozen=True)
class TopWordsRecord:
    """A `top_words` payload: per class, the words with the highest / lowest mean relevance.

    ``classes[c]["most"]`` is a list of ``{"word", "mean", "count"}`` (count: occurrences in the
    sentences whose relevance was for class c), most relevant first; ``"least"`` the other end.
    """

    method: str
    classes: dict[str, dict[str, list[dict[str, Any]]]]
    n: int | None = None
    class_names: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": TOP_WORDS,
            "num_samples": 0,
            "method": self.method,
            "n": self.n,
            "class_names": self.class_names,
            "classes": self.classes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TopWordsRecord:
        classes = data.get("classes")
        if not isinstance(classes, dict):
            raise PayloadError("top_words payload: classes is not an object")
        parsed = {}
        for c, lists in classes.items():
            if not isinstance(lists, dict):
                raise PayloadError(f"top_words payload: class {c!r} is not an object")
            parsed[str(c)] = {
                end: _word_list(lists.get(end, []), f"top_words[{c}][{end}]")
                for end in ("most", "least")
            }
        n = data.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
            raise PayloadError(f"top_words payload: n {n!r} is not a count")
        return cls(
            method=str(data.get("method") or ""),
            classes=parsed,
            n=n,
            class_names=_opt_list(data.get("class_names"), "top_words class_names", str),
        )
