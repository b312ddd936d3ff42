"""tf.summary-style writers for the keras-relevance TensorBoard plugin.

Both writers go to the default summary writer (``with writer.as_default():``), take ``step`` like
``tf.summary.scalar`` and return True when something was written. Each call writes one scalar string
tensor holding a JSON payload (format and version in `metadata.py`), with
``data_class=DATA_CLASS_TENSOR``.

>>> import tensorflow as tf
>>> from keras_relevance_tb import summary
>>> with tf.summary.create_file_writer("/tmp/kr_logs").as_default():  # doctest: +SKIP
...     summary.token_heatmap("heatmap/lrp", [["a", "fine", "film"]],
...                           {1: [[0.0, 0.8, 0.1]]}, step=0, method="lrp")
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from keras_relevance_tb import metadata

__all__ = ["token_heatmap", "deletion_curve", "top_words"]


def _num(x: Any) -> float | None:
    """A compact JSON number (6 significant digits); None for NaN / inf."""
    f = float(x)
    if not math.isfinite(f):
        return None
    return float(f"{f:.6g}")


def _nums(xs: Any) -> list[float | None]:
    """Like `_num` for an array, vectorised (a 10,000-sentence batch has ~500k scores)."""
    a = np.asarray(xs, dtype=np.float64).reshape(-1)
    finite = np.isfinite(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        exp = np.floor(np.log10(np.abs(np.where(finite & (a != 0), a, 1.0))))
    digits = np.clip(5 - exp, -300, 300)
    up = digits >= 0  # round(a * 10^d) / 10^d: an exact power of ten gives the short decimal
    scale = np.power(10.0, np.abs(digits))
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.where(up, np.round(a * scale) / scale, np.round(a / scale) * scale)
    rounded = np.where(np.isfinite(rounded), rounded, a)  # extreme exponents: keep as is
    out = rounded.tolist()
    if not finite.all():
        out = [v if ok else None for v, ok in zip(out, finite.tolist(), strict=True)]
    return out


def _ints(xs: Any, n: int, what: str) -> list[int | None] | None:
    if xs is None:
        return None
    arr = np.asarray(xs).reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{what}: expected {n} values (one per sample), got {arr.shape[0]}")
    return [int(v) for v in arr]


def _heatmap_payload(
    tokens, scores, *, method, labels, predictions, logits, class_names, sample_ids
) -> dict[str, Any]:
    tokens = [[str(t) for t in sample] for sample in tokens]
    n = len(tokens)
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty dict {class_id: per-sample arrays}")
    classes = sorted(int(c) for c in scores)
    lengths = [len(t) for t in tokens]
    per_class: dict[int, list] = {}
    max_abs: dict[str, float] = {}
    for c, arrays in scores.items():
        arrays = list(arrays)
        if len(arrays) != n:
            raise ValueError(
                f"scores[{c!r}]: expected {n} arrays (one per sample), got {len(arrays)}"
            )
        cut = []
        for i, (a, length) in enumerate(zip(arrays, lengths, strict=True)):
            a = np.asarray(a, dtype=np.float64).reshape(-1)
            if a.shape[0] < length:
                raise ValueError(f"scores[{c}][{i}] has {a.shape[0]} values for {length} tokens")
            cut.append(a[:length])  # drop padding (relevance 0 there)
        flat = _nums(np.concatenate(cut)) if cut else []  # one vectorised pass per class
        bounds = np.cumsum([0, *lengths]).tolist()
        per_class[int(c)] = [flat[bounds[i] : bounds[i + 1]] for i in range(n)]
        finite = np.abs(np.concatenate(cut)) if cut else np.zeros(0)
        finite = finite[np.isfinite(finite)]
        max_abs[str(int(c))] = _num(finite.max()) if finite.size else 0.0
    if sample_ids is None:
        ids = [str(i) for i in range(n)]
    else:
        ids = [str(s) for s in sample_ids]
        if len(ids) != n:
            raise ValueError(f"sample_ids: expected {n}, got {len(ids)}")
        if len(set(ids)) != n:
            raise ValueError("sample_ids must be unique")
    labels = _ints(labels, n, "labels")
    predictions = _ints(predictions, n, "predictions")
    if logits is not None:
        logits = [_nums(row) for row in logits]
        if len(logits) != n:
            raise ValueError(f"logits: expected {n} rows, got {len(logits)}")
    samples = [
        metadata.SampleRecord(
            id=ids[i],
            tokens=toks,
            scores={str(c): per_class[c][i] for c in classes},
            label=None if labels is None else labels[i],
            prediction=None if predictions is None else predictions[i],
            logits=None if logits is None else logits[i],
        ).to_json()
        for i, toks in enumerate(tokens)
    ]
    header = metadata.HeatmapHeader(
        method=str(method),
        classes=classes,
        num_samples=n,
        ids=ids,
        class_names=None if class_names is None else [str(c) for c in class_names],
        labels=labels,
        predictions=predictions,
        max_abs=max_abs,
    ).to_json()
    return header, samples


def _write(name, payload, step, summary_metadata, family) -> bool:
    tensor = tf.constant(metadata.encode_payload(*payload), dtype=tf.string)
    with tf.summary.experimental.summary_scope(name, family, values=[tensor, step]) as (tag, _):
        written = tf.summary.write(tag=tag, tensor=tensor, step=step, metadata=summary_metadata)
    # A Python bool in eager mode (the callback's case); a bool tensor inside a tf.function.
    return bool(written) if tf.executing_eagerly() else written


def token_heatmap(
    name: str,
    tokens: Sequence[Sequence[str]],
    scores: Mapping[int, Sequence[Any]],
    step: int | None = None,
    description: str | None = None,
    *,
    method: str,
    labels: Sequence[int] | None = None,
    predictions: Sequence[int] | None = None,
    logits: Any = None,
    class_names: Sequence[str] | None = None,
    sample_ids: Sequence[Any] | None = None,
) -> bool:
    """Writes per-token relevance of a batch of sentences for one explanation method.

    Args:
        name: summary name (tag), e.g. ``"heatmap/lrp"``; name scopes apply.
        tokens: one list of token strings per sample. Tokens are untrusted text; the plugin renders
            them as text, never HTML.
        scores: ``{class_id: [relevance of sample 0 (time,), sample 1, ...]}``, one entry per target
            class explained. Arrays longer than the sample's tokens are cut (padding).
        step: int64-castable step; defaults to ``tf.summary.experimental.get_step()``.
        description: optional Markdown description.
        method: the method's name (``"lrp"``, ``"sa"``, ...).
        labels: optional true class per sample.
        predictions: optional predicted class per sample.
        logits: optional (samples, classes) logits.
        class_names: optional names indexed by class id.
        sample_ids: optional unique ids (str or int) identifying a sample across steps and methods;
            defaults to the position ``0..n-1``.

    Returns:
        True if written, False if there is no default summary writer.

    Raises:
        ValueError: shapes that do not match, or no step.

    >>> token_heatmap("heatmap/sa", [["ok"]], {0: [[0.5]]}, step=1, method="sa")  # doctest: +SKIP
    True
    """
    payload = _heatmap_payload(
        tokens,
        scores,
        method=method,
        labels=labels,
        predictions=predictions,
        logits=logits,
        class_names=class_names,
        sample_ids=sample_ids,
    )
    md = metadata.create_summary_metadata(
        metadata.HEATMAP, method=str(method), description=description
    )
    return _write(name, payload, step, md, "token_heatmap_summary")


def deletion_curve(
    name: str,
    curves: Mapping[str, Sequence[float]],
    step: int | None = None,
    description: str | None = None,
    *,
    x: Sequence[float] | None = None,
    random_mean: Sequence[float] | None = None,
    random_std: Sequence[float] | None = None,
    kind: str = "correct",
    n: int | None = None,
) -> bool:
    """Writes word-deletion curves: accuracy after 0..K deleted words, one curve per method.

    Args:
        name: summary name (tag), e.g. ``"deletion/correct"``.
        curves: ``{method: [accuracy after 0, 1, ..., K deletions]}``.
        step: int64-castable step; defaults to ``tf.summary.experimental.get_step()``.
        description: optional Markdown description.
        x: the number of deleted words per point; defaults to ``0..K``.
        random_mean: accuracy of random deletion (mean over runs), same length.
        random_std: its standard deviation (drawn as a band), same length.
        kind: ``"correct"`` (delete most relevant first on correctly classified sentences) or
            ``"misclassified"`` (least relevant first on misclassified ones).
        n: the number of sentences behind the curves (shown beside them).

    The payload also holds each method's AOPC and its area to the random baseline
    (`metadata.deletion_scores`), so that the dashboard can draw them over steps.

    Returns:
        True if written, False if there is no default summary writer.

    >>> deletion_curve("deletion/correct", {"lrp": [1.0, 0.6, 0.4]}, step=0)  # doctest: +SKIP
    True
    """
    if kind not in metadata.DELETION_KINDS:
        raise ValueError(f"kind must be one of {list(metadata.DELETION_KINDS)}, got {kind!r}")
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty dict {method: accuracies}")
    out = {str(m): _nums(v) for m, v in curves.items()}
    lengths = {len(v) for v in out.values()}
    if len(lengths) != 1:
        raise ValueError(f"all curves must have the same length, got {sorted(lengths)}")
    (k,) = lengths
    xs = list(range(k)) if x is None else _nums(x)
    if len(xs) != k:
        raise ValueError(f"x has {len(xs)} points for curves of {k}")
    random = None
    if random_mean is not None:
        mean = _nums(random_mean)
        if len(mean) != k:
            raise ValueError(f"random_mean has {len(mean)} points for curves of {k}")
        std = None
        if random_std is not None:
            std = _nums(random_std)
            if len(std) != k:
                raise ValueError(f"random_std has {len(std)} points for curves of {k}")
        random = {"mean": mean, "std": std}
    elif random_std is not None:
        raise ValueError("random_std given without random_mean")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0):
        raise ValueError(f"n must be a count of sentences, got {n!r}")
    header = metadata.DeletionRecord.build(
        kind, xs, out, random, None if n is None else int(n)
    ).to_json()
    md = metadata.create_summary_metadata(metadata.DELETION, kind=kind, description=description)
    return _write(name, (header, None), step, md, "deletion_curve_summary")


def top_words(
    name: str,
    words: Mapping[int, Mapping[str, Sequence[tuple[str, float, int]]]],
    step: int | None = None,
    description: str | None = None,
    *,
    method: str,
    n: int | None = None,
    class_names: Sequence[str] | None = None,
) -> bool:
    """Writes the words with the highest / lowest mean relevance per class over a data set.

    Args:
        name: summary name (tag), e.g. ``"top_words/lrp"``.
        words: ``{class: {"most": [(word, mean relevance, count), ...], "least": [...]}}``, as
            `keras_relevance.evaluation.top_words` returns it.
        step: int64-castable step; defaults to ``tf.summary.experimental.get_step()``.
        description: optional Markdown description.
        method: the explanation method.
        n: the number of sentences the words were counted in.
        class_names: optional names indexed by class id.

    Returns:
        True if written, False if there is no default summary writer.

    >>> top_words("top_words/lrp", {1: {"most": [("great", 0.8, 3)], "least": []}},
    ...           step=0, method="lrp")  # doctest: +SKIP
    True
    """
    if not isinstance(words, Mapping):
        raise ValueError("words must be a dict {class: {'most': [...], 'least': [...]}}")
    classes = {}
    for c, lists in words.items():
        classes[str(int(c))] = {
            end: [
                {"word": str(w), "mean": _num(v), "count": int(k)}
                for w, v, k in (lists.get(end) or ())
            ]
            for end in ("most", "least")
        }
    record = metadata.TopWordsRecord(
        method=str(method),
        classes=classes,
        n=None if n is None else int(n),
        class_names=None if class_names is None else [str(c) for c in class_names],
    )
    md = metadata.create_summary_metadata(
        metadata.TOP_WORDS, method=str(method), description=description
    )
    return _write(name, (record.to_json(), None), step, md, "top_words_summary")
