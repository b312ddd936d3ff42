"""The `keras-relevance` command: explain a saved model's prediction on a sentence.

    keras-relevance explain MODEL.keras --text "a good film" [--method lrp] [--vocab vocab.json]
                                        [--target N] [--html out.html] [--color auto|always|never]
    keras-relevance explain-corpus MODEL.keras DATA [DATA...] --out DIR [--methods lrp,sa]
                                   [--batch-size 64] [--shard-size 1000] [--vocab vocab.json]
                                   [--max-tokens 10000] [--quiet] [--no-resume] [--overwrite]

The vocabulary (`keras_relevance.text.Vocabulary` JSON) is found beside the model as
`<model stem>.vocab.json` or `vocab.json` unless `--vocab` names it. Prints one coloured terminal
heatmap per text (red: for the target class, blue: against it) and, with `--html`, writes a
self-contained HTML file. Errors print one line to stderr and exit with status 2 (no traceback;
`--debug` shows it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main", "find_vocabulary"]

EXIT_ERROR = 2


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def find_vocabulary(model_path: str | os.PathLike) -> Path | None:
    """The vocabulary saved beside a model: `<stem>.vocab.json`, then `vocab.json`."""
    model_path = Path(model_path)
    for candidate in (
        model_path.with_name(model_path.stem + ".vocab.json"),
        model_path.with_name("vocab.json"),
    ):
        if candidate.is_file():
            return candidate
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-relevance", description="Explain Keras text classifiers word by word."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser(
        "explain",
        help="explain a saved model's prediction on one or more texts",
        description="Print a coloured heatmap of each word's relevance for a class.",
    )
    explain.add_argument("model", help="a Keras model file (.keras)")
    explain.add_argument(
        "--text", action="append", required=True, help="text to explain (repeat for several)"
    )
    explain.add_argument("--method", default="lrp", help="explanation method (default: lrp)")
    explain.add_argument(
        "--vocab", help="vocabulary JSON (default: <model>.vocab.json or vocab.json beside it)"
    )
    explain.add_argument(
        "--target", type=int, default=None, help="class to explain (default: the predicted one)"
    )
    explain.add_argument("--html", help="also write the heatmaps to this HTML file")
    explain.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="terminal colours (auto: when stdout is a terminal)",
    )
    explain.add_argument("--class-names", help="comma-separated class names, e.g. neg,pos")
    explain.add_argument("--debug", action="store_true", help="show tracebacks of errors")

    corpus = sub.add_parser(
        "explain-corpus",
        help="explain every document of .txt / .csv / .tfrecord files into Parquet shards",
        description="Stream a corpus through the explainer; resumable (see docs/CORPUS.md).",
    )
    corpus.add_argument("model", help="a Keras model file (.keras)")
    corpus.add_argument("data", nargs="+", help=".txt (one document per line), .csv, .tfrecord")
    corpus.add_argument("--out", required=True, help="output folder")
    corpus.add_argument("--methods", default="lrp", help="comma-separated (default: lrp)")
    corpus.add_argument("--batch-size", type=int, default=64)
    corpus.add_argument("--shard-size", type=int, default=1000)
    corpus.add_argument("--max-tokens", type=int, default=10000)
    corpus.add_argument(
        "--vocab", help="vocabulary JSON (default: <model>.vocab.json or vocab.json beside it)"
    )
    corpus.add_argument("--quiet", action="store_true", help="no progress bar")
    corpus.add_argument("--no-resume", action="store_true", help="refuse a non-empty --out")
    corpus.add_argument("--overwrite", action="store_true", help="with --no-resume: replace --out")
    corpus.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 error)."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return _explain_corpus(args) if args.command == "explain-corpus" else _explain(args)
    except Exception as error:
        if args.debug:
            raise
        message = str(error) if isinstance(error, CLIError) else f"{type(error).__name__}: {error}"
        print(f"keras-relevance: error: {message}", file=sys.stderr)
        return EXIT_ERROR


def _load_vocabulary(args):
    from keras_relevance.text import Vocabulary

    path = Path(args.vocab) if args.vocab else find_vocabulary(args.model)
    if path is None:
        raise CLIError(
            f"no vocabulary found beside {args.model} (looked for "
            f"{Path(args.model).stem}.vocab.json and vocab.json); pass --vocab VOCAB.json"
        )
    if not path.is_file():
        raise CLIError(f"vocabulary file not found: {path}")
    try:
        return Vocabulary.load(path)
    except (ValueError, KeyError, OSError) as error:
        raise CLIError(f"cannot read vocabulary {path}: {error}") from None


def _load_model(path: str):
    if not Path(path).is_file():
        raise CLIError(f"model file not found: {path}")
    import keras

    import keras_relevance  # noqa: F401  (registers the Explainable layers for loading)

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:
        raise CLIError(f"cannot load model {path}: {type(error).__name__}: {error}") from None


def _fixed_length(model) -> int | None:
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return int(shape[1]) if shape is not None and len(shape) == 2 and shape[1] else None


def _explain(args) -> int:
    from keras_relevance import render

    if not Path(args.model).is_file():
        raise CLIError(f"model file not found: {args.model}")
    vocabulary = _load_vocabulary(args)
    for i, text in enumerate(args.text):
        if not text.strip():
            raise CLIError(f"--text number {i + 1} is empty")
    model = _load_model(args.model)

    import numpy as np

    from keras_relevance.explainer import METHODS, Explainer

    if args.method not in METHODS:
        raise CLIError(f"unknown method {args.method!r}; known: {', '.join(sorted(METHODS))}")
    tokenized = vocabulary.tokenize(args.text)
    max_len = _fixed_length(model)
    tokens = [list(t.tokens)[:max_len] if max_len else list(t.tokens) for t in tokenized]
    ids = vocabulary.encode(tokens, max_len=max_len)
    try:
        explainer = Explainer(model)
        explanation = explainer.explain(ids, method=args.method, target=args.target)
    except (ValueError, TypeError, KeyError) as error:
        raise CLIError(f"cannot explain with {args.method!r}: {error}") from None

    names = args.class_names.split(",") if args.class_names else None
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    heatmaps = []
    for i, toks in enumerate(tokens):
        logits = np.asarray(explanation.logits[i])
        predicted = int(np.argmax(logits)) if logits.shape[-1] > 1 else int(logits[0] > 0)
        target = int(explanation.target[i])
        label = (
            f"{args.method}, class {_name(target, names)} (logit {float(logits[target]):.3g}); "
            f"predicted {_name(predicted, names)}"
        )
        heatmap = render.Heatmap(toks, explanation.relevance[i, : len(toks)], label=label)
        heatmaps.append(heatmap)
        print(label)
        print(render.to_terminal(heatmap.tokens, heatmap.scores, color=color))
    if args.html:
        try:
            render.write_html(args.html, *heatmaps, title=f"keras-relevance: {args.method}")
        except OSError as error:
            raise CLIError(f"cannot write {args.html}: {error}") from None
        print(f"wrote {args.html}")
    return 0


def _explain_corpus(args) -> int:
    for path in args.data:
        if not Path(path).is_file():
            raise CLIError(f"corpus file not found: {path}")
        if not path.endswith((".txt", ".csv", ".tfrecord")):
            raise CLIError(f"corpus files must be .txt, .csv or .tfrecord, got {path}")
    vocabulary = _load_vocabulary(args)
    model = _load_model(args.model)
    from keras_relevance.corpus import explain_corpus

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result = explain_corpus(
        model, list(args.data), methods=methods, out=args.out, batch_size=args.batch_size,
        shard_size=args.shard_size, resume=not args.no_resume, vocabulary=vocabulary,
        quiet=args.quiet, max_tokens=args.max_tokens, overwrite=args.overwrite,
    )
    print(
        f"explained {result['docs']} documents ({result['docs_per_second']:.1f} docs/s); "
        f"{result['shards']} shards in {args.out} (skipped {result['skipped_shards']} "
        "committed before)"
    )
    return 0


def _name(index: int, names) -> str:
    if names and 0 <= index < len(names):
        return f"{index} ({names[index]})"
    return str(index)


if __name__ == "__main__":
    sys.exit(main())
