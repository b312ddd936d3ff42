"""Dependency-free SVG figures (line charts with interval bands, scatter plots) for the
reproductions: NumPy only, labels escaped. Used by the `reproduce_*.py` scripts and by
`reproduction_figures.py`, which redraws the figures from the JSON summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf",
            "#7f7f7f", "#bcbd22", "#e377c2")


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values (steps of 1, 2 or 5 × 10^k) inside [lo, hi]."""
    span = hi - lo
    if not np.isfinite(span) or span <= 0:
        return [lo]
    raw = span / n
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(lo / step - 1e-9) * step
    ticks = np.arange(first, hi + step * 1e-9, step)
    return [float(round(t / step) * step) for t in ticks]


def _svg_frame(title: str, xlabel: str, ylabel: str, x_range, y_range, width=640, height=400,
               right=150):
    """SVG header, axes and ticks; returns (parts, to_px) with to_px(x, y) -> (px, py)."""
    from html import escape

    left, top, bottom = 70, 40, 50
    (x0, x1), (y0, y1) = x_range, y_range
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)

    def to_px(x, y):
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">'
             f'{escape(title)}</text>',
             f'<text x="{(width - right + left) / 2}" y="{height - 10}" text-anchor="middle">'
             f'{escape(xlabel)}</text>',
             f'<text transform="translate(16,{height / 2}) rotate(-90)" text-anchor="middle">'
             f'{escape(ylabel)}</text>']
    ax0, ay0 = to_px(x0, y0)
    ax1, ay1 = to_px(x1, y1)
    parts.append(f'<rect x="{ax0}" y="{ay1}" width="{ax1 - ax0}" height="{ay0 - ay1}" '
                 'fill="none" stroke="#333"/>')
    for xv in _nice_ticks(x0, x1):
        px, _ = to_px(xv, y0)
        parts.append(f'<text x="{px}" y="{ay0 + 16}" text-anchor="middle">{xv:g}</text>')
    for yv in _nice_ticks(y0, y1):
        _, py = to_px(x0, yv)
        parts += [f'<text x="{ax0 - 6}" y="{py + 4}" text-anchor="end">{yv:g}</text>',
                  f'<line x1="{ax0}" x2="{ax1}" y1="{py}" y2="{py}" stroke="#eee"/>']
    if y0 < 0 < y1:
        _, pz = to_px(x0, 0.0)
        parts.append(f'<line x1="{ax0}" x2="{ax1}" y1="{pz}" y2="{pz}" stroke="#999" '
                     'stroke-dasharray="4 3"/>')
    return parts, to_px, (ax1 + 12, ay1)


def _write(parts: list[str], path) -> Path:
    parts.append("</svg>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _y_range(values, zero: bool) -> tuple[float, float]:
    lo, hi = float(values.min()), float(values.max())
    if zero:
        return min(lo, 0.0), max(hi, 0.0)
    pad = 0.05 * (hi - lo) if hi > lo else 0.05
    return lo - pad, hi + pad


def svg_lines(path: Path, x, series: dict, title: str, xlabel: str, ylabel: str,
              zero: bool = True) -> Path:
    """A line chart without dependencies: `series` = {name: (y, low, high)} (low/high: an
    interval band, or None). `zero`: the y axis includes 0."""
    from html import escape

    x = np.asarray(x, np.float64)
    values = [np.asarray(v, np.float64) for s in series.values() for v in s if v is not None]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.zeros(1)
    parts, to_px, (lx, ly) = _svg_frame(title, xlabel, ylabel, (x.min(), x.max()),
                                        _y_range(finite, zero))
    for k, (name, (y, low, high)) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        if low is not None and high is not None:
            upper = [to_px(a, b) for a, b in zip(x, high, strict=True) if np.isfinite(b)]
            lower = [to_px(a, b) for a, b in zip(x, low, strict=True) if np.isfinite(b)][::-1]
            pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in upper + lower)
            parts.append(f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.15"/>')
        pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in
                       (to_px(a, b) for a, b in zip(x, y, strict=True) if np.isfinite(b)))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
        parts.append(f'<text x="{lx}" y="{ly + 14 + 18 * k}" fill="{colour}">'
                     f'{escape(str(name))}</text>')
    return _write(parts, path)


def svg_scatter(path: Path, points, labels, names, title: str, xlabel: str = "PC 1",
                ylabel: str = "PC 2") -> Path:
    """A scatter plot without dependencies, one colour per label (`names[label]` in the legend)."""
    from html import escape

    points, labels = np.asarray(points, np.float64), np.asarray(labels)
    parts, to_px, (lx, ly) = _svg_frame(title, xlabel, ylabel,
                                        (points[:, 0].min(), points[:, 0].max()),
                                        (points[:, 1].min(), points[:, 1].max()), width=860,
                                        height=420, right=250)
    shown = sorted(dict.fromkeys(labels.tolist()))
    for k, label in enumerate(shown):
        colour = (_COLOURS[k] if len(shown) <= len(_COLOURS)
                  else f"hsl({round(360 * k / len(shown))}, 70%, {40 + 15 * (k % 2)}%)")
        shape = "circle" if k % 2 == 0 else "rect"
        for px, py in (to_px(a, b) for a, b in points[labels == label]):
            if shape == "circle":
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}" '
                             'fill-opacity="0.7"/>')
            else:
                parts.append(f'<rect x="{px - 3:.1f}" y="{py - 3:.1f}" width="6" height="6" '
                             f'fill="{colour}" fill-opacity="0.7"/>')
        parts.append(f'<text x="{lx}" y="{ly + 14 + 15 * k}" fill="{colour}">'
                     f'{escape(str(names[label]))}</text>')
    return _write(parts, path)
