"""Shared helpers of the paper reproductions (`reproduce_*.py`): arguments, training, output.

Not a public module: the reproduction scripts import it from the same folder. Everything here is
plain Keras / NumPy; matplotlib is used only by `plot_deletion` (skipped when missing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402


# ------------------------------------------------------------------------------------ arguments
def parser(description: str, name: str) -> argparse.ArgumentParser:
    """Arguments of every reproduction: --data, --out, --epochs, --quick, --seed, --batch-size."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", default="../shared/data", help="folder holding sst/, glove/, ...")
    p.add_argument("--out", default=f"runs/repro/{name}", help="where results go")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (see --help text)")
    p.add_argument("--quick", action="store_true", help="a small smoke run (subsets, 1 epoch)")
    p.add_argument("--seed", type=int, default=None, help="one seed (overrides --seeds)")
    p.add_argument("--batch-size", type=int, default=None)
    return p


def data_dir(path: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        sys.exit(f"data folder {str(path)!r} not found (pass --data; see ../shared/data/README.md)")
    return path


# ------------------------------------------------------------------------------------ timing
class Timer:
    """Wall-clock seconds per named phase: `with timer("train"): ...`; `timer.seconds` dict."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    def __call__(self, name: str):
        timer = self

        class _Phase:
            def __enter__(self):
                self.t0 = time.perf_counter()
                print(f"[{name}] ...", flush=True)

            def __exit__(self, *exc):
                dt = time.perf_counter() - self.t0
                timer.seconds[name] = timer.seconds.get(name, 0.0) + dt
                print(f"[{name}] {dt:.1f} s", flush=True)

        return _Phase()

    @property
    def total(self) -> float:
        return time.perf_counter() - self._start


def machine() -> str:
    import tensorflow as tf

    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load avg {os.getloadavg()[0]:.1f}"
    return (
        f"{platform.machine()} {os.cpu_count()} CPU(s){load}, Python {platform.python_version()}, "
        f"TF {tf.__version__}, Keras {keras.__version__}"
    )


# ------------------------------------------------------------------------------------ training
def compile_classifier(model: keras.Model, lr: float = 1e-3) -> keras.Model:
    """Adam + sparse cross-entropy on the logits (the head has no softmax)."""
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def accuracy(model: keras.Model, x, y, batch_size: int = 256) -> float:
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return float((np.argmax(logits, -1) == np.asarray(y)).mean())


def length_batches(x: np.ndarray, batch_size: int, rng, window: int = 50) -> list[np.ndarray]:
    """Index batches of similar length: shuffle, sort each window of `window` batches by length,
    cut into batches, shuffle the batches. Right-padded masked inputs then train on short
    tensors."""
    order = rng.permutation(len(x))
    lengths = (x != 0).sum(axis=1)
    span = batch_size * window
    batches = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def fit_best(
    model: keras.Model,
    train: tuple,
    dev: tuple,
    epochs: int,
    batch_size: int,
    seed: int = 0,
    verbose: int = 2,
    cache: Path | None = None,
    patience: int | None = None,
) -> dict:
    """Train for `epochs`, keep the weights of the epoch with the best dev accuracy.

    Batches hold texts of similar length, trimmed to their longest text (exact for masked,
    right-padded inputs). `cache`: a folder; when it holds `model.weights.h5` and `fit.json` from
    an earlier run with the same key the weights are loaded instead of trained, otherwise both are
    written after training (`--models-dir`). `patience`: stop after that many epochs without a
    better dev accuracy. Returns `{"dev_accuracy": [...], "train_loss": [...], "best_epoch": int
    (1-based), "epochs": int, "seconds": float}`.
    """
    if cache is not None:
        cache = Path(cache)
        if (cache / "fit.json").is_file() and (cache / "model.weights.h5").is_file():
            model.load_weights(cache / "model.weights.h5")
            fit = json.loads((cache / "fit.json").read_text())
            print(f"loaded trained weights from {cache} (best epoch {fit['best_epoch']})")
            return {**fit, "cached": True}
    x, y = train
    x, y = np.asarray(x), np.asarray(y)
    rng = np.random.default_rng(seed)
    best, best_weights, history, losses = -1.0, None, [], []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        total, seen = 0.0, 0
        for idx in length_batches(x, batch_size, rng):
            xb = bucket_by_length(x[idx])
            logs = model.train_on_batch(xb, y[idx], return_dict=True)
            total, seen = total + float(logs["loss"]) * len(idx), seen + len(idx)
        acc = accuracy(model, *dev)
        history.append(acc)
        losses.append(total / max(seen, 1))
        print(f"epoch {epoch + 1}/{epochs}: train loss {losses[-1]:.4f}, dev accuracy {acc:.4f} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        if acc > best:
            best, best_weights = acc, [w.copy() for w in model.get_weights()]
        if patience is not None and epoch + 1 - (int(np.argmax(history)) + 1) >= patience:
            print(f"no better dev accuracy for {patience} epochs: stopping", flush=True)
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    fit = {
        "dev_accuracy": history,
        "train_loss": losses,
        "best_epoch": int(np.argmax(history)) + 1 if history else 0,
        "epochs": len(history),
        "seconds": time.perf_counter() - t0,
    }
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        model.save_weights(cache / "model.weights.h5")
        (cache / "fit.json").write_text(json.dumps(fit))
    return fit


def cache_dir(root: str | None, *parts) -> Path | None:
    """`root/part1-part2-...` (a place for trained weights), None without `--models-dir`."""
    if not root:
        return None
    return Path(root) / "-".join(str(p) for p in parts)


def models_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default=None,
                   help="keep trained weights here and load them on the next run with the same "
                        "settings (training is the expensive part)")
    p.add_argument("--train-only", action="store_true",
                   help="train (and keep, with --models-dir) the models, evaluate nothing")


def bucket_by_length(x: np.ndarray) -> np.ndarray:
    """Trim trailing all-padding columns (cheaper RNN passes on short batches)."""
    used = np.flatnonzero((x != 0).any(axis=0))
    return x[:, : used[-1] + 1] if len(used) else x[:, :1]


# ------------------------------------------------------------------------------------ output
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def md_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """A GitHub Markdown table; floats with 3 decimals."""

    def cell(v):
        if isinstance(v, float | np.floating):
            return f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_outputs(out: Path, results: dict, markdown: str) -> None:
    """`<out>/results.json` and `<out>/results.md`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_jsonable(results), indent=1) + "\n")
    (out / "results.md").write_text(markdown.rstrip() + "\n")
    print(markdown)
    print(f"\nwrote {out / 'results.json'} and {out / 'results.md'}")


