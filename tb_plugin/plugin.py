"""The keras-relevance TensorBoard plugin: routes over the data provider, and a static dashboard.

TensorBoard imports this module at start-up for every user, so it never imports TensorFlow or
keras_relevance (a test checks this in a subprocess). Routes are thin: this module parses the
request and answers; each ``*_impl(ctx, experiment, ...)`` method (`views.Views`) is pure (data
provider in, JSON-ready dict out) and raises `RouteError` (a 4xx answer with a JSON message) for bad
input; `store.PayloadStore` reads and caches the payloads; `explain` runs typed sentences in worker
processes. The route contract with examples is in ``http_api.md``.
"""

from __future__ import annotations

import json
import mimetypes
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_relevance_tb import corpus, explain, metadata, params
from keras_relevance_tb.params import RouteError, bad
from keras_relevance_tb.store import DOWNSAMPLE as DOWNSAMPLE  # the read limit, importable here
from keras_relevance_tb.store import PayloadStore, check_run
from keras_relevance_tb.views import Views
from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
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
    "/corpus": ("corpus_impl", ("path",)),
}


class KerasRelevancePlugin(Views, base_plugin.TBPlugin):
    """Token heatmaps and deletion curves logged by `keras_relevance_tb.summary`.

    >>> # TensorBoard loads it through the `tensorboard_plugins` entry point:
    >>> # tensorboard --logdir runs --samples_per_plugin keras_relevance=0
    """

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext):
        self._store = PayloadStore(context.data_provider)
        self._logdir = getattr(context, "logdir", None) or ""
        self._corpora = corpus.CorpusIndex(self._logdir)
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
        # Asked only when the data provider lists no data of ours: an explain_corpus folder in
        # the logdir is enough to show the tab (the walk is bounded and cached).
        try:
            return bool(self._corpora.folders())
        except OSError:
            return False

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
                raise bad("the body is not JSON") from None
            if not isinstance(body, dict):
                raise bad("the body must be a JSON object {run, step, text, methods}")
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
        run = check_run(run, self._store.index(ctx, experiment))
        return explain.explain_text(self.pool, self._logdir, run, step, text, methods)
