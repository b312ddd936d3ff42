"""Token heatmaps as self-contained HTML, as 24-bit ANSI terminal text and as RGB images.

Colours follow the papers' convention: positive relevance red, negative blue, white for zero.
The intensity is normalised per sentence (the largest absolute score gets full colour) unless
`max_abs` is given. HTML uses the TensorBoard dashboard's palette (`palette_colors`, red
(214, 39, 40) / blue (31, 119, 180)) and legend ("supports <class>" / "speaks against <class>"
with the end values); terminals and images use pure red / blue (`score_colors`). Tokens are
untrusted text: every token is passed through `html.escape` for HTML and stripped of control
characters for the terminal and images (`heatmap_image`, drawn with Pillow's default font, for
TensorBoard's stock Images dashboard).

>>> print(to_html(["good", "film"], [1.0, -0.5]))  # doctest: +ELLIPSIS
<div ...><span ... title="good: +1">good</span> <span ... title="film: -0.5">film</span></div>
"""

from __future__ import annotations

import html
import math
import os
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = [
    "corpus_summary_html",
    "Heatmap",
    "explanation_heatmap",
    "explanation_html",
    "heatmap_image",
    "legend_html",
    "palette_colors",
    "score_colors",
    "to_html",
    "to_terminal",
    "write_html",
]

_ANSI_RESET = "\x1b[0m"
_ANSI_BLACK_TEXT = "\x1b[38;2;0;0;0m"
_DIV_STYLE = "font-family: sans-serif; line-height: 1.9; margin: 0.25em 0"
_SPAN_STYLE = "padding: 0.1em 0.2em; border-radius: 0.2em; color: #000; background-color: "
_LABEL_STYLE = "font-weight: bold; margin-right: 0.5em"
_SCALE_STYLE = "color: #9e9e9e; font-size: 0.8em; margin-left: 0.6em"


# --------------------------------------------------------------------------------------- colours
def _as_scores(tokens: Sequence[str], scores) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(values) != len(tokens):
        raise ValueError(f"got {len(tokens)} tokens but {len(values)} scores")
    return np.where(np.isfinite(values), values, 0.0)


