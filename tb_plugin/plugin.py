"""The keras-relevance TensorBoard plugin: routes over the data provider, and a static dashboard.

TensorBoard imports this module at start-up for every user, so it never imports TensorFlow or
keras_relevance (a test checks this in a subprocess). Routes are thin; each ``*_impl(ctx,
experiment, ...)`` method is pure (data provider in, JSON-ready dict out), validates its raw string
arguments and raises `RouteError` (a 4xx answer with a JSON message) for bad input. The route
contract with examples is in ``http_api.md``.
"""

from __future__ import annotations

import collections
import functools
import json
import mimetypes
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_relevance_tb import explain, metadata, params
from keras_relevance_tb.params import RouteError
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

__all__ = ["KerasRelevancePlugin", "RouteError"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Served files are fixed at import: a request can only name one of these, never a path.
STATIC_FILES = (
    frozenset(p.name for p in STATIC_DIR.iterdir() if p.is_file())
    if STATIC_DIR.is_dir()
    else frozenset()
)
_MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}

# read_tensors(downsample=...) keeps at most this many steps per tag (0 would return nothing). The
# loader itself keeps only 10 steps of a third-party tag unless TensorBoard runs with
# `--samples_per_plugin keras_relevance=0` (see http_api.md).
DOWNSAMPLE = 1_000_000
LOADER_DEFAULT_SAMPLES = 10
CACHE_BYTES = 256 * 2**20

# route → (*_impl name, query parameters it takes; parsed by `params.parse`)
ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "/runs": ("runs_impl", ()),
    "/heatmaps": (
        "heatmaps_impl",
        ("run", "tag", "method", "step", "offset", "limit", "filter", "class"),
    ),
    "/sample": ("sample_impl", ("run", "id", "step")),
    "/sample_history": ("sample_history_impl", ("run", "tag", "method", "id")),
    "/deletion_curves": ("deletion_curves_impl", ("run", "tag", "step")),
    "/aopc": ("aopc_impl", ("run", "kind")),
    "/top_words": ("top_words_impl", ("run", "tag", "method", "step")),
}

_check_text = params.text
_bad, _missing, _preview = params.bad, params.missing, params.preview


def _check_run(run: str, known) -> str:
    if run not in known:
        raise _missing(f"unknown run {run!r}; runs with keras-relevance data: {_preview(known)}")
    return run


def _peek(content: bytes) -> dict[str, Any]:
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


class _Entry:
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


