"""Regenerate the reproduction figures from the JSON summaries (no model, no data, no TF).

    python examples/reproduction_figures.py --json docs/reproduction --out docs/figures

Reads `arras2017.json`, `arras2016.json`, `reat.json` (those present) as written by the
`reproduce_*.py --json` runs and writes SVG figures: deletion curves with their 95% bands
(Arras'17 Fig. 3 on the >= 10-word subset, Arras'16 Fig. 2), Arras'17 Fig. 4 (relevance by
position per encoder direction), Arras'16 Fig. 3 (PCA of LRP-weighted document vectors) and
the dev-accuracy curves of every training run. Prints the files written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _svg import svg_lines, svg_scatter  # noqa: E402

NEWSGROUPS = [  # sorted folder names = class ids of datasets.load_20newsgroups
    "alt.atheism", "comp.graphics", "comp.os.ms-windows.misc", "comp.sys.ibm.pc.hardware",
    "comp.sys.mac.hardware", "comp.windows.x", "misc.forsale", "rec.autos", "rec.motorcycles",
    "rec.sport.baseball", "rec.sport.hockey", "sci.crypt", "sci.electronics", "sci.med",
    "sci.space", "soc.religion.christian", "talk.politics.guns", "talk.politics.mideast",
    "talk.politics.misc", "talk.religion.misc"]
LABELS = {"lrp": "LRP (δ=0)", "lrp_cons": "LRP (δ=1)", "sa": "SA", "random": "random"}


def deletion_figures(summary: dict, prefix: str, out: Path, title: str) -> list[Path]:
    written = []
    for kind, order in (("correct", "most relevant first"),
                        ("misclassified", "least relevant first")):
        entry = summary[kind]
        series = {}
        for m, cells in entry["curve"].items():
            series[LABELS.get(m, m)] = ([c["mean"] for c in cells], [c["ci"][0] for c in cells],
                                        [c["ci"][1] for c in cells])
        k = len(next(iter(entry["curve"].values())))
        written.append(svg_lines(
            out / f"{prefix}_{kind}.svg", np.arange(k), series,
            f"{title}: {kind} texts (n per seed {entry['n_per_seed']})",
            f"words deleted ({order})", "accuracy"))
    return written


def dev_curves(per_seed: list, path: Path, title: str) -> Path:
    series = {}
    for run in per_seed:
        dev = run.get("training", {}).get("dev_accuracy") or []
        if dev:
            series[f"seed {run['seed']}"] = (dev, None, None)
    longest = max(len(v[0]) for v in series.values())
    series = {k: (list(v[0]) + [np.nan] * (longest - len(v[0])), None, None)
              for k, v in series.items()}
    return svg_lines(path, np.arange(1, longest + 1), series, title, "epoch", "dev accuracy",
                     zero=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", default="docs/reproduction", help="folder of the JSON summaries")
    p.add_argument("--out", default="docs/figures")
    args = p.parse_args(argv)
    src, out = Path(args.json), Path(args.out)
    written = []
    a17 = src / "arras2017.json"
    if a17.is_file():
        d = json.loads(a17.read_text())
        written += deletion_figures(d["deletion"]["ge10"], "arras2017_deletion", out,
                                    "Arras'17 Fig. 3, sentences of >= 10 words")
        if d.get("fig4"):
            f = d["fig4"]
            bins = f["bins"]
            series = {name: ([c["mean"] for c in f[key]["relative"]],
                             [c["ci"][0] for c in f[key]["relative"]],
                             [c["ci"][1] for c in f[key]["relative"]])
                      for key, name in (("forward", "left-to-right encoder"),
                                        ("backward", "right-to-left encoder"),
                                        ("full", "both (LRP)"))}
            written.append(svg_lines(
                out / "arras2017_fig4.svg", (np.arange(bins) + 0.5) / bins, series,
                "Arras'17 Fig. 4: LRP relevance (true class) by position",
                "relative word position in the sentence", "mean relevance of a word"))
        written.append(dev_curves(d["per_seed"], out / "arras2017_dev.svg",
                                  "Arras'17 bi-LSTM: SST-5 dev accuracy per epoch"))
    a16 = src / "arras2016.json"
    if a16.is_file():
        d = json.loads(a16.read_text())
        written += deletion_figures(d["deletion"], "arras2016_deletion", out,
                                    "Arras'16 Fig. 2, 20 Newsgroups")
        pca = d["pca"]
        names = pca.get("class_names") or NEWSGROUPS
        for key, what in (("lrp", "LRP-weighted"), ("plain", "plain")):
            points = np.asarray(pca[f"{key}_projection"])[:, :2]
            ratio = sum(pca[f"{key}_explained_variance_ratio"][:2])
            written.append(svg_scatter(
                out / f"arras2016_fig3_pca_{key}.svg", points, np.asarray(pca["labels"]),
                names, f"Arras'16 Fig. 3: PCA of {what} document vectors "
                f"({len(points)} posts; 2 PCs explain {ratio:.1%})"))
        written.append(dev_curves(d["per_seed"], out / "arras2016_dev.svg",
                                  "Arras'16 CNN: 20 Newsgroups dev accuracy per epoch"))
    reat = src / "reat.json"
    if reat.is_file():
        d = json.loads(reat.read_text())
        for kind, runs in d["per_seed"].items():
            written.append(dev_curves(runs, out / f"reat_{kind}_dev.svg",
                                      f"REAT {kind}: SST-2 dev accuracy per epoch"))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