def score_colors(scores, max_abs: float | None = None) -> list[tuple[int, int, int]]:
    """RGB colour per score: white → red for positive, white → blue for negative.

    A score s with intensity a = min(|s| / max_abs, 1) gets (255, 255·(1−a), 255·(1−a)) when
    s > 0 and (255·(1−a), 255·(1−a), 255) when s < 0 (rounded to integers). `max_abs` defaults
    to the largest |s| of the sentence; non-finite scores count as 0.

    >>> score_colors([2.0, -1.0, 0.0])
    [(255, 0, 0), (128, 128, 255), (255, 255, 255)]
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    values = np.where(np.isfinite(values), values, 0.0)
    if max_abs is None:
        scale = float(np.max(np.abs(values))) if values.size else 0.0
    else:
        scale = float(max_abs)
    colors = []
    for value in values:
        alpha = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
        fade = int(round(255 * (1.0 - alpha)))
        if value > 0:
            colors.append((255, fade, fade))
        elif value < 0:
            colors.append((fade, fade, 255))
        else:
            colors.append((255, 255, 255))
    return colors


POS_END = (214, 39, 40)  # the dashboard's (static/index.js) red: supports the explained class
NEG_END = (31, 119, 180)  # its blue: speaks against it


def palette_colors(scores, max_abs: float | None = None) -> list[tuple[int, int, int]]:
    """RGB colour per score in the dashboard's palette (index.js `tokenColor`).

    With a = min(|s| / max_abs, 1), each channel is ``floor(255 + (end − 255)·a + 0.5)`` where
    end is `POS_END` for s ≥ 0 and `NEG_END` for s < 0 (white at 0).

    >>> palette_colors([2.0, -1.0, 0.0])
    [(214, 39, 40), (143, 187, 218), (255, 255, 255)]
    """
    values = np.asarray(scores, dtype=np.float64).reshape(-1)
    values = np.where(np.isfinite(values), values, 0.0)
    scale = float(np.max(np.abs(values))) if max_abs is None and values.size else max_abs or 0.0
    out = []
    for value in values:
        alpha = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
        end = POS_END if value >= 0 else NEG_END
        out.append(tuple(int(math.floor(255 + (c - 255) * alpha + 0.5)) for c in end))
    return out


def _format_score(value: float) -> str:
    return f"{value:+.4g}"


# ------------------------------------------------------------------------------------------ HTML
def to_html(
    tokens: Sequence[str],
    scores,
    *,
    label: str | None = None,
    max_abs: float | None = None,
) -> str:
    """One sentence as an HTML fragment: a `<div>` of coloured `<span>`s with inline CSS only.

    Args:
        tokens: the words, shown as text (escaped with `html.escape`).
        scores: one relevance per token.
        label: optional caption before the sentence (escaped), e.g. the method name.
        max_abs: fixed colour scale; defaults to the sentence's largest |score|.

    Returns:
        A self-contained fragment; each span's `title` holds the token and its score (hover).

    >>> to_html(["<b>"], [1.0])  # doctest: +ELLIPSIS
    '<div ...><span ... title="&lt;b&gt;: +1">&lt;b&gt;</span></div>'
    """
    tokens = [str(token) for token in tokens]
    values = _as_scores(tokens, scores)
    scale = float(np.max(np.abs(values))) if max_abs is None and values.size else max_abs or 0.0
    spans = []
    for token, value, (r, g, b) in zip(tokens, values, palette_colors(values, scale), strict=True):
        title = html.escape(f"{token}: {_format_score(value)}", quote=True)
        text = "#fff" if scale > 0 and abs(value) / scale > 0.6 else "#000"
        spans.append(
            f'<span style="{_SPAN_STYLE}rgb({r}, {g}, {b}); color: {text}" title="{title}">'
            f"{html.escape(token, quote=True)}</span>"
        )
    caption = ""
    if label is not None:
        caption = f'<span style="{_LABEL_STYLE}">{html.escape(str(label), quote=True)}</span>'
    end = f'<span style="{_SCALE_STYLE}" title="|value| at full colour">±{scale:.2g}</span>'
    return f'<div class="kr-heatmap" style="{_DIV_STYLE}">{caption}{" ".join(spans)}{end}</div>'


def legend_html(class_name: str | None = None, max_abs: float | None = None) -> str:
    """The dashboard's legend: blue end, "speaks against <class>", gradient, "supports <class>".

    >>> "supports positive" in legend_html("positive", 1.5)
    True
    """
    cls = html.escape(class_name or "the explained class", quote=True)
    ends = "max" if max_abs is None else f"{max_abs:.3g}"
    neg, pos = (f"rgb{c}" for c in (NEG_END, POS_END))
    chip = "padding: 0.1em 0.3em; border-radius: 0.2em; color: #fff; background-color: "
    return (
        f'<div class="kr-legend" style="{_DIV_STYLE}; font-size: 0.9em; color: #616161">'
        f'<span style="{chip}{neg}">−{ends}</span> speaks against {cls} '
        f'<span style="display: inline-block; width: 120px; height: 0.8em; vertical-align: middle;'
        f' background: linear-gradient(to right, {neg}, #fff, {pos})"></span> supports {cls} '
        f'<span style="{chip}{pos}">+{ends}</span>'
        + (" (each sentence scaled to its largest |value|, shown at its right)" if max_abs is None
           else "")
        + "</div>"
    )


def _document(body: str, title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title, quote=True)}</title>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_html(
    path: str | os.PathLike, *heatmaps, title: str = "keras-relevance", legend: bool = True
) -> str:
    """Write one or more heatmaps to a standalone HTML file and return its path.

    Each item is a `Heatmap`, an HTML fragment from `to_html`, or a `(tokens, scores)` pair.
    With `legend`, the dashboard's legend comes first (naming the class when every `Heatmap`
    explains the same one).

    >>> write_html("out.html", Heatmap(["good"], [1.0]))  # doctest: +SKIP
    """
    parts = []
    if legend:
        names = {getattr(h, "class_name", None) for h in heatmaps if isinstance(h, Heatmap)}
        scales = {getattr(h, "max_abs", None) for h in heatmaps if isinstance(h, Heatmap)}
        parts.append(
            legend_html(
                names.pop() if len(names) == 1 else None,
                scales.pop() if len(scales) == 1 else None,
            )
        )
    for item in heatmaps:
        if isinstance(item, Heatmap):
            parts.append(item.to_html())
        elif isinstance(item, str):
            parts.append(item)
        else:
            tokens, scores = item
            parts.append(to_html(tokens, scores))
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(_document("\n".join(parts), title))
    return path


# -------------------------------------------------------------------------------------- terminal
def _printable(token: str) -> str:
    """Defuse terminal control characters in untrusted tokens (ESC, CR, BEL → visible escapes)."""
    out = []
    for char in token:
        if unicodedata.category(char) in ("Cc", "Cf") and char != "\u200d":
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def to_terminal(
    tokens: Sequence[str],
    scores,
    *,
    max_abs: float | None = None,
    color: bool = True,
) -> str:
    """One sentence for a terminal: 24-bit ANSI background colours (`ESC[48;2;R;G;Bm`), black text.

    With `color=False` the tokens are followed by their scores instead, e.g. `good(+0.81)`.

    >>> to_terminal(["good"], [1.0])
    '\\x1b[48;2;255;0;0m\\x1b[38;2;0;0;0mgood\\x1b[0m'
    """
    tokens = [_printable(str(token)) for token in tokens]
    values = _as_scores(tokens, scores)
    if not color:
        return " ".join(f"{t}({_format_score(v)})" for t, v in zip(tokens, values, strict=True))
    parts = []
    for token, (r, g, b) in zip(tokens, score_colors(values, max_abs), strict=True):
        parts.append(f"\x1b[48;2;{r};{g};{b}m{_ANSI_BLACK_TEXT}{token}{_ANSI_RESET}")
    return " ".join(parts)


# --------------------------------------------------------------------------------------- objects
class Heatmap:
    """A sentence with scores that renders itself in notebooks (`_repr_html_`) and terminals.

    Args:
        tokens: the words.
        scores: one relevance per word.
        label: optional caption (method, target class, ...).
        max_abs: fixed colour scale; defaults to the sentence's largest |score|.
        class_name: the explained class, named in `write_html`'s legend.

    >>> Heatmap(["a", "good", "film"], [0.0, 1.2, 0.1], label="lrp")  # doctest: +SKIP
    """

    def __init__(
        self,
        tokens,
        scores,
        label: str | None = None,
        max_abs: float | None = None,
        class_name: str | None = None,
    ):
        self.tokens = [str(token) for token in tokens]
        self.scores = _as_scores(self.tokens, scores)
        self.label = label
        self.max_abs = max_abs
        self.class_name = class_name

    def to_html(self) -> str:
        return to_html(self.tokens, self.scores, label=self.label, max_abs=self.max_abs)

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_terminal(self, color: bool = True) -> str:
        text = to_terminal(self.tokens, self.scores, max_abs=self.max_abs, color=color)
        return text if self.label is None else f"{_printable(str(self.label))}: {text}"

    def save(self, path: str | os.PathLike) -> str:
        """Write a standalone HTML file."""
        return write_html(path, self)

    def __str__(self) -> str:
        return self.to_terminal(color=False)

    def __repr__(self) -> str:
        return f"Heatmap({len(self.tokens)} tokens, label={self.label!r})"


def _row(values, index: int) -> np.ndarray:
    array = np.asarray(values)
    return array[index] if array.ndim > 1 else array


def explanation_heatmap(explanation, tokens, index: int = 0, label: str | None = None) -> Heatmap:
    """A `Heatmap` for sample `index` of an `Explanation`.

    Uses `.relevance` (batch, time), `.mask`, `.target` and `.logits`. `tokens` is the sample's
    word list, or one list per sample. Masked (padding) positions are dropped; the default label
    names the target class and its logit.

    >>> explanation_heatmap(explainer.explain(ids), tokens)  # doctest: +SKIP
    """
    if tokens and not isinstance(tokens[0], str):
        tokens = tokens[index]
    tokens = [str(token) for token in tokens]
    relevance = _row(explanation.relevance, index).astype(np.float64)
    mask = getattr(explanation, "mask", None)
    if mask is not None:
        keep = np.asarray(_row(mask, index), dtype=bool)
        relevance = relevance[keep]
    relevance = relevance[: len(tokens)]
    if len(relevance) < len(tokens):
        tokens = tokens[: len(relevance)]
    if label is None:
        label = _default_label(explanation, index)
    return Heatmap(tokens, relevance, label=label)


def _default_label(explanation, index: int) -> str | None:
    parts = []
    method = getattr(explanation, "method", None)
    if method:
        parts.append(str(method))
    target = getattr(explanation, "target", None)
    if target is not None:
        target_value = int(np.asarray(target).reshape(-1)[index] if np.ndim(target) else target)
        parts.append(f"class {target_value}")
        logits = getattr(explanation, "logits", None)
        if logits is not None:
            row = np.asarray(logits)[index] if np.ndim(logits) > 1 else np.asarray(logits)
            if 0 <= target_value < row.shape[-1]:
                value = float(row[target_value])
                if math.isfinite(value):
                    parts.append(f"logit {value:.3g}")
    return ", ".join(parts) or None


def explanation_html(explanation, tokens, index: int = 0, label: str | None = None) -> str:
    """HTML fragment for sample `index` of an `Explanation`; see `explanation_heatmap`."""
    return explanation_heatmap(explanation, tokens, index=index, label=label).to_html()


# ----------------------------------------------------------------------------------------- image
_IMAGE_PAD = 6  # margin around the image
_BOX_PAD = 3  # padding inside a token's box
_GAP = 4  # space between boxes and between lines
_TEXT = (0, 0, 0)
_WHITE = (255, 255, 255)  # text on saturated blue boxes
_CAPTION = (60, 60, 60)
_FONT_SIZE = 13


def _pil():
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError as error:  # pragma: no cover - pillow comes with tensorboard
        raise ImportError(
            "heatmap images need Pillow: pip install pillow (or pip install keras-relevance, "
            "which depends on it)"
        ) from error
    return Image, ImageDraw, ImageFont


def _default_font(ImageFont):
    """Pillow's bundled font at a readable size (its bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=_FONT_SIZE)
    except Exception:  # older Pillow / no FreeType
        return ImageFont.load_default()


