"""LRP cost: vs a plain gradient on the same model and batch, and vs the NumPy reference.

Run: `python -m benchmarks.bench_lrp [--data ../shared/data] [--quick]`. Prints a Markdown table.

1. LRP / gradient: `explain_lrp` (one traced pass, NumPy result) vs the tape gradient of the
   target logit w.r.t. the embeddings through `chain.logits` (also a `tf.function` with `None`
   batch/time dims, NumPy result), same right-padded batch and mask. BiLSTM E=64, H=128, T=40,
   B=64 and the Arras et al. SST model (bi-LSTM E=H=60). Goal ≤ 1.2. Calls are interleaved
   after a warm-up; each figure is the median.
2. LRP on 2210 sentences with the SST-5 test lengths (leaves counted per tree line of
   `sst/test.txt`), bi-LSTM E=H=60, batches of sentences of similar length, vs
   `tests/reference_lrp.py` one sentence at a time. The reference is timed on a random subset
   and extrapolated by token count (it is linear in the tokens). Goal ≥ 100×. Timed three
   ways, interleaved: `explain_lrp` on prepared batches, the user's call
   `Explainer(model).explain(ids, method="lrp")` on the 2210 padded rows (its own batching and
   logits pass included), and the Keras forward pass alone on the same batches, which bounds
   what any LRP (forward + backward) can reach on this machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_relevance.explainer import Explainer  # noqa: E402
from keras_relevance.graph import ModelGraph  # noqa: E402
from keras_relevance.lrp import explain_lrp  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import reference_lrp  # noqa: E402


def _model(vocab, dim, units, classes=5, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(units)),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )


def _interleaved(fns, repeats, warmup):
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def gradient_function(chain: ModelGraph, dim: int):
    """Plain gradient of the target logit w.r.t. the embeddings, traced once."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, dim], chain.compute_dtype),
            tf.TensorSpec([None, None], tf.bool),
            tf.TensorSpec([None], tf.int32),
        ]
    )
    def grad(emb, mask, target):
        with tf.GradientTape() as tape:
            tape.watch(emb)
            logits = chain.logits(emb, mask)
            picked = tf.gather(logits, target, axis=1, batch_dims=1)
        return tape.gradient(picked, emb)

    return grad


def _batch(vocab, batch, length, rng):
    ids = rng.integers(1, vocab, size=(batch, length)).astype("int32")
    lengths = rng.integers(length // 2, length + 1, size=batch)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # right padding
    return ids


def bench_vs_gradient(dim, units, batch, length, repeats, vocab=5000):
    model = _model(vocab, dim, units)
    chain = ModelGraph.from_model(model)
    ids = _batch(vocab, batch, length, np.random.default_rng(0))
    emb, mask = chain.embed(ids)
    target = tf.constant(np.argmax(chain.logits(emb, mask).numpy(), axis=1), tf.int32)
    grad = gradient_function(chain, dim)

    def lrp():
        return explain_lrp(chain, emb, mask, target).relevance

    def gradient():
        return grad(emb, mask, target).numpy()

    t_lrp, t_grad = _interleaved([lrp, gradient], repeats, warmup=2)
    return t_lrp, t_grad


def sst_lengths(path: Path) -> list[int]:
    leaf = re.compile(r"\(\d+ [^()\s]+\)")
    return [len(leaf.findall(line)) for line in path.read_text().splitlines() if line.strip()]


def bench_sst(lengths, subset, batch_size, vocab=20000, dim=60, units=60):
    model = _model(vocab, dim, units)
    chain = ModelGraph.from_model(model)
    rng = np.random.default_rng(1)
    order = np.argsort(lengths, kind="stable")
    sentences = [rng.integers(1, vocab, size=n).astype("int32") for n in lengths]
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(lengths[i] for i in idx)
        ids = np.zeros((len(idx), width), "int32")
        for row, i in enumerate(idx):
            ids[row, :lengths[i]] = sentences[i]
        emb, mask = chain.embed(ids)
        target = tf.constant(np.argmax(chain.logits(emb, mask).numpy(), axis=1), tf.int32)
        batches.append((emb, mask, target))

    padded = np.zeros((len(lengths), max(lengths)), "int32")
    for row, sentence in enumerate(sentences):
        padded[row, :len(sentence)] = sentence
    explainer = Explainer(model)
    sig = [tf.TensorSpec([None, None, dim], chain.compute_dtype),
           tf.TensorSpec([None, None], tf.bool)]
    forward = tf.function(chain.logits, input_signature=sig)

    programs = {
        "lrp": lambda: [explain_lrp(chain, e, m, t).relevance for e, m, t in batches],
        "explainer": lambda: explainer.explain(padded, method="lrp"),
        "forward": lambda: [forward(e, m).numpy() for e, m, _ in batches],
    }
    for fn in programs.values():
        fn()  # warm-up (one trace each: None batch/time dims)
    runs = {name: [] for name in programs}
    for _ in range(3):  # interleaved rounds
        for name, fn in programs.items():
            runs[name].append(_timed(fn))
    times = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
             for name, rs in runs.items()}

    spec = reference_lrp.spec_from_model(model)
    table = chain.embedding.embeddings.numpy().astype(np.float64)
    pick = rng.choice(len(lengths), size=min(subset, len(lengths)), replace=False)
    t_sub, cpu_sub = _timed(
        lambda: [reference_lrp.lrp_sentence(spec, table[sentences[i]], 0) for i in pick]
    )
    scale = sum(lengths) / sum(lengths[i] for i in pick)
    return times, (t_sub * scale, cpu_sub * scale), t_sub, len(pick)


def _timed(fn):
    """(wall, process CPU) seconds: CPU time is the fairer figure on a shared machine."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller subset")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    subset = 20 if args.quick else 100

    rows, notes = [], []
    for name, dim, units in (("BiLSTM E=64 H=128", 64, 128), ("bi-LSTM E=H=60 (SST)", 60, 60)):
        t_lrp, t_grad = bench_vs_gradient(dim, units, batch=64, length=40, repeats=repeats)
        rows.append((f"LRP / gradient, {name}, B=64 T=40", f"{t_lrp * 1e3:.1f} ms",
                     f"{t_grad * 1e3:.1f} ms", f"{t_lrp / t_grad:.2f}", "≤ 1.2"))

    test_file = Path(args.data) / "sst" / "test.txt"
    if test_file.is_file():
        lengths = sst_lengths(test_file)
        times, ref, t_sub, n_sub = bench_sst(lengths, subset, args.batch_size)
        name = (f"SST-5 test ({len(lengths)} sentences, {sum(lengths)} tokens), bi-LSTM 60/60 vs"
                f" NumPy reference (timed on {n_sub} sentences: {t_sub:.2f} s, extrapolated by"
                " tokens)")
        notes.append(name)
        what = {"lrp": "explain_lrp on length-sorted batches",
                "explainer": "Explainer(model).explain(ids, method='lrp')",
                "forward": "Keras forward alone on the same batches (a floor for LRP)"}
        for key, label in what.items():
            for k, clock in enumerate(("wall", "process CPU time")):
                ours, base = times[key][k], ref[k]
                rows.append((f"SST-5 test, {label}, {clock}", f"{ours:.2f} s", f"{base:.1f} s",
                             f"{base / ours:.0f}× less", "≥ 100×" if key != "forward" else "—"))
    else:
        print(f"(skipping the SST benchmark: {test_file} not found; pass --data)")

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPUs visible, devices: "
          f"{[d.device_type for d in tf.config.list_physical_devices()]}")
    for note in notes:
        print(note)
    print("| case | LRP | baseline | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
