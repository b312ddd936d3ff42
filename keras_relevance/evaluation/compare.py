"""Methods × metrics in one table, with bootstrap intervals over texts (and training seeds)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from keras_relevance.analysis import bootstrap_ci
from keras_relevance.evaluation._scoring import Scorer, get_relevance, resolve_target


def _aopc(model, ids, rel, target, data, o):
    from keras_relevance.evaluation.deletion import aopc

    return aopc(model, ids, rel, target, steps=o["steps"], score=o["score"],
                deletion=o["deletion"], verbose=False)["per_example"]


def _insertion(model, ids, rel, target, data, o):
    from keras_relevance.evaluation.deletion import insertion_curves

    return insertion_curves(model, ids, rel, target, steps=o["steps"], score=o["score"],
                            deletion=o["deletion"], verbose=False)["per_example_aopc"]


def _eraser(key):
    def metric(model, ids, rel, target, data, o):
        from keras_relevance.evaluation.faithfulness import eraser_scores

        res = eraser_scores(model, ids, rel, target, score=o["score"], deletion=o["deletion"],
                            verbose=False)
        return res["per_example"][key].mean(axis=1)

    return metric


def _taucorr(model, ids, rel, target, data, o):
    from keras_relevance.evaluation.agreement import taucorr_loo

    return taucorr_loo(model, ids, rel, target, score=o["score"], verbose=False)["per_example"]


def _plausible(key):
    def metric(model, ids, rel, target, data, o):
        from keras_relevance.evaluation.agreement import plausibility

        if data.get("rationales") is None:
            raise ValueError(f"metric {key!r} needs data['rationales'] (human rationale masks)")
        return plausibility(model, ids, rel, data["rationales"], target)["per_example"][key]

    return metric


# name → (function(model, ids, relevance, target, data, options) -> (batch,), higher is better)
METRICS: dict[str, tuple[Callable, bool]] = {
    "aopc": (_aopc, True),
    "insertion_aopc": (_insertion, True),
    "comprehensiveness": (_eraser("comprehensiveness"), True),
    "sufficiency": (_eraser("sufficiency"), False),
    "taucorr_loo": (_taucorr, True),
    "auprc": (_plausible("auprc"), True),
    "token_f1": (_plausible("token_f1"), True),
}


class ComparisonTable:
    """Rows `{"method", "metric", "mean", "ci_low", "ci_high", "n", "per_seed",
    "higher_is_better"}`.

    `to_pandas()` gives a DataFrame (pandas needed), `to_markdown()` a Markdown table,
    `plot(path)` a figure (matplotlib when installed, else an SVG written here).
    """

    def __init__(self, rows: list[dict], seeds: list, level: float):
        self.rows = rows
        self.seeds = seeds
        self.level = level

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def __repr__(self) -> str:
        return self.to_markdown()

    def get(self, method: str, metric: str) -> dict:
        """The row of one method and metric."""
        for row in self.rows:
            if row["method"] == method and row["metric"] == metric:
                return row
        raise KeyError(f"no row for method {method!r} and metric {metric!r}")

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(r["method"] for r in self.rows))

    @property
    def metrics(self) -> list[str]:
        return list(dict.fromkeys(r["metric"] for r in self.rows))

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_json(self) -> str:
        return json.dumps({"seeds": self.seeds, "level": self.level, "rows": self.rows})

    def to_markdown(self, digits: int = 3) -> str:
        """Methods as rows, metrics as columns: `mean [low, high]`."""
        pct = round(100 * self.level)
        head = "| method | " + " | ".join(
            f"{m} {'↑' if self._higher(m) else '↓'}" for m in self.metrics) + " |"
        lines = [head, "|---" * (len(self.metrics) + 1) + "|"]
        for method in self.methods:
            cells = []
            for metric in self.metrics:
                r = self.get(method, metric)
                cells.append(f"{r['mean']:.{digits}f} [{r['ci_low']:.{digits}f}, "
                             f"{r['ci_high']:.{digits}f}]")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append(f"\nmean [{pct}% bootstrap interval]; seeds: {self.seeds}")
        return "\n".join(lines)

    def _higher(self, metric) -> bool:
        return next(r["higher_is_better"] for r in self.rows if r["metric"] == metric)

    def plot(self, path) -> Path:
        """One panel per metric: each method's mean and interval. PNG/PDF via matplotlib when
        installed; otherwise (or for a `.svg` path) an SVG written without dependencies."""
        path = Path(path)
        if path.suffix.lower() != ".svg":
            try:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt
            except ImportError:
                path = path.with_suffix(".svg")
            else:
                size = (3 * len(self.metrics), 0.5 + 0.4 * len(self.methods))
                fig, axes = plt.subplots(1, len(self.metrics), figsize=size, squeeze=False)
                for ax, metric in zip(axes[0], self.metrics, strict=True):
                    for y, method in enumerate(self.methods):
                        r = self.get(method, metric)
                        ax.errorbar(r["mean"], y, xerr=[[r["mean"] - r["ci_low"]],
                                                        [r["ci_high"] - r["mean"]]], fmt="o")
                    ax.set_yticks(range(len(self.methods)), self.methods)
                    ax.set_title(metric)
                fig.tight_layout()
                fig.savefig(path)
                plt.close(fig)
                return path
        path.write_text(self._svg(), encoding="utf-8")
        return path

    def _svg(self) -> str:
        pw, row_h, top, left = 180, 22, 30, 110
        width = left + pw * len(self.metrics) + 10
        height = top + row_h * len(self.methods) + 20
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               'font-family="sans-serif" font-size="11">']
        for y, method in enumerate(self.methods):
            cy = top + row_h * y + row_h / 2
            out.append(f'<text x="{left - 6}" y="{cy + 4}" text-anchor="end">'
                       f'{html.escape(method)}</text>')
        for j, metric in enumerate(self.metrics):
            rows = [self.get(m, metric) for m in self.methods]
            values = [v for r in rows for v in (r["ci_low"], r["ci_high"]) if np.isfinite(v)]
            lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            x0 = left + pw * j + 10

            def sx(v, x0=x0, lo=lo, hi=hi):
                return x0 + (pw - 20) * (v - lo) / (hi - lo)

            out.append(f'<text x="{x0 + (pw - 20) / 2}" y="15" text-anchor="middle">'
                       f'{html.escape(metric)}</text>')
            out.append(f'<text x="{x0}" y="{height - 5}">{lo:.3g}</text>')
            out.append(f'<text x="{x0 + pw - 20}" y="{height - 5}" text-anchor="end">'
                       f'{hi:.3g}</text>')
            for y, r in enumerate(rows):
                if not np.isfinite(r["mean"]):
                    continue
                cy = top + row_h * y + row_h / 2
                out.append(f'<line x1="{sx(r["ci_low"]):.1f}" x2="{sx(r["ci_high"]):.1f}" '
                           f'y1="{cy}" y2="{cy}" stroke="black"/>')
                out.append(f'<circle cx="{sx(r["mean"]):.1f}" cy="{cy}" r="3"/>')
        out.append("</svg>")
        return "\n".join(out)


def _models_and_seeds(model, seeds):
    if isinstance(model, Mapping):
        return list(model.values()), list(model.keys()) if seeds is None else list(seeds)
    models = list(model) if isinstance(model, list | tuple) else [model]
    seeds = list(range(len(models))) if seeds is None else list(seeds)
    if len(seeds) != len(models):
        raise ValueError(f"got {len(seeds)} seeds for {len(models)} models")
    return models, seeds


def compare(
    model,
    data,
    methods: Sequence[str] | Mapping[str, str | Callable],
    metrics: Sequence[str] = ("aopc", "insertion_aopc", "comprehensiveness", "sufficiency"),
    seeds: Sequence[int] | None = None,
    *,
    target=None,
    steps: int = 10,
    score: str = "probability",
    deletion: str = "zero",
    n_boot: int = 1000,
    level: float = 0.95,
    method_options: Mapping[str, Mapping] | None = None,
    verbose: bool = True,
) -> ComparisonTable:
    """Evaluate each method with each metric; mean and bootstrap interval per cell.

    Args:
        model: a Keras model (or `Explainer`), or one per training seed (a list, or a mapping
            {seed: model}).
        data: `(ids, labels)`, `ids`, or a dict with "ids" and optionally "labels",
            "rationales" (for the plausibility metrics).
        methods: method names, or `{name: method name or explain_fn(ids, target)}`.
        metrics: names in `METRICS`.
        seeds: labels of the models (default 0, 1, …).
        target: None (each model's predicted class), "label" (data's labels), an int or ints.
        steps / score / deletion: passed to the metrics that take them.
        n_boot / level: the bootstrap (over texts within a seed, and over seeds when there are
            several: `analysis.bootstrap_ci`).

    Returns:
        A `ComparisonTable` (`.to_pandas()`, `.to_markdown()`, `.plot(path)`).

    >>> table = compare(model, (ids, y), ["lrp", "sa"], ["aopc", "taucorr_loo"])  # doctest: +SKIP
    >>> print(table.to_markdown())                                               # doctest: +SKIP
    """
    import keras

    for name in metrics:
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; known: {sorted(METRICS)}")
    if not isinstance(methods, Mapping):
        methods = {name: name for name in methods}
    if not methods or not metrics:
        raise ValueError("give at least one method and one metric")
    if isinstance(data, Mapping):
        data = dict(data)
    elif isinstance(data, tuple):
        data = {"ids": data[0], "labels": data[1] if len(data) > 1 else None}
    else:
        data = {"ids": data}
    ids = np.asarray(data["ids"])
    models, seeds = _models_and_seeds(model, seeds)
    options = {"steps": int(steps), "score": score, "deletion": deletion}
    values = {(m, k): [] for m in methods for k in metrics}
    bar = keras.utils.Progbar(len(models) * len(methods) * len(metrics),
                              unit_name="evaluation") if verbose else None
    for mdl in models:
        logits = Scorer(mdl).logits(ids)
        if isinstance(target, str) and target == "label":
            if data.get("labels") is None:
                raise ValueError("target='label' needs labels in data")
            tgt = resolve_target(data["labels"], logits)
        else:
            tgt = resolve_target(target, logits)
        for name, method in methods.items():
            rel = get_relevance(method, mdl, ids, tgt, (method_options or {}).get(name))
            for metric in metrics:
                values[(name, metric)].append(
                    np.asarray(METRICS[metric][0](mdl, ids, rel, tgt, data, options), np.float64))
                if bar is not None:
                    bar.add(1)
    rows = []
    for (name, metric), groups in values.items():
        mean, (low, high) = bootstrap_ci(groups, n_boot, level)
        per_seed = [float(g[np.isfinite(g)].mean()) if np.isfinite(g).any() else float("nan")
                    for g in groups]
        rows.append({"method": name, "metric": metric, "mean": mean, "ci_low": low,
                     "ci_high": high, "n": int(sum(np.isfinite(g).sum() for g in groups)),
                     "per_seed": per_seed, "higher_is_better": METRICS[metric][1]})
    return ComparisonTable(rows, seeds, level)


__all__ = ["METRICS", "ComparisonTable", "compare"]
