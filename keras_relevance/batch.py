"""The one input type: texts, token lists or ids → a `TextBatch`.

`to_batch` turns texts, token lists or ids into a `TextBatch` (ids, token mask, tokens, offsets,
texts), through a `Vocabulary` or a `TextSource` (the model's own TextVectorization; a
`keras_relevance.graph.ModelGraph` is one). A model with a TextVectorization layer should be
explained through its source: the package's tokenizers keep punctuation the layer strips.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from keras_relevance.text import KERAS_SPECIALS, OOV_ID, OOV_TOKEN, PAD_ID, Tokenized, Vocabulary  # noqa: F401

#: the characters TextVectorization's "strip_punctuation" removes (its regex is this set)
TV_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_TV_STANDARDIZE = (None, "lower", "strip_punctuation", "lower_and_strip_punctuation")
_TV_SPACE = frozenset(" \t\n\v\f\r")  # tf.strings.split splits at ASCII whitespace only


@runtime_checkable
class TextSource(Protocol):
    """A model's own in-graph text preprocessing (a `TextVectorization` layer), duck-typed.

    Attributes:
        vocabulary: the layer's vocabulary, index = id ("" padding at 0, "[UNK]" at 1).
        standardize: "lower_and_strip_punctuation", "lower", "strip_punctuation", None, or a
            callable (then no character offsets can be given).
        split: "whitespace", "character", None, or a callable (no offsets).

    Optional attributes read when present: `output_sequence_length` (rows truncated to it keep
    their offsets) and `ngrams` (set: no offsets).
    """

    vocabulary: list[str]
    standardize: str | None | Callable
    split: str | None | Callable

    def vectorize(self, texts: list[str]) -> np.ndarray:
        """Int ids (batch, time) as the model's layer computes them from `texts`."""


@dataclass
class TextBatch:
    """Texts, tokens or ids as one batch: what every explainer, metric and the CLI take.

    Attributes:
        ids: int32 (batch, time). Made from texts / tokens: right-padded with `pad_id`; given
            ids are kept as given (left padding too: `token_mask` tells).
        token_mask: bool (batch, time), True at real tokens.
        tokens: one list per row, one token per True position of `token_mask`, in order; None
            when unknown (ids without a vocabulary).
        offsets: per row, (start, end) character offsets into `texts[row]` aligned with
            `tokens[row]`, or None for a row where they are unknown; None for the whole batch
            when there are no raw texts.
        texts: the raw texts, or None.
        pad_id: the padding id.
        oov_id: the out-of-vocabulary id, None when unknown.

    >>> b = to_batch(["A good film!", "bad"], vocabulary=vocab)  # doctest: +SKIP
    >>> b.ids.shape, b.tokens[1], b[1:].texts  # doctest: +SKIP
    ((2, 4), ['bad'], ['bad'])
    """

    ids: np.ndarray
    token_mask: np.ndarray
    tokens: list[list[str]] | None = None
    offsets: list[list[tuple[int, int]] | None] | None = None
    texts: list[str] | None = None
    pad_id: int = PAD_ID
    oov_id: int | None = None

    def __post_init__(self):
        self.ids = np.asarray(self.ids, dtype=np.int32)
        self.token_mask = np.asarray(self.token_mask, dtype=bool)
        if self.ids.ndim != 2 or self.token_mask.shape != self.ids.shape:
            raise ValueError(
                f"TextBatch needs 2-D ids and a mask of the same shape, got ids "
                f"{self.ids.shape} and token_mask {self.token_mask.shape}"
            )
        counts = self.token_mask.sum(axis=1)
        for name in ("tokens", "offsets", "texts"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.ids):
                raise ValueError(f"TextBatch.{name} has {len(value)} rows, ids {len(self.ids)}")
        for name in ("tokens", "offsets"):
            for row, value in enumerate(getattr(self, name) or []):
                if value is not None and len(value) != counts[row]:
                    raise ValueError(
                        f"TextBatch.{name}[{row}] has {len(value)} entries for {counts[row]} "
                        "tokens in token_mask"
                    )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """The number of real tokens per row, int (batch,)."""
        return self.token_mask.sum(axis=1)

    def __getitem__(self, index) -> TextBatch:
        """Rows by an int, a slice, or an int / bool index array; always a TextBatch."""
        rows = np.atleast_1d(np.arange(len(self))[index])

        def pick(values):
            return None if values is None else [values[r] for r in rows]

        return TextBatch(
            self.ids[rows], self.token_mask[rows], pick(self.tokens), pick(self.offsets),
            pick(self.texts), self.pad_id, self.oov_id,
        )  # fmt: skip


