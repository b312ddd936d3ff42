"""Explain typed text for the dashboard without TensorFlow in TensorBoard's process.

`WorkerPool` keeps one worker process per run (``python -m keras_relevance.serve_worker``, JSON
lines over pipes; see that module for the protocol). Bounded: one request in flight per run (a
second one gets 409), a time limit per request (the worker is killed, 504), a worker that dies
mid-request gives 502 and the next request starts a fresh one, and idle workers are stopped after
`idle_s`. No TensorFlow or keras_relevance import here.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from keras_relevance_tb import params
from keras_relevance_tb.params import RouteError

MAX_TEXT = 2000
MAX_METHODS = 8
MAX_BODY = 64 * 1024
TIMEOUT_S = 120.0
IDLE_S = 120.0
WORKER = (sys.executable, "-m", "keras_relevance.serve_worker")


def parse_request(body: dict) -> dict:
    """The typed arguments of `explain_impl` from the POSTed JSON object (400 on bad input)."""
    unknown = set(body) - {"run", "step", "text", "methods"}
    if unknown:
        raise params.bad(f"unknown fields {sorted(unknown)}; send run, step, text, methods")
    run = body.get("run")
    if not isinstance(run, str):
        raise params.bad("run must be a string")
    step = body.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise params.bad("step must be an integer or null (the newest kept model)")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise params.bad("text must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise params.bad(
            f"the text has {len(text):,} characters; the limit is {MAX_TEXT:,}: shorten it"
        )
    methods = body.get("methods")
    if isinstance(methods, str):
        methods = [methods]
    if not isinstance(methods, list) or not methods or len(methods) > MAX_METHODS:
        raise params.bad(f"methods must be a list of 1 to {MAX_METHODS} method names")
    names = [params.method_name(m) if isinstance(m, str) else None for m in methods]
    if None in names:
        raise params.bad("methods must be method names such as 'lrp'")
    step = None if step is None else params.integer(str(step), "step", *params.INT64)
    return {"run": params.run_name(run), "step": step, "text": text, "methods": names}


class _Worker:
    def __init__(self, command: Sequence[str], root: str):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        self.proc = subprocess.Popen(
            [*command, "--root", root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.busy = threading.Lock()
        self.last_used = time.monotonic()
        self.next_id = 0
        self._buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def ask(self, request: dict, timeout: float) -> dict:
        """Send one request and wait for its line; RouteError on timeout (504) or death (502)."""
        self.next_id += 1
        request = {**request, "id": self.next_id}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise RouteError(502, "the explain worker stopped; try again") from None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.stop()
                    raise RouteError(
                        504, f"explaining took longer than {timeout:g} s; the worker was stopped"
                    )
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self.proc.poll()
                    raise RouteError(
                        502,
                        f"the explain worker died (exit code {code}) while answering; "
                        "the next request starts a new one",
                    )
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        self.last_used = time.monotonic()
        try:
            reply = json.loads(line)
        except ValueError:
            raise RouteError(502, "the explain worker answered with something not JSON") from None
        if reply.get("id") != self.next_id:
            self.stop()
            raise RouteError(502, "the explain worker answered another request; it was stopped")
        return reply


class WorkerPool:
    """One worker per run; see the module docstring.

    Args:
        root: the TensorBoard log directory (workers load models only from inside it).
        command: the worker command (tests use fakes).
        timeout_s: the time limit of one request.
        idle_s: workers idle this long are stopped.
    """

    def __init__(
        self,
        root: str,
        command: Sequence[str] = WORKER,
        timeout_s: float = TIMEOUT_S,
        idle_s: float = IDLE_S,
    ):
        self.root = root
        self.command = tuple(command)
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._reaper: threading.Thread | None = None

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, daemon=True, name="kr-reaper")
            self._reaper.start()

    def _reap(self) -> None:
        while True:
            time.sleep(min(5.0, max(0.05, self.idle_s / 4)))
            with self._lock:
                for run, worker in list(self._workers.items()):
                    idle = time.monotonic() - worker.last_used > self.idle_s
                    if not worker.alive() or (idle and not worker.busy.locked()):
                        worker.stop()
                        del self._workers[run]
                if not self._workers:
                    self._reaper = None
                    return

    def workers(self) -> dict[str, int]:
        """run → worker pid (for tests and diagnostics)."""
        with self._lock:
            return {run: w.proc.pid for run, w in self._workers.items() if w.alive()}

    def ask(self, run: str, request: dict) -> dict:
        """The worker's answer for `run`; RouteError 409 when one is already in flight."""
        with self._lock:
            worker = self._workers.get(run)
            if worker is None or not worker.alive():
                if worker is not None:
                    worker.stop()
                worker = self._workers[run] = _Worker(self.command, self.root)
            if not worker.busy.acquire(blocking=False):
                raise RouteError(
                    409, f"an explanation for run {run!r} is already running; try again shortly"
                )
            self._start_reaper()
        try:
            try:
                return worker.ask(request, self.timeout_s)
            except RouteError:
                worker.stop()
                with self._lock:
                    if self._workers.get(run) is worker:
                        del self._workers[run]
                raise
        finally:
            worker.last_used = time.monotonic()
            worker.busy.release()

    def close(self) -> None:
        with self._lock:
            for worker in self._workers.values():
                worker.stop()
            self._workers.clear()


