"""Reproduce Arras et al. (2016), "Explaining Predictions of Non-Linear Classifiers in NLP": a word
CNN on 20 Newsgroups, its accuracy, word deletion (LRP vs SA vs random, both directions) and a
per-class highlighting of one document.

    python examples/reproduce_arras2016.py --data ../shared/data --out runs/repro/arras2016

Data: the by-date split (11314 train / 7532 test posts), headers removed
(`datasets.load_20newsgroups`), tokenized with `keras_relevance.text.tokenize` (tensorflow-text
UnicodeScriptTokenizer, lowercased), truncated to the first 400 tokens; vocabulary = training words
seen ≥ 2 times.

Model: Embedding(vocab, 50, mask_zero, padding row held at 0) → Conv1D(800 filters, width 2,
ReLU) → GlobalMaxPooling1D → Dropout(0.5) → Dense(20) (logits). Embeddings: `--embeddings glove`
(default) initialises the words GloVe-6B-50d covers from `<data>/glove` (note: that file holds only
SST's vocabulary, 17,773 words), the others uniform(−0.1, 0.1); all are fine-tuned.
`--embeddings learned` starts from uniform(−0.05, 0.05). Adam 1e-3, the best dev epoch kept (dev =
10% of the training posts, held out).

Deletion (`evaluation.deletion_curves`, delete = zero the word's embedding, target = true class):
correctly classified test posts in decreasing relevance order (accuracy should fall), misclassified
ones in increasing order (accuracy should rise); LRP with ε = 0.01 (as in that paper), SA, random
(`--random-seeds`). By default on `--eval-docs 1000` random test posts, 0..`--max-deletions 20`
words (CPU budget).

Outputs in --out: results.json, results.md, deletion.png, highlight.html (LRP heatmaps of one test
post for several classes), model.weights.h5.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _repro_common as common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation  # noqa: E402
from keras_relevance.datasets import load_20newsgroups, load_glove  # noqa: E402
from keras_relevance.explainer import Explainer  # noqa: E402
from keras_relevance.text import Vocabulary, tokenize  # noqa: E402

# Conv1D drops Keras's padding mask (the model does not need it; the Explainer keeps its own).
warnings.filterwarnings("ignore", message=".*does not support masking.*")

PAPER = {
    "accuracy": 0.8019,
    "setup": "800 filters of width 2 on word2vec-300 (frozen), 20 Newsgroups",
    "deletion": "LRP beats SA in both directions; both beat random",
}
METHODS = ("lrp", "sa")
MAX_LEN = 400


@keras.saving.register_keras_serializable(package="keras_relevance_examples")
class ZeroRow(keras.constraints.Constraint):
    """Keep embedding row 0 (padding) at zero, so padding looks like a deleted word."""

    def __call__(self, w):
        mask = keras.ops.concatenate(
            [keras.ops.zeros((1, 1), w.dtype), keras.ops.ones((w.shape[0] - 1, 1), w.dtype)], 0)
        return w * mask


def load(data: Path, max_train: int | None, seed: int):
    folder = data / "20newsgroups"
    train = load_20newsgroups(folder, "train", max_docs=max_train, seed=seed)
    test = load_20newsgroups(folder, "test")
    tok_train = [t.tokens[:MAX_LEN] for t in tokenize(train.texts, lower=True)]
    tok_test = [t.tokens[:MAX_LEN] for t in tokenize(test.texts, lower=True)]
    vocab = Vocabulary.from_tokens(tok_train, min_count=2)
    return vocab, train, test, tok_train, tok_test


def build_model(vocab: Vocabulary, data: Path, embeddings: str, seed: int,
                filters: int = 800, dim: int = 50) -> keras.Model:
    if embeddings == "glove":
        matrix, found = load_glove(data / "glove" / "glove.6B.50d.sst_vocab.txt.gz",
                                   vocabulary=vocab, seed=seed)
        dim = matrix.shape[1]
        init = keras.initializers.Constant(matrix)
        print(f"GloVe covers {found.sum()} of {len(vocab)} vocabulary words")
    else:
        init = keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), dim, mask_zero=True, embeddings_initializer=init,
                                   embeddings_constraint=ZeroRow()),
            keras.layers.Conv1D(filters, 2, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dropout(0.5, seed=seed),
            keras.layers.Dense(20),
        ],
        name="arras2016_cnn",
    )
    return common.compile_classifier(model, lr=1e-3)


def highlight(explainer, ids, tokens, label, class_names, out: Path, n_classes: int = 3) -> dict:
    """LRP (ε=0.01) heatmaps of one post for its true class and the next best classes."""
    from keras_relevance.render import Heatmap, write_html

    logits = explainer.predict_logits(ids[None])[0]
    classes = [int(label)] + [int(c) for c in np.argsort(-logits) if c != label][: n_classes - 1]
    maps, table = [], {}
    n = len(tokens)
    for c in classes:
        rel = explainer.explain(ids[None], method="lrp", target=c, eps=0.01).relevance[0][:n]
        maps.append(Heatmap(tokens, rel, label=f"{class_names[c]} (logit {logits[c]:.2f})"))
        order = np.argsort(-rel, kind="stable")
        table[class_names[c]] = {
            "most": [tokens[i] for i in order[:8]],
            "least": [tokens[i] for i in order[::-1][:5]],
        }
    write_html(out / "highlight.html", *maps,
               title=f"LRP on a {class_names[label]} post (true class first)")
    return {"true_class": class_names[label], "classes": [class_names[c] for c in classes],
            "words": table}


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "arras2016")
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--filters", type=int, default=800)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--eval-docs", type=int, default=1000,
                   help="test posts for the deletion curves (0 = all 7532)")
    p.add_argument("--max-deletions", type=int, default=20)
    p.add_argument("--random-seeds", type=int, default=10)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 2000
        args.eval_docs = min(args.eval_docs or 300, 300)
        args.max_deletions = min(args.max_deletions, 10)
        args.random_seeds = min(args.random_seeds, 3)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 3)
    batch_size = args.batch_size or 64
    data, out = common.data_dir(args.data), Path(args.out)
    keras.utils.set_random_seed(args.seed)
    timer = common.Timer()

    with timer("data"):
        vocab, train, test, tok_train, tok_test = load(data, args.max_train, args.seed)
        x_all = vocab.encode(tok_train, max_len=MAX_LEN)
        y_all = train.labels
        order = np.random.default_rng(args.seed).permutation(len(x_all))
        n_dev = max(1, len(x_all) // 10)
        dev_idx, train_idx = order[:n_dev], order[n_dev:]
        x_test, y_test = vocab.encode(tok_test, max_len=MAX_LEN), test.labels
    print(f"train {len(train_idx)}, dev {n_dev}, test {len(x_test)}, vocab {len(vocab)}")
    model = build_model(vocab, data, args.embeddings, args.seed, args.filters)
    with timer("train"):
        fit = common.fit_best(model, (x_all[train_idx], y_all[train_idx]),
                              (x_all[dev_idx], y_all[dev_idx]), epochs, batch_size, args.seed)
    out.mkdir(parents=True, exist_ok=True)
    model.save_weights(out / "model.weights.h5")
    explainer = Explainer(model, batch_size=128)
    with timer("test_accuracy"):
        acc = common.accuracy(model, x_test, y_test)
    print(f"test accuracy {acc:.4f}")

    pick = np.arange(len(x_test))
    if args.eval_docs:
        pick = np.sort(np.random.default_rng(args.seed).choice(len(x_test), args.eval_docs, False))
    with timer("deletion"):
        deletion = evaluation.deletion_curves(
            explainer, x_test[pick], y_test[pick], methods=METHODS,
            method_options={"lrp": {"eps": 0.01}}, max_deletions=args.max_deletions,
            random_seeds=args.random_seeds, batch_size=128, verbose=False)
    orderings = common.check_orderings(deletion)
    common.plot_deletion(deletion, METHODS, out / "deletion.png",
                         f"CNN on 20 Newsgroups ({len(pick)} test posts, acc {acc:.1%}): "
                         "word deletion, target = true class")
    with timer("highlight"):
        logits = explainer.predict_logits(x_test[pick])
        good = [i for i in pick[logits.argmax(-1) == y_test[pick]] if 80 <= len(tok_test[i]) <= 200]
        doc = int(good[0]) if good else int(pick[0])
        shown = highlight(explainer, x_test[doc], tok_test[doc], int(y_test[doc]),
                          test.class_names, out)
        shown["doc_id"] = test.ids[doc]

    results = {
        "paper": PAPER,
        "setup": {
            "embeddings": args.embeddings, "dim": 50, "filters": args.filters, "width": 2,
            "max_len": MAX_LEN, "epochs": epochs, "batch_size": batch_size,
            "optimizer": "Adam 1e-3", "train_posts": int(len(train_idx)), "dev_posts": n_dev,
            "vocab": len(vocab), "eval_docs": int(len(pick)), "lrp_eps": 0.01,
            "quick": args.quick, "seed": args.seed,
        },
        "training": fit,
        "test": {"n": int(len(x_test)), "accuracy": acc},
        "deletion": deletion,
        "orderings": orderings,
        "highlight": shown,
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }
    md = [
        "# Arras et al. (2016) reproduction: word CNN on 20 Newsgroups",
        "",
        common.md_table(["metric", "ours", "paper"],
                        [["20NG test accuracy (7532 posts)", acc, PAPER["accuracy"]]]),
        "",
        f"Training: {len(train_idx)} posts, {args.embeddings} embeddings (50-d), {args.filters} "
        f"filters of width 2, {epochs} epochs (best dev epoch {fit['best_epoch']}).",
        "",
        f"## Word deletion ({len(pick)} random test posts, LRP ε = 0.01)",
        "",
        common.deletion_markdown(deletion, METHODS),
        "",
        "Best to worst (mean accuracy over 1..K deletions): "
        + "; ".join(f"{k}: {' > '.join(v['best_to_worst'])}" for k, v in orderings.items()),
        "",
        f"## Per-class highlighting (test post {shown['doc_id']}, highlight.html)",
        "",
        common.md_table(["class", "most relevant (LRP)", "least relevant (LRP)"],
                        [[c, ", ".join(w["most"]), ", ".join(w["least"])]
                         for c, w in shown["words"].items()]),
        "",
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items())
        + f" ({results['machine']})",
    ]
    common.write_outputs(out, results, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
