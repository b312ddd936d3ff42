"""Data access for the plugin's routes: payloads read through the data provider, parsed once.

`PayloadStore` lists this plugin's runs and tags, reads a tag's steps, parses a step's payload
(`metadata.Payload`) into a cached `Entry` and turns every failure into a `RouteError` naming the
run, tag and step. Like `plugin`, it never imports TensorFlow or keras_relevance.
"""

from __future__ import annotations

import collections
import functools
import json
import threading
from typing import Any

from keras_relevance_tb import metadata
from keras_relevance_tb.params import RouteError, bad, missing, preview
from tensorboard.data import provider

# read_tensors(downsample=...) keeps at most this many steps per tag (0 would return nothing). The
# loader itself keeps only 10 steps of a third-party tag unless TensorBoard runs with
# `--samples_per_plugin keras_relevance=0` (see http_api.md).
DOWNSAMPLE = 1_000_000
LOADER_DEFAULT_SAMPLES = 10
CACHE_BYTES = 256 * 2**20


def check_run(run: str, known) -> str:
    if run not in known:
        raise missing(f"unknown run {run!r}; runs with keras-relevance data: {preview(known)}")
    return run


def peek(content: bytes) -> dict[str, Any]:
    """Best-effort summary type and method of metadata that failed to parse."""
    try:
        data = json.loads(content)
    except (TypeError, ValueError):
        return {"summary": None}
    if not isinstance(data, dict):
        return {"summary": None}
    out: dict[str, Any] = {"summary": data.get("summary")}
    if out["summary"] not in metadata.SUMMARY_KINDS:
        out["summary"] = None
    for key in ("method", "kind"):
        if isinstance(data.get(key), str):
            out[key] = data[key][:64]
    return out


class Entry:
    """A parsed payload (one run / tag / step): its typed header and a lazy id → index map."""

    def __init__(self, payload: metadata.Payload):
        self.payload = payload
        kind = payload.header.get("summary")
        self.header: Any = (
            payload.heatmap_header()
            if kind == metadata.HEATMAP
            else payload.top_words()
            if kind == metadata.TOP_WORDS
            else payload.deletion()
        )

    @functools.cached_property
    def index_of(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.header.ids)}

    @functools.cached_property
    def max_abs(self) -> dict[str, float]:
        """Largest |relevance| per class over all samples: logged, or computed once here."""
        if self.header.max_abs is not None:
            return self.header.max_abs
        out = {str(c): 0.0 for c in self.header.classes}
        for i in range(self.payload.num_records):
            for c, values in self.payload.record(i).get("scores", {}).items():
                finite = [abs(v) for v in values or () if isinstance(v, int | float)]
                out[c] = max([out.get(c, 0.0), *finite])
        return out


