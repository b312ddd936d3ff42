"""Explainable layers vs stock Keras: training-step time and gate-trace forward time.

Run: `python -m benchmarks.bench_layers [--quick]`. Prints a Markdown table.

- train: one optimizer step (`train_on_batch`) of Embedding → RNN → Dense with the stock layer vs
  the explainable one (same weights), interleaved in the same process after a warm-up; median of
  the repeats. The explainable layers keep the stock `call`, so the goal is a ratio ≤ 1.05.
- forward: `call_with_gates` vs the stock layer's forward, both inside a `tf.function` (graph) and
  eagerly; aim ≤ 2.0 in graph mode.

`--keep-heap`: tell glibc malloc (Linux) never to return freed memory to the system and never to
serve large blocks by mmap. With the defaults, each `call_with_gates` call gets its ~15 fresh
(batch, time, units) buffers from mmap and page-faults them in, which on a 2-core CPU machine
costs about as much as the extra gate arithmetic (forward ratio ≈ 2.5-2.8 by default vs ≈ 1.6-1.9
with the flag); the stock forward allocates far less, so it barely changes.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_relevance.layers import ExplainableGRU, ExplainableLSTM  # noqa: E402

KINDS = {
    "LSTM": (keras.layers.LSTM, ExplainableLSTM),
    "GRU": (keras.layers.GRU, ExplainableGRU),
}


def _model(rnn_cls, vocab, dim, units, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, mask_zero=True),
            rnn_cls(units),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _interleaved(fns, steps, repeats, warmup):
    """Median (wall, CPU) seconds per call for each fn, timed round-robin.

    The order alternates each round. CPU time (`time.process_time`, all threads of this
    process) is reported too: on a shared machine it is far less noisy than wall time.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    wall = [[] for _ in fns]
    cpu = [[] for _ in fns]
    for round_ in range(repeats):
        order = list(range(len(fns)))
        if round_ % 2:
            order.reverse()
        for k in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                fns[k]()
            wall[k].append((time.perf_counter() - start) / steps)
            cpu[k].append((time.process_time() - start_cpu) / steps)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu, strict=True)]


def _row(kind, what, base, other, goal):
    (wall_a, cpu_a), (wall_b, cpu_b) = base, other
    return (
        f"| {kind} | {what} | {wall_a * 1e3:.2f} | {wall_b * 1e3:.2f} | {wall_b / wall_a:.3f} | "
        f"{cpu_a * 1e3:.2f} | {cpu_b * 1e3:.2f} | {cpu_b / cpu_a:.3f} | {goal} |"
    )


def bench_train(kind, batch, length, vocab, dim, units, steps, repeats):
    """Seconds per training step: stock, explainable, and a second stock model (noise floor)."""
    stock_cls, ours_cls = KINDS[kind]
    stock = _model(stock_cls, vocab, dim, units)
    ours = _model(ours_cls, vocab, dim, units)
    control = _model(stock_cls, vocab, dim, units)
    ours.set_weights(stock.get_weights())
    control.set_weights(stock.get_weights())
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, size=(batch, length)).astype("int32")
    ids[: batch // 2, length // 2 :] = 0  # right padding on half the batch
    labels = rng.integers(0, 2, size=(batch,)).astype("int32")
    return _interleaved(
        [
            lambda: stock.train_on_batch(ids, labels),
            lambda: ours.train_on_batch(ids, labels),
            lambda: control.train_on_batch(ids, labels),
        ],
        steps,
        repeats,
        warmup=3,
    )


def bench_forward(kind, batch, length, dim, units, steps, repeats, graph):
    stock_cls, ours_cls = KINDS[kind]
    keras.utils.set_random_seed(0)
    stock = stock_cls(units, return_sequences=True)
    stock.build((None, None, dim))
    ours = ours_cls(units, return_sequences=True)
    ours.build((None, None, dim))
    ours.set_weights(stock.get_weights())
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, length, dim)).astype("float32"))
    mask = np.ones((batch, length), bool)
    mask[: batch // 2, length // 2 :] = False
    mask = tf.constant(mask)

    def run_stock():
        return stock(x, mask=mask)

    def run_ours():
        return ours.call_with_gates(x, mask=mask)

    if graph:
        run_stock, run_ours = tf.function(run_stock), tf.function(run_ours)

    def sync(fn):
        return lambda: tf.nest.map_structure(lambda t: t.numpy(), fn())

    return _interleaved([sync(run_stock), sync(run_ours)], steps, repeats, warmup=2)


def _keep_heap():
    """glibc mallopt: no mmap for large blocks, no trimming (returns False where unavailable)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = libc.mallopt(m_mmap_threshold, 1 << 30) == 1
    ok &= libc.mallopt(m_trim_threshold, (1 << 31) - 1) == 1
    ok &= libc.mallopt(m_top_pad, 1 << 28) == 1
    return bool(ok)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--keep-heap", action="store_true", help="glibc: no mmap for large blocks, no trimming"
    )
    args = parser.parse_args(argv)
    heap = "default malloc"
    if args.keep_heap:
        heap = "malloc keep-heap" if _keep_heap() else "default malloc (mallopt unavailable)"
    if args.quick:
        batch, length, vocab, dim, units, steps, repeats = 32, 20, 500, 32, 32, 5, 5
    else:
        batch, length, vocab, dim, units, steps, repeats = 64, 50, 5000, 64, 64, 10, 9
    if args.repeats:
        repeats = args.repeats
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
        f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}; "
        f"batch {batch}, length {length}, embedding {dim}, units {units}, "
        f"median of {repeats} interleaved repeats, {heap}\n"
    )
    print(
        "| layer | measurement | stock wall (ms) | explainable wall (ms) | wall ratio | "
        "stock CPU (ms) | explainable CPU (ms) | CPU ratio | goal |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for kind in KINDS:
        stock, ours, control = bench_train(kind, batch, length, vocab, dim, units, steps, repeats)
        print(_row(kind, "training step", stock, ours, "≤ 1.05"))
        print(_row(kind, "training step, 2nd stock model (noise floor)", stock, control, "≈ 1"))
        for graph in (True, False):
            n = steps if graph else max(1, steps // 5)  # eager loops are ~50x slower
            stock, ours = bench_forward(kind, batch, length, dim, units, n, repeats, graph)
            mode = "tf.function" if graph else "eager"
            goal = "≤ 2.0" if graph else "report"
            print(_row(kind, f"forward, call_with_gates vs call ({mode})", stock, ours, goal))


if __name__ == "__main__":
    main()
