"""One source of truth for the keras-relevance summary format.

Each summary is a scalar string tensor holding a UTF-8 payload: a JSON header line, then (heatmaps
only) one JSON line per sample. Header of a heatmap::

    {"version": 1, "summary": "token_heatmap", "method": "lrp", "classes": [0, 1],
     "class_names": ["neg", "pos"] | null, "num_samples": n, "ids": ["0", ...],
     "labels": [1, ...] | null, "predictions": [0, ...] | null,
     "max_abs": {"0": 1.3, "1": 1.4} | null}

and each sample line::

    {"id": "0", "tokens": ["a", "fine", "film"], "label": 1 | null, "prediction": 1 | null,
     "logits": [-0.3, 1.2] | null, "scores": {"0": [...], "1": [0.01, 0.8, 0.1]}}

A deletion curve is a single line::

    {"version": 1, "summary": "deletion_curve", "kind": "correct", "num_samples": 0, "x": [0, 1, 2],
     "curves": {"lrp": [1.0, 0.6, 0.4]}, "random": {"mean": [...], "std": [...] | null} | null,
     "n": 180 | null, "aopc": {"lrp": 0.33}, "area": {"lrp": 0.21} | null,
     "random_aopc": 0.08 | null}

Top words of a data set (a single line)::

    {"version": 1, "summary": "top_words", "num_samples": 0, "method": "lrp", "n": 200,
     "class_names": ["neg", "pos"] | null,
     "classes": {"1": {"most": [{"word": "great", "mean": 0.81, "count": 12}, ...],
                       "least": [...]}}}

(``n``, ``aopc``, ``area`` and ``random_aopc`` are optional: payloads written before them are read
with the scores computed from the curves by `deletion_scores`.)

The records below (`HeatmapHeader`, `SampleRecord`, `DeletionRecord`, `AopcPoint`) are the typed
form of these lines: the writer builds them, the routes read them and answer with their
``to_json()``; ``http_api.md`` documents the same fields.

The `SummaryMetadata` of a tag carries a small JSON object
(``{"version": 1, "summary": "token_heatmap", "method": "lrp"}``) so that the plugin can list tags,
methods and kinds without reading the tensors.

This module imports only TensorBoard's protos (no TensorFlow): the plugin uses it at start-up.

>>> md = create_summary_metadata(HEATMAP, method="lrp")
>>> parse_plugin_metadata(md.plugin_data.content)["method"]
'lrp'
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "keras_relevance"

# Bump when the payload changes in a way an older plugin cannot read. Readers accept versions
# <= PAYLOAD_VERSION and report a clear error for newer ones.
PAYLOAD_VERSION = 1

HEATMAP = "token_heatmap"
DELETION = "deletion_curve"
TOP_WORDS = "top_words"
SUMMARY_KINDS = (HEATMAP, DELETION, TOP_WORDS)
DELETION_KINDS = ("correct", "misclassified")


class PayloadError(ValueError):
    """A payload or metadata blob that this version of the plugin cannot read."""


class NewerPayloadError(PayloadError):
    """Written by a newer keras-relevance than the one reading it."""


def _check_version(version: Any, what: str) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise PayloadError(f"{what}: malformed payload version {version!r}")
    if version > PAYLOAD_VERSION:
        raise NewerPayloadError(
            f"{what} was written with payload version {version}; this plugin reads versions "
            f"<= {PAYLOAD_VERSION}. Upgrade keras-relevance to view it."
        )
    return version


def create_summary_metadata(
    summary: str,
    *,
    method: str | None = None,
    kind: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
) -> summary_pb2.SummaryMetadata:
    """Builds the `SummaryMetadata` for one keras-relevance summary.

    Args:
        summary: `HEATMAP`, `DELETION` or `TOP_WORDS`.
        method: the explanation method of a heatmap or top-words tag (e.g. ``"lrp"``).
        kind: ``"correct"`` or ``"misclassified"`` for a deletion-curve tag.
        display_name: optional display name.
        description: optional Markdown description.

    Returns:
        A `SummaryMetadata` with ``data_class=DATA_CLASS_TENSOR`` (the data provider drops tensor
        summaries of other classes).
    """
    if summary not in SUMMARY_KINDS:
        raise ValueError(f"unknown summary {summary!r}; known: {list(SUMMARY_KINDS)}")
    content: dict[str, Any] = {"version": PAYLOAD_VERSION, "summary": summary}
    if method is not None:
        content["method"] = str(method)
    if kind is not None:
        content["kind"] = str(kind)
    return summary_pb2.SummaryMetadata(
        display_name=display_name or "",
        summary_description=description or "",
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content, sort_keys=True).encode("utf-8")
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_metadata(content: bytes) -> dict[str, Any]:
    """Parses the `plugin_data.content` of a keras-relevance tag.

    Raises:
        NewerPayloadError: written by a newer version (the message says so).
        PayloadError: not a keras-relevance metadata blob.
    """
    if not isinstance(content, (bytes, bytearray)):
        raise TypeError("content must be bytes")
    try:
        data = json.loads(bytes(content).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise PayloadError(f"summary metadata is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise PayloadError("summary metadata is not a JSON object")
    _check_version(data.get("version"), "summary metadata")
    if data.get("summary") not in SUMMARY_KINDS:
        raise PayloadError(f"unknown summary type {data.get('summary')!r}")
    return data


def encode_payload(header: dict[str, Any], records: list[dict[str, Any]] | None = None) -> str:
    """Serialises a payload: one JSON header line (with the version), then one JSON line per record.

    Heatmaps store one record (sample) per line so that a reader can page through 10,000 sentences
    without parsing all of them. Non-finite floats must already be None (strict JSON).
    """
    lines = [
        json.dumps({"version": PAYLOAD_VERSION, **header}, separators=(",", ":"), allow_nan=False)
    ]
    for record in records or ():
        lines.append(json.dumps(record, separators=(",", ":"), allow_nan=False))
    return "\n".join(lines)  # json.dumps never emits a raw newline


def _as_bytes(value: Any) -> bytes:
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise PayloadError(f"payload is not a string scalar (got {type(value).__name__})")


def _loads(line: bytes, what: str) -> Any:
    try:
        return json.loads(line)
    except (UnicodeDecodeError, ValueError) as e:
        raise PayloadError(f"{what} is not JSON: {e}") from None


class Payload:
    """One logged payload, read lazily: the header at once, records (samples) on demand.

    Args:
        value: the tensor value (bytes, str, or a 0-d numpy array of either).
        expected: the summary type required (`HEATMAP` or `DELETION`), or None.

    Raises:
        NewerPayloadError: the payload version is newer than `PAYLOAD_VERSION`.
        PayloadError: not a readable payload (or not of the `expected` summary type).

    >>> p = Payload(encode_payload({"summary": HEATMAP, "num_samples": 1}, [{"id": "0"}]))
    >>> p.num_records, p.record(0)["id"]
    (1, '0')
    """

    def __init__(self, value: Any, expected: str | None = None):
        lines = _as_bytes(value).split(b"\n")
        header = _loads(lines[0], "payload header")
        if not isinstance(header, dict):
            raise PayloadError("payload header is not a JSON object")
        _check_version(header.get("version"), "payload")
        if header.get("summary") not in SUMMARY_KINDS:
            raise PayloadError(f"unknown summary type {header.get('summary')!r}")
        if expected is not None and header.get("summary") != expected:
            raise PayloadError(f"expected a {expected} payload, got {header.get('summary')!r}")
        n = header.get("num_samples", 0)
        if not isinstance(n, int) or n != len(lines) - 1:
            raise PayloadError(f"payload says {n!r} samples but holds {len(lines) - 1}")
        self.header: dict[str, Any] = header
        self._lines = lines
        self.nbytes = sum(len(line) for line in lines)

    @property
    def num_records(self) -> int:
        return len(self._lines) - 1

    def record(self, index: int) -> dict[str, Any]:
        """The record (sample) at `index` (0-based), parsed."""
        if not 0 <= index < self.num_records:
            raise IndexError(index)
        record = _loads(self._lines[index + 1], f"payload record {index}")
        if not isinstance(record, dict):
            raise PayloadError(f"payload record {index} is not a JSON object")
        return record

    def heatmap_header(self) -> HeatmapHeader:
        """The typed header of a heatmap payload (`PayloadError` when a field is malformed)."""
        return HeatmapHeader.from_json(self.header)

    def sample(self, index: int) -> SampleRecord:
        """The typed sample at `index` of a heatmap payload."""
        return SampleRecord.from_json(self.record(index))

    def deletion(self) -> DeletionRecord:
        """The typed record of a deletion-curve payload."""
        return DeletionRecord.from_json(self.header)

    def top_words(self) -> TopWordsRecord:
        """The typed record of a top-words payload."""
        return TopWordsRecord.from_json(self.header)


def parse_payload(value: Any, expected: str | None = None) -> dict[str, Any]:
    """Decodes one tensor value to a dict: the header, plus ``samples`` (all records) for heatmaps.

    Raises:
        NewerPayloadError: the payload version is newer than `PAYLOAD_VERSION`.
        PayloadError: not a readable payload (or not of the `expected` summary type).
    """
    payload = Payload(value, expected)
    out = dict(payload.header)
    if out["summary"] == HEATMAP:
        out["samples"] = [payload.record(i) for i in range(payload.num_records)]
    return out


# ---- typed records ----------------------------------------------------------------------------


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