class _PayloadCache:
    """LRU of parsed payloads keyed by (experiment, run, tag, step, wall_time), bounded in bytes."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self._max = max_bytes
        self._items: collections.OrderedDict[tuple, _Entry] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple, build) -> _Entry:
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


class KerasRelevancePlugin(base_plugin.TBPlugin):
    """Token heatmaps and deletion curves logged by `keras_relevance_tb.summary`.

    >>> # TensorBoard loads it through the `tensorboard_plugins` entry point:
    >>> # tensorboard --logdir runs --samples_per_plugin keras_relevance=0
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._data_provider = context.data_provider
        self._cache = _PayloadCache()
        self._logdir = getattr(context, "logdir", None) or ""
        self._pool: explain.WorkerPool | None = None
        self._pool_lock = threading.Lock()

    @property
    def pool(self) -> explain.WorkerPool:
        """The explain workers (`explain.WorkerPool`), started on the first typed sentence."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = explain.WorkerPool(os.path.realpath(self._logdir))
            return self._pool

    # ---- TBPlugin ------------------------------------------------------------------------------

    def get_plugin_apps(self):
        apps = {route: self._route(route) for route in ROUTES}
        apps["/explain"] = self._serve_explain
        apps["/static/*"] = self._serve_static
        return apps

    def is_active(self) -> bool:
        return False  # active exactly when the data provider lists data for `plugin_name`

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="Relevance")

    # ---- routes (thin) -------------------------------------------------------------------------

    def handle(self, route: str, ctx, experiment, raw: Mapping[str, str | None]) -> dict:
        """Parse the raw query of `route` (`params.parse`) and call its ``*_impl``.

        Raises:
            RouteError: a malformed parameter (400) or what the implementation refuses.
        """
        name, names = ROUTES[route]
        return getattr(self, name)(ctx, experiment, **params.parse(names, raw))

    def _route(self, route):
        @wrappers.Request.application
        def serve(request):
            ctx = plugin_util.context(request.environ)
            experiment = plugin_util.experiment_id(request.environ)
            try:
                body, code = self.handle(route, ctx, experiment, request.args), 200
            except RouteError as e:
                body, code = {"error": e.message}, e.code
            except errors.PublicError as e:
                body, code = {"error": str(e)}, e.http_code
            return http_util.Respond(request, body, "application/json", code=code)

        return serve

    @wrappers.Request.application
    def _serve_explain(self, request):
        """POST a JSON object ``{"run", "step"?, "text", "methods"}`` (see `explain_impl`)."""
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        try:
            if request.method != "POST":
                raise RouteError(405, "POST a JSON object {run, step, text, methods}")
            if request.mimetype != "application/json":  # also keeps other sites' forms out
                raise RouteError(415, "the body must be application/json")
            if (request.content_length or 0) > explain.MAX_BODY:
                raise RouteError(413, f"the request is larger than {explain.MAX_BODY} bytes")
            try:
                body = json.loads(request.get_data(cache=False)[: explain.MAX_BODY + 1])
            except (UnicodeDecodeError, ValueError):
                raise _bad("the body is not JSON") from None
            if not isinstance(body, dict):
                raise _bad("the body must be a JSON object {run, step, text, methods}")
            args = explain.parse_request(body)
            payload, code = self.explain_impl(ctx, experiment, **args), 200
        except RouteError as e:
            payload, code = {"error": e.message}, e.code
        except errors.PublicError as e:
            payload, code = {"error": str(e)}, e.http_code
        return http_util.Respond(request, payload, "application/json", code=code)

    @wrappers.Request.application
    def _serve_static(self, request):
        name = request.path.rsplit("/static/", 1)[-1]
        if name not in STATIC_FILES:  # never a path: only the files present at import
            body = {"error": f"no static file {name[:80]!r}"}
            return http_util.Respond(request, body, "application/json", code=404)
        suffix = Path(name).suffix
        mimetype = _MIMETYPES.get(suffix) or mimetypes.guess_type(name)[0] or "text/plain"
        content = (STATIC_DIR / name).read_bytes()
        return http_util.Respond(request, content, mimetype)

    # ---- data access (through the data provider only) -----------------------------------------

    def _index(self, ctx, experiment) -> dict[str, dict[str, Any]]:
        """run → tag → TensorTimeSeries for this plugin's tags."""
        return self._data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME
        )

    @staticmethod
    def _content(series) -> dict[str, Any]:
        """The tag's parsed metadata; raises RouteError(422) for a newer/unreadable payload."""
        try:
            return metadata.parse_plugin_metadata(series.plugin_content)
        except metadata.PayloadError as e:
            raise RouteError(422, str(e)) from None

    def _series(self, ctx, experiment, run: str, tag: str) -> dict[int, Any]:
        """step → TensorDatum for every step the loader kept (the last write of a step wins)."""
        data = self._data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=[tag]),
        )
        return {d.step: d for d in data.get(run, {}).get(tag, [])}

    def _entry(self, experiment, run, tag, datum, expected) -> _Entry:
        key = (experiment, run, tag, datum.step, datum.wall_time)
        try:
            return self._cache.get(key, lambda: _Entry(metadata.Payload(datum.numpy, expected)))
        except metadata.PayloadError as e:
            raise RouteError(422, f"{run}/{tag} step {datum.step}: {e}") from None

    def _tags(self, index, run, summary) -> dict[str, dict[str, Any]]:
        """tag → metadata content for the run's tags of one summary type (None: unreadable ones).

        A tag this plugin cannot read (e.g. a newer payload version) keeps its place with an
        ``"error"`` so that the dashboard can show the message for that item alone.
        """
        out = {}
        for tag, series in sorted(index.get(run, {}).items()):
            try:
                content = metadata.parse_plugin_metadata(series.plugin_content)
            except metadata.PayloadError as e:
                content = {**_peek(series.plugin_content), "error": str(e)}
            if content.get("summary") == summary:
                out[tag] = content
        return out

    def _resolve_tag(self, index, run, tag, method, summary) -> tuple[str, dict[str, Any]]:
        tags = self._tags(index, run, summary)
        if tag is not None:
            if tag not in tags:
                raise _missing(
                    f"unknown {summary} tag {tag!r} in run {run!r}; known: {_preview(tags)}"
                )
        elif method is not None:
            matches = [t for t, c in tags.items() if c.get("method") == method]
            if not matches:
                known = {c.get("method") for c in tags.values() if c.get("method")}
                raise _missing(f"no method {method!r} in run {run!r}; known: {_preview(known)}")
            if len(matches) > 1:
                raise _bad(f"method {method!r} is logged under several tags {matches}; pass tag=")
            tag = matches[0]
        else:
            raise _bad("missing parameter 'tag' (or 'method')")
        content = tags[tag]
        if content.get("error"):
            raise RouteError(422, f"{run}/{tag}: {content['error']}")
        return tag, content

    @staticmethod
    def _pick_step(series: dict[int, Any], step: int | None, run: str, tag: str):
        if not series:
            raise _missing(f"no data for {run}/{tag}")
        number = max(series) if step is None else step
        if number not in series:
            steps = sorted(series)
            raise _missing(
                f"step {number} not logged for {run}/{tag}; steps: {steps[:5]}...{steps[-5:]}"
                if len(steps) > 10
                else f"step {number} not logged for {run}/{tag}; steps: {steps}"
            )
        return series[number]

    @staticmethod
    def _sample(entry: _Entry, index: int, target: int | None = None) -> dict[str, Any]:
        try:
            record = entry.payload.sample(index).to_json()
        except metadata.PayloadError as e:
            raise RouteError(422, f"sample {index}: {e}") from None
        if target is not None:
            key = str(target)
            record["scores"] = {key: record["scores"].get(key)}
        return {"index": index, **record}

    # ---- implementations (pure: typed arguments in, JSON-ready dict out) ----------------------

    def runs_impl(self, ctx, experiment) -> dict[str, Any]:
        """Runs, heatmap tags (method, steps, classes) and deletion-curve tags (kind, steps)."""
        index = self._index(ctx, experiment)
        runs, methods, notes = [], set(), []
        for run in sorted(index):
            heatmaps, deletions = [], []
            for tag, content in sorted(self._tags(index, run, metadata.HEATMAP).items()):
                heatmaps.append(self._describe(ctx, experiment, run, tag, content))
                if content.get("method"):
                    methods.add(content["method"])
            for tag, content in sorted(self._tags(index, run, metadata.DELETION).items()):
                deletions.append(self._describe(ctx, experiment, run, tag, content))
            words = [
                self._describe(ctx, experiment, run, tag, content)
                for tag, content in sorted(self._tags(index, run, metadata.TOP_WORDS).items())
            ]
            unreadable = [
                {"tag": tag, "error": content["error"]}
                for tag, content in self._tags(index, run, None).items()
            ]
            if heatmaps or deletions or words or unreadable:
                runs.append(
                    {
                        "run": run,
                        "heatmaps": heatmaps,
                        "deletion_curves": deletions,
                        "top_words": words,
                        "unreadable": unreadable,
                    }
                )
            if any(len(t.get("steps", ())) == LOADER_DEFAULT_SAMPLES for t in heatmaps + deletions):
                notes.append(
                    f"Run {run!r} shows exactly {LOADER_DEFAULT_SAMPLES} steps for some tags: "
                    "TensorBoard keeps 10 steps per plugin tag by default. Start it with "
                    "--samples_per_plugin keras_relevance=0 to see every step."
                )
        return {"runs": runs, "methods": sorted(methods), "notes": notes}

    def _describe(self, ctx, experiment, run, tag, content) -> dict[str, Any]:
        out: dict[str, Any] = {"tag": tag}
        if content.get("method"):
            out["method"] = content["method"]
        if content.get("kind"):
            out["kind"] = content["kind"]
        if content.get("error"):
            return {**out, "error": content["error"]}
        series = self._series(ctx, experiment, run, tag)
        out["steps"] = sorted(series)
        if content["summary"] == metadata.HEATMAP:
            out["method"] = content.get("method")
        else:
            out["kind"] = content.get("kind")
        out["error"] = None
        if not series:
            return out
        try:
            latest = self._entry(experiment, run, tag, series[max(series)], content["summary"])
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

    def heatmaps_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        tag: str | None = None,
        method: str | None = None,
        step: int | None = None,
        offset: int = 0,
        limit: int = params.DEFAULT_LIMIT,
        filter: str = "all",  # noqa: A002 - the query parameter's name
        target: int | None = None,
    ) -> dict[str, Any]:
        """One page of samples of one method (tag) at one step."""
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        tag, content = self._resolve_tag(index, run, tag, method, metadata.HEATMAP)
        series = self._series(ctx, experiment, run, tag)
        datum = self._pick_step(series, step, run, tag)
        entry = self._entry(experiment, run, tag, datum, metadata.HEATMAP)
        header = entry.header
        if target is not None and target not in header.classes:
            raise _missing(
                f"class {target} not explained in {run}/{tag}; classes: {header.classes}"
            )
        n = entry.payload.num_records
        if filter == "all":
            total = n
            chosen = range(offset, min(n, offset + limit))
        else:
            labels, preds = header.labels, header.predictions
            if labels is None or preds is None:
                raise _bad(
                    f"filter={filter} needs labels and predictions, not logged in {run}/{tag}"
                )
            want = filter == "correct"
            matching = [i for i in range(n) if (labels[i] == preds[i]) == want]
            total = len(matching)
            chosen = matching[offset : offset + limit]
        return {
            "run": run,
            "tag": tag,
            "method": content.get("method"),
            "step": datum.step,
            "wall_time": datum.wall_time,
            "steps": sorted(series),
            "classes": header.classes,
            "class_names": header.class_names,
            "num_samples": n,
            "max_abs": entry.max_abs,
            "filter": filter,
            "total": total,
            "offset": offset,
            "limit": limit,
            "samples": [self._sample(entry, i, target) for i in chosen],
        }

    def sample_impl(self, ctx, experiment, *, run: str, id: str, step: int | None = None):  # noqa: A002
        """One sample under every method of the run, at one step (default: the latest)."""
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        tags = self._tags(index, run, metadata.HEATMAP)
        if not tags:
            raise _missing(f"run {run!r} has no token heatmaps")
        all_series = {
            t: self._series(ctx, experiment, run, t) for t, c in tags.items() if not c.get("error")
        }
        steps = sorted({s for series in all_series.values() for s in series})
        step_n = (max(steps) if steps else 0) if step is None else step
        if step_n not in steps:
            raise _missing(f"step {step_n} not logged for run {run!r}")
        methods, found = [], 0
        for tag, content in tags.items():
            item: dict[str, Any] = {"tag": tag, "method": content.get("method")}
            if content.get("error"):
                methods.append({**item, "error": content["error"]})
                continue
            datum = all_series[tag].get(step_n)
            if datum is None:
                methods.append({**item, "error": f"not logged at step {step_n}"})
                continue
            try:
                entry = self._entry(experiment, run, tag, datum, metadata.HEATMAP)
            except RouteError as e:
                methods.append({**item, "error": e.message})
                continue
            i = entry.index_of.get(id)
            if i is None:
                methods.append({**item, "error": f"sample {id!r} not logged at this step"})
                continue
            found += 1
            methods.append(
                {
                    **item,
                    "classes": entry.header.classes,
                    "class_names": entry.header.class_names,
                    "max_abs": entry.max_abs,
                    "sample": self._sample(entry, i),
                    "error": None,
                }
            )
        if not found and all(m["error"].startswith(("sample", "not logged")) for m in methods):
            raise _missing(f"no sample {id!r} in run {run!r} at step {step_n}")
        return {"run": run, "id": id, "step": step_n, "steps": steps, "methods": methods}

    def sample_history_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        id: str,  # noqa: A002
        tag: str | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """One sample under one method at every logged step."""
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        tag, content = self._resolve_tag(index, run, tag, method, metadata.HEATMAP)
        history = []
        for step_n, datum in sorted(self._series(ctx, experiment, run, tag).items()):
            try:
                entry = self._entry(experiment, run, tag, datum, metadata.HEATMAP)
            except RouteError as e:
                history.append({"step": step_n, "error": e.message})
                continue
            i = entry.index_of.get(id)
            if i is not None:
                history.append({"step": step_n, "sample": self._sample(entry, i), "error": None})
        if not history:
            raise _missing(f"no sample {id!r} in {run}/{tag}")
        return {
            "run": run,
            "tag": tag,
            "method": content.get("method"),
            "id": id,
            "history": history,
        }

    def deletion_curves_impl(
        self, ctx, experiment, *, run: str, tag: str | None = None, step: int | None = None
    ) -> dict[str, Any]:
        """Deletion curves of a run (all deletion tags, or one), at one step (default: latest)."""
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        tags = self._tags(index, run, metadata.DELETION)
        if tag is not None:
            if tag not in tags:
                raise _missing(
                    f"unknown deletion_curve tag {tag!r} in run {run!r}; known: {_preview(tags)}"
                )
            tags = {tag: tags[tag]}
        curves = []
        for name, content in tags.items():
            item: dict[str, Any] = {"tag": name, "kind": content.get("kind")}
            if content.get("error"):
                curves.append({**item, "error": content["error"]})
                continue
            series = self._series(ctx, experiment, run, name)
            try:
                datum = self._pick_step(series, step, run, name)
                entry = self._entry(experiment, run, name, datum, metadata.DELETION)
            except RouteError as e:
                if tag:  # one tag asked for: its error is the answer
                    raise
                curves.append({**item, "steps": sorted(series), "error": e.message})
                continue
            record = entry.header.to_json()
            for key in ("summary", "num_samples", "kind"):
                record.pop(key)
            curves.append(
                {**item, "step": datum.step, "steps": sorted(series), **record, "error": None}
            )
        return {"run": run, "deletion_curves": curves}

    def aopc_impl(self, ctx, experiment, *, run: str, kind: str = "correct") -> dict[str, Any]:
        """AOPC of each method at every logged step of the run's `kind` deletion curves.

        Returns ``{method: [AopcPoint.to_json(), ...]}`` sorted by step; empty without deletion
        curves of that kind. A step whose payload cannot be read is left out.
        """
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        by_method: dict[str, dict[int, metadata.AopcPoint]] = {}
        for name, content in self._tags(index, run, metadata.DELETION).items():
            if content.get("error") or content.get("kind") != kind:
                continue
            for step_n, datum in self._series(ctx, experiment, run, name).items():
                try:
                    record = self._entry(experiment, run, name, datum, metadata.DELETION).header
                except RouteError:
                    continue
                for method, value in record.aopc.items():
                    area = None if record.area is None else record.area.get(method)
                    by_method.setdefault(method, {})[step_n] = metadata.AopcPoint(
                        step_n, value, record.n, area, record.random_aopc
                    )
        return {
            method: [points[s].to_json() for s in sorted(points)]
            for method, points in sorted(by_method.items())
        }

    def top_words_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        tag: str | None = None,
        method: str | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        """Top words per class of one method at one step, and at the logged step before it."""
        index = self._index(ctx, experiment)
        run = _check_run(run, index)
        tag, content = self._resolve_tag(index, run, tag, method, metadata.TOP_WORDS)
        series = self._series(ctx, experiment, run, tag)
        datum = self._pick_step(series, step, run, tag)
        record = self._entry(experiment, run, tag, datum, metadata.TOP_WORDS).header
        earlier = [s for s in series if s < datum.step]
        previous = None
        if earlier:
            try:
                previous = self._entry(
                    experiment, run, tag, series[max(earlier)], metadata.TOP_WORDS
                ).header
            except RouteError:
                previous = None
        return {
            "run": run,
            "tag": tag,
            "method": record.method or content.get("method"),
            "step": datum.step,
            "steps": sorted(series),
            "n": record.n,
            "class_names": record.class_names,
            "classes": record.classes,
            "previous": None
            if previous is None
            else {"step": max(earlier), "n": previous.n, "classes": previous.classes},
        }

    def explain_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        text: str,
        methods: list[str],
        step: int | None = None,
    ) -> dict[str, Any]:
        """Explain `text` with the model the run kept at `step` (default: the newest kept).

        Returns ``{"run", "step", "tokens", "relevance": {method: [...]}, "logits", "target",
        "class_names", "unknown"}``; the work runs in a worker process (`explain.WorkerPool`).
        """
        run = _check_run(run, self._index(ctx, experiment))
        return explain.explain_text(self.pool, self._logdir, run, step, text, methods)