def deletion_markdown(result: dict, methods: Sequence[str]) -> str:
    """Accuracy after 0..K deletions, one row per method (+ random mean ± std), per subset."""
    parts = []
    for kind in ("correct", "misclassified"):
        entry = result.get(kind)
        if not entry or entry.get("random_mean") is None and not entry["curves"]:
            continue
        headers = ["method"] + [f"{k} del." for k in result["x"]]
        rows = [[m] + list(entry["curves"][m]) for m in methods if entry["curves"].get(m)]
        if entry.get("random_mean") is not None:
            rows.append(
                ["random (mean ± std)"]
                + [f"{m:.3f} ± {s:.3f}" for m, s in zip(entry["random_mean"], entry["random_std"],
                                                    strict=True)]
            )
        order = "decreasing" if kind == "correct" else "increasing"
        parts.append(
            f"**{kind}** test examples (n = {entry['n']}), words deleted in {order} relevance "
            f"order; accuracy:\n\n" + md_table(headers, rows)
        )
    return "\n\n".join(parts)


def plot_deletion(result: dict, methods: Sequence[str], path: Path, title: str) -> bool:
    """Arras et al. (2017) Fig. 3 style: accuracy vs words deleted, correct | misclassified."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
        return False
    styles = {
        "lrp": ("LRP", "tab:red", "o"),
        "lrp_cons": ("LRP-cons", "tab:orange", "s"),
        "sa": ("SA", "tab:blue", "^"),
    }
    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.4))
    x = result["x"]
    for ax, kind in zip(axes, ("correct", "misclassified"), strict=True):
        entry = result.get(kind)
        if not entry or entry["n"] == 0:
            ax.set_visible(False)
            continue
        for m in methods:
            label, color, marker = styles.get(m, (m, None, "d"))
            ax.plot(x, np.asarray(entry["curves"][m]) * 100, marker=marker, color=color,
                    label=label)
        if entry.get("random_mean") is not None:
            mean = np.asarray(entry["random_mean"]) * 100
            std = np.asarray(entry["random_std"]) * 100
            ax.plot(x, mean, color="gray", marker="x", label="random")
            ax.fill_between(x, mean - std, mean + std, color="gray", alpha=0.2)
        order = "decreasing" if kind == "correct" else "increasing"
        ax.set_title(f"{kind} (n={entry['n']}), delete {order}", fontsize=9)
        ax.set_xlabel("# words deleted")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")
    return True


def check_orderings(result: dict, at: int = None) -> dict:
    """The Fig. 3 orderings as booleans, compared by the area over the 1..K curve points.

    correct: lower is better (accuracy should fall); misclassified: higher is better.
    """
    out = {}
    for kind, sign in (("correct", 1.0), ("misclassified", -1.0)):
        entry = result.get(kind)
        if not entry or not entry["n"] or entry.get("random_mean") is None:
            continue
        area = {m: float(np.mean(c[1:])) for m, c in entry["curves"].items() if c}
        area["random"] = float(np.mean(entry["random_mean"][1:]))
        ranked = sorted(area, key=lambda m: sign * area[m])
        out[kind] = {"mean_accuracy_1..K": area, "best_to_worst": ranked}
    return out


# ------------------------------------------------------------------------------------ seeds
def seeds_arg(p: argparse.ArgumentParser, default: str = "0,1,2") -> None:
    p.add_argument("--seeds", default=default,
                   help="comma-separated training seeds (every table: mean and 95%% interval)")


def parse_seeds(text: str, seed: int | None = None) -> list[int]:
    """`--seeds "0,1,2"` as ints; a single `--seed` wins when given."""
    if seed is not None:
        return [int(seed)]
    seeds = [int(s) for s in str(text).split(",") if s.strip()]
    if not seeds:
        sys.exit("--seeds: give at least one seed")
    return seeds


def interval(groups, n_boot: int = 1000) -> dict:
    """`{"mean", "ci": [low, high]}` of per-text values over seeds (two-level bootstrap)."""
    from keras_relevance.analysis import bootstrap_ci

    mean, (low, high) = bootstrap_ci([np.asarray(g, np.float64) for g in groups], n_boot)
    return {"mean": mean, "ci": [low, high]}


def accuracy_summary(paper, correct_per_seed) -> dict:
    """`{"paper", "mean", "ci", "per_seed"}` from per-seed arrays of per-text correctness."""
    return {"paper": paper, **interval(correct_per_seed),
            "per_seed": [float(np.mean(c)) for c in correct_per_seed]}


def seeded_deletion(per_seed: list[dict], subsets: list[np.ndarray] | None, methods) -> dict:
    """Deletion curves over seeds from `deletion_curves` results (with per-text `hits`).

    `subsets[s]`: bool over the texts of seed s (None: all). For each kind and method: the
    curve (mean over seeds of the accuracy at k deletions) with its 95% interval, and the area
    over k = 1..K (mean accuracy) with its interval; `separated` lists the pairs whose area
    intervals do not overlap.
    """
    out = {}
    for kind in ("correct", "misclassified"):
        names = list(methods) + ["random"]
        entry_out = {"n_per_seed": [], "curve": {}, "area": {}}
        hits = {m: [] for m in names}
        for s, res in enumerate(per_seed):
            entry = res[kind]
            keep = (np.ones(len(entry["index"]), bool) if subsets is None
                    else np.asarray(subsets[s])[entry["index"]])
            entry_out["n_per_seed"].append(int(keep.sum()))
            k = len(res["x"])
            empty = np.zeros((0, k))
            for m in methods:
                h = entry["hits"].get(m)
                hits[m].append(empty if h is None else np.asarray(h, np.float64)[keep])
            h = entry.get("random_hits")
            hits["random"].append(empty if h is None else np.asarray(h, np.float64)[keep])
        k = len(per_seed[0]["x"])
        for m in names:
            if not any(len(h) for h in hits[m]):
                continue
            entry_out["curve"][m] = [interval([h[:, j] for h in hits[m]], 300) for j in range(k)]
            entry_out["area"][m] = interval([h[:, 1:].mean(axis=1) for h in hits[m]])
            entry_out["area"][m]["per_seed"] = [float(h[:, 1:].mean()) if len(h) else None
                                                for h in hits[m]]
        sign = 1.0 if kind == "correct" else -1.0
        ranked = sorted(entry_out["area"], key=lambda m: sign * entry_out["area"][m]["mean"])
        entry_out["best_to_worst"] = ranked
        entry_out["separated"] = [
            [a, b] for i, a in enumerate(ranked) for b in ranked[i + 1:]
            if (entry_out["area"][a]["ci"][1] < entry_out["area"][b]["ci"][0]
                or entry_out["area"][b]["ci"][1] < entry_out["area"][a]["ci"][0])]
        # paired: the same texts under two methods, per-text area differences (a − b); a
        # difference is called where this interval excludes 0
        entry_out["paired"] = {}
        for i, a in enumerate(ranked):
            for b in ranked[i + 1:]:
                diffs = [ha[:, 1:].mean(axis=1) - hb[:, 1:].mean(axis=1)
                         for ha, hb in zip(hits[a], hits[b], strict=True)
                         if len(ha) and len(ha) == len(hb)]
                if diffs:
                    cell = interval(diffs)
                    cell["excludes_0"] = bool(cell["ci"][0] > 0 or cell["ci"][1] < 0)
                    entry_out["paired"][f"{a}-{b}"] = cell
        out[kind] = entry_out
    return out


def seeded_deletion_markdown(summary: dict) -> str:
    """Area (mean accuracy over 1..K deletions) per method, mean [95% interval], per kind."""
    parts = []
    for kind, entry in summary.items():
        rows = [[m, f"{a['mean']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]",
                 ", ".join(f"{v:.3f}" for v in a["per_seed"] if v is not None)]
                for m, a in entry["area"].items()]
        parts.append(
            f"**{kind}** (n per seed {entry['n_per_seed']}); best to worst: "
            f"{' > '.join(entry['best_to_worst'])}; intervals separate for "
            f"{', '.join('/'.join(p) for p in entry['separated']) or 'no pair'}; paired "
            "differences (same texts) whose interval excludes 0: "
            + (", ".join(f"{k} {v['mean']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]"
                         for k, v in entry.get("paired", {}).items() if v["excludes_0"])
               or "none") + "\n\n"
            + md_table(["method", "mean accuracy over 1..K deletions [95% CI]", "per seed"],
                       rows))
    return "\n\n".join(parts)


def strip_hits(result: dict) -> dict:
    """A `deletion_curves` result without its per-text arrays (for JSON)."""
    out = dict(result)
    for kind in ("correct", "misclassified"):
        if kind in out:
            out[kind] = {k: v for k, v in out[kind].items()
                         if k not in ("hits", "random_hits", "index")}
    return out


def write_json(path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(payload), indent=1) + "\n")
    print(f"wrote {path}")


# ------------------------------------------------------------------------------------ compare
COMPARE_METRICS = ("aopc", "comprehensiveness", "sufficiency", "taucorr_loo")


def compare_table(models, ids, labels, methods, seeds, out: Path, name: str, texts: int = 200,
                  method_options=None, metrics=COMPARE_METRICS, seed: int = 0) -> dict:
    """`keras_relevance.evaluation.compare` over the trained seeds on `texts` random test texts
    (relevance for the true label, zeroing, probabilities): the field's faithfulness metrics
    beside each paper's own. Writes `<out>/<name>.svg`; returns `{"texts", "metrics", "rows",
    "markdown"}` for the JSON and the Markdown."""
    from keras_relevance import evaluation

    ids, labels = np.asarray(ids), np.asarray(labels)
    pick = np.arange(len(ids))
    if texts and texts < len(ids):
        pick = np.sort(np.random.default_rng(seed).choice(len(ids), texts, replace=False))
    table = evaluation.compare(list(models), (ids[pick], labels[pick]), list(methods),
                               metrics=list(metrics), seeds=list(seeds), target="label",
                               method_options=method_options, verbose=False)
    out.mkdir(parents=True, exist_ok=True)
    table.plot(out / f"{name}.svg")
    return {"texts": int(len(pick)), "metrics": list(metrics), "rows": table.rows,
            "markdown": table.to_markdown()}
