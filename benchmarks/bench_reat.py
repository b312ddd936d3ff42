"""REAT cost: word scores vs the stock Keras forward pass, phrase scores vs word scores.

Run: `python -m benchmarks.bench_reat [--quick]`. Prints a Markdown table.

- words / forward: `explain_reat` on a batch (embedding lookup, one gate pass in a `tf.function`,
  products of gates, NumPy result) vs `model(ids)` (the stock Keras forward) on the same batch.
  Goal ≤ 2.0. Eager `model(ids)` runs the recurrence step by step in Python, so the table also
  gives the ratio to the same forward compiled with `tf.function` (the fairer baseline).
- phrases / words: `phrase_scores` with 50 spans per sentence (random, any length, overlapping)
  vs `explain_reat` on the same batch. Goal ≤ 1.2.

The calls are timed round-robin (interleaved) after a warm-up; each figure is the median.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks._timing import (  # noqa: E402
    fmt_ratio,
    fmt_timing,
    interleaved,
    machine_markdown,
    markdown_table,
    paired_ratio,
)
from keras_relevance import reat  # noqa: E402
from keras_relevance.graph import ModelGraph  # noqa: E402

ARCHS = {
    "LSTM": lambda u: keras.layers.LSTM(u),
    "GRU": lambda u: keras.layers.GRU(u),
    "BiGRU": lambda u: keras.layers.Bidirectional(keras.layers.GRU(u)),
    "BiLSTM": lambda u: keras.layers.Bidirectional(keras.layers.LSTM(u)),
}


def _model(arch, vocab, dim, units, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab, dim, mask_zero=True),
            ARCHS[arch](units),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def bench(arch, batch, length, vocab, dim, units, n_spans, repeats):
    model = _model(arch, vocab, dim, units)
    chain = ModelGraph.from_model(model)
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, size=(batch, length)).astype("int32")
    lengths = rng.integers(length // 2, length + 1, size=batch)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # right padding
    ids_t = tf.constant(ids)
    target = np.argmax(model(ids_t).numpy(), axis=1)
    starts = rng.integers(0, length, size=(batch, n_spans))
    ends = np.minimum(starts + rng.integers(1, 8, size=(batch, n_spans)), length)
    spans = np.stack([starts, ends], axis=-1).tolist()  # one list per sentence

    def forward():
        return model(ids_t).numpy()

    compiled = tf.function(lambda x: model(x, training=False))

    def forward_graph():
        return compiled(ids_t).numpy()

    def words():
        emb, mask = chain.embed(ids_t)
        return reat.explain_reat(chain, emb, mask, target).relevance

    def phrases():
        emb, mask = chain.embed(ids_t)
        return reat.phrase_scores(chain, emb, mask, spans, target)

    fns = {"forward": forward, "graph": forward_graph, "words": words, "phrases": phrases}
    return interleaved(fns, repeats=repeats, warmup=3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--archs", default="GRU,LSTM,BiGRU,BiLSTM")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--units", type=int, default=150)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=20000)
    parser.add_argument("--spans", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.length, args.units, args.repeats = 16, 20, 32, 7
    print(
        f"REAT cost, batch {args.batch}, length ≤ {args.length}, emb {args.dim}, units "
        f"{args.units}, {args.spans} spans/sentence, {args.repeats} interleaved rounds; "
        "times: median ± half IQR, ratios: median of per-round ratios (IQR)\n"
    )
    print(machine_markdown() + "\n")
    rows = []
    for arch in args.archs.split(","):
        t = bench(
            arch, args.batch, args.length, args.vocab, args.dim, args.units, args.spans,
            args.repeats,
        )
        rows.append([
            arch,
            fmt_timing(t["forward"]),
            fmt_timing(t["graph"]),
            fmt_timing(t["words"]),
            fmt_ratio(paired_ratio(t["words"], t["forward"])),
            fmt_ratio(paired_ratio(t["words"], t["graph"])),
            fmt_timing(t["phrases"]),
            fmt_ratio(paired_ratio(t["phrases"], t["words"])),
        ])
    headers = [
        "model", "model(ids)", "tf.function(model)", "REAT words", "words / model(ids) (≤ 2.0)",
        "words / tf.function(model)", "50 spans", "spans / words (≤ 1.2)",
    ]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    main()
