"""Reproduce Arras et al. (2017), "Explaining Recurrent Neural Network Predictions in Sentiment
Analysis": a bi-LSTM on SST-5, its accuracy, word-deletion curves (Fig. 3) and the most / least
relevant words per class (Table 1).

    python examples/reproduce_arras2017.py --data ../shared/data --out runs/repro/arras2017

Model: Embedding(vocab, 60, mask_zero) → Dropout → Bidirectional(LSTM(60)) → Dense(5) (logits).
Embeddings: `--embeddings glove` (default) initialises the first 50 of the 60 dimensions from
GloVe-6B-50d (`<data>/glove`), the other 10 (and words GloVe lacks) uniform(−0.1, 0.1), all
fine-tuned; `--embeddings learned` starts all 60 from uniform(−0.05, 0.05). Trained with Adam on the
8544 SST-5 training sentences (root labels; `--phrases N` adds N random labelled training-tree
constituents of ≥ 2 words), the epoch with the best dev accuracy is kept.

Outputs in --out: results.json, results.md, deletion.png (Fig. 3 style), model.weights.h5.

Definitions:
- accuracy: argmax of the 5 logits vs the root label, on the 2210 test sentences.
- binary accuracy: on the 1821 non-neutral test sentences (SST-2 test), predicted positive iff
  p(3) + p(4) > p(0) + p(1) under the 5-class softmax (`binary_accuracy`); `binary_accuracy_argmax`
  maps the 5-class argmax {0,1} → neg, {3,4} → pos and counts a neutral prediction as wrong.
- deletion: `keras_relevance.evaluation.deletion_curves` on all test sentences: relevance for the
  true class, delete = zero the word's embedding, 0..5 words, random = 10 seeds.
- top words: LRP (and SA) relevance for class c on every test sentence, averaged over a word's
  occurrences, words seen ≥ 3 times.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _repro_common as common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation  # noqa: E402
from keras_relevance.datasets import load_glove, load_sst, load_sst_trees  # noqa: E402
from keras_relevance.explainer import Explainer  # noqa: E402
from keras_relevance.text import Vocabulary  # noqa: E402

PAPER = {
    "accuracy": 0.463,
    "binary_accuracy": 0.829,
    "fig3": "correct: LRP falls fastest, LRP-cons close, SA slower, random slowest; "
    "misclassified: LRP rises fastest, SA worse than random",
}
METHODS = ("lrp", "lrp_cons", "sa")


def load(data: Path, max_train: int | None, max_test: int | None, phrases: int, seed: int):
    sst = data / "sst"
    train, dev, test = (load_sst(sst, s, fine_grained=True, lower=True) for s in
                        ("train", "dev", "test"))
    keep = np.arange(len(train))
    if max_train is not None:  # a random subset: the tree files are not shuffled
        keep = np.sort(np.random.default_rng(seed).permutation(len(train))[:max_train])
    tokens, labels = [train.tokens[i] for i in keep], [int(train.labels[i]) for i in keep]
    if phrases:
        pool = []
        trees = load_sst_trees(sst, "train")
        for tree in (trees[i] for i in keep):
            words = [w.lower() for w in tree.leaves()]
            pool += [(words[p.start:p.end], p.label) for p in tree.phrases()[1:]
                     if p.end - p.start >= 2]
        pick = np.random.default_rng(seed).choice(len(pool), min(phrases, len(pool)), False)
        tokens += [pool[i][0] for i in pick]
        labels += [pool[i][1] for i in pick]
    if max_test is not None:
        for split in (test, dev):
            pick = np.sort(np.random.default_rng(seed).permutation(len(split))[:max_test])
            split.tokens, split.labels = [split.tokens[i] for i in pick], split.labels[pick]
    vocab = Vocabulary.from_tokens(tokens, tokenizer="treebank")
    enc = vocab.encode
    return (
        vocab,
        (enc(tokens), np.asarray(labels, np.int32)),
        (enc(dev.tokens), dev.labels),
        (enc(test.tokens), test.labels, test.tokens),
    )


def build_model(vocab: Vocabulary, data: Path, embeddings: str, seed: int,
                emb_dim: int = 60, units: int = 60, dropout: float = 0.3) -> keras.Model:
    rng = np.random.default_rng(seed)
    if embeddings == "glove":
        glove, found = load_glove(data / "glove" / "glove.6B.50d.sst_vocab.txt.gz",
                                  vocabulary=vocab, seed=seed)
        matrix = rng.uniform(-0.1, 0.1, (len(vocab), emb_dim)).astype(np.float32)
        matrix[:, : glove.shape[1]] = glove
        matrix[0] = 0.0
        init = keras.initializers.Constant(matrix)
        print(f"GloVe covers {found.sum()} of {len(vocab)} vocabulary words")
    else:
        init = keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), emb_dim, mask_zero=True,
                                   embeddings_initializer=init),
            keras.layers.Dropout(dropout, seed=seed),
            keras.layers.Bidirectional(keras.layers.LSTM(units, seed=seed)),
            keras.layers.Dense(5),
        ],
        name="arras2017_bilstm",
    )
    return common.compile_classifier(model, lr=1e-3)


def binary_accuracies(logits: np.ndarray, labels: np.ndarray) -> dict:
    keep = labels != 2
    z = logits[keep] - logits[keep].max(-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    truth = labels[keep] >= 3
    pred_sum = p[:, 3:].sum(-1) > p[:, :2].sum(-1)
    arg = p.argmax(-1)
    return {
        "binary_n": int(keep.sum()),
        "binary_accuracy": float((pred_sum == truth).mean()),
        "binary_accuracy_argmax": float(((arg >= 3) == truth)[arg != 2].sum() / keep.sum()),
    }


def top_words_tables(explainer, ids, tokens, method: str, k: int = 10, min_count: int = 3):
    rows_tokens, rows_rel, rows_cls = [], [], []
    for c in range(5):
        rel = explainer.explain(ids, method=method, target=c).relevance
        rows_tokens += tokens
        rows_rel += [r[: len(t)] for r, t in zip(rel, tokens, strict=True)]
        rows_cls += [c] * len(tokens)
    table = evaluation.top_words(rows_tokens, rows_rel, rows_cls, k=k, min_count=min_count)
    return {c: {"most": [w for w, _, _ in v["most"]], "least": [w for w, _, _ in v["least"]]}
            for c, v in table.items()}


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "arras2017")
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--phrases", type=int, default=0,
                   help="add this many random training-tree phrases (≥ 2 words) to training")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--max-test", type=int, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 1500
        args.max_test = args.max_test or 300
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 8)
    batch_size = args.batch_size or 32
    data, out = common.data_dir(args.data), Path(args.out)
    keras.utils.set_random_seed(args.seed)
    timer = common.Timer()

    with timer("data"):
        vocab, train, dev, (x_test, y_test, test_tokens) = load(
            data, args.max_train, args.max_test, args.phrases, args.seed)
    print(f"train {len(train[0])}, dev {len(dev[0])}, test {len(x_test)}, vocab {len(vocab)}")
    model = build_model(vocab, data, args.embeddings, args.seed)
    with timer("train"):
        fit = common.fit_best(model, train, dev, epochs, batch_size, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "model.weights.h5")

    explainer = Explainer(model)
    logits = explainer.predict_logits(x_test)
    acc = float((logits.argmax(-1) == y_test).mean())
    binary = binary_accuracies(logits, y_test)
    print(f"test accuracy {acc:.4f}, binary {binary}")

    with timer("deletion"):
        deletion = evaluation.deletion_curves(
            explainer, x_test, y_test, methods=METHODS, max_deletions=5, random_seeds=10,
            verbose=False)
    orderings = common.check_orderings(deletion)
    common.plot_deletion(deletion, METHODS, out / "deletion.png",
                         f"bi-LSTM on SST-5 test (acc {acc:.1%}): word deletion, "
                         "target = true class")
    with timer("lrp_conservation"):
        cons = explainer.explain(x_test[:200], method="lrp_cons", target=y_test[:200])
        lrp = explainer.explain(x_test[:200], method="lrp", target=y_test[:200])
        target_logit = cons.logits[np.arange(len(cons.target)), cons.target]
        conservation = {
            "lrp_cons_max_abs_delta": float(np.abs(cons.delta).max()),
            "lrp_cons_max_abs_sum_minus_logit": float(
                np.abs(cons.relevance.sum(1) - target_logit).max()),
            "lrp_mean_abs_sum_minus_logit": float(
                np.abs(lrp.relevance.sum(1) - target_logit).mean()),
        }
    with timer("top_words"):
        top = {m: top_words_tables(explainer, x_test, test_tokens, m) for m in ("lrp", "sa")}

    results = {
        "paper": PAPER,
        "setup": {
            "embeddings": args.embeddings, "emb_dim": 60, "hidden": 60, "epochs": epochs,
            "batch_size": batch_size, "optimizer": "Adam 1e-3", "dropout": 0.3,
            "train_examples": len(train[0]), "phrases_added": args.phrases,
            "quick": args.quick, "seed": args.seed,
        },
        "training": fit,
        "test": {"n": len(x_test), "accuracy": acc, **binary},
        "deletion": deletion,
        "orderings": orderings,
        "conservation": conservation,
        "top_words": top,
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }
    names = ["very negative", "negative", "neutral", "positive", "very positive"]
    md = [
        "# Arras et al. (2017) reproduction: bi-LSTM on SST-5",
        "",
        common.md_table(
            ["metric", "ours", "paper"],
            [["SST-5 test accuracy", acc, PAPER["accuracy"]],
             [f"binary accuracy (p(3)+p(4) > p(0)+p(1), n={binary['binary_n']})",
              binary["binary_accuracy"], PAPER["binary_accuracy"]],
             ["binary accuracy (argmax mapped, neutral = wrong)",
              binary["binary_accuracy_argmax"], "–"]]),
        "",
        f"Training: {len(train[0])} examples, {args.embeddings} embeddings, {epochs} epochs "
        f"(best dev epoch {fit['best_epoch']}, dev acc {max(fit['dev_accuracy']):.3f}).",
        "",
        "## Word deletion (Fig. 3)",
        "",
        common.deletion_markdown(deletion, METHODS),
        "",
        "Best to worst (mean accuracy over 1..5 deletions): "
        + "; ".join(f"{k}: {' > '.join(v['best_to_worst'])}" for k, v in orderings.items()),
        "",
        "Conservation on 200 test sentences: LRP-cons max |delta| (logit − Σ R − relevance "
        f"left at the zero initial states) = {conservation['lrp_cons_max_abs_delta']:.1e}, "
        "max |Σ R − logit| = "
        f"{conservation['lrp_cons_max_abs_sum_minus_logit']:.3f}; LRP (δ=0) mean |Σ R − logit| = "
        f"{conservation['lrp_mean_abs_sum_minus_logit']:.3f}.",
        "",
        "## Most / least relevant words per class (Table 1, LRP)",
        "",
        common.md_table(
            ["class", "most relevant (LRP)", "least relevant (LRP)"],
            [[names[c], ", ".join(top["lrp"][c]["most"]), ", ".join(top["lrp"][c]["least"])]
             for c in sorted(top["lrp"])]),
        "",
        "SA (always ≥ 0):",
        "",
        common.md_table(
            ["class", "most relevant (SA)", "least relevant (SA)"],
            [[names[c], ", ".join(top["sa"][c]["most"]), ", ".join(top["sa"][c]["least"])]
             for c in sorted(top["sa"])]),
        "",
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items())
        + f" ({results['machine']})",
    ]
    common.write_outputs(out, results, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