def to_batch(
    inputs,
    *,
    vocabulary: Vocabulary | None = None,
    source: TextSource | None = None,
    mask_zero: bool = True,
    vocab_size: int | None = None,
    pad_id: int = PAD_ID,
) -> TextBatch:
    """Texts, token lists or ids → one `TextBatch`.

    Args:
        inputs: a str or a list of str (raw texts; also a 1-D or (batch, 1) string array /
            tensor); a list of token lists (or of `Tokenized`); ids: an int array / tensor
            (batch, time), a `tf.RaggedTensor`, or a list of unequal-length id lists
            (right-padded with `pad_id`); or a `TextBatch` (returned as is).
        vocabulary: a `Vocabulary` to tokenize (its tokenizer gives tokens and offsets) and
            encode texts and token lists; with ids, it names the tokens.
        source: the model's own preprocessing (`TextSource`): texts are vectorized by it,
            tokens are its vocabulary's words ("[UNK]" where a word is unknown), and offsets
            are found by redoing its standardization, kept only where the words found give
            exactly the ids it returned. Token lists are joined with single spaces.
        mask_zero: given ids: `pad_id` marks padding (else every position is a token; ragged
            ids are then refused). Ids made from texts never count padding as a token.
        vocab_size: ids must be below it (the Embedding's `input_dim`); default: the size of
            `vocabulary` / `source.vocabulary` when given.
        pad_id: the padding id of given ids.

    Raises:
        TypeError / ValueError: naming the row, position and value at fault.
    """
    if isinstance(inputs, TextBatch):
        return inputs
    if vocabulary is not None and source is not None:
        raise ValueError("pass vocabulary= or source=, not both")
    if source is not None and not callable(getattr(source, "vectorize", None)):
        raise TypeError(f"source must have vectorize(texts) and vocabulary, got {source!r}")
    words = None if source is None else [str(w) for w in source.vocabulary]
    if vocab_size is None:
        vocab_size = len(vocabulary) if vocabulary is not None else None
        vocab_size = len(words) if words is not None else vocab_size
    kind, data = _classify(inputs, vocabulary is not None or source is not None)
    if kind == "ids":
        return _from_ids(data, vocabulary, words, mask_zero, vocab_size, pad_id)
    if vocabulary is None and source is None:
        raise ValueError(
            f"{kind} need vocabulary= (a keras_relevance.text.Vocabulary) or source= (the "
            "model's TextVectorization) to become ids"
        )
    if pad_id != PAD_ID:
        raise ValueError(f"pad_id={pad_id} applies to given ids; texts are padded with {PAD_ID}")
    if not data:
        empty = np.zeros((0, 0), np.int32)
        oov = OOV_ID if vocabulary is not None else _oov_id(words)
        return TextBatch(empty, empty.astype(bool), [], [], [], PAD_ID, oov)
    if source is not None:
        if kind == "token lists":
            data = [" ".join(t.tokens if isinstance(t, Tokenized) else t) for t in data]
        return _from_source(data, source, words, vocab_size)
    if kind == "texts":
        data = vocabulary.tokenize(data)
    ids = vocabulary.encode(data)
    tokens = [list(t.tokens if isinstance(t, Tokenized) else t) for t in data]
    offsets = texts = None
    if all(isinstance(t, Tokenized) for t in data):
        offsets, texts = [t.spans() for t in data], [t.text for t in data]
    return TextBatch(ids, ids != PAD_ID, tokens, offsets, texts, PAD_ID, OOV_ID)


def unknown_tokens(batch: TextBatch, oov_id: int | None = None) -> list[list[str]]:
    """For each row, the words that mapped to the OOV id, as written in the raw text.

    Where a row has no offsets, its tokens there are given instead ("[UNK]" for a source).

    Args:
        batch: a `TextBatch`.
        oov_id: overrides `batch.oov_id` (needed for ids given without a vocabulary).
    """
    oov = batch.oov_id if oov_id is None else oov_id
    if oov is None:
        raise ValueError("the batch has no OOV id (ids given without a vocabulary): pass oov_id=")
    out = []
    for row in range(len(batch)):
        ids = batch.ids[row][batch.token_mask[row]]
        spans = batch.offsets[row] if batch.offsets is not None else None
        words = []
        for k in np.flatnonzero(ids == oov):
            if spans is not None and batch.texts is not None:
                words.append(batch.texts[row][spans[k][0] : spans[k][1]])
            else:
                words.append(batch.tokens[row][k] if batch.tokens is not None else OOV_TOKEN)
        out.append(words)
    return out


