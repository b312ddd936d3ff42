"""Phrase chunking and clause splitting for REAT's hierarchical explanations (Du et al. 2019).

Three ways to get phrase spans, all returning ``(start, end)`` token ranges with ``end`` exclusive:

- `chunk_spans(tags)`: the paper's two regular expressions over universal POS tags,
  verb ``<VERB>*<ADV>*<PART>*<VERB>+<PART>*`` and noun
  ``<DET>?<ADJ|NUM>*(<NOUN>+<ADP|CONJ>)*<ADJ>*<NOUN>+`` (the paper's noun pattern with the
  adjectives and numbers it leaves out, so "a good film" is one phrase, not "film"), matched as a
  plain regex over the tag sequence (no ``nltk.RegexpParser``).
- `sst_constituents(tree)`: gold constituents from a Stanford Sentiment Treebank (PTB) tree string.
- user spans, passed straight to `keras_relevance.reat.phrase_scores`.

Tags come from a pluggable tagger: `nltk_tagger()` when NLTK and its tagger data are installed
(``pip install nltk``, ``nltk.download("averaged_perceptron_tagger_eng")``,
``nltk.download("universal_tagset")``, or ``NLTK_DATA`` / the ``nltk_data`` argument pointing at a
data folder), or any callable ``tokens -> tags``. NLTK's universal tagset says ``PRT`` for particles
and ``CONJ`` for conjunctions; Universal Dependencies says ``PART``, ``CCONJ`` and ``SCONJ``.
`normalize_tag` maps both onto the paper's names, so either tagger works.

`clause_spans(tokens)` needs no tagger: it splits on clause punctuation and coordinating
conjunctions, and returns a partition of the sentence (clause scores add up to the sentence score).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence

Span = tuple[int, int]
Tagger = Callable[[Sequence[str]], list[str]]

VERB_PATTERN = "<VERB>*<ADV>*<PART>*<VERB>+<PART>*"
NOUN_PATTERN = "<DET>?<ADJ|NUM>*(<NOUN>+<ADP|CONJ>)*<ADJ>*<NOUN>+"
#: (label, pattern) pairs, tried in this order; a later pattern never overlaps an earlier match.
PATTERNS: tuple[tuple[str, str], ...] = (("NP", NOUN_PATTERN), ("VP", VERB_PATTERN))

CLAUSE_PUNCTUATION = frozenset({",", ";", ":", "--", "-", ".", "!", "?", "...", "…"})
CONJUNCTIONS = frozenset({"but", "and", "or", "yet", "so", "nor", "although", "though", "while"})

_TAG_ALIASES = {"PRT": "PART", "CCONJ": "CONJ", "SCONJ": "CONJ", "PUNCT": "."}

_NO_TAGGER_HELP = (
    "no part-of-speech tagger available for phrase chunking: {why}. "
    "Install one with `pip install nltk` and then "
    '`python -c "import nltk; nltk.download(\'averaged_perceptron_tagger_eng\'); '
    "nltk.download('universal_tagset')\"`, or point NLTK_DATA (or the nltk_data= argument) at "
    "a folder holding taggers/averaged_perceptron_tagger_eng and taggers/universal_tagset. "
    "Alternatively pass phrase spans yourself, a tagger callable, or SST trees "
    "(sst_constituents). Word- and clause-level explanations work without a tagger."
)


class TaggerUnavailableError(LookupError):
    """No POS tagger could be loaded; the message says how to install one."""


def normalize_tag(tag: str) -> str:
    """Map NLTK universal / Universal Dependencies tag names onto the paper's names."""
    tag = tag.upper()
    return _TAG_ALIASES.get(tag, tag)


# --------------------------------------------------------------------------- regex chunking
def _compile(pattern: str) -> re.Pattern:
    """``<A|B>*<C>`` over tags → a regex over the string ``"<A><B><C>"``."""

    def tag_group(match: re.Match) -> str:
        names = [normalize_tag(n.strip()) for n in match.group(1).split("|")]
        return "(?:" + "|".join(f"<{re.escape(n)}>" for n in names) + ")"

    body = re.sub(r"<([^<>]+)>", tag_group, pattern)
    body = body.replace("(?:", "\0").replace("(", "(?:").replace("\0", "(?:")
    return re.compile(body)


def chunk_spans(
    tags: Sequence[str], patterns: Iterable[tuple[str, str]] = PATTERNS
) -> list[tuple[int, int, str]]:
    """Phrase chunks of a tag sequence: ``[(start, end, label), ...]`` sorted by start.

    Patterns are tried in order (noun phrases first, like the paper's grammar); each takes the
    leftmost-longest non-overlapping matches among tokens no earlier pattern chunked.

    >>> chunk_spans("DET NOUN VERB ADV VERB PRT NOUN ADP NOUN .".split())
    [(0, 2, 'NP'), (2, 6, 'VP'), (6, 9, 'NP')]
    """
    norm = [normalize_tag(t) for t in tags]
    taken = [False] * len(norm)
    found: list[tuple[int, int, str]] = []
    for label, pattern in patterns:
        regex = _compile(pattern)
        # chunked tokens become a tag no pattern names, so matches cannot cross them
        text = "".join("<\x01>" if taken[i] else f"<{t}>" for i, t in enumerate(norm))
        starts = {}  # char offset of each tag → token index
        offset = 0
        for i, t in enumerate(norm):
            starts[offset] = i
            offset += 3 if taken[i] else len(t) + 2
        starts[offset] = len(norm)
        for match in regex.finditer(text):
            if match.end() == match.start():
                continue
            s, e = starts[match.start()], starts[match.end()]
            found.append((s, e, label))
            for i in range(s, e):
                taken[i] = True
    return sorted(found)


