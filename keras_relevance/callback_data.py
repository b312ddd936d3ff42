"""The inputs of `ExplanationLogger`, checked and turned into token ids before training.

Samples, `deletion_data` and `summary_data` may be texts, token lists or int id arrays (with
labels); texts need a vocabulary, or the model's own TextVectorization (`ModelVocabulary`).
Every check raises a `ValueError` naming the argument and the sample at fault.
"""

from __future__ import annotations

import os

import numpy as np

TARGET_WORDS = ("predicted", "true", "all")

def check_methods(methods) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one explanation method")
    from keras_relevance.explainer import METHODS

    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods contains duplicates: {list(methods)}")
    return methods


def check_targets(targets, has_labels: bool) -> tuple:
    if isinstance(targets, str | int):
        targets = (targets,)
    out = []
    for target in targets:
        if isinstance(target, str):
            if target not in TARGET_WORDS:
                raise ValueError(
                    f"unknown target {target!r}: use 'predicted', 'true', 'all' or class ids"
                )
            if target == "true" and not has_labels:
                continue
        elif isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 0:
            raise ValueError(
                f"targets must be 'predicted', 'true', 'all' or class ids, got {target!r}"
            )
        out.append(target if isinstance(target, str) else int(target))
    if not out:
        raise ValueError(
            f"no target to explain in {list(targets)!r} (labels are needed for 'true')"
        )
    return tuple(out)


def prepare_labels(labels, n: int, what: str) -> np.ndarray | None:
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] > 1:  # one-hot
        arr = arr.argmax(axis=1)
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{what}: expected {n} labels (one per sample), got {arr.shape[0]}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.all(arr == np.round(arr))):
        raise ValueError(f"{what} must be class ids (integers)")
    return arr.astype(np.int64)


def is_ids_and_labels(samples) -> bool:
    """A pair `(ids, labels)`, told apart from a pair of texts or of token lists."""
    if not isinstance(samples, tuple) or len(samples) != 2:
        return False
    try:
        ids = np.asarray(samples[0])
    except ValueError:  # ragged
        return False
    return ids.ndim in (1, 2) and ids.size > 0 and np.issubdtype(ids.dtype, np.integer)


def inside(path, root) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path.startswith(root.rstrip(os.sep) + os.sep)


def is_pair(data) -> bool:
    """(ids or texts, labels): a 2-tuple whose second item is one label per sentence."""
    if not isinstance(data, tuple) or len(data) != 2:
        return False
    first, second = data
    try:
        return len(first) == len(second) and np.asarray(second).ndim == 1
    except (TypeError, ValueError):
        return False


def is_text_list(samples) -> bool:
    return (
        isinstance(samples, list | tuple)
        and bool(samples)
        and all(isinstance(s, str) for s in samples)
    )


def is_token_lists(samples) -> bool:
    return (
        isinstance(samples, list | tuple)
        and bool(samples)
        and all(isinstance(s, list | tuple) and all(isinstance(t, str) for t in s) for s in samples)
    )


def prepare_samples(samples, vocabulary, max_len):
    """→ (ids (batch, time) int32, tokens per sample, Tokenized per sample or None)."""
    if isinstance(samples, str):
        samples = [samples]
    if samples is None or (hasattr(samples, "__len__") and len(samples) == 0):
        raise ValueError("ExplanationLogger needs at least one sample to explain")
    tokenized = None
    if is_text_list(samples) or is_token_lists(samples):
        if vocabulary is None:
            raise ValueError(
                "samples are texts: pass vocabulary= (a keras_relevance.text.Vocabulary) to "
                "turn them into the model's token ids"
            )
        if is_text_list(samples):
            for i, text in enumerate(samples):
                if not text.strip():
                    raise ValueError(f"sample text {i} is empty: {text!r}")
            tokenized = vocabulary.tokenize(list(samples))
            token_lists = [list(t.tokens) for t in tokenized]
        else:
            token_lists = [list(s) for s in samples]
        for i, toks in enumerate(token_lists):
            if not toks:
                raise ValueError(f"sample {i} has no tokens: {samples[i]!r}")
        if max_len is not None:
            token_lists = [toks[:max_len] for toks in token_lists]
        ids = vocabulary.encode(token_lists, max_len=max_len)
        return ids, token_lists, tokenized

    ids = np.asarray(samples)
    if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            "samples must be texts, token lists or an int id array (batch, time); "
            f"got an array of dtype {ids.dtype}"
        )
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2:
        raise ValueError(f"sample ids must have shape (batch, time), got {ids.shape}")
    if max_len is not None:
        ids = ids[:, :max_len]
    tokens = []
    for i, row in enumerate(ids):
        nonzero = np.flatnonzero(row)
        if nonzero.size == 0:
            raise ValueError(f"sample {i} has no tokens (all ids are padding 0)")
        row = row[: nonzero[-1] + 1]
        if vocabulary is not None:
            tokens.append([vocabulary.id_to_token(int(t)) for t in row])
        else:
            tokens.append([str(int(t)) for t in row])
    return ids.astype(np.int32), tokens, tokenized


