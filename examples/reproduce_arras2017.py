"""Reproduce Arras et al. (2017), "Explaining Recurrent Neural Network Predictions in Sentiment
Analysis": a bi-LSTM on SST-5, its accuracy, word-deletion curves (Fig. 3) and the most / least
relevant words per class (Table 1).

    python examples/reproduce_arras2017.py --data ../shared/data --out runs/repro/arras2017

Model: Embedding(vocab, 60, mask_zero) → Dropout → Bidirectional(LSTM(60)) → Dense(5) (logits).
Embeddings: `--embeddings glove` (default) initialises the first 50 of the 60 dimensions from
GloVe-6B-50d (`<data>/glove`), the other 10 (and words GloVe lacks) uniform(−0.1, 0.1), all
fine-tuned; `--embeddings learned` starts all 60 from uniform(−0.05, 0.05). Trained with Adam on the
8544 SST-5 training sentences (root labels; `--phrases all` adds every distinct labelled phrase of
the training trees, as Li et al. trained the paper's model; `--phrases N` adds N random phrases of
>= 2 words), the epoch with the best dev accuracy is kept (`--patience` stops early;
`--models-dir` keeps trained models for the next run).

Outputs in --out: results.json, results.md, deletion.png (Fig. 3 style, with matplotlib),
fig4_positions.svg, compare.svg, model.weights.h5.

Definitions:
- accuracy: argmax of the 5 logits vs the root label, on the 2210 test sentences.
- binary accuracy: on the 1821 non-neutral test sentences (SST-2 test), predicted positive iff
  p(3) + p(4) > p(0) + p(1) under the 5-class softmax (`binary_accuracy`); `binary_accuracy_argmax`
  maps the 5-class argmax {0,1} → neg, {3,4} → pos and counts a neutral prediction as wrong.
- deletion: `keras_relevance.evaluation.deletion_curves` on all test sentences and on the paper's
  subset of sentences with >= 10 words: relevance for the true class, delete = zero the word's
  embedding, 0..5 words, random = `--random-seeds` orders.
- seeds: one model per `--seeds` entry (default 0,1,2); accuracies and deletion areas are reported
  as mean and 95% two-level bootstrap interval (seeds, then texts); `--json` writes the summary
  (`docs/reproduction/arras2017.json`).
- top words: LRP (and SA) relevance for class c on every test sentence, averaged over a word's
  occurrences, words seen ≥ 3 times; and Table 1 by the paper's statistic (every occurrence ranked).
- Fig. 4: LRP relevance by word position for the left-to-right and right-to-left encoder
  separately (`_arras2017_extra.direction_relevance`: an exact split).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _arras2017_extra as extra  # noqa: E402
import _repro_common as common  # noqa: E402
import _svg  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation  # noqa: E402
from keras_relevance.datasets import load_glove, load_sst, load_sst_trees  # noqa: E402
from keras_relevance.explainer import Explainer  # noqa: E402
from keras_relevance.text import Vocabulary  # noqa: E402

PAPER = {
    "accuracy": 0.463,
    "binary_accuracy": 0.829,
    "accuracy_ge10": 835 / 1849,  # Sec. 4: 835 correct, 1014 misclassified
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
        tokens, labels = add_phrases(sst, keep, tokens, labels, phrases, seed)
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


def add_phrases(sst: Path, keep, tokens: list, labels: list, phrases: int, seed: int):
    """Add labelled constituents of the kept training trees to the training set.

    `phrases` > 0: that many random constituents of >= 2 words (all occurrences);
    `phrases` < 0 (`--phrases all`): every distinct labelled constituent, single words included,
    each distinct token sequence once (SST labels a phrase the same wherever it occurs), the
    training sentences themselves not repeated — the "all labelled phrases" of Li et al.
    """
    trees = load_sst_trees(sst, "train")
    pool, seen = [], {tuple(t) for t in tokens}
    for tree in (trees[i] for i in keep):
        words = [w.lower() for w in tree.leaves()]
        for ph in tree.phrases()[1:]:
            span = words[ph.start:ph.end]
            if phrases < 0:
                if tuple(span) not in seen:
                    seen.add(tuple(span))
                    pool.append((span, ph.label))
            elif ph.end - ph.start >= 2:
                pool.append((span, ph.label))
    pick = (np.arange(len(pool)) if phrases < 0 else
            np.random.default_rng(seed).choice(len(pool), min(phrases, len(pool)), False))
    print(f"training phrases added: {len(pick)}")
    return tokens + [pool[i][0] for i in pick], labels + [pool[i][1] for i in pick]


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


def occurrence_tables(explainer, ids, tokens, ours: dict, k: int = 10) -> dict:
    """Table 1 by the paper's statistic (every occurrence ranked, first / last distinct words)
    per class, and its overlap with our mean-per-word lists (`ours`, from top_words_tables)."""
    out = {}
    for c in range(5):
        rel = explainer.explain(ids, method="lrp", target=c).relevance
        rows = [r[: len(t)] for r, t in zip(rel, tokens, strict=True)]
        ranked = extra.occurrence_ranking(tokens, rows, k)
        out[c] = {**ranked, "overlap_most": len(set(ranked["most"]) & set(ours[c]["most"])),
                  "overlap_least": len(set(ranked["least"]) & set(ours[c]["least"]))}
    return out


def run_seed(args, data: Path, seed: int, epochs: int, batch_size: int, timer) -> dict:
    """Train one model with `seed` and evaluate it; per-text arrays kept for the intervals."""
    keras.utils.set_random_seed(seed)
    with timer("data"):
        vocab, train, dev, (x_test, y_test, test_tokens) = load(
            data, args.max_train, args.max_test, args.phrases, seed)
    print(f"seed {seed}: train {len(train[0])}, dev {len(dev[0])}, test {len(x_test)}, "
          f"vocab {len(vocab)}")
    model = build_model(vocab, data, args.embeddings, seed)
    with timer("train"):
        cache = common.cache_dir(args.models_dir, "arras2017", f"seed{seed}", f"e{epochs}",
                                 args.embeddings, f"p{args.phrases}", f"n{len(train[0])}",
                                 f"b{batch_size}")
        fit = common.fit_best(model, train, dev, epochs, batch_size, seed, cache=cache,
                              patience=args.patience)
    if args.train_only:
        return {"seed": seed, "fit": fit}
    explainer = Explainer(model)
    logits = explainer.predict_logits(x_test)
    correct = logits.argmax(-1) == y_test
    binary = binary_accuracies(logits, y_test)
    keep = y_test != 2
    z = logits[keep] - logits[keep].max(-1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    binary_correct = (prob[:, 3:].sum(-1) > prob[:, :2].sum(-1)) == (y_test[keep] >= 3)
    print(f"seed {seed}: test accuracy {correct.mean():.4f}, binary {binary}")
    with timer("deletion"):
        deletion = evaluation.deletion_curves(
            explainer, x_test, y_test, methods=METHODS, max_deletions=5,
            random_seeds=args.random_seeds, verbose=False)
    lengths = (x_test != 0).sum(axis=1)
    return {"seed": seed, "model": model, "explainer": explainer, "fit": fit,
            "x_test": x_test, "y_test": y_test, "tokens": test_tokens, "correct": correct,
            "binary_correct": binary_correct, "binary": binary, "deletion": deletion,
            "long": lengths >= 10, "train_n": len(train[0])}


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "arras2017")
    common.seeds_arg(p)
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--phrases", type=lambda v: -1 if v == "all" else int(v), default=0,
                   help="N: add N random training-tree phrases (≥ 2 words) to training; 'all': "
                        "every distinct labelled training phrase, single words included "
                        "(as Li et al. trained the paper's model)")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--max-test", type=int, default=None)
    p.add_argument("--random-seeds", type=int, default=10, help="runs of random deletion")
    p.add_argument("--compare-texts", type=int, default=200,
                   help="test texts for the evaluation.compare table (0: skip it)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without a better dev accuracy")
    p.add_argument("--json", default=None, help="also write the summary JSON here "
                   "(docs/reproduction/arras2017.json)")
    common.models_dir_arg(p)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 1500
        args.max_test = args.max_test or 300
    seeds = common.parse_seeds(args.seeds, args.seed)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 8)
    batch_size = args.batch_size or 32
    data, out = common.data_dir(args.data), Path(args.out)
    timer = common.Timer()
    runs = [run_seed(args, data, seed, epochs, batch_size, timer) for seed in seeds]
    if args.train_only:
        return 0
    first = runs[0]
    out.mkdir(parents=True, exist_ok=True)
    first["model"].save_weights(out / "model.weights.h5")
    explainer, x_test, y_test = first["explainer"], first["x_test"], first["y_test"]

    deletion = first["deletion"]
    orderings = common.check_orderings(deletion)
    acc = float(first["correct"].mean())
    common.plot_deletion(deletion, METHODS, out / "deletion.png",
                         f"bi-LSTM on SST-5 test (acc {acc:.1%}, seed {first['seed']}): word "
                         "deletion, target = true class")
    dels = [r["deletion"] for r in runs]
    seeded = {"all": common.seeded_deletion(dels, None, METHODS),
              "ge10": common.seeded_deletion(dels, [r["long"] for r in runs], METHODS)}
    accuracy = common.accuracy_summary(PAPER["accuracy"], [r["correct"] for r in runs])
    binary = common.accuracy_summary(PAPER["binary_accuracy"],
                                     [r["binary_correct"] for r in runs])
    long_correct = [r["correct"][r["long"]] for r in runs]
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
        top = {m: top_words_tables(explainer, x_test, first["tokens"], m) for m in ("lrp", "sa")}
        table1 = occurrence_tables(explainer, x_test, first["tokens"], top["lrp"])
    with timer("fig4"):
        fig4 = extra.fig4(runs, common.interval)
        extra.plot_fig4(fig4, out / "fig4_positions.svg", _svg.svg_lines)
    compared = None
    same_ids = all(np.array_equal(r["x_test"], x_test) for r in runs)
    if args.compare_texts and same_ids:  # one vocabulary for all seeds
        with timer("compare"):
            compared = common.compare_table([r["model"] for r in runs], x_test, y_test,
                                            METHODS, seeds, out, "compare",
                                            texts=args.compare_texts)

    train_desc = (f"{first['train_n']} training examples: the 8544 sentences (root labels)"
                  + (" + every distinct labelled phrase (single words included)"
                     if args.phrases < 0 else f" + {args.phrases} random phrases"
                     if args.phrases else ""))
    protocol = [
        {"item": "training data", "paper": "all labelled SST phrases (Li et al.'s code)",
         "ours": train_desc},
        {"item": "model", "paper": "bi-LSTM, embeddings 60, hidden 60 per direction, Dense 5",
         "ours": "the same; Dropout 0.3 on the embeddings (the paper states none)"},
        {"item": "embeddings", "paper": "Li et al.'s 60-d vectors",
         "ours": "GloVe-6B-50d in 50 of the 60 dimensions (the rest uniform(-0.1, 0.1)), "
                 "fine-tuned" if args.embeddings == "glove" else
                 "learned from uniform(-0.05, 0.05)"},
        {"item": "optimizer", "paper": "not stated (Li et al.'s code)",
         "ours": f"Adam 1e-3, batch {batch_size}, length-bucketed batches"},
        {"item": "epochs / seeds", "paper": "not stated / one model",
         "ours": f"{epochs} epochs, best dev epoch kept; seeds {seeds}"},
        {"item": "deletion subset", "paper": "test sentences of >= 10 words (1849)",
         "ours": f"all {len(x_test)} test sentences and the >= 10-word subset "
                 f"({int(first['long'].sum())})"},
        {"item": "deletion", "paper": "embedding set to zero, up to 5 words",
         "ours": f"embedding set to zero, 0..5 words, random = {args.random_seeds} orders"},
        {"item": "Fig. 4", "paper": "relevance by word position, left and right encoder",
         "ours": "LRP (true class) split exactly per direction (a stop layer after the "
                 "Bidirectional), by relative and absolute position, all test sentences"},
        {"item": "Table 1", "paper": "word occurrences ranked by relevance",
         "ours": "that statistic (seed 0) and our mean per word (>= 3 occurrences), overlap "
                 "reported"},
        {"item": "intervals", "paper": "none",
         "ours": "mean over seeds, 95% two-level bootstrap (seeds, then texts within a seed)"},
    ]
    if args.max_train or args.max_test:
        protocol.append({"item": "reduced run", "paper": "-",
                         "ours": f"max_train={args.max_train}, max_test={args.max_test}"})
    summary = {
        "paper": "Arras et al. 2017, Explaining Recurrent Neural Network Predictions in "
                 "Sentiment Analysis",
        "seeds": seeds,
        "protocol": protocol,
        "accuracy": accuracy,
        "binary_accuracy": binary,
        "accuracy_ge10": {"paper": PAPER["accuracy_ge10"], **common.interval(long_correct),
                          "per_seed": [float(c.mean()) for c in long_correct]},
        "deletion": seeded,
        "fig4": fig4,
        "table1": {"mean_per_word": top["lrp"], "occurrence_ranking": table1,
                   "seed": first["seed"]},
        "compare": compared,
        "per_seed": [{"seed": r["seed"], "accuracy": float(r["correct"].mean()),
                      "binary": r["binary"], "training": r["fit"],
                      "deletion": common.strip_hits(r["deletion"])} for r in runs],
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }
    if args.json:
        common.write_json(args.json, summary)

    results = {
        "paper": PAPER,
        "setup": {
            "embeddings": args.embeddings, "emb_dim": 60, "hidden": 60, "epochs": epochs,
            "batch_size": batch_size, "optimizer": "Adam 1e-3", "dropout": 0.3,
            "train_examples": first["train_n"], "phrases_added": args.phrases,
            "quick": args.quick, "seeds": seeds,
        },
        "summary": summary,
        "training": first["fit"],
        "test": {"n": len(x_test), "accuracy": acc, **first["binary"]},
        "deletion": common.strip_hits(deletion),
        "orderings": orderings,
        "conservation": conservation,
        "top_words": top,
    }
    names = ["very negative", "negative", "neutral", "positive", "very positive"]

    def fmt(a):
        return f"{a['mean']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]"

    md = [
        "# Arras et al. (2017) reproduction: bi-LSTM on SST-5",
        "",
        common.md_table(
            ["metric", f"ours (mean [95% CI], seeds {seeds})", "per seed", "paper"],
            [["SST-5 test accuracy", fmt(accuracy),
              ", ".join(f"{v:.3f}" for v in accuracy["per_seed"]), PAPER["accuracy"]],
             ["binary accuracy (p(3)+p(4) > p(0)+p(1))", fmt(binary),
              ", ".join(f"{v:.3f}" for v in binary["per_seed"]), PAPER["binary_accuracy"]]]),
        "",
        "## Protocol",
        "",
        common.md_table(["item", "paper", "ours"],
                        [[r["item"], r["paper"], r["ours"]] for r in protocol]),
        "",
        "## Word deletion (Fig. 3), all seeds",
        "",
        "All test sentences:",
        "",
        common.seeded_deletion_markdown(seeded["all"]),
        "",
        "Sentences of >= 10 words (the paper's subset):",
        "",
        common.seeded_deletion_markdown(seeded["ge10"]),
        "",
        f"## Word deletion, seed {first['seed']}",
        "",
        common.deletion_markdown(deletion, METHODS),
        "",
        "Conservation on 200 test sentences: LRP-cons max |delta| (logit − Σ R − relevance "
        f"left at the zero initial states) = {conservation['lrp_cons_max_abs_delta']:.1e}, "
        "max |Σ R − logit| = "
        f"{conservation['lrp_cons_max_abs_sum_minus_logit']:.3f}; LRP (δ=0) mean |Σ R − logit| = "
        f"{conservation['lrp_mean_abs_sum_minus_logit']:.3f}.",
        "",
        f"## Most / least relevant words per class (Table 1, LRP, seed {first['seed']})",
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
        "Table 1 by the paper's statistic (every occurrence ranked, repetitions kept; overlap "
        "with the mean-per-word lists above, of 10):",
        "",
        common.md_table(
            ["class", "most relevant (occurrences)", "least relevant (occurrences)", "overlap"],
            [[names[c], ", ".join(t["most"]), ", ".join(t["least"]),
              f"{t['overlap_most']} / {t['overlap_least']}"] for c, t in table1.items()]),
        "",
        "## Fig. 4: LRP relevance by position, per encoder direction (fig4_positions.svg)",
        "",
        f"Forward + backward = LRP to {fig4['max_abs_gap']:.1e}. Mean relevance (true class) of a "
        "word in each tenth of its sentence, mean [95% CI] over seeds and sentences:",
        "",
        common.md_table(
            ["direction", *[f"{b / fig4['bins']:.1f}–{(b + 1) / fig4['bins']:.1f}"
                            for b in range(fig4["bins"])], "centre of abs(R)", "sum of R"],
            [[d] + [f"{c['mean']:.3f}" for c in fig4[d]["relative"]]
             + [fmt(fig4[d]["centre"]), fmt(fig4[d]["total"])]
             for d in ("forward", "backward", "full")]),
        "",
        *(["## evaluation.compare (true label)", "", compared["markdown"], ""]
          if compared else []),
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items())
        + f" ({summary['machine']})",
    ]
    common.write_outputs(out, results, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
