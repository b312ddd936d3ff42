"""Tokenization with character offsets, a word vocabulary, and the one input type.

`tokenize` gives tokens with **character** offsets into the original Python string:
`text[starts[i]:ends[i]]` is the i-th token (before lowercasing) for any Unicode text (NBSP and
other non-ASCII spaces, emoji sequences, combining characters). "unicode_script" runs
tensorflow-text's UnicodeScriptTokenizer on each whitespace-separated word.

`Vocabulary` maps tokens to ids: 0 is padding, 1 is the out-of-vocabulary id, words from 2 on
(most frequent first), the same layout as Keras's TextVectorization (`Vocabulary.from_keras`).

The one input type (`TextBatch`, `to_batch`, `TextSource`) lives in `keras_relevance.batch` and is
re-exported here. TensorFlow is imported only when raw texts are tokenized.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PAD_ID = 0
OOV_ID = 1
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<unk>"
KERAS_SPECIALS = ["", "[UNK]"]  # ids 0 and 1 of TextVectorization / StringLookup(mask_token="")
TOKENIZERS = ("unicode_script", "whitespace", "treebank")
_FORMAT_VERSION = 1
_ZWJ = "\u200d"
_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Tokenized:
    """One tokenized text.

    Attributes:
        tokens: the tokens (lowercased when `tokenize(..., lower=True)`).
        starts: character offset of each token's first character in `text`.
        ends: character offset one past each token's last character in `text`.
        text: the original text.
    """

    tokens: list[str]
    starts: list[int]
    ends: list[int]
    text: str = field(default="", repr=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def spans(self) -> list[tuple[int, int]]:
        """(start, end) character spans, one per token."""
        return list(zip(self.starts, self.ends, strict=True))


def _byte_to_char(text: str) -> dict[int, int] | None:
    """Map each UTF-8 byte offset that starts a character (and the end) to its character offset.

    Returns None for pure-ASCII text, where both offsets agree.
    """
    if text.isascii():
        return None
    table = {}
    pos = 0
    for i, ch in enumerate(text):
        table[pos] = i
        pos += len(ch.encode("utf-8"))
    table[pos] = len(text)
    return table


_TREEBANK = re.compile(
    r"""
    (?P<stem>\w+?)(?=n['’]t\b)            # "does" of "doesn't", "ca" of "can't"
    | (?P<neg>n['’]t)\b                    # n't
    | (?P<clitic>['’](?:s|re|ve|ll|d|m))\b   # 's 're 've 'll 'd 'm
    | (?P<number>\d+(?:[.,:/]\d+)+)         # 1.5  3,000  9/11
    | (?P<abbrev>(?:[a-z]\.){2,}|(?:mr|mrs|ms|dr|st|vs|etc|jr|sr|bros|inc|co|no)\.)
    | (?P<decade>['’]\d0s)\b                 # '60s
    | (?P<word>\w+(?:[-/]\w+)*)             # words; hyphenated and slashed words kept whole
    | (?P<punct>\.\.\.|--|``|''|\S)          # ... -- `` '' and any other single character
    """,
    re.VERBOSE | re.IGNORECASE,
)
_TREEBANK_MAP = {"(": "-LRB-", ")": "-RRB-", "[": "-LSB-", "]": "-RSB-", "{": "-LCB-", "}": "-RCB-"}


def _treebank_token(text: str, start: int, end: int) -> str:
    """The PTB form of `text[start:end]`: n't, 's, -LRB-, \\/, quotes as `` and ''."""
    token = text[start:end].replace("’", "'")
    if token == '"':
        before = text[start - 1] if start else " "
        token = "``" if before.isspace() or before in "([{" else "''"
    return _TREEBANK_MAP.get(token, token).replace("/", "\\/")  # PTB escapes "/"


def _is_extender(ch: str) -> bool:
    """A combining mark, ZWJ or emoji skin-tone modifier: part of the character before it."""
    return unicodedata.category(ch)[0] == "M" or ch == _ZWJ or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _is_flag_half(piece: str) -> bool:
    return len(piece) == 1 and "\U0001f1e6" <= piece <= "\U0001f1ff"  # regional indicator


def _graphemes(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join split-off combining marks / ZWJ sequences to their base; drop invisible tokens.

    tensorflow-text and the treebank regex cut "cafe" + U+0301 (a decomposed "café") in two,
    and an emoji ZWJ sequence or a pair of flags into their parts; a token made only of
    control / format characters (zero-width space, BOM, NUL) is not a word.
    """
    out: list[tuple[int, int]] = []
    for s, e in spans:
        piece = text[s:e]
        if out and out[-1][1] == s:
            last = text[out[-1][1] - 1]
            if (
                all(_is_extender(c) for c in piece)
                or last == _ZWJ
                or (unicodedata.category(last)[0] == "M" and piece[0].isalnum())
                or (_is_flag_half(text[out[-1][0] : out[-1][1]]) and _is_flag_half(piece[0]))
            ):
                out[-1] = (out[-1][0], e)
                continue
        if all(unicodedata.category(c) in ("Cc", "Cf") and c != _ZWJ for c in piece):
            continue
        out.append((s, e))
    return out


def _whitespace_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _NON_SPACE.finditer(text)]


def _unicode_script_spans(texts: list[str]) -> list[list[tuple[int, int]]]:
    """UnicodeScriptTokenizer run on each whitespace-separated word, offsets in characters.

    The words are split here, not by tensorflow-text: on whole texts it joins runs of
    "Common"-script characters across spaces ("8 1/2" → one token "81/2" spanning the space).
    """
    import tensorflow_text as tft

    words = [_whitespace_spans(t) for t in texts]
    flat = [t[s:e] for t, spans in zip(texts, words, strict=True) for s, e in spans]
    if not flat:
        return [[] for _ in texts]
    _, starts, ends = tft.UnicodeScriptTokenizer().tokenize_with_offsets(flat)
    starts, ends = iter(starts.to_list()), iter(ends.to_list())
    out = []
    for text, spans in zip(texts, words, strict=True):
        row = []
        for ws, we in spans:
            word, bs, be = text[ws:we], next(starts), next(ends)
            table = _byte_to_char(word)
            try:
                if table is not None:
                    bs, be = [table[b] for b in bs], [table[b] for b in be]
            except KeyError as err:  # never slice a character in two
                raise RuntimeError(
                    f"tensorflow-text returned byte offset {err.args[0]} inside a character of "
                    f"{word!r}"
                ) from None
            row.extend((ws + s, ws + e) for s, e in zip(bs, be, strict=True))
        out.append(row)
    return out


def tokenize(
    texts: str | Sequence[str], lower: bool = True, tokenizer: str = "unicode_script"
) -> list[Tokenized]:
    """Split texts into tokens with character offsets.

    Every token is its own slice of the text, `text[start:end]` (lowercased with `lower`; PTB
    forms such as "-LRB-" for "treebank"), also for non-ASCII whitespace, emoji and combining
    characters: a combining mark or ZWJ sequence stays with its base character, and tokens made
    only of invisible characters (zero-width space, BOM, controls) are dropped (not for
    "whitespace", which splits at whitespace only).

    Args:
        texts: a sequence of strings (a single string is treated as a sequence of one).
        lower: lowercase the tokens (the offsets still point into the original text).
        tokenizer: "unicode_script" (tensorflow-text within each whitespace-separated word;
            splits at changes of Unicode script / punctuation: "isn't" → "isn", "'", "t"),
            "whitespace" (at Unicode whitespace, NBSP included; pure Python), or "treebank"
            (pure Python; Penn-Treebank-like tokens as in SST: "isn't" → "is", "n't";
            "(" → "-LRB-"; '"' → "``" / "''", offsets still point at the original characters).

    Returns:
        One `Tokenized` per text.

    >>> [t.tokens for t in tokenize(["Café — naïve 😀"])]  # doctest: +SKIP
    [['café', '—', 'naïve', '😀']]
    >>> tokenize(["Café — naïve"])[0].starts  # doctest: +SKIP
    [0, 5, 7]
    """
    if isinstance(texts, str):
        texts = [texts]
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"tokenize expects str texts, got {type(t).__name__} at text {i}")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {tokenizer!r}; known: {list(TOKENIZERS)}")
    if tokenizer == "whitespace":
        spans = [_whitespace_spans(t) for t in texts]
    elif tokenizer == "treebank":
        spans = [_graphemes(t, [m.span() for m in _TREEBANK.finditer(t)]) for t in texts]
    else:
        for i, t in enumerate(texts):
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ValueError(
                    f"text {i} is not valid Unicode ({err.reason} at character {err.start})"
                ) from None
        spans = [_graphemes(t, s) for t, s in zip(texts, _unicode_script_spans(texts), strict=True)]
    out = []
    for text, row in zip(texts, spans, strict=True):
        if tokenizer == "treebank":
            tokens = [_treebank_token(text, s, e) for s, e in row]
        else:
            tokens = [text[s:e] for s, e in row]
        if lower:
            tokens = [w.lower() for w in tokens]
        out.append(Tokenized(tokens, [s for s, _ in row], [e for _, e in row], text))
    return out


class Vocabulary:
    """A token ↔ id map: 0 = padding, 1 = out of vocabulary, words from 2 on.

    Keras's layout is the same: a list that starts with "" and "[UNK]", such as
    `TextVectorization.get_vocabulary()`, is taken with those two as padding and OOV, so every
    id stays what the layer gives (see `from_keras`). The package's tokenizers keep punctuation
    that TextVectorization strips, so a model with a TextVectorization layer is best explained
    from its own tokenization (`to_batch(texts, source=...)`), not through a Vocabulary.

    Args:
        tokens: the words, in id order starting at id 2 (no special tokens), or a Keras
            vocabulary `["", "[UNK]", word2, ...]`.
        lower: the vocabulary is case-insensitive: tokens are lowercased on lookup (and were
            lowercased when built with `from_texts` / `from_tokens`).
        tokenizer: the `tokenize` mode used when `encode` is given raw texts.

    >>> vocab = Vocabulary.from_texts(["a good film", "a bad film"])  # doctest: +SKIP
    >>> vocab.encode(["a good plot"])  # doctest: +SKIP
    array([[2, 4, 1]], dtype=int32)
    """

    def __init__(
        self, tokens: Iterable[str], lower: bool = True, tokenizer: str = "unicode_script"
    ):
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {tokenizer!r}; known: {list(TOKENIZERS)}")
        self.lower = bool(lower)
        self.tokenizer = tokenizer
        self._itos = [PAD_TOKEN, OOV_TOKEN]
        self._stoi: dict[str, int] = {}
        self.counts: dict[str, int] = {}  # corpus counts when built by from_tokens / from_texts
        tokens = [str(t) for t in tokens]  # Keras vocabularies hold np.str_
        if tokens[:2] == KERAS_SPECIALS:  # a TextVectorization vocabulary: keep its ids
            tokens = tokens[2:]
        for token in tokens:
            token = token.lower() if self.lower else token
            if token in self._stoi or token in (PAD_TOKEN, OOV_TOKEN):
                continue
            self._stoi[token] = len(self._itos)
            self._itos.append(token)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tokens(
        cls,
        corpus: Iterable[Sequence[str]],
        max_size: int | None = None,
        min_count: int = 1,
        lower: bool = True,
        tokenizer: str = "unicode_script",
    ) -> Vocabulary:
        """Build from token lists: most frequent first, ties alphabetical.

        Args:
            corpus: token lists (or `Tokenized`).
            max_size: the largest `len(vocab)`, the two special ids included (as Keras's
                `TextVectorization(max_tokens=...)`); None keeps every word.
            min_count: drop words seen fewer times.
            lower: lowercase tokens (also on later lookups).
            tokenizer: the `tokenize` mode for raw texts passed to `encode`.
        """
        if max_size is not None and max_size < 2:
            raise ValueError(f"max_size must be >= 2 (padding and OOV), got {max_size}")
        counts: Counter[str] = Counter()
        for tokens in corpus:
            if isinstance(tokens, Tokenized):
                tokens = tokens.tokens
            elif isinstance(tokens, str):
                raise TypeError("from_tokens expects token lists; use from_texts for strings")
            counts.update([t.lower() for t in tokens] if lower else tokens)
        counts.pop(PAD_TOKEN, None)
        counts.pop(OOV_TOKEN, None)
        words = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        if max_size is not None:
            words = words[: max_size - 2]
        vocab = cls(words, lower=lower, tokenizer=tokenizer)
        vocab.counts = {w: counts[w] for w in words}
        return vocab

    @classmethod
    def from_keras(
        cls, layer_or_vocabulary, lower: bool | None = None, tokenizer: str = "unicode_script"
    ) -> Vocabulary:
        """The vocabulary of a `TextVectorization` (or `StringLookup(mask_token="")`), ids kept.

        Args:
            layer_or_vocabulary: the layer (its `get_vocabulary()` is read) or that list,
                `["", "[UNK]", word2, ...]`.
            lower: lowercase on lookup; None = as the layer's `standardize` does (for a list:
                when every word is lowercase).
            tokenizer: the `tokenize` mode for raw texts passed to `encode`. It keeps
                punctuation the layer strips; explain such a model with `source=` instead.

        Raises:
            ValueError: the list does not start with "" and "[UNK]", or holds a word twice
                (after lowercasing), so some id would not be the layer's.

        >>> tv = keras.layers.TextVectorization(); tv.adapt(["a good film"])  # doctest: +SKIP
        >>> Vocabulary.from_keras(tv).encode(["good film"])  # doctest: +SKIP
        array([[2, 3]], dtype=int32)
        """
        words, standardize = layer_or_vocabulary, None
        if hasattr(layer_or_vocabulary, "get_vocabulary"):
            words = layer_or_vocabulary.get_vocabulary()
            standardize = layer_or_vocabulary.get_config().get("standardize", "")
        words = [str(w) for w in words]
        if words[:2] != KERAS_SPECIALS:
            raise ValueError(
                f"from_keras expects a Keras vocabulary starting with {KERAS_SPECIALS} (padding, "
                f"OOV), got {words[:3]}...; StringLookup needs mask_token='' and "
                "num_oov_indices=1"
            )
        if lower is None:
            lower = (
                standardize in ("lower", "lower_and_strip_punctuation")
                if standardize is not None
                else all(w == w.lower() for w in words[2:])
            )
        vocab = cls(words, lower=lower, tokenizer=tokenizer)
        for i, word in enumerate(words[2:], 2):
            if vocab.token_to_id(word) != i:
                raise ValueError(
                    f"word {word!r} (id {i} in the Keras vocabulary) would get id "
                    f"{vocab.token_to_id(word)}: a repeated or special word (lower={lower})"
                )
        return vocab

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[str],
        max_size: int | None = None,
        min_count: int = 1,
        lower: bool = True,
        tokenizer: str = "unicode_script",
    ) -> Vocabulary:
        """Tokenize `texts` with `tokenize` and build with `from_tokens`."""
        tokenized = tokenize(list(texts), lower=lower, tokenizer=tokenizer)
        return cls.from_tokens(tokenized, max_size, min_count, lower=lower, tokenizer=tokenizer)

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: str) -> bool:
        return self._norm(token) in self._stoi

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, Vocabulary)
            and self._itos == other._itos
            and self.lower == other.lower
            and self.tokenizer == other.tokenizer
        )

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, lower={self.lower}, tokenizer={self.tokenizer!r})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, the two special tokens first."""
        return list(self._itos)

    def _norm(self, token: str) -> str:
        return token.lower() if self.lower else token

    def token_to_id(self, token: str) -> int:
        """The id of `token`; `OOV_ID` (1) when unknown."""
        return self._stoi.get(self._norm(token), OOV_ID)

    def id_to_token(self, index: int) -> str:
        """The token of `index` ("<pad>" for 0, "<unk>" for 1)."""
        index = int(index)
        if not 0 <= index < len(self._itos):
            raise IndexError(f"id {index} out of range for a vocabulary of {len(self)}")
        return self._itos[index]

    # ------------------------------------------------------------------ encode / decode
    def tokenize(self, texts: str | Sequence[str]) -> list[Tokenized]:
        """`tokenize` with this vocabulary's case and tokenizer settings."""
        return tokenize(texts, lower=self.lower, tokenizer=self.tokenizer)

    def encode(
        self,
        data: str | Sequence[str] | Sequence[Sequence[str]] | Sequence[Tokenized],
        max_len: int | None = None,
    ) -> np.ndarray:
        """Texts or token lists → int32 ids (batch, time), right-padded with 0.

        Args:
            data: raw texts (tokenized with `self.tokenize`), token lists, or `Tokenized`.
                A single string is one text.
            max_len: pad / truncate (keep the first `max_len` tokens) to this length; None pads to
                the longest sequence (at least 1 column).
        """
        if isinstance(data, str):
            data = [data]
        data = list(data)
        if data and all(isinstance(d, str) for d in data):
            data = self.tokenize(data)
        rows = []
        for d in data:
            tokens = d.tokens if isinstance(d, Tokenized) else d
            if isinstance(tokens, str):
                raise TypeError("encode expects all texts or all token lists, not a mix")
            rows.append([self.token_to_id(t) for t in tokens])
        width = max_len if max_len is not None else max([len(r) for r in rows] + [1])
        out = np.zeros((len(rows), width), dtype=np.int32)
        for i, r in enumerate(rows):
            r = r[:width]
            out[i, : len(r)] = r
        return out

    def decode(self, ids, skip_padding: bool = True) -> list[list[str]] | list[str]:
        """Ids → tokens. A 2-D array gives one list per row, a 1-D array one list.

        Padding (id 0) is dropped unless `skip_padding=False`; OOV ids give "<unk>".
        """
        arr = np.asarray(ids)
        if arr.ndim == 1:
            return [self.id_to_token(i) for i in arr if not (skip_padding and i == PAD_ID)]
        if arr.ndim != 2:
            raise ValueError(f"decode expects 1-D or 2-D ids, got shape {arr.shape}")
        return [self.decode(row, skip_padding) for row in arr]

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict:
        return {
            "format": "keras_relevance.Vocabulary",
            "version": _FORMAT_VERSION,
            "tokens": self._itos[2:],
            "lower": self.lower,
            "tokenizer": self.tokenizer,
        }

    def to_json(self) -> str:
        """The vocabulary as a JSON string (`from_json` reads it back)."""
        return json.dumps(self.get_config(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        config = json.loads(text)
        if config.get("format") != "keras_relevance.Vocabulary":
            raise ValueError("not a keras_relevance Vocabulary JSON")
        if config.get("version") != _FORMAT_VERSION:
            raise ValueError(f"unsupported Vocabulary format version {config.get('version')!r}")
        return cls(config["tokens"], lower=config["lower"], tokenizer=config["tokenizer"])

    def save(self, path: str | Path) -> None:
        """Write `to_json()` to `path` (UTF-8)."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a file written by `save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def __getattr__(name):  # the one input type, re-exported from keras_relevance.batch
    if name in ("TextBatch", "TextSource", "to_batch", "unknown_tokens", "TV_PUNCTUATION"):
        from keras_relevance import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