# --------------------------------------------------------------------------- taggers
def nltk_tagger(nltk_data: str | os.PathLike | None = None) -> Tagger:
    """NLTK's averaged perceptron tagger mapped to universal tags, as ``tokens -> tags``.

    Args:
        nltk_data: a folder with ``taggers/averaged_perceptron_tagger_eng`` and
            ``taggers/universal_tagset``; added to ``nltk.data.path``. ``NLTK_DATA`` is honoured
            by NLTK itself.

    Raises:
        TaggerUnavailableError: NLTK is not installed or its data is missing; the message says
            how to get them.
    """
    try:
        import nltk
    except ImportError as err:
        raise TaggerUnavailableError(_NO_TAGGER_HELP.format(why="nltk is not installed")) from err
    if nltk_data is not None:
        path = os.fspath(nltk_data)
        if path not in nltk.data.path:
            nltk.data.path.insert(0, path)
    try:
        # look the resources up explicitly: nltk caches a loaded tagger across data paths
        for resource in ("taggers/averaged_perceptron_tagger_eng/", "taggers/universal_tagset/"):
            nltk.data.find(resource)
        nltk.pos_tag(["probe"], tagset="universal")
    except LookupError as err:
        first = str(err).strip().splitlines()
        why = "NLTK data not found" + (f" ({first[1].strip()})" if len(first) > 1 else "")
        raise TaggerUnavailableError(_NO_TAGGER_HELP.format(why=why)) from err

    def tag(tokens: Sequence[str]) -> list[str]:
        if not tokens:
            return []
        return [normalize_tag(t) for _, t in nltk.pos_tag(list(tokens), tagset="universal")]

    return tag


def pos_tags(
    tokens: Sequence[str],
    tagger: Tagger | None = None,
    nltk_data: str | os.PathLike | None = None,
) -> list[str]:
    """Universal POS tags of ``tokens`` from ``tagger`` or, by default, NLTK."""
    tagger = tagger or nltk_tagger(nltk_data)
    tags = [normalize_tag(t) for t in tagger(list(tokens))]
    if len(tags) != len(tokens):
        raise ValueError(f"tagger returned {len(tags)} tags for {len(tokens)} tokens")
    return tags


def phrase_spans(
    tokens: Sequence[str],
    tagger: Tagger | None = None,
    nltk_data: str | os.PathLike | None = None,
    patterns: Iterable[tuple[str, str]] = PATTERNS,
) -> list[tuple[int, int, str]]:
    """Noun / verb chunks of a token list: tag it, then `chunk_spans`.

    >>> phrase_spans("the movie does n't serve up lots of laughs .".split())  # doctest: +SKIP
    [(0, 2, 'NP'), (2, 6, 'VP'), (6, 9, 'NP')]
    """
    return chunk_spans(pos_tags(tokens, tagger, nltk_data), patterns)


# --------------------------------------------------------------------------- clauses
def clause_spans(
    tokens: Sequence[str],
    punctuation: Iterable[str] = CLAUSE_PUNCTUATION,
    conjunctions: Iterable[str] = CONJUNCTIONS,
) -> list[Span]:
    """Split a sentence into clauses; the spans partition ``range(len(tokens))``.

    A punctuation token ends the clause it follows; a coordinating conjunction starts a new one.
    Pieces made only of separators are merged into their neighbour, so every clause holds a word.

    >>> toks = "it 's good , but odd and authentic .".split()
    >>> [" ".join(toks[s:e]) for s, e in clause_spans(toks)]
    ["it 's good ,", 'but odd', 'and authentic .']
    """
    punct = set(punctuation)
    conj = {c.lower() for c in conjunctions}
    bounds = [0]
    for i, tok in enumerate(tokens):
        if tok.lower() in conj and i > bounds[-1]:
            bounds.append(i)
        elif tok in punct and i + 1 > bounds[-1]:
            bounds.append(i + 1)
    if bounds[-1] != len(tokens):
        bounds.append(len(tokens))
    pieces = [(s, e) for s, e in zip(bounds[:-1], bounds[1:], strict=True) if e > s]

    def has_word(span: Span) -> bool:
        return any(tokens[i] not in punct and tokens[i].lower() not in conj for i in range(*span))

    merged: list[list[int]] = []
    for s, e in pieces:
        if merged and (not has_word((s, e)) or not has_word(tuple(merged[-1]))):
            merged[-1][1] = e
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


# --------------------------------------------------------------------------- SST trees
def sst_constituents(
    tree: str, min_length: int = 2
) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Tokens and gold constituents of a PTB-style tree such as SST's.

    Args:
        tree: one tree, e.g. ``"(3 (2 it) (4 (2 's) (4 good)))"``.
        min_length: keep constituents with at least this many tokens (2 = phrases only,
            1 = words too).

    Returns:
        ``(tokens, spans)`` with spans ``(start, end, label)``, end exclusive, in pre-order
        (outer first); ``label`` is the node's 0-4 label. Parsed by `datasets.parse_tree`.

    >>> sst_constituents("(3 (2 it) (4 (2 's) (4 good)))")
    (['it', "'s", 'good'], [(0, 3, 3), (1, 3, 4)])
    """
    from keras_relevance.datasets import parse_tree  # the one SST tree parser

    root = parse_tree(tree)
    spans = [(p.start, p.end, p.label) for p in root.phrases() if p.end - p.start >= min_length]
    return root.leaves(), spans
