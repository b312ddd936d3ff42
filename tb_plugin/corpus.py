"""`explain_corpus` output folders inside the logdir: found, read and typed for ``/corpus``.

A corpus folder is a directory under the logdir that holds ``aggregates.json`` beside a manifest
(``manifest.json`` or ``manifest.worker-K.json``), as `keras_relevance.explain_corpus` writes it.
`CorpusIndex` walks the logdir for them (bounded depth and count, symlinks never followed, the
listing cached for `TTL_S` seconds) and reads one folder's aggregates only when the folder is one
it found and the file's real path lies inside the real logdir. `typed_aggregates` checks the
JSON's shape and keeps only the fields the dashboard draws, so a hand-edited or foreign file is a
clear 422, never a 500. Like `plugin`, no TensorFlow or keras_relevance here.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import threading
import time
from typing import Any

from keras_relevance_tb.params import RouteError, bad, missing, preview

AGGREGATES = "aggregates.json"
_MANIFEST = re.compile(r"^manifest(\.worker-\d+)?\.json$")
MAX_DEPTH = 6  # folders below the logdir
MAX_DIRS = 20_000  # folders visited per walk
MAX_FOLDERS = 200  # corpus folders listed
MAX_BYTES = 32 * 2**20  # largest aggregates.json read
MAX_CLASSES, MAX_NAME = 10_000, 200  # class_names shown
MAX_WORDS = 200  # words kept per class and list
MAX_BINS = 1000
TTL_S = 5.0


class CorpusIndex:
    """The corpus folders under one local `logdir`, listed at most once per `ttl` seconds."""

    def __init__(self, logdir: str, ttl: float = TTL_S):
        self.logdir = os.path.realpath(logdir) if logdir else ""
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, list[dict[str, Any]]] | None = None
        self._described: dict[str, tuple[tuple[int, int], dict[str, Any]]] = {}

    def folders(self) -> list[dict[str, Any]]:
        """``[{"path": REL, "docs", "tokens", "methods", "error"}]`` sorted by path."""
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                self._cached = (now, self._scan())
            return self._cached[1]

    def _scan(self) -> list[dict[str, Any]]:
        if not self.logdir or not os.path.isdir(self.logdir):
            return []  # a remote or multi-folder logdir: nothing local to walk
        found, visited = [], 0
        for top, dirs, files in os.walk(self.logdir, followlinks=False):
            visited += 1
            rel = os.path.relpath(top, self.logdir)
            depth = 0 if rel == "." else rel.count(os.sep) + 1
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if depth >= MAX_DEPTH or visited >= MAX_DIRS:
                dirs[:] = []
            if AGGREGATES in files and any(_MANIFEST.match(f) for f in files):
                found.append(self._describe(rel.replace(os.sep, "/")))
                dirs[:] = []  # a corpus folder holds no other corpus
                if len(found) >= MAX_FOLDERS:
                    break
        paths = {f["path"] for f in found}
        self._described = {k: v for k, v in self._described.items() if k in paths}
        return sorted(found, key=lambda f: f["path"])

    def _describe(self, rel: str) -> dict[str, Any]:
        """The listing's entry of `rel`, re-read only when aggregates.json changed."""
        try:
            info = os.lstat(os.path.join(self.logdir, *rel.split("/"), AGGREGATES))
            key = (info.st_mtime_ns, info.st_size)
        except OSError:
            key = None
        cached = self._described.get(rel)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        item = self._read_description(rel)
        if key is not None:
            self._described[rel] = (key, item)
        return item

    def _read_description(self, rel: str) -> dict[str, Any]:
        item: dict[str, Any] = {"path": rel, "docs": None, "tokens": None, "methods": []}
        try:
            agg = typed_aggregates(self._read(rel), rel)
        except RouteError as e:
            return {**item, "error": e.message}
        return {**item, "docs": agg["docs"], "tokens": agg["tokens"],
                "methods": sorted(agg["methods"]), "error": None}

    def aggregates(self, path: str) -> dict[str, Any]:
        """The typed aggregates of the corpus folder `path` (relative to the logdir)."""
        rel = check_path(path)
        known = {f["path"] for f in self.folders()}
        if rel not in known:
            raise missing(
                f"no explain_corpus folder {rel!r} in the logdir; found: {preview(known)}"
            )
        return {"path": rel, **typed_aggregates(self._read(rel), rel)}

    def _read(self, rel: str) -> Any:
        """aggregates.json of `rel`, only if its real path is a regular file inside the logdir."""
        where = os.path.join(self.logdir, *rel.split("/"), AGGREGATES) if rel != "." else (
            os.path.join(self.logdir, AGGREGATES))
        real = os.path.realpath(where)
        if os.path.commonpath([real, self.logdir]) != self.logdir or real != where:
            raise missing(f"{rel!r} leads outside the logdir (a symlink): not served")
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as e:
            raise missing(f"cannot open {rel}/{AGGREGATES}: {e.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise missing(f"{rel}/{AGGREGATES} is not a regular file")
            if info.st_size > MAX_BYTES:
                raise RouteError(422, f"{rel}/{AGGREGATES} is larger than {MAX_BYTES} bytes")
            data = handle.read(MAX_BYTES + 1)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, ValueError) as e:
            raise RouteError(422, f"{rel}/{AGGREGATES} is not JSON: {e}") from None


