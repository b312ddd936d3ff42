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

The records of `keras_relevance_tb.records` (`HeatmapHeader`, `SampleRecord`, `DeletionRecord`,
`AopcPoint`, `TopWordsRecord`; re-exported here) are the typed form of these lines: the writer
builds them, the routes read them and answer with their ``to_json()``; ``http_api.md`` documents
the same fields.

The `SummaryMetadata` of a tag carries a small JSON object
(``{"version": 1, "summary": "token_heatmap", "method": "lrp"}``) so that the plugin can list tags,
methods and kinds without reading the tensors.

This module imports only TensorBoard's protos (no TensorFlow): the plugin uses it at start-up.

>>> md = create_summary_metadata(HEATMAP, method="lrp")
>>> parse_plugin_metadata(md.plugin_data.content)["method"]
'lrp'
"""

from __future__ import annotations

import json
from typing import Any

from keras_relevance_tb.records import (
    DELETION,
    DELETION_KINDS,
    HEATMAP,
    SUMMARY_KINDS,
    TOP_WORDS,
    AopcPoint,
    DeletionRecord,
    HeatmapHeader,
    PayloadError,
    SampleRecord,
    TopWordsRecord,
    deletion_scores,
)
from tensorboard.compat.proto import summary_pb2

# the summary kinds, PayloadError and the typed records live in `records`; importable from here
__all__ = [
    "DELETION",
    "DELETION_KINDS",
    "HEATMAP",
    "PAYLOAD_VERSION",
    "PLUGIN_NAME",
    "SUMMARY_KINDS",
    "TOP_WORDS",
    "AopcPoint",
    "DeletionRecord",
    "HeatmapHeader",
    "NewerPayloadError",
    "Payload",
    "PayloadError",
    "SampleRecord",
    "TopWordsRecord",
    "create_summary_metadata",
    "deletion_scores",
    "encode_payload",
    "parse_payload",
    "parse_plugin_metadata",
]

PLUGIN_NAME = "keras_relevance"

# Bump when the payload changes in a way an older plugin cannot read. Readers accept versions
# <= PAYLOAD_VERSION and report a clear error for newer ones.
PAYLOAD_VERSION = 1

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