def _models(logdir: str, run: str) -> tuple[str, dict]:
    """(models folder, its index.json) of a run, both inside the log directory."""
    root = os.path.realpath(logdir) if logdir else ""
    if not root or not os.path.isdir(root):
        raise params.missing("typing a sentence needs a local --logdir folder")
    folder = os.path.realpath(os.path.join(root, run, "models"))
    if not (folder + os.sep).startswith(root.rstrip(os.sep) + os.sep):
        raise params.bad(f"run {run!r} is not inside the log directory")
    try:
        with open(os.path.join(folder, "index.json"), encoding="utf-8") as f:
            index = json.load(f)
    except FileNotFoundError:
        raise params.missing(
            f"run {run!r} kept no model to explain typed text with: log it with "
            "ExplanationLogger(keep_models=1) (the default) or model_path=..."
        ) from None
    except (OSError, ValueError) as e:
        raise RouteError(422, f"run {run!r}: cannot read models/index.json: {e}") from None
    if not isinstance(index, dict) or not isinstance(index.get("steps"), dict):
        raise RouteError(422, f"run {run!r}: models/index.json has no steps")
    return folder, index


def explain_text(
    pool: WorkerPool, logdir: str, run: str, step: int | None, text: str, methods: list[str]
) -> dict:
    """The `/explain` answer: `text` explained by the run's kept model of `step` (or newest)."""
    folder, models = _models(logdir, run)
    steps = {}
    for key, name in models["steps"].items():
        if isinstance(name, str) and str(key).lstrip("-").isdigit() and len(str(key)) < 20:
            steps[int(key)] = name
    if not steps:
        raise params.missing(f"run {run!r} kept no model yet")
    chosen = max(steps) if step is None else step
    if chosen not in steps:
        raise params.missing(
            f"no model kept for step {chosen} of run {run!r}; kept steps: {sorted(steps)}"
        )
    vocab = models.get("vocab")
    reply = pool.ask(
        run,
        {
            "model": os.path.join(folder, steps[chosen]),
            "vocab": os.path.join(folder, vocab) if isinstance(vocab, str) else None,
            "max_len": models.get("max_len"),
            "text": text,
            "methods": methods,
        },
    )
    if reply.get("error"):
        raise RouteError(422, reply["error"])
    return {
        "run": run,
        "step": chosen,
        "steps": sorted(steps),
        "tokens": reply.get("tokens"),
        "relevance": reply.get("relevance"),
        "logits": reply.get("logits"),
        "target": reply.get("target"),
        "unknown": reply.get("unknown", []),
        "class_names": models.get("class_names"),
    }