def check_path(value: str | None) -> str:
    """A corpus folder relative to the logdir, '/'-separated; 400 for anything path-like else."""
    if value is None or value == "":
        raise bad("missing parameter 'path'")
    if len(value) > 1024 or re.search(r"[\x00-\x1f\x7f\\]", value):
        raise bad("malformed path: too long, a backslash or control characters")
    parts = value.split("/")
    if value.startswith(("/", "~")) or re.match(r"[A-Za-z]:", value) or any(
        p in ("", "..") for p in parts
    ) or (value != "." and "." in parts):
        raise bad(f"malformed path {value[:80]!r}: a folder relative to the logdir, no '..'")
    return value


# ----------------------------------------------------------------------------- typing
def _fail(rel: str, what: str) -> RouteError:
    return RouteError(422, f"{rel}/{AGGREGATES}: {what}; not explain_corpus aggregates")


def _count(x, rel, what) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0:
        raise _fail(rel, f"{what} must be a count, got {str(x)[:40]!r}")
    return x


def _num(x, rel, what) -> float | None:
    if x is None:
        return None
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise _fail(rel, f"{what} must be a number, got {str(x)[:40]!r}")
    return float(x) if math.isfinite(x) else None


def _nums(xs, rel, what, limit=MAX_BINS) -> list[float | None]:
    if xs is None:
        return []
    if not isinstance(xs, list) or len(xs) > limit:
        raise _fail(rel, f"{what} must be a list of at most {limit} numbers")
    return [_num(x, rel, what) for x in xs]


def _words(items, rel, what) -> list[dict[str, Any]]:
    if not isinstance(items, list):
        raise _fail(rel, f"{what} must be a list of [word, mean, count]")
    out = []
    for item in items[:MAX_WORDS]:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
            raise _fail(rel, f"{what} must hold [word, mean, count] triples")
        out.append({"word": item[0][:200], "mean": _num(item[1], rel, what),
                    "count": _count(item[2], rel, what)})
    return out


def _method(m: str, entry, rel: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise _fail(rel, f"methods.{m} must be an object")
    top = {}
    for cls, lists in (entry.get("top_words") or {}).items():
        if not re.fullmatch(r"-?[0-9]{1,19}", str(cls)) or not isinstance(lists, dict):
            raise _fail(rel, f"methods.{m}.top_words needs integer classes")
        top[str(cls)] = {k: _words(lists.get(k, []), rel, f"methods.{m}.top_words.{cls}.{k}")
                         for k in ("most", "least")}
    pos = entry.get("position") or {}
    if not isinstance(pos, dict):
        raise _fail(rel, f"methods.{m}.position must be an object")
    position = {k: _nums(pos.get(k), rel, f"methods.{m}.position.{k}")
                for k in ("bins", "mean", "fraction", "total", "positive", "negative", "count")}
    out: dict[str, Any] = {"top_words": top, "position": position, "aopc": None, "deletion": None}
    aopc = entry.get("aopc")
    if isinstance(aopc, dict):
        out["aopc"] = {"n": _count(aopc.get("n"), rel, "aopc.n"),
                       "aopc": _num(aopc.get("aopc"), rel, "aopc.aopc"),
                       "curve": _nums(aopc.get("curve"), rel, "aopc.curve")}
    deletion = entry.get("deletion")
    if isinstance(deletion, dict):
        out["deletion"] = {"n": _count(deletion.get("n"), rel, "deletion.n"),
                           "x": _nums(deletion.get("x"), rel, "deletion.x"),
                           "accuracy": _nums(deletion.get("accuracy"), rel, "deletion.accuracy")}
    return out


def typed_aggregates(data: Any, rel: str) -> dict[str, Any]:
    """The fields of aggregates.json the dashboard shows, each type-checked (422 otherwise)."""
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise _fail(rel, "expected an object with 'methods'")
    out: dict[str, Any] = {
        k: _count(data.get(k, 0), rel, k)
        for k in ("docs", "tokens", "labelled", "correct", "shards", "top_k", "min_count")
    }
    methods = {}
    for m, entry in sorted(data["methods"].items()):
        if not re.fullmatch(r"[A-Za-z0-9_.+\-]{1,64}", m):
            raise _fail(rel, f"malformed method name {m[:40]!r}")
        methods[m] = _method(m, entry, rel)
    out["methods"] = methods
    names = data.get("class_names")
    if names is not None and (
        not isinstance(names, list) or len(names) > MAX_CLASSES
        or not all(isinstance(n, str) and len(n) <= MAX_NAME for n in names)
    ):
        raise _fail(rel, f"class_names must be a list of at most {MAX_CLASSES} strings of at "
                         f"most {MAX_NAME} characters")
    out["class_names"] = names
    return out
