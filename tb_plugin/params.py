"""Query parameters of the plugin's routes: raw strings in, typed values out (or a 4xx).

Each parser takes the raw query value (None when absent) and returns the typed value the
``*_impl`` methods receive; syntax errors become `RouteError(400)`. Whether a run, tag, step or
sample exists is the implementation's business (404). No TensorFlow here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from keras_relevance_tb import metadata

MAX_LIMIT = 500
DEFAULT_LIMIT = 25
MAX_OFFSET = 10**9
INT64 = (-(2**63), 2**63 - 1)
MAX_NAME = 512
FILTERS = ("all", "correct", "misclassified")

_INT = re.compile(r"[+-]?[0-9]{1,19}")
_METHOD = re.compile(r"[A-Za-z0-9_.+\-]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"[A-Za-z]:")


class RouteError(Exception):
    """A client error: answered with ``code`` and ``{"error": message}``."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def bad(message: str) -> RouteError:
    return RouteError(400, message)


def missing(message: str) -> RouteError:
    return RouteError(404, message)


def preview(names) -> str:
    names = sorted(names)
    shown = ", ".join(repr(n) for n in names[:20])
    return shown + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


def text(value: str | None, what: str, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise bad(f"missing parameter {what!r}")
        return None
    if len(value) > MAX_NAME or _CONTROL.search(value):
        raise bad(f"malformed {what}: too long or has control characters")
    return value


def run_name(value: str | None) -> str:
    """A run name (never a path)."""
    run = text(value, "run")
    parts = re.split(r"[\\/]", run)
    if ".." in parts or run.startswith(("/", "\\", "~")) or _DRIVE.match(run):
        raise bad(f"malformed run {run!r}: a run is a name, not a path")
    return run


def integer(value: str | None, what: str, lo: int, hi: int, default: int | None = None):
    if value is None or value == "":
        return default
    if not _INT.fullmatch(value):
        raise bad(f"{what} must be an integer, got {value[:40]!r}")
    number = int(value)
    if not lo <= number <= hi:
        raise bad(f"{what} must be in [{lo}, {hi}], got {value[:40]}")
    return number


def method_name(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _METHOD.fullmatch(value):
        raise bad(f"malformed method {value[:40]!r}")
    return value


def choice(value: str | None, what: str, choices: tuple[str, ...], default: str) -> str:
    which = value or default
    if which not in choices:
        raise bad(f"{what} must be one of {list(choices)}, got {which[:40]!r}")
    return which


# query name → (keyword of the *_impl, parser)
PARSERS: dict[str, tuple[str, Callable[[str | None], object]]] = {
    "run": ("run", run_name),
    "tag": ("tag", lambda v: text(v, "tag", required=False)),
    "method": ("method", method_name),
    "step": ("step", lambda v: integer(v, "step", *INT64)),
    "offset": ("offset", lambda v: integer(v, "offset", 0, MAX_OFFSET, default=0)),
    "limit": ("limit", lambda v: integer(v, "limit", 1, MAX_LIMIT, default=DEFAULT_LIMIT)),
    "filter": ("filter", lambda v: choice(v, "filter", FILTERS, "all")),
    "class": ("target", lambda v: integer(v, "class", *INT64)),
    "id": ("id", lambda v: text(v, "id")),
    "kind": ("kind", lambda v: choice(v, "kind", metadata.DELETION_KINDS, "correct")),
    "path": ("path", lambda v: text(v, "path", required=False)),  # checked by corpus.check_path
}


def parse(names: tuple[str, ...], raw) -> dict[str, object]:
    """The typed keyword arguments for an ``*_impl`` from the raw query (a mapping)."""
    out = {}
    for name in names:
        keyword, parser = PARSERS[name]
        out[keyword] = parser(raw.get(name))
    return out