def holds_texts(samples, deletion_data, summary_data) -> bool:
    def texts(x):
        if isinstance(x, str):
            return True
        return isinstance(x, list | tuple) and (is_text_list(list(x)) or is_token_lists(x))

    parts = [samples]
    for extra in (deletion_data, summary_data):
        if isinstance(extra, tuple | list) and len(extra) == 2 and is_pair(extra):
            parts.append(extra[0])
        elif extra is not None and extra is not False:
            parts.append(extra)
    return any(texts(p) for p in parts)


class ModelVocabulary:
    """The model's own TextVectorization as the logger's vocabulary (tokenize / encode)."""

    def __init__(self, graph):
        from keras_relevance.batch import to_batch

        self._graph, self._to_batch = graph, to_batch
        self._ids: dict = {}

    def tokenize(self, texts):
        from keras_relevance.text import Tokenized

        batch = self._to_batch(list(texts), source=self._graph)
        out = []
        for i, text in enumerate(texts):
            tokens = list(batch.tokens[i])
            offsets = batch.offsets[i] if batch.offsets is not None else None
            starts = [a for a, _ in offsets] if offsets else [0] * len(tokens)
            ends = [b for _, b in offsets] if offsets else [0] * len(tokens)
            self._ids[tuple(tokens)] = batch.ids[i][batch.token_mask[i]]
            out.append(Tokenized(tokens, starts, ends, text))
        return out

    def encode(self, rows, max_len=None):
        found, texts = [], []
        for r in rows:
            cached = None if isinstance(r, str) else self._ids.get(tuple(r))
            found.append(cached)
            if cached is None:
                texts.append(r if isinstance(r, str) else " ".join(r))
        vectors = iter(self._graph.vectorize(texts)) if texts else iter(())
        rows = [next(vectors) if r is None else r for r in found]
        rows = [r[r != 0] for r in rows]
        width = max((len(r) for r in rows), default=0)
        if max_len is not None:
            width = min(width, max_len)
        out = np.zeros((len(rows), width), np.int32)
        for i, r in enumerate(rows):
            out[i, : min(len(r), width)] = r[:width]
        return out

    def id_to_token(self, index: int) -> str:
        vocab = self._graph.vocabulary or []
        return vocab[index] if 0 <= index < len(vocab) else "?"


def prepare_deletion(deletion_data, vocabulary, max_len):
    if not isinstance(deletion_data, tuple | list) or len(deletion_data) != 2:
        raise ValueError("deletion_data must be a pair (ids or texts, labels)")
    data, labels = deletion_data
    if is_text_list(list(data) if isinstance(data, tuple) else data):
        if vocabulary is None:
            raise ValueError("deletion_data holds texts: pass vocabulary= to encode them")
        ids = vocabulary.encode(list(data), max_len=max_len)
    else:
        ids = np.asarray(data)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"deletion_data ids must be an int array (batch, time), got {ids.dtype} {ids.shape}"
            )
    if len(ids) == 0:
        raise ValueError("deletion_data is empty")
    return ids.astype(np.int32), prepare_labels(labels, len(ids), "deletion_data labels")


def predicted_classes(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] == 1:  # one sigmoid unit: class 1 when the logit is positive
        return (logits[:, 0] > 0).astype(np.int64)
    return logits.argmax(axis=-1).astype(np.int64)
