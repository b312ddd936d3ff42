"""Compare explanation methods on SST-2 with `keras_relevance.evaluation.compare`.

    python examples/compare_methods.py --data ../shared/data --out runs/compare

Trains a small GRU on SST-2 once per seed (`--seeds`), then scores each method on `--texts` test
sentences with faithfulness metrics (deletion and insertion AOPC, ERASER comprehensiveness /
sufficiency, Kendall τ with leave-one-out) and plausibility against SST's word-level human polarity
(`datasets.sst_rationales`: a word is a rationale for the predicted class when its own leaf label
is polar in that direction). Writes table.md, table.json and table.svg (or .png with matplotlib).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation  # noqa: E402
from keras_relevance.datasets import load_sst, sst_rationales  # noqa: E402
from keras_relevance.text import Vocabulary  # noqa: E402

METHODS = ("lrp", "sa", "grad_input", "integrated_gradients", "occlusion")
METRICS = ("aopc", "insertion_aopc", "comprehensiveness", "sufficiency", "taucorr_loo",
           "auprc", "token_f1")


def train(x, y, vocab_size: int, seed: int, epochs: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, 32, mask_zero=True),
        keras.layers.GRU(32, seed=seed),
        keras.layers.Dense(2),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
    return model


def sanity_summary(per_seed: dict) -> dict:
    """randomization_test results of several seeds → mean and two-level 95% interval per
    method and cascade step, and for the shuffled-label model."""
    from keras_relevance.analysis import bootstrap_ci

    first = next(iter(per_seed.values()))

    def cell(groups):
        mean, (low, high) = bootstrap_ci(groups)
        return {"mean": mean, "ci": [low, high]}

    methods = list(first["spearman"])
    return {
        "seeds": list(per_seed), "layers": first["layers"],
        "cascade": {m: [cell([r["per_example"][m][step] for r in per_seed.values()])
                        for step in range(len(first["layers"]))] for m in methods},
        "data": {m: cell([r["data_per_example"][m] for r in per_seed.values()])
                 for m in methods},
        "logit_change": {s: r["logit_change"] for s, r in per_seed.items()},
        "flagged": {s: r["flagged"] for s, r in per_seed.items()},
        "threshold": first["threshold"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--texts", type=int, default=200, help="test sentences evaluated")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--sanity", action="store_true",
                   help="also run evaluation.randomization_test on every seed's model "
                        "(cascading randomisation, and a model trained on shuffled labels), "
                        "summarised with intervals over seeds and texts")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    sst = Path(args.data) / "sst"
    tr = load_sst(sst, "train", fine_grained=False, lower=True)
    te = load_sst(sst, "test", fine_grained=False, lower=True)
    vocab = Vocabulary.from_tokens(tr.tokens, tokenizer="treebank")
    x_train = vocab.encode(tr.tokens)
    pick = np.sort(np.random.default_rng(0).permutation(len(te))[: args.texts])
    te.tokens, te.labels = [te.tokens[i] for i in pick], te.labels[pick]
    te.phrases = [te.phrases[i] for i in pick]
    x_test = vocab.encode(te.tokens)
    models = {s: train(x_train, tr.labels, len(vocab), s, args.epochs) for s in seeds}
    for s, m in models.items():
        acc = float((np.asarray(m.predict(x_test, verbose=0)).argmax(-1) == te.labels).mean())
        print(f"seed {s}: accuracy on the {len(x_test)} test sentences {acc:.3f}")
    # explained class = the true label, so the human rationale is for the same class
    rationales = sst_rationales(te, te.labels, width=x_test.shape[1])
    table = evaluation.compare(
        models, {"ids": x_test, "labels": te.labels, "rationales": rationales},
        methods=args.methods.split(","), metrics=METRICS, target="label", steps=5)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table.to_markdown() + "\n")
    (out / "table.json").write_text(table.to_json() + "\n")
    print(table.to_markdown())
    print(f"wrote {table.plot(out / 'table.png')}")
    if args.sanity:
        sanity = {}
        for seed in seeds:  # one cascade and one shuffled-label model per training seed
            shuffled = np.random.default_rng(seed).permutation(tr.labels)
            sanity[seed] = evaluation.randomization_test(
                models[seed], x_test, args.methods.split(","), target=te.labels, threshold=0.5,
                train_fn=lambda s, labels=shuffled: train(x_train, labels, len(vocab), s,
                                                          args.epochs),
                seed=seed)
        res = sanity_summary(sanity)
        (out / "sanity.json").write_text(json.dumps(res, indent=1) + "\n")
        print("Spearman with the trained model's relevance after randomising, head first, "
              "mean [95% CI] over seeds and texts:")
        for m, steps in res["cascade"].items():
            cells = [f"{layer} {c['mean']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]"
                     for layer, c in zip(res["layers"], steps, strict=True)]
            d = res["data"][m]
            print(f"  {m}: " + "; ".join(cells)
                  + f"; shuffled-label model {d['mean']:.3f} [{d['ci'][0]:.3f}, {d['ci'][1]:.3f}]")
        print(f"flagged (per seed): {res['flagged']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
