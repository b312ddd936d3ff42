"""`make demo`: train a small bi-LSTM with ExplanationLogger, then serve TensorBoard.

    python examples/demo.py --data ../shared/data --logdir runs/demo --port 6006

Trains Embedding(mask_zero) → Bidirectional(LSTM) → Dense on SST-2 when `<data>/sst` exists
(GloVe-initialised when `<data>/glove` holds the vectors; a few CPU minutes), otherwise on a few
dozen sentences embedded below. While it trains, `ExplanationLogger` logs LRP, SA and REAT
heatmaps of a handful of sentences, and deletion curves with AOPC on a held-out split (part of
the SST dev set, or the embedded dev sentences, distinct from the test sentences), next to
`keras.callbacks.TensorBoard`'s loss curves; the stock Images / Scalars dashboards get them too.
The model, its vocabulary and class names are saved as `<logdir>/model.keras`,
`<logdir>/model.vocab.json` and `<logdir>/model.meta.json`, so that

    keras-relevance explain runs/demo/model.keras --text "a gorgeous , witty movie ."

works right away (the full path of the command is printed). Finally TensorBoard starts on
127.0.0.1 (skip with `--no-serve`); a busy port is refused before training.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import ExplanationLogger, Vocabulary  # noqa: E402
from keras_relevance.cli import write_metadata  # noqa: E402

CLASS_NAMES = ["negative", "positive"]

# The sentences whose explanations are logged every epoch (tokens as in SST).
SAMPLES = [
    ("it 's a good film -- not a classic , but odd , entertaining and authentic .", 1),
    ("the movie does n't serve up lots of laughs .", 0),
    ("a gorgeous , witty , seductive movie .", 1),
    ("the plot is dull and the acting is even worse .", 0),
    ("not bad at all , a surprisingly touching story .", 1),
    ("an ambitious mess that never finds its footing .", 0),
]

# A small stand-in data set for machines without the SST files (label 1 = positive).
EMBEDDED = [
    ("a good film with a great cast .", 1),
    ("an entertaining and authentic story .", 1),
    ("a witty , charming and moving comedy .", 1),
    ("the acting is superb and the script is smart .", 1),
    ("one of the best films of the year .", 1),
    ("a gorgeous , funny and touching movie .", 1),
    ("i loved every minute of it .", 1),
    ("a delightful surprise , warm and clever .", 1),
    ("the performances are wonderful .", 1),
    ("an odd but rewarding and beautiful film .", 1),
    ("a smart , sharp and very funny script .", 1),
    ("it 's a fresh , lively and enjoyable ride .", 1),
    ("a touching film that earns its tears .", 1),
    ("great fun from start to finish .", 1),
    ("a classic : elegant , intelligent and moving .", 1),
    ("the director 's best work , honest and warm .", 1),
    ("an inventive and entertaining comedy .", 1),
    ("strong acting makes it a pleasure to watch .", 1),
    ("a beautiful and authentic portrait .", 1),
    ("not a bad film at all , in fact a good one .", 1),
    ("clever , funny and surprisingly sweet .", 1),
    ("the cast is excellent and the story works .", 1),
    ("a bad film with a terrible cast .", 0),
    ("a dull and boring story .", 0),
    ("a stupid , lazy and tedious comedy .", 0),
    ("the acting is awful and the script is dumb .", 0),
    ("one of the worst films of the year .", 0),
    ("an ugly , unfunny and pointless movie .", 0),
    ("i hated every minute of it .", 0),
    ("a tiresome mess , cold and clumsy .", 0),
    ("the performances are weak .", 0),
    ("a bland and forgettable film .", 0),
    ("a flat , predictable and very dull script .", 0),
    ("it 's a stale , slow and tedious ride .", 0),
    ("the movie does n't work at all .", 0),
    ("boring from start to finish .", 0),
    ("a mess : clumsy , silly and long .", 0),
    ("the director 's worst work , lazy and cold .", 0),
    ("a pointless and boring comedy .", 0),
    ("weak acting makes it a chore to watch .", 0),
    ("an ugly and phony portrait .", 0),
    ("not a good film , in fact a bad one .", 0),
    ("silly , unfunny and painfully dull .", 0),
    ("the cast is awful and the story fails .", 0),
]

# Held-out dev sentences for the embedded set (validation loss, deletion curves, AOPC): new
# combinations of training words, none of them in EMBEDDED_TEST.
EMBEDDED_DEV = [
    ("a funny and warm comedy .", 1),
    ("the script is clever and the cast is great .", 1),
    ("a beautiful , moving and honest film .", 1),
    ("the story is smart and the acting is wonderful .", 1),
    ("an entertaining , sweet and lively movie .", 1),
    ("a fresh and elegant portrait .", 1),
    ("a dull and lazy comedy .", 0),
    ("the script is dumb and the cast is awful .", 0),
    ("an ugly , tedious and pointless film .", 0),
    ("the story is silly and the acting is weak .", 0),
    ("a boring , flat and predictable movie .", 0),
    ("a cold and phony portrait .", 0),
]

# Held-out test sentences for the embedded set: new combinations of words seen in training.
EMBEDDED_TEST = [
    ("a witty and moving story .", 1),
    ("the cast is superb and the film is funny .", 1),
    ("a charming , clever comedy .", 1),
    ("great acting and a smart script .", 1),
    ("a boring and clumsy story .", 0),
    ("the cast is weak and the film is dull .", 0),
    ("a tedious , unfunny comedy .", 0),
    ("awful acting and a dumb script .", 0),
]


def load_data(data_dir: Path, max_train: int | None):
    """(vocabulary, (x, y) train, (x, y) dev, (x, y) test, embedding matrix or None, source)."""
    sst = data_dir / "sst"
    if sst.is_dir():
        from keras_relevance.datasets import load_glove, load_sst

        train, dev, test = (
            load_sst(sst, split, fine_grained=False, lower=True)
            for split in ("train", "dev", "test")
        )
        tokens, labels = train.tokens, train.labels
        if max_train is not None:
            tokens, labels = tokens[:max_train], labels[:max_train]
        vocab = Vocabulary.from_tokens(tokens, tokenizer="treebank")
        matrix = None
        glove = data_dir / "glove" / "glove.6B.50d.sst_vocab.txt.gz"
        if glove.is_file():
            matrix, _ = load_glove(glove, vocabulary=vocab)

        def encode(split_tokens, split_labels):
            return vocab.encode(split_tokens), np.asarray(split_labels, np.int32)

        splits = (encode(tokens, labels), encode(dev.tokens, dev.labels))
        return vocab, *splits, encode(test.tokens, test.labels), matrix, f"SST-2 from {sst}"

    vocab = Vocabulary.from_texts([t for t, _ in EMBEDDED + SAMPLES], tokenizer="treebank")

    def encode(pairs):
        return vocab.encode([t for t, _ in pairs]), np.array([y for _, y in pairs], np.int32)

    splits = (encode(EMBEDDED), encode(EMBEDDED_DEV), encode(EMBEDDED_TEST))
    return vocab, *splits, None, f"the embedded sentences (no {sst})"


def build_model(
    vocab_size: int, matrix=None, dim: int = 50, units: int = 50, learning_rate: float = 2e-3
) -> keras.Model:
    """Embedding(mask_zero) → Bidirectional(LSTM) → Dense(2), explained at its logits."""
    if matrix is not None:
        dim = matrix.shape[1]
        init = keras.initializers.Constant(matrix)
    else:
        init = "uniform"
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab_size, dim, mask_zero=True, embeddings_initializer=init),
            keras.layers.Bidirectional(keras.layers.LSTM(units)),
            keras.layers.Dense(2),
        ],
        name="bilstm_sentiment",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (checked before training)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def cli_command() -> str:
    """The `keras-relevance` command of this Python's environment, as a full path."""
    script = Path(sys.executable).with_name("keras-relevance")
    if script.is_file():
        return str(script.absolute())
    return f"{Path(sys.executable).absolute()} -m keras_relevance.cli"