def _classify(inputs, have_vocabulary: bool) -> tuple[str, list | np.ndarray]:
    """("texts" | "token lists" | "ids", data) with every element's type checked."""
    if isinstance(inputs, str):
        return "texts", [inputs]
    if hasattr(inputs, "row_splits") and hasattr(inputs, "to_list"):  # tf.RaggedTensor
        inputs = inputs.to_list()
    elif hasattr(inputs, "numpy") and not isinstance(inputs, np.ndarray):  # a tensor
        inputs = inputs.numpy()
    if isinstance(inputs, np.ndarray):
        flat = inputs.ravel()
        if inputs.dtype.kind in "USO" and all(isinstance(x, str | bytes) for x in flat):
            if not (inputs.ndim == 1 or inputs.ndim == 2 and inputs.shape[1] == 1):
                raise TypeError(
                    f"a string array must be texts of shape (batch,) or (batch, 1), got "
                    f"{inputs.shape}; pass token lists as a list of lists"
                )
            return "texts", [_text(x, i) for i, x in enumerate(flat)]
        return "ids", inputs
    if not isinstance(inputs, list | tuple):
        raise TypeError(
            f"expected texts, token lists or ids, got {type(inputs).__name__}; see to_batch"
        )
    rows = list(inputs)
    if not rows:
        return ("texts" if have_vocabulary else "ids"), rows
    if all(isinstance(r, str | bytes) for r in rows):
        return "texts", [_text(r, i) for i, r in enumerate(rows)]
    if all(isinstance(r, Tokenized) for r in rows):
        return "token lists", rows
    first = None
    for i, row in enumerate(rows):
        if isinstance(row, np.ndarray) and row.ndim == 1:
            row = rows[i] = row.tolist()
        if not isinstance(row, list | tuple):
            raise TypeError(
                f"row {i} is a {type(row).__name__}; expected all texts (str), all token lists "
                "or all id lists"
            )
        for j, x in enumerate(row):
            kind = _element_kind(x)
            if kind not in ("token lists", "ids"):
                raise TypeError(
                    f"row {i}, position {j} holds {x!r} ({type(x).__name__}); expected str "
                    "tokens or int ids"
                )
            first = first or kind
            if kind != first:
                raise TypeError(
                    f"row {i}, position {j} holds {x!r} ({type(x).__name__}) but earlier "
                    f"rows are {first}; a batch is all token lists or all id lists"
                )
    if first is None:  # only empty rows
        first = "token lists" if have_vocabulary else "ids"
    if first == "token lists":  # string tensors give bytes
        return first, [[_text(x, i) for x in row] for i, row in enumerate(rows)]
    return first, [list(r) for r in rows]


def _element_kind(x) -> str:
    if isinstance(x, str | bytes):
        return "token lists"
    if isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_):
        return "ids"
    return "other"


def _text(x, row: int) -> str:
    if isinstance(x, bytes):
        try:
            return x.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"text {row} is not UTF-8: {err}") from None
    return str(x)


def _from_ids(data, vocabulary, words, mask_zero, vocab_size, pad_id) -> TextBatch:
    if isinstance(data, list):  # id lists, maybe ragged
        lengths = {len(r) for r in data}
        if len(lengths) > 1 and not mask_zero:
            raise ValueError(
                f"ragged id lists (lengths {min(lengths)}..{max(lengths)}) must be padded, but "
                f"mask_zero=False: the model would read the padding id {pad_id} as a token"
            )
        width = max(lengths, default=0)
        arr = np.full((len(data), width), pad_id, dtype=np.int64)
        for i, row in enumerate(data):
            arr[i, : len(row)] = row
        data = arr
    if data.dtype.kind not in "iu":
        raise TypeError(
            f"ids must be integers, got dtype {data.dtype}"
            + ("; cast with ids.astype('int32')" if data.dtype.kind == "f" else "")
        )
    if data.ndim != 2:
        raise ValueError(
            f"ids must be 2-D (batch, time), got shape {data.shape}"
            + ("; a single sequence is ids[None]" if data.ndim == 1 else "")
        )
    _check_range(data, vocab_size)
    if vocab_size is not None and not 0 <= pad_id < vocab_size:
        raise ValueError(f"pad_id {pad_id} is outside the vocabulary of {vocab_size}")
    ids = data.astype(np.int32)
    mask = ids != pad_id if mask_zero else np.ones(ids.shape, bool)
    tokens, oov = None, None
    if vocabulary is not None:
        tokens = [[vocabulary.id_to_token(i) for i in r[m]] for r, m in zip(ids, mask, strict=True)]
        oov = OOV_ID
    elif words is not None:
        tokens = [[words[i] for i in r[m]] for r, m in zip(ids, mask, strict=True)]
        oov = _oov_id(words)
    return TextBatch(ids, mask, tokens, None, None, pad_id, oov)


