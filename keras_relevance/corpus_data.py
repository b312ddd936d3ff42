"""Corpus inputs of `explain_corpus`: lists, tf.data Datasets and files, read as a stream.

Every source becomes a generator of documents `(doc_id, tokens, ids, starts, ends, label)` with
`doc_id` the 0-based position in the input. Rules (documented in docs/CORPUS.md):

- texts become ids through `batch.to_batch` (in chunks of 256), the one input type: with a
  `Vocabulary` its tokenizer gives the tokens (an out-of-vocabulary word keeps its text, its id
  is 1) and character offsets; for a model with a TextVectorization layer the model's own layer
  gives the ids, tokens are its vocabulary's words ("[UNK]" for an unknown word) and offsets
  come from redoing its standardization (-1 / null where that cannot be done);
- id lists keep their ids; tokens are `vocabulary.decode(ids)` with a vocabulary, else the
  model layer's words when it has one, else the ids as strings; offsets are null;
- a document longer than `max_tokens` is truncated to its first `max_tokens` tokens (the caller
  warns once, listing the doc_ids);
- a line of a .txt / .csv file that is not valid UTF-8 is decoded with U+FFFD replacement
  characters and kept (the caller warns once, listing file and line numbers);
- .txt: one document per line (a trailing newline does not make an extra document);
  .csv: a header row with a `text` column and an optional `label` column;
  .tfrecord: `tf.train.Example`s with a bytes feature `text` or an int64 feature `ids`, and an
  optional int64 feature `label`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SUFFIXES = (".txt", ".csv", ".tfrecord")
CHUNK = 256


@dataclass
class Problems:
    """What a stream fixed on the way (the caller reports it)."""

    truncated: list[int] = field(default_factory=list)  # doc_ids
    undecodable: list[str] = field(default_factory=list)  # "file:line"


@dataclass
class Source:
    """A normalized corpus: `raw()` yields (text | ids, label | None) in input order."""

    raw: Callable[[], Iterator[tuple]]
    description: dict
    total: int | None
    has_text: bool


def _is_path_list(data) -> bool:
    return (
        isinstance(data, list | tuple)
        and len(data) > 0
        and all(isinstance(p, str | os.PathLike) for p in data)
        and all(str(p).endswith(SUFFIXES) and Path(p).is_file() for p in data)
    )


def make_source(data, problems: Problems) -> Source:
    """Normalize `data` (see `explain_corpus`) into a `Source`."""
    import tensorflow as tf

    if isinstance(data, str | os.PathLike):
        if not Path(data).is_file():
            raise FileNotFoundError(f"corpus file not found: {data}")
        data = [data]
    if isinstance(data, tf.data.Dataset):
        return _dataset_source(data, problems)
    if _is_path_list(data):
        return _file_source([Path(p) for p in data], problems)
    if isinstance(data, np.ndarray):
        data = list(data)
    if not isinstance(data, list | tuple):
        raise TypeError(
            "data must be a tf.data.Dataset, a list of texts / id lists / (x, label) pairs, or "
            f"paths of .txt / .csv / .tfrecord files; got {type(data).__name__}"
        )
    items = [_split_pair(x, i) for i, x in enumerate(data)]
    has_text = any(isinstance(x, str) for x, _ in items)
    if has_text and not all(isinstance(x, str) for x, _ in items):
        raise TypeError("data mixes texts and id lists; give one kind")
    digest = hashlib.sha256()
    for x, y in items:
        digest.update(repr((x if isinstance(x, str) else [int(v) for v in x], y)).encode())
    desc = {"kind": "texts" if has_text else "ids", "n": len(items), "sha256": digest.hexdigest()}
    return Source(lambda: iter(items), desc, len(items), has_text)


def _split_pair(x, i):
    if isinstance(x, tuple) and len(x) == 2 and not isinstance(x[0], int | np.integer):
        return x[0], x[1]
    if isinstance(x, str | list | tuple | np.ndarray):
        return x, None
    raise TypeError(f"document {i}: expected a text, an id list or (x, label), got {type(x)}")


def _decoded_lines(path: Path, problems: Problems):
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.undecodable.append(f"{path.name}:{lineno}")
                yield raw.decode("utf-8", errors="replace")


def _file_docs(path: Path, problems: Problems):
    suffix = path.suffix
    if suffix == ".txt":
        for line in _decoded_lines(path, problems):
            yield line.rstrip("\r\n"), None
    elif suffix == ".csv":
        reader = csv.DictReader(_decoded_lines(path, problems))
        if reader.fieldnames is None or "text" not in reader.fieldnames:
            raise ValueError(f"{path}: a CSV corpus needs a header with a 'text' column")
        for row_no, row in enumerate(reader, start=2):
            label = row.get("label")
            if label is not None and label.strip() != "":
                try:
                    label = int(label)
                except ValueError:
                    raise ValueError(
                        f"{path} row {row_no}: label {label!r} is not an int"
                    ) from None
            else:
                label = None
            yield row["text"] or "", label
    else:  # .tfrecord
        import tensorflow as tf

        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            ex = tf.train.Example.FromString(record).features.feature
            label = list(ex["label"].int64_list.value) if "label" in ex else []
            label = int(label[0]) if label else None
            if "text" in ex:
                raw = ex["text"].bytes_list.value[0] if ex["text"].bytes_list.value else b""
                yield raw.decode("utf-8", errors="replace"), label
            elif "ids" in ex:
                yield list(ex["ids"].int64_list.value), label
            else:
                raise ValueError(f"{path}: a tf.train.Example needs a 'text' or 'ids' feature")


def _file_source(paths: list[Path], problems: Problems) -> Source:
    kinds = {p.suffix for p in paths}
    total = None
    if kinds == {".txt"}:
        total = 0
        for p in paths:
            with open(p, "rb") as f:
                total += sum(1 for _ in f)

    def raw():
        for p in paths:
            yield from _file_docs(p, problems)

    desc = {
        "kind": "files",
        "files": [str(p.resolve()) for p in paths],
        "bytes": [p.stat().st_size for p in paths],
    }
    has_text = kinds != {".tfrecord"}
    if not has_text:  # a TFRecord may hold texts or ids; look at the first record
        first = next(iter(raw()), None)
        has_text = first is not None and isinstance(first[0], str)
    return Source(raw, desc, total, has_text)


def _dataset_source(ds, problems: Problems) -> Source:
    import tensorflow as tf

    spec = ds.element_spec
    pair = isinstance(spec, tuple)
    x_spec = spec[0] if pair else spec
    if pair and len(spec) != 2:
        raise ValueError(f"a Dataset corpus yields x or (x, label); got {len(spec)} components")
    if not isinstance(x_spec, tf.TensorSpec | tf.RaggedTensorSpec):
        raise TypeError(f"a Dataset corpus yields texts or id vectors, got {x_spec}")
    has_text = x_spec.dtype == tf.string
    if has_text and x_spec.shape.rank != 0:
        raise ValueError(f"a text Dataset must yield scalar strings (unbatched), got {x_spec}")
    if not has_text and (not x_spec.dtype.is_integer or x_spec.shape.rank != 1):
        raise ValueError(f"an id Dataset must yield 1-D int vectors (unbatched), got {x_spec}")
    card = int(ds.cardinality())
    total = card if card >= 0 else None

    def raw():
        for i, element in enumerate(ds.as_numpy_iterator()):
            x, y = element if pair else (element, None)
            if has_text:
                try:
                    x = x.decode("utf-8")
                except UnicodeDecodeError:
                    problems.undecodable.append(f"element {i}")
                    x = x.decode("utf-8", errors="replace")
            yield x, (None if y is None else int(y))

    desc = {"kind": "tf.data.Dataset", "element_spec": str(spec), "cardinality": card}
    return Source(raw, desc, total, has_text)


def text_source(explainer, has_text: bool, vocabulary):
    """The model's own TextVectorization (its `ModelGraph`) when it takes raw strings, else None;
    refuses texts that nothing can tokenize and a `vocabulary=` the model's layer would contradict.
    """
    graph = explainer.chain
    if not graph.takes_strings:
        if has_text and vocabulary is None:
            raise ValueError(
                "a corpus of texts needs vocabulary= (a keras_relevance.Vocabulary), or a model "
                "that takes raw strings through a TextVectorization layer"
            )
        return None
    if graph.text_layer is None:
        if not has_text:
            return None
        raise ValueError(
            f"model {explainer.model.name!r} takes strings through a StringLookup, not a "
            "TextVectorization layer: give the corpus as id lists"
        )
    if has_text and vocabulary is not None:
        raise ValueError(
            f"model {explainer.model.name!r} tokenizes raw text with its own TextVectorization "
            f"layer {graph.text_layer.name!r}: pass no vocabulary= (its ids would not be the "
            "layer's)"
        )
    return graph


def vocab_hash(vocabulary, text_source=None) -> str | None:
    """sha256 of the `Vocabulary`, or of the model layer's vocabulary and settings; None."""
    if vocabulary is not None:
        return hashlib.sha256(vocabulary.to_json().encode()).hexdigest()
    if text_source is None:
        return None
    layer = {k: v if isinstance(v, str | int | None) else getattr(v, "__qualname__", repr(v))
             for k, v in (("standardize", text_source.standardize),
                          ("split", text_source.split), ("ngrams", text_source.ngrams),
                          ("output_sequence_length", text_source.output_sequence_length))}
    text = json.dumps({"words": text_source.vocabulary, **layer}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def documents(source: Source, vocabulary, keep, max_tokens: int, problems: Problems,
              text_source=None):
    """Yield dicts doc_id, ids, tokens, starts, ends, label for the doc_ids `keep` accepts.

    Texts become ids through `batch.to_batch` with `vocabulary` (a `Vocabulary`) or
    `text_source` (the model's TextVectorization, a `batch.TextSource`); starts / ends are -1
    where the source cannot give a row's offsets.
    """
    chunk: list[tuple] = []
    for doc_id, (x, label) in enumerate(source.raw()):
        if label is not None:
            if isinstance(label, bool) or not isinstance(label, int | np.integer) or label < 0:
                raise ValueError(f"doc_id {doc_id}: label {label!r} is not a class (an int >= 0)")
        if not keep(doc_id):
            continue
        chunk.append((doc_id, x, label))
        if len(chunk) >= CHUNK:
            yield from _encode(chunk, source.has_text, vocabulary, text_source, max_tokens,
                               problems)
            chunk = []
    if chunk:
        yield from _encode(chunk, source.has_text, vocabulary, text_source, max_tokens, problems)


def _encode(chunk, has_text, vocabulary, text_source, max_tokens, problems):
    from keras_relevance.batch import to_batch

    if has_text:
        batch = to_batch([x for _, x, _ in chunk], vocabulary=vocabulary, source=text_source)
    names = None if text_source is None else [str(w) for w in text_source.vocabulary]
    for k, (doc_id, x, label) in enumerate(chunk):
        if has_text:
            ids = batch.ids[k][batch.token_mask[k]].tolist()
            tokens, spans = list(batch.tokens[k]), batch.offsets[k]
            starts = [s for s, _ in spans] if spans is not None else [-1] * len(ids)
            ends = [e for _, e in spans] if spans is not None else [-1] * len(ids)
        else:
            ids = _id_list(doc_id, x)
            tokens, starts, ends = _id_names(doc_id, ids, vocabulary, names), [], []
        if len(ids) > max_tokens:
            problems.truncated.append(doc_id)
            ids, tokens = ids[:max_tokens], tokens[:max_tokens]
            starts, ends = starts[:max_tokens], ends[:max_tokens]
        yield {
            "doc_id": doc_id,
            "ids": np.asarray(ids, np.int32),
            "tokens": tokens,
            "starts": np.asarray(starts, np.int32),
            "ends": np.asarray(ends, np.int32),
            "label": -1 if label is None else int(label),
            "length": len(ids),
        }


def _id_list(doc_id: int, x) -> list[int]:
    ids = np.asarray(x).reshape(-1)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"doc_id {doc_id}: ids must be integers, got {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"doc_id {doc_id}: negative token id {int(ids.min())}")
    return ids.tolist()


def _id_names(doc_id: int, ids: list[int], vocabulary, names) -> list[str]:
    """The tokens of given ids: the `Vocabulary`'s, else the model layer's words, else ids."""
    if vocabulary is not None:
        try:
            return vocabulary.decode(ids, skip_padding=False)
        except IndexError as error:
            raise ValueError(f"doc_id {doc_id}: {error}") from None
    if names is not None:
        bad = [i for i in ids if i >= len(names)]
        if bad:
            raise ValueError(
                f"doc_id {doc_id}: id {bad[0]} out of range for the model's vocabulary of "
                f"{len(names)}"
            )
        return [names[i] for i in ids]
    return [str(i) for i in ids]
