"""One source of truth for the keras-relevance summary format.

Each summary is a scalar string tensor holding a UTF-8 JSON payload. The `SummaryMetadata` of a tag
carries a small JSON object (``{"version": 1, "summary": "token_heatmap", "method": "lrp"}``) so
that the plugin can list tags, methods and kinds without reading the tensors.

This module imports only TensorBoard's protos (no TensorFlow): the plugin uses it at start-up.

>>> md = create_summary_metadata(HEATMAP, method="lrp")
>>> parse_plugin_metadata(md.plugin_data.content)["method"]
'lrp'
"""

from __future__ import annotations

import json
import math
from typing import Any

from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "keras_relevance"

# Bump when the payload changes in a way an older plugin cannot read. Readers accept versions
# <= PAYLOAD_VERSION and report a clear error for newer ones.
PAYLOAD_VERSION = 1

HEATMAP = "token_heatmap"
DELETION = "deletion_curve"
SUMMARY_KINDS = (HEATMAP, DELETION)
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
        summary: `HEATMAP` or `DELETION`.
        method: the explanation method of a heatmap tag (e.g. ``"lrp"``).
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


def _finite(x: Any) -> float | None:
    f = float(x)
    return f if math.isfinite(f) else None


def encode_payload(payload: dict[str, Any]) -> str:
    """Serialises a payload dict (adds the version). Non-finite floats must already be None."""
    return json.dumps(
        {"version": PAYLOAD_VERSION, **payload}, separators=(",", ":"), allow_nan=False
    )


def parse_payload(value: Any, expected: str | None = None) -> dict[str, Any]:
    """Decodes one tensor value (bytes, str, or a 0-d numpy array of either) to a payload dict.

    Raises:
        NewerPayloadError: the payload version is newer than `PAYLOAD_VERSION`.
        PayloadError: not a readable payload (or not of the `expected` summary type).
    """
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("payload is not UTF-8") from None
    if not isinstance(value, str):
        raise PayloadError(f"payload is not a string scalar (got {type(value).__name__})")
    try:
        data = json.loads(value)
    except ValueError as e:
        raise PayloadError(f"payload is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise PayloadError("payload is not a JSON object")
    _check_version(data.get("version"), "payload")
    if expected is not None and data.get("summary") != expected:
        raise PayloadError(f"expected a {expected} payload, got {data.get('summary')!r}")
    return data
