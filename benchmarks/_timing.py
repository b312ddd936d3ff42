"""Shared timing helpers for the benchmarks: interleaved runs, medians and spread, Markdown.

The machine these run on is often shared, so one number per program means little. Every
benchmark here times the programs it compares *round-robin* in the same process (A B C, B C A,
C A B, ...) after a warm-up, keeps every sample, and reports the median with the interquartile
range. Ratios are taken per round (A/B of the same round) and then the median of those, which
cancels most of the slow drift a busy machine adds.

>>> from benchmarks._timing import interleaved, markdown_table, fmt_time
>>> t = interleaved({"a": lambda: sum(range(1000)), "b": lambda: sum(range(2000))}, repeats=3)
>>> t["a"].median < t["b"].median                      # doctest: +SKIP
True
>>> print(markdown_table(["x", "y"], [["1", "2"]]))
| x | y |
|---|---|
| 1 | 2 |
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Timing",
    "interleaved",
    "paired_ratio",
    "fmt_time",
    "fmt_timing",
    "fmt_ratio",
    "markdown_table",
    "set_threads",
    "machine_info",
    "machine_markdown",
    "available_cores",
]


# ----------------------------------------------------------------------------------- samples
def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted samples (numpy's default method)."""
    if not sorted_xs:
        return float("nan")
    pos = (len(sorted_xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


@dataclass
class Timing:
    """Samples of one quantity (seconds per call, or a ratio) and their summary."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def q1(self) -> float:
        return _quantile(sorted(self.samples), 0.25)

    @property
    def q3(self) -> float:
        return _quantile(sorted(self.samples), 0.75)

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    @property
    def min(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def rel_spread(self) -> float:
        """IQR / median: 0.05 means the middle half of the samples lie within ±2.5 %."""
        m = self.median
        return self.iqr / m if m else float("nan")

    def scaled(self, factor: float) -> Timing:
        """The same samples multiplied by `factor` (e.g. 1 / batch for time per sentence)."""
        return Timing([s * factor for s in self.samples])


def interleaved(
    fns: Mapping[str, Callable[[], object]],
    *,
    repeats: int = 5,
    warmup: int = 1,
    number: int | None = 1,
    min_sample_s: float = 0.05,
    rotate: bool = True,
) -> dict[str, Timing]:
    """Time each function round-robin and return seconds per call for every round.

    Args:
        fns: name → zero-argument callable. Each is called `warmup` times first (tracing,
            caches, allocator), in the given order.
        repeats: rounds; each round times every function once (one sample each).
        warmup: untimed calls of each function before the first round.
        number: calls per sample (the sample is their mean). None picks it per function from
            the last warm-up call so that one sample lasts at least `min_sample_s`.
        min_sample_s: see `number`.
        rotate: start each round at the next function (A B C, B C A, ...), so no function is
            always the one that runs right after a given other one.

    Returns:
        name → `Timing` with `repeats` samples of seconds per call.
    """
    names = list(fns)
    counts: dict[str, int] = {}
    for name in names:
        elapsed = 0.0
        for _ in range(max(warmup, 1 if number is None else 0)):
            start = time.perf_counter()
            fns[name]()
            elapsed = time.perf_counter() - start
        if number is None:
            counts[name] = max(1, int(min_sample_s / max(elapsed, 1e-9)) + 1) if elapsed else 1
        else:
            counts[name] = int(number)
    out = {name: Timing() for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)] if rotate else names
        for name in order:
            fn, n = fns[name], counts[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            out[name].samples.append((time.perf_counter() - start) / n)
    return out


def paired_ratio(numerator: Timing, denominator: Timing) -> Timing:
    """Per-round ratios numerator[i] / denominator[i] (robust to drift across rounds)."""
    return Timing([a / b for a, b in zip(numerator.samples, denominator.samples, strict=True)])


# ----------------------------------------------------------------------------------- format
def fmt_time(seconds: float) -> str:
    """12.3 ms / 1.23 s / 456 µs."""
    if seconds != seconds:  # NaN
        return "n/a"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_timing(t: Timing) -> str:
    """'12.3 ms ± 4 %' — median and half the IQR relative to it."""
    spread = t.rel_spread
    if spread != spread:
        return fmt_time(t.median)
    return f"{fmt_time(t.median)} ± {100 * spread / 2:.0f} %"


def fmt_ratio(t: Timing) -> str:
    """'2.31× (2.20–2.45)' — median ratio and its interquartile range."""
    if not t.samples:
        return "n/a"
    if len(t.samples) < 3:
        return f"{t.median:.2f}×"
    return f"{t.median:.2f}× ({t.q1:.2f}–{t.q3:.2f})"


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], align: str | None = None
) -> str:
    """A GitHub Markdown table. `align` has one letter per column: l, r or c (default l)."""
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = [
        "| " + " | ".join(str(h) for h in headers) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- machine
def available_cores() -> int:
    """CPU cores this process may run on (affinity), falling back to os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_threads(n: int | None = None, torch: bool = True) -> int:
    """Give TensorFlow (intra- and inter-op) and, if importable, PyTorch the same thread count.

    Call before TensorFlow runs its first op (TF refuses to change it afterwards; then the
    count it already has is kept and returned). Returns the intra-op thread count in effect.
    """
    n = int(n or available_cores())
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TF already initialised: keep what it has
        current = tf.config.threading.get_intra_op_parallelism_threads()
        n = current or n
    if torch:
        try:
            import torch as _torch
        except ImportError:
            pass
        else:
            _torch.set_num_threads(n)
            try:
                _torch.set_num_interop_threads(n)
            except RuntimeError:  # only settable once, before parallel work
                pass
    return n


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    mod = sys.modules.get(module)
    if mod is None:
        try:
            mod = __import__(module)
        except ImportError:
            return None
    return getattr(mod, "__version__", "?")


def machine_info(extra: Mapping[str, object] | None = None) -> dict[str, object]:
    """CPU model, cores, load, Python / TF / Keras / (torch, captum if imported) versions."""
    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "cores": f"{available_cores()} usable of {os.cpu_count()}",
        "python": platform.python_version(),
    }
    for module in ("tensorflow", "keras", "numpy"):
        info[module] = _version(module)
    for module in ("torch", "captum"):  # report only when the benchmark uses them
        if module in sys.modules:
            info[module] = _version(module)
    try:
        load = os.getloadavg()
        info["load avg (1/5/15 min)"] = " / ".join(f"{x:.1f}" for x in load)
        if load[0] > 0.5 * available_cores():
            info["note"] = "machine busy (load ≥ half the cores): timings are noisy"
    except OSError:
        pass
    if extra:
        info.update(extra)
    return info


def machine_markdown(extra: Mapping[str, object] | None = None) -> str:
    """`machine_info` as one Markdown line: `Machine: cpu …; cores …; tensorflow 2.21.0; …`."""
    info = machine_info(extra)
    return "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items() if v is not None)