def _check_range(ids: np.ndarray, vocab_size: int | None) -> None:
    limit = min(vocab_size, 2**31) if vocab_size is not None else 2**31
    what = "vocab_size" if vocab_size is not None and limit == vocab_size else "the int32 range"
    for bad, why in ((ids < 0, "negative"), (ids >= limit, f"not below {limit} ({what})")):
        if bad.any():
            row, pos = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"id {int(ids[row, pos])} at row {row}, position {pos} is {why}")


def _oov_id(words: list[str]) -> int | None:
    return words.index("[UNK]") if "[UNK]" in words[:2] else None


def _from_source(texts: list[str], source: TextSource, words: list[str], vocab_size) -> TextBatch:
    ids = np.asarray(source.vectorize(list(texts)))
    if ids.ndim == 1 and len(ids) == len(texts):  # split=None gives one id per text
        ids = ids[:, None]
    if ids.ndim != 2 or len(ids) != len(texts) or ids.dtype.kind not in "iu":
        raise ValueError(
            f"source.vectorize returned {ids.dtype} {ids.shape} for {len(texts)} texts; "
            "expected int ids (batch, time)"
        )
    _check_range(ids, min(len(words), vocab_size))  # vocab_size: the Embedding may be smaller
    ids = ids.astype(np.int32)
    mask = ids != PAD_ID
    tokens = [[words[i] for i in r[m]] for r, m in zip(ids, mask, strict=True)]
    offsets = _source_offsets(texts, source, ids, mask, words)
    return TextBatch(ids, mask, tokens, offsets, list(texts), PAD_ID, _oov_id(words))


def _source_offsets(texts, source, ids, mask, words) -> list[list[tuple[int, int]] | None]:
    """Offsets of the source's tokens, from its standardization redone; None where unsure."""
    standardize, split = source.standardize, source.split
    if (
        not (isinstance(standardize, str | None) and standardize in _TV_STANDARDIZE)
        or split not in ("whitespace", "character", None)
        or getattr(source, "ngrams", None)
    ):
        return [None] * len(texts)
    lookup: dict[str, int] = {}
    for i, w in enumerate(words):
        lookup.setdefault(w, i)
    oov = _oov_id(words)
    keep = getattr(source, "output_sequence_length", None)
    out = []
    for text, row, m in zip(texts, ids, mask, strict=True):
        found = _tv_words(text, standardize, split)
        expected = [lookup.get(w, oov) for w, _ in found]
        row = row[m].tolist()
        if expected == row:
            out.append([span for _, span in found])
        elif keep and len(row) == keep == ids.shape[1] and expected[:keep] == row:
            out.append([span for _, span in found[:keep]])  # truncated by the layer
        else:
            out.append(None)
    return out


def _tv_words(text: str, standardize, split) -> list[tuple[str, tuple[int, int]]]:
    """TextVectorization's tokens of `text` with the character span each comes from."""
    lower = standardize in ("lower", "lower_and_strip_punctuation")
    strip = standardize in ("strip_punctuation", "lower_and_strip_punctuation")
    kept = []  # (character after standardization, its index in text)
    for i, c in enumerate(text):
        if strip and c in TV_PUNCTUATION:
            continue
        kept.append((c.lower() if lower and "A" <= c <= "Z" else c, i))  # ASCII only, as TF
    if split == "character":
        return [(c, (i, i + 1)) for c, i in kept]
    if split is None:
        return [("".join(c for c, _ in kept), (kept[0][1], kept[-1][1] + 1))] if kept else []
    found, word = [], []
    for c, i in kept + [(" ", len(text))]:
        if c in _TV_SPACE:
            if word:
                found.append(("".join(x for x, _ in word), (word[0][1], word[-1][1] + 1)))
            word = []
        else:
            word.append((c, i))
    return found