def _drawable(text: str, font) -> str:
    """`text` with control characters made visible and, for a bitmap font, non-Latin-1 as '?'."""
    text = _printable(text)
    if not hasattr(font, "getmask2") or type(font).__name__ == "ImageFont":
        text = text.encode("latin-1", "replace").decode("latin-1")
    return text


def _fit(text: str, font, max_width: float) -> str:
    """Cut `text` (with a trailing '...') so that it is at most `max_width` pixels wide."""
    if font.getlength(text) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if font.getlength(text[:mid] + "...") <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "..."


def heatmap_image(
    tokens: Sequence[str],
    scores,
    *,
    max_abs: float | None = None,
    width: int = 640,
    font=None,
    label: str | None = None,
) -> np.ndarray:
    """One sentence as an RGB image: each token as text on a box of its `score_colors` colour.

    The text is black, or white on dark boxes (saturated blue).

    Tokens are laid out left to right and wrapped onto new lines at `width` pixels; a token wider
    than a line is cut with '...'. Tokens are drawn as text only (control characters shown as
    escapes), so untrusted input cannot do anything but look odd. This is the stock-dashboard
    fallback of the TensorBoard plugin (`tf.summary.image`), and works anywhere Pillow does.

    Args:
        tokens: the words.
        scores: one relevance per token (non-finite scores count as 0).
        max_abs: fixed colour scale; defaults to the sentence's largest |score|.
        width: image width in pixels (at least 32).
        font: a Pillow font (`ImageFont.truetype(...)`, ...); defaults to
            `ImageFont.load_default(size=13)`, which ships with Pillow (nothing is downloaded).
        label: optional caption drawn on a line of its own above the tokens.

    Returns:
        A `(height, width, 3)` uint8 array.

    >>> heatmap_image(["good", "film"], [1.0, -0.5]).shape  # doctest: +SKIP
    (30, 640, 3)
    """
    Image, ImageDraw, ImageFont = _pil()
    width = int(width)
    if width < 32:
        raise ValueError(f"width must be at least 32 pixels, got {width}")
    tokens = [str(token) for token in tokens]
    values = _as_scores(tokens, scores)
    colors = score_colors(values, max_abs)
    if font is None:
        font = _default_font(ImageFont)
    ascent_box = font.getbbox("Hgjy|")
    text_h = max(int(ascent_box[3]), 1)
    line_h = text_h + 2 * _BOX_PAD
    inner = width - 2 * _IMAGE_PAD

    placed = []  # (x, line, text, colour)
    lines = 0
    caption = None
    if label is not None:
        caption = _fit(_drawable(str(label), font), font, inner)
        lines = 1
    x, line = 0, lines
    for token, color in zip(tokens, colors, strict=True):
        text = _fit(_drawable(token, font), font, inner - 2 * _BOX_PAD)
        box_w = int(math.ceil(font.getlength(text))) + 2 * _BOX_PAD
        if x > 0 and x + box_w > inner:
            x, line = 0, line + 1
        placed.append((x, line, text, color, box_w))
        x += box_w + _GAP
    lines = max(line + 1, lines) if placed else max(lines, 1)
    height = 2 * _IMAGE_PAD + lines * line_h + (lines - 1) * _GAP

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    if caption is not None:
        draw.text((_IMAGE_PAD, _IMAGE_PAD + _BOX_PAD), caption, font=font, fill=_CAPTION)
    for x, line, text, color, box_w in placed:
        left = _IMAGE_PAD + x
        top = _IMAGE_PAD + line * (line_h + _GAP)
        draw.rectangle((left, top, left + box_w - 1, top + line_h - 1), fill=tuple(color))
        dark = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] < 110
        draw.text(
            (left + _BOX_PAD, top + _BOX_PAD), text, font=font, fill=_WHITE if dark else _TEXT
        )
    return np.asarray(image, dtype=np.uint8).copy()


