"""What `Explainer.explain` returns: `Explanation` (a batch) and `ExampleExplanation` (one)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ExampleExplanation:
    """One example of an `Explanation` (what `explanation[i]` returns).

    Arrays lose their batch axis: `relevance` (time,), `per_dim` (time, dim) or None,
    `logits` (classes,), `mask` (time,); `target` is an int and `delta` a float or None.
    """

    relevance: np.ndarray
    per_dim: np.ndarray | None
    logits: np.ndarray
    target: int
    delta: float | None
    method: str
    options: dict = field(default_factory=dict)
    mask: np.ndarray | None = None

    def top_tokens(self, k: int = 5, tokens: Sequence[str] | None = None) -> list[tuple]:
        """The `k` real positions with the highest relevance, best first.

        Returns `(position, score)` pairs, or `(position, token, score)` when `tokens` is given.
        """
        mask = np.ones_like(self.relevance, bool) if self.mask is None else self.mask
        positions = np.flatnonzero(mask)
        order = positions[np.argsort(-self.relevance[positions], kind="stable")][: max(k, 0)]
        if tokens is None:
            return [(int(t), float(self.relevance[t])) for t in order]
        return [(int(t), tokens[t], float(self.relevance[t])) for t in order]


@dataclass
class Explanation:
    """What `Explainer.explain` returns (NumPy arrays, batch first).

    Attributes:
        relevance: (batch, time) word relevance, exactly 0 where `mask` is False.
        per_dim: (batch, time, dim) relevance per embedding dimension, or None.
        logits: (batch, classes) pre-softmax scores of the model.
        target: (batch,) the explained class of each example.
        delta: (batch,) conservation error (LRP), or None.
        method: the method name.
        options: the options the method ran with (defaults of the name included).
        mask: (batch, time) True at real tokens.

    `len(e)` is the batch size, `e[i]` an `ExampleExplanation`, `e[2:5]` or `e[[0, 3]]` a
    smaller `Explanation`.

    >>> e = Explainer(model).explain(ids, method="sa")   # doctest: +SKIP
    >>> e[0].top_tokens(3)                               # doctest: +SKIP
    [(4, 0.91), (1, 0.33), (7, 0.12)]
    """

    relevance: np.ndarray
    per_dim: np.ndarray | None
    logits: np.ndarray
    target: np.ndarray
    delta: np.ndarray | None
    method: str
    options: dict
    mask: np.ndarray
    tokens: list | None = None  # per example, the model's own tokens (models that take text)

    def __len__(self) -> int:
        return int(self.relevance.shape[0])

    def __getitem__(self, index):
        if isinstance(index, int | np.integer):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} out of range for {len(self)} examples")
            return ExampleExplanation(
                relevance=self.relevance[i],
                per_dim=None if self.per_dim is None else self.per_dim[i],
                logits=self.logits[i],
                target=int(self.target[i]),
                delta=None if self.delta is None else float(self.delta[i]),
                method=self.method,
                options=self.options,
                mask=self.mask[i],
            )
        if isinstance(index, slice):
            pick = index
        else:
            pick = np.asarray(index)
            if pick.dtype == bool or np.issubdtype(pick.dtype, np.integer):
                pick = np.atleast_1d(pick)
            else:
                raise TypeError(f"Explanation indices must be int, slice or int/bool arrays; got "
                                f"{type(index).__name__}")
        return Explanation(
            relevance=self.relevance[pick],
            per_dim=None if self.per_dim is None else self.per_dim[pick],
            logits=self.logits[pick],
            target=self.target[pick],
            delta=None if self.delta is None else self.delta[pick],
            method=self.method,
            options=self.options,
            mask=self.mask[pick],
            tokens=None if self.tokens is None else [
                self.tokens[i] for i in np.arange(len(self))[pick]],
        )

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    @property
    def lengths(self) -> np.ndarray:
        """(batch,) number of real tokens per example."""
        return self.mask.sum(axis=1)

    def span_scores(self, spans) -> np.ndarray:
        """Scores of token spans: the sum of the relevance of their words, (batch, n_spans).

        Args:
            spans: ``(start, end)`` positions, end exclusive: one list for all examples or one
                list per example (NaN where a list is shorter than the longest).

        For REAT this equals its own phrase formula (Eq. 14 / 22), `Explainer.phrase_scores`.

        >>> e.span_scores([(0, 2), (2, 5)])  # doctest: +SKIP
        """
        from keras_relevance import reat

        index, valid = reat.normalize_spans(spans, len(self), self.relevance.shape[1])
        g = reat.cumulative_scores(self.relevance, self.mask)
        rows = np.arange(len(self))[:, None]
        out = g[rows, index[..., 1]] - g[rows, index[..., 0]]
        if valid is not None:
            out[~valid] = np.nan
        return out

    def top_tokens(self, k: int = 5, tokens: Sequence[Sequence[str]] | None = None) -> list:
        """`ExampleExplanation.top_tokens` for every example (one list per example)."""
        if tokens is None:
            return [ex.top_tokens(k) for ex in self]
        if len(tokens) != len(self):
            raise ValueError(f"got tokens for {len(tokens)} examples, explanation has {len(self)}")
        return [ex.top_tokens(k, toks) for ex, toks in zip(self, tokens, strict=True)]