class PayloadCache:
    """LRU of parsed payloads keyed by (experiment, run, tag, step, wall_time), bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self._max = max_bytes
        self._items: collections.OrderedDict[tuple, Entry] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, build) -> Entry:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
                return entry
        entry = build()  # parse outside the lock
        with self._lock:
            if key not in self._items:
                self._items[key] = entry
                self._bytes += entry.payload.nbytes
            while self._bytes > self._max and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.payload.nbytes
        return entry


class PayloadStore:
    """This plugin's data in one experiment, through the data provider only (no file access).

    >>> # store = PayloadStore(context.data_provider); store.index(ctx, experiment_id)
    """

    def __init__(self, data_provider, max_bytes: int = CACHE_BYTES):
        self._data_provider = data_provider
        self._cache = PayloadCache(max_bytes)

    def index(self, ctx, experiment) -> dict[str, dict[str, Any]]:
        """run → tag → TensorTimeSeries for this plugin's tags."""
        return self._data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME
        )

    def series(self, ctx, experiment, run: str, tag: str) -> dict[int, Any]:
        """step → TensorDatum for every step the loader kept (the last write of a step wins)."""
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return {d.step: d for d in data.get(run, {}).get(tag, [])}

    def entry(self, experiment, run, tag, datum, expected) -> Entry:
        key = (experiment, run, tag, datum.step, datum.wall_time)
        try:
            return self._cache.get(key, lambda: Entry(metadata.Payload(datum.numpy, expected)))
        except metadata.PayloadError as e:
            raise RouteError(422, f"{run}/{tag} step {datum.step}: {e}") from None

    def tags(self, index, run, summary) -> dict[str, dict[str, Any]]:
        """tag → metadata content for the run's tags of one summary type (None: unreadable ones).

        A tag this plugin cannot read (e.g. a newer payload version) keeps its place with an
        ``"error"`` so that the dashboard can show the message for that item alone.
        """
        out = {}
        for tag, series in sorted(index.get(run, {}).items()):
            try:
                content = metadata.parse_plugin_metadata(series.plugin_content)
            except metadata.PayloadError as e:
                content = {**peek(series.plugin_content), "error": str(e)}
            if content.get("summary") == summary:
                out[tag] = content
        return out

    def resolve_tag(self, index, run, tag, method, summary) -> tuple[str, dict[str, Any]]:
        tags = self.tags(index, run, summary)
        if tag is not None:
            if tag not in tags:
                raise missing(
                    f"unknown {summary} tag {tag!r} in run {run!r}; known: {preview(tags)}"
                )
        elif method is not None:
            matches = [t for t, c in tags.items() if c.get("method") == method]
            if not matches:
                known = {c.get("method") for c in tags.values() if c.get("method")}
                raise missing(f"no method {method!r} in run {run!r}; known: {preview(known)}")
            if len(matches) > 1:
                raise bad(f"method {method!r} is logged under several tags {matches}; pass tag=")
            tag = matches[0]
        else:
            raise bad("missing parameter 'tag' (or 'method')")
        content = tags[tag]
        if content.get("error"):
            raise RouteError(422, f"{run}/{tag}: {content['error']}")
        return tag, content

    def pick(self, ctx, experiment, run, tag, method, step, summary):
        """The payload of one tag (named, or found by `method`) at `step` (None: the latest).

        Returns:
            ``(run, tag, content, series, datum, entry)``: the checked run, the resolved tag and
            its metadata content, step → datum, the chosen datum and its parsed `Entry`.
        """
        index = self.index(ctx, experiment)
        run = check_run(run, index)
        tag, content = self.resolve_tag(index, run, tag, method, summary)
        series = self.series(ctx, experiment, run, tag)
        datum = self.pick_step(series, step, run, tag)
        entry = self.entry(experiment, run, tag, datum, summary)
        return run, tag, content, series, datum, entry

    @staticmethod
    def pick_step(series: dict[int, Any], step: int | None, run: str, tag: str):
        if not series:
            raise missing(f"no data for {run}/{tag}")
        number = max(series) if step is None else step
        if number not in series:
            steps = sorted(series)
            raise missing(
                f"step {number} not logged for {run}/{tag}; steps: {steps[:5]}...{steps[-5:]}"
                if len(steps) > 10
                else f"step {number} not logged for {run}/{tag}; steps: {steps}"
            )
        return series[number]

    @staticmethod
    def sample(entry: Entry, index: int, target: int | None = None) -> dict[str, Any]:
        try:
            record = entry.payload.sample(index).to_json()
        except metadata.PayloadError as e:
            raise RouteError(422, f"sample {index}: {e}") from None
        if target is not None:
            key = str(target)
            record["scores"] = {key: record["scores"].get(key)}
        return {"index": index, **record}

    def describe(self, ctx, experiment, run, tag, content) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": tag}
        if content.get("method"):
            out["method"] = content["method"]
        if content.get("kind"):
            out["kind"] = content["kind"]
        if content.get("error"):
            return {**out, "error": content["error"]}
        series = self.series(ctx, experiment, run, tag)
        out["steps"] = sorted(series)
        if content["summary"] == metadata.HEATMAP:
            out["method"] = content.get("method")
        else:
            out["kind"] = content.get("kind")
        out["error"] = None
        if not series:
            return out
        try:
            latest = self.entry(experiment, run, tag, series[max(series)], content["summary"])
        except RouteError as e:
            out["error"] = e.message
            return out
        header = latest.header
        if content["summary"] == metadata.HEATMAP:
            out["classes"] = header.classes
            out["class_names"] = header.class_names
            out["num_samples"] = latest.payload.num_records
            out["has_labels"] = header.labels is not None
        elif content["summary"] == metadata.TOP_WORDS:
            out["n"] = header.n
        else:
            out["methods"] = sorted(header.curves)
            out["n"] = header.n
        return out
