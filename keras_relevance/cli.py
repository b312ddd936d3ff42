"""The `keras-relevance` command: explain a saved model's prediction on a sentence.

    keras-relevance explain MODEL.keras --text "a good film" [--method lrp] [--vocab vocab.json]
                                        [--target N] [--html out.html] [--color auto|always|never]
                                        [--class-names neg,pos] [--verbose]
    keras-relevance explain-corpus MODEL.keras DATA [DATA...] --out DIR [--methods lrp,sa]
                                   [--batch-size 64] [--shard-size 1000] [--vocab vocab.json]
                                   [--max-tokens 10000] [--quiet] [--no-resume] [--overwrite]

The vocabulary (`keras_relevance.text.Vocabulary` JSON) is found beside the model as
`<model stem>.vocab.json` or `vocab.json` unless `--vocab` names it (explain-corpus needs none
for a model that takes raw strings through its own TextVectorization layer); class names come from
`--class-names` or the metadata file beside the model (`<model stem>.meta.json`, JSON
``{"class_names": [...]}``, written by `examples/demo.py` and `ExplanationLogger`). Prints one
coloured terminal heatmap per text (red: supports the explained class, blue: speaks against it),
warns on stderr about words outside the vocabulary (they are scored as ``<unk>``) and, with
`--html`, writes a self-contained HTML file. TensorFlow's log lines are off unless `--verbose`.
Errors print one line to stderr and exit with status 2 (no traceback; `--debug` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["main", "find_vocabulary", "find_metadata", "write_metadata", "read_class_names"]

EXIT_ERROR = 2
META_SUFFIX = ".meta.json"


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


def find_metadata(model_path: str | os.PathLike) -> Path | None:
    """The metadata file saved beside a model: `<stem>.meta.json`, then `metadata.json`."""
    model_path = Path(model_path)
    for candidate in (
        model_path.with_name(model_path.stem + META_SUFFIX),
        model_path.with_name("metadata.json"),
    ):
        if candidate.is_file():
            return candidate
    return None


def write_metadata(model_path: str | os.PathLike, class_names=None, **extra) -> Path:
    """Writes `<model stem>.meta.json` beside a model: its class names (and `extra` fields).

    >>> write_metadata("runs/demo/model.keras", ["negative", "positive"])  # doctest: +SKIP
    PosixPath('runs/demo/model.meta.json')
    """
    model_path = Path(model_path)
    path = model_path.with_name(model_path.stem + META_SUFFIX)
    data = {"class_names": None if class_names is None else [str(c) for c in class_names], **extra}
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def read_class_names(path: str | os.PathLike) -> list[str] | None:
    """The class names of a metadata file (None when it has none)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise CLIError(f"cannot read metadata {path}: {error}") from None
    names = data.get("class_names") if isinstance(data, dict) else None
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CLIError(f"metadata {path}: class_names must be a list of strings")
    return names


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
    explain.add_argument(
        "--class-names",
        help="comma-separated class names, e.g. neg,pos (default: from <model>.meta.json)",
    )
    explain.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    explain.add_argument(
        "-v", "--verbose", action="store_true", help="keep TensorFlow's log lines"
    )

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
    corpus.add_argument(
        "--class-names",
        help="comma-separated class names for the dashboard (default: from <model>.meta.json)",
    )
    corpus.add_argument(
        "-v", "--verbose", action="store_true", help="keep TensorFlow's log lines"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 error)."""
    args = _parser().parse_args(argv)
    if not args.verbose:  # before TensorFlow is imported (the package does it for the command)
        from keras_relevance import _quiet

        _quiet.quiet_tensorflow()
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
    for i, text in enumerate(args.text):
        if not text.strip():
            raise CLIError(f"--text number {i + 1} is empty")
    model = _load_model(args.model)

    import numpy as np

    from keras_relevance.batch import to_batch, unknown_tokens
    from keras_relevance.explainer import METHODS, Explainer
    from keras_relevance.graph import ModelGraph
    from keras_relevance.text import OOV_ID, OOV_TOKEN

    if args.method not in METHODS:
        raise CLIError(f"unknown method {args.method!r}; known: {', '.join(sorted(METHODS))}")
    try:
        graph = ModelGraph.from_model(model)
    except ValueError as error:
        raise CLIError(str(error)) from None
    if graph.takes_strings and not args.vocab:  # the model's own TextVectorization tokenizes
        batch = to_batch(list(args.text), source=graph)
        inputs, unknown_as = list(args.text), "[UNK]"
        unknown_words = unknown_tokens(batch, oov_id=1)  # as written in the text
    else:
        vocabulary = _load_vocabulary(args)
        max_len = _fixed_length(model)
        tokenized = vocabulary.tokenize(args.text)
        if max_len:
            tokenized = [type(t)(t.tokens[:max_len], t.starts[:max_len], t.ends[:max_len],
                                 t.text) for t in tokenized]
        batch = to_batch(tokenized, vocabulary=vocabulary)
        inputs, unknown_as = batch.ids, OOV_TOKEN
        unknown_words = [
            [t for t, k in zip(toks, row[mask], strict=False) if int(k) == OOV_ID]
            for toks, row, mask in zip(batch.tokens, batch.ids, batch.token_mask, strict=True)
        ]
    tokens = [list(t) for t in batch.tokens]
    try:
        explainer = Explainer(model)
        explanation = explainer.explain(inputs, method=args.method, target=args.target)
    except (ValueError, TypeError, KeyError) as error:
        raise CLIError(f"cannot explain with {args.method!r}: {error}") from None

    names = _class_names(args)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    heatmaps = []
    num_classes = int(np.asarray(explanation.logits).shape[-1])
    if names:
        shown = ", ".join(f"{c} {names[c]}" for c in range(min(len(names), max(num_classes, 2))))
        print(f"classes: {shown}")
    for i, toks in enumerate(tokens):
        unknown = unknown_words[i]
        if unknown:
            words = ", ".join(repr(w) for w in dict.fromkeys(unknown))
            print(
                f"keras-relevance: warning: text {i + 1}: {len(unknown)} of {len(toks)} words "
                f"not in the vocabulary, scored as {unknown_as}: {words}",
                file=sys.stderr,
            )
        logits = np.asarray(explanation.logits[i])
        predicted = int(np.argmax(logits)) if logits.shape[-1] > 1 else int(logits[0] > 0)
        target = int(explanation.target[i])
        score = float(logits[target]) if target < logits.shape[-1] else float(logits[0])
        label = (
            f"{args.method}, class {_name(target, names)}: logit {score:.3g}; "
            f"predicted {_name(predicted, names)}"
        )
        heatmap = render.Heatmap(
            toks,
            explanation.relevance[i, : len(toks)],
            label=label,
            class_name=_name(target, names),
        )
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
    model = _load_model(args.model)
    from keras_relevance.corpus import explain_corpus
    from keras_relevance.graph import ModelGraph

    vocabulary = None  # a model with a TextVectorization layer tokenizes the texts itself
    if args.vocab or ModelGraph.from_model(model).text_layer is None:
        vocabulary = _load_vocabulary(args)

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result = explain_corpus(
        model, list(args.data), methods=methods, out=args.out, batch_size=args.batch_size,
        shard_size=args.shard_size, resume=not args.no_resume, vocabulary=vocabulary,
        quiet=args.quiet, max_tokens=args.max_tokens, overwrite=args.overwrite,
        class_names=_class_names(args),
    )
    print(
        f"explained {result['docs']} documents ({result['docs_per_second']:.1f} docs/s); "
        f"{result['shards']} shards in {args.out} (skipped {result['skipped_shards']} "
        "committed before)"
    )
    return 0


def _class_names(args) -> list[str] | None:
    if args.class_names:
        return [n.strip() for n in args.class_names.split(",")]
    path = find_metadata(args.model)
    return None if path is None else read_class_names(path)


def _name(index: int, names) -> str:
    if names and 0 <= index < len(names):
        return f"{index} ({names[index]})"
    return str(index)


if __name__ == "__main__":
    sys.exit(main())