# -------------------------------------------------------------------------------------- corpus
def _class_label(cls, names) -> str:
    """"class 1 (positive)" with a name, "class 1" without."""
    index = int(cls) if str(cls).lstrip("-").isdigit() else None
    if index is not None and 0 <= index < len(names):
        return f"class {cls} ({names[index]})"
    return f"class {cls}"


def corpus_summary_html(source, title: str = "keras-relevance: corpus") -> str:
    """A standalone HTML page of `explain_corpus` aggregates (all text escaped).

    Args:
        source: an `explain_corpus` output folder, its aggregates.json, or the loaded dict.

    Shows per method: top words per class with mean relevance and count (positive red,
    negative blue), relevance by relative position (10 bins), deletion curve and AOPC.

    >>> open("summary.html", "w").write(corpus_summary_html("out/imdb"))  # doctest: +SKIP
    """
    import json

    if not isinstance(source, dict):
        path = os.fspath(source)
        if os.path.isdir(path):
            path = os.path.join(path, "aggregates.json")
        with open(path, encoding="utf-8") as handle:
            source = json.load(handle)
    esc = html.escape
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p>{int(source.get('docs', 0))} documents, {int(source.get('tokens', 0))} tokens, "
             f"{int(source.get('labelled', 0))} labelled.</p>"]
    names = source.get("class_names") or []
    for method, agg in source.get("methods", {}).items():
        parts.append(f"<h2>{esc(method)}</h2>")
        for cls, lists in agg.get("top_words", {}).items():
            for which in ("most", "least"):
                words = lists.get(which, [])
                colors = score_colors([s for _, s, _ in words]) if words else []
                cells = "".join(
                    f'<span style="background:rgb{c};padding:1px 3px;margin:1px;'
                    f'display:inline-block" title="mean {float(s):.4g}, n={int(n)}">'
                    f"{esc(str(w))} <small>{float(s):.3g} ({int(n)})</small></span>"
                    for (w, s, n), c in zip(words, colors, strict=True)
                )
                parts.append(f"<p><b>{esc(_class_label(cls, names))}, {which} relevant:</b> "
                             f"{cells}</p>")
        pos = agg.get("position", {})
        if pos.get("mean"):
            parts.append("<p><b>mean relevance by relative position:</b> " + ", ".join(
                f"{float(v):.3g}" for v in pos["mean"]) + "</p>")
        if agg.get("deletion"):
            acc = ", ".join(f"{float(v):.3f}" for v in agg["deletion"]["accuracy"])
            parts.append(f"<p><b>deletion (correct, n={int(agg['deletion']['n'])}):</b> "
                         f"accuracy after 0..K deletions {acc}</p>")
        if agg.get("aopc"):
            parts.append(f"<p><b>AOPC</b> (n={int(agg['aopc']['n'])}): "
                         f"{float(agg['aopc']['aopc']):.4g}</p>")
    return _document("\n".join(parts), title)