def serve(logdir: Path, host: str, port: int) -> int:
    """Run TensorBoard (with the keras_relevance plugin, every step kept) until Ctrl-C."""
    command = [
        sys.executable, "-m", "tensorboard.main",
        "--logdir", str(logdir),
        "--host", host,
        "--port", str(port),
        "--samples_per_plugin", "keras_relevance=0",
    ]  # fmt: skip
    print(f"\nTensorBoard: http://{host}:{port}/#keras_relevance   (Ctrl-C to stop)", flush=True)
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait(timeout=10)
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", help="folder holding sst/ (and glove/)")
    parser.add_argument("--logdir", default="runs/demo", help="TensorBoard log directory")
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--epochs", type=int, help="default: 3 on SST-2, 30 on the embedded set")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-train", type=int, help="use only the first N training sentences")
    parser.add_argument("--no-serve", action="store_true", help="do not start TensorBoard")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if not args.no_serve and not port_is_free(args.host, args.port):
        print(
            f"demo: port {args.port} on {args.host} is busy (another TensorBoard or `make demo` "
            f"still running?). Stop it, or pick another port: make demo PORT={args.port + 1} "
            f"(or --port {args.port + 1}).",
            file=sys.stderr,
        )
        return 2
    keras.utils.set_random_seed(args.seed)
    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    vocab, train, dev, test, matrix, source = load_data(Path(args.data), args.max_train)
    on_sst = matrix is not None or (Path(args.data) / "sst").is_dir()
    epochs = args.epochs if args.epochs is not None else (3 if on_sst else 30)
    print(
        f"training on {source}: {len(train[0])} sentences, vocabulary {len(vocab)}, {epochs} epochs"
    )

    if on_sst:
        model = build_model(len(vocab), matrix)
    else:  # a few dozen sentences: a smaller model learns them in a few seconds
        model = build_model(len(vocab), dim=16, units=8, learning_rate=5e-3)
    deletion = (dev[0][:200], dev[1][:200])  # held out: not the test split
    logger = ExplanationLogger(
        logdir,
        [text for text, _ in SAMPLES],
        methods=("lrp", "sa", "reat"),
        vocabulary=vocab,
        labels=[label for _, label in SAMPLES],
        class_names=CLASS_NAMES,
        deletion_data=deletion,
        stock_dashboards=True,
    )
    start = time.perf_counter()
    model.fit(
        *train,
        validation_data=dev,
        epochs=epochs,
        batch_size=args.batch_size,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(str(logdir)), logger],
    )
    print(f"trained in {time.perf_counter() - start:.0f} s")
    _, accuracy = model.evaluate(*test, batch_size=256, verbose=0)
    print(f"test accuracy: {accuracy:.3f} ({len(test[0])} sentences)")

    model.save(logdir / "model.keras")
    vocab.save(logdir / "model.vocab.json")
    meta = write_metadata(logdir / "model.keras", CLASS_NAMES)
    print(f"saved {logdir / 'model.keras'}, {logdir / 'model.vocab.json'} and {meta}")
    model_path = (logdir / "model.keras").absolute()
    print(f'try: {cli_command()} explain {model_path} --text "{SAMPLES[0][0]}"')
    if args.no_serve:
        return 0
    return serve(logdir, args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
