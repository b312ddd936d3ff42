"""ExplanationLogger overhead: a training epoch with the callback at its defaults vs without.

Run: `python -m benchmarks.bench_callback [--data ../shared/data] [--quick]`. Prints Markdown.

The model is the demo's SST-2 bi-LSTM (Embedding 50 mask_zero → Bidirectional(LSTM 50) →
Dense 2) trained on the SST-2 training set (6920 sentences, batch 64) from `--data`, or on random
ids of the same size and length distribution when the data is missing. The callback runs at its
defaults (methods lrp, sa, reat; every epoch; predicted and true class) on the demo's six
sentences. Each sample is one `fit(epochs=1)`; the two variants alternate (interleaved rounds,
rotating order) on the same model after a warm-up epoch each, and the ratio is taken per round.
Goal: ≤ 1.10×.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._timing import (  # noqa: E402
    fmt_ratio,
    fmt_time,
    fmt_timing,
    interleaved,
    machine_markdown,
    markdown_table,
    paired_ratio,
)
from keras_relevance import ExplanationLogger, Vocabulary  # noqa: E402

SAMPLES = [
    ("it 's a good film -- not a classic , but odd , entertaining and authentic .", 1),
    ("the movie does n't serve up lots of laughs .", 0),
    ("a gorgeous , witty , seductive movie .", 1),
    ("the plot is dull and the acting is even worse .", 0),
    ("not bad at all , a surprisingly touching story .", 1),
    ("an ambitious mess that never finds its footing .", 0),
]


def load(data: Path, n: int | None, seed: int = 0):
    """(vocabulary, ids, labels, source description): SST-2 train, or random ids of that size."""
    sst = data / "sst"
    if sst.is_dir():
        from keras_relevance.datasets import load_sst

        train = load_sst(sst, "train", fine_grained=False, lower=True)
        tokens, labels = train.tokens[:n], train.labels[:n]
        vocab = Vocabulary.from_tokens(tokens, tokenizer="treebank")
        return vocab, vocab.encode(tokens), np.asarray(labels, np.int32), f"SST-2 train ({sst})"
    rng = np.random.default_rng(seed)
    n = n or 6920
    vocab = Vocabulary([f"w{i}" for i in range(16000)] + [w for t, _ in SAMPLES for w in t.split()])
    lengths = np.clip(rng.normal(19, 9, n).astype(int), 2, 52)
    ids = np.zeros((n, lengths.max()), np.int32)
    for i, length in enumerate(lengths):
        ids[i, :length] = rng.integers(2, len(vocab), length)
    labels = rng.integers(0, 2, n).astype(np.int32)
    return vocab, ids, labels, f"random ids shaped like SST-2 ({data / 'sst'} not found)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--quick", action="store_true", help="2000 sentences, 2 rounds")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    n = 2000 if args.quick else None
    repeats = 2 if args.quick else args.repeats

    vocab, ids, labels, source = load(Path(args.data), n)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), 50, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(50)),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"kr_bench_callback_{os.getpid()}"
    logger = ExplanationLogger(
        logdir,
        [text for text, _ in SAMPLES],
        vocabulary=vocab,
        labels=[label for _, label in SAMPLES],
    )

    def epoch(callbacks):
        return lambda: model.fit(
            ids, labels, epochs=1, batch_size=args.batch_size, verbose=0, callbacks=callbacks
        )

    start = time.perf_counter()
    timings = interleaved(
        {"without callback": epoch([]), "with ExplanationLogger": epoch([logger])},
        repeats=repeats,
        warmup=1,
    )
    total = time.perf_counter() - start
    ratio = paired_ratio(timings["with ExplanationLogger"], timings["without callback"])
    logging_s = logger.seconds[1:]  # the first (warm-up) call traces the methods
    plain = timings["without callback"].median

    print("## ExplanationLogger overhead (defaults: lrp, sa, reat; every epoch)\n")
    print(
        f"Data: {source}: {len(ids)} sentences, max length {ids.shape[1]}, batch {args.batch_size}."
    )
    print(f"Logged sentences: {len(SAMPLES)}; {repeats} interleaved rounds; total {total:.0f} s.\n")
    print(
        markdown_table(
            ["variant", "epoch time (median ± IQR/2)"],
            [[name, fmt_timing(t)] for name, t in timings.items()],
        )
    )
    print()
    print(
        markdown_table(
            ["quantity", "value"],
            [
                ["epoch time ratio with / without (per round)", fmt_ratio(ratio)],
                [
                    "callback time per epoch (median, after warm-up)",
                    fmt_time(float(np.median(logging_s))) if logging_s else "n/a",
                ],
                [
                    "callback time / epoch without it (steady state)",
                    f"{np.median(logging_s) / plain:.1%}" if logging_s else "n/a",
                ],
                [
                    "first logged epoch's callback time (tracing, once)",
                    fmt_time(logger.seconds[0]),
                ],
                ["goal", "≤ 1.10×"],
            ],
        )
    )
    print()
    print(machine_markdown())
    ok = ratio.median <= 1.10
    print(f"\n{'PASS' if ok else 'ABOVE GOAL'}: median ratio {ratio.median:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
