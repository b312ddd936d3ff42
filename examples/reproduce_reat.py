"""Reproduce Du et al. (2019), "On Attribution of Recurrent Neural Network Predictions via Additive
Decomposition" (REAT): GRU, LSTM and BiGRU on SST-2, their accuracy, faithfulness on the "but"
texts (Table 4) and lexicon interpretability (Table 5) for REAT, NaiveREAT, VanillaGrad,
IntegratedGrad, GradInput and LIME.

    python examples/reproduce_reat.py --data ../shared/data --out runs/repro/reat

Models: Embedding(vocab, 50, mask_zero; GloVe-6B-50d initialised, fine-tuned; `--embeddings
learned` for uniform(−0.05, 0.05)) → Dropout(0.3) → GRU(150) | LSTM(150) |
Bidirectional(GRU(150)) (300 in total) → Dense(2) (logits). Adam 1e-3, batch 32, `--epochs`
(default 3 per model, the paper trained 20), the epoch with the best dev accuracy kept.
Data: SST-2 from the trees (6920 / 872 / 1821 sentences, lowercased).

Faithfulness (Eq. 23, `evaluation.reat_faithfulness`): the SST-2 test sentences with exactly one
"but", preceded by a comma (", but": two clauses joined by "but"; 139 sentences, the paper had 142).
Clauses = [start, "but") and ["but", end). Each method scores a clause by the sum of its words'
scores for the predicted class (for REAT that sum *is* the Eq. 14 phrase score: REAT is additive);
the higher-scoring clause is deleted (embeddings zeroed) and y(x) − y(x∖A) is averaged, y = the
predicted class's probability.

Interpretability (Eq. 24, `evaluation.lexicon_interpretability`): word scores for the positive class
on every SST-2 test sentence that holds both a positive and a negative word of Bing Liu's opinion
lexicon; a match when every positive word outscores every negative word.

Methods: reat, naive_reat, gradient (VanillaGrad: L2 norm of the gradient), integrated_gradients
(zero baseline, 50 steps), grad_input, lime (`--lime-samples`, default 500 perturbations).

Outputs in --out: results.json, results.md, one <model>.weights.h5 per model.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _repro_common as common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation  # noqa: E402
from keras_relevance.datasets import load_glove, load_opinion_lexicon, load_sst  # noqa: E402
from keras_relevance.explainer import Explainer  # noqa: E402
from keras_relevance.text import Vocabulary  # noqa: E402

MODELS = ("gru", "lstm", "bigru")
METHODS = ("gradient", "integrated_gradients", "grad_input", "lime", "naive_reat", "reat")
LABELS = {
    "gradient": "VanillaGrad", "integrated_gradients": "IntegGrad", "grad_input": "GradInput",
    "lime": "LIME", "naive_reat": "NaiveREAT", "reat": "REAT",
}
PAPER = {
    "accuracy": {"gru": 0.819, "lstm": 0.804, "bigru": 0.809},
    "faithfulness": {
        "gradient": {"gru": 0.272, "lstm": 0.243, "bigru": 0.068},
        "integrated_gradients": {"gru": 0.255, "lstm": 0.253, "bigru": 0.113},
        "grad_input": {"gru": 0.301, "lstm": 0.199, "bigru": 0.178},
        "lime": {"gru": 0.209, "lstm": 0.188, "bigru": 0.092},
        "naive_reat": {"gru": 0.213, "lstm": 0.207, "bigru": 0.114},
        "reat": {"gru": 0.311, "lstm": 0.318, "bigru": 0.196},
    },
    "interpretability": {
        "gradient": {"gru": 0.410, "lstm": 0.423, "bigru": 0.269},
        "integrated_gradients": {"gru": 0.449, "lstm": 0.526, "bigru": 0.423},
        "grad_input": {"gru": 0.846, "lstm": 0.808, "bigru": 0.859},
        "lime": {"gru": 0.731, "lstm": 0.808, "bigru": 0.731},
        "naive_reat": {"gru": 0.795, "lstm": 0.872, "bigru": 0.923},
        "reat": {"gru": 0.859, "lstm": 0.897, "bigru": 0.885},
    },
    "but_texts": 142,
}


def but_texts(tokens) -> tuple[list[int], list[list[tuple[int, int]]]]:
    """Indices of texts with exactly one "but", right after a comma, and their two clauses."""
    idx, spans = [], []
    for i, toks in enumerate(tokens):
        if toks.count("but") != 1:
            continue
        b = toks.index("but")
        if 0 < b < len(toks) - 1 and toks[b - 1] == ",":
            idx.append(i)
            spans.append([(0, b), (b, len(toks))])
    return idx, spans


def build_model(kind: str, vocab_size: int, init, dim: int, seed: int, units: int = 150):
    if kind == "gru":
        rnn = keras.layers.GRU(units, seed=seed)
    elif kind == "lstm":
        rnn = keras.layers.LSTM(units, seed=seed)
    elif kind == "bigru":
        rnn = keras.layers.Bidirectional(keras.layers.GRU(units, seed=seed))
    else:
        raise ValueError(f"unknown model {kind!r}; known: {list(MODELS)}")
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(vocab_size, dim, mask_zero=True, embeddings_initializer=init),
            keras.layers.Dropout(0.3, seed=seed),
            rnn,
            keras.layers.Dense(2),
        ],
        name=f"reat_{kind}",
    )
    return common.compile_classifier(model, lr=1e-3)


def method_options(lime_samples: int, seed: int) -> dict:
    return {"lime": {"samples": lime_samples, "seed": seed},
            "integrated_gradients": {"steps": 50}}


def evaluate_model(model, methods, x_test, test_tokens, but_idx, but_spans, lexicon,
                   lime_samples: int, seed: int, timer) -> dict:
    """Faithfulness and interpretability of every method on one trained model."""
    explainer = Explainer(model)
    options = method_options(lime_samples, seed)
    tokens = [list(t) for t in test_tokens]
    probe = evaluation.lexicon_interpretability(
        tokens, [np.zeros(len(t)) for t in tokens], lexicon)
    eligible = probe["eligible"]
    x_but = x_test[but_idx]
    x_lex = x_test[eligible]
    tok_lex = [tokens[i] for i in eligible]
    faith, interp = {}, {}
    for m in methods:
        with timer(f"{model.name}:{m}"):
            pred = explainer.predict_logits(x_but).argmax(-1)
            rel = explainer.explain(x_but, method=m, target=pred, **options.get(m, {}))
            f = evaluation.reat_faithfulness(
                explainer, x_but, but_spans, relevance=rel.relevance, target=pred,
                verbose=False)
            faith[m] = f["faithfulness"]
            rel = explainer.explain(x_lex, method=m, target=1, **options.get(m, {}))
            rows = [r[: len(t)] for r, t in zip(rel.relevance, tok_lex, strict=True)]
            res = evaluation.lexicon_interpretability(tok_lex, rows, lexicon)
            interp[m] = res["score"]
        print(f"{model.name} {m}: faithfulness {faith[m]:.3f}, interpretability "
              f"{interp[m]:.3f} ({res['matches']}/{res['texts']})", flush=True)
    return {"faithfulness": faith, "interpretability": interp, "but_texts": len(but_idx),
            "lexicon_texts": len(eligible)}


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "reat")
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of "
                   + ", ".join(MODELS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--lime-samples", type=int, default=500)
    p.add_argument("--max-train", type=int, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 1500
        args.lime_samples = min(args.lime_samples, 100)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 3)
    batch_size = args.batch_size or 32
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    data, out = common.data_dir(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timer = common.Timer()

    with timer("data"):
        sst = data / "sst"
        train, dev, test = (load_sst(sst, s, fine_grained=False, lower=True)
                            for s in ("train", "dev", "test"))
        keep = np.arange(len(train))
        if args.max_train:  # a random subset: the tree files are not shuffled
            keep = np.sort(np.random.default_rng(args.seed).permutation(len(train))[
                : args.max_train])
        tok_train, y_train = [train.tokens[i] for i in keep], train.labels[keep]
        vocab = Vocabulary.from_tokens(tok_train, tokenizer="treebank")
        x_train, x_dev, x_test = (vocab.encode(t) for t in (tok_train, dev.tokens, test.tokens))
        lexicon = load_opinion_lexicon(data / "opinion_lexicon")
        but_idx, but_spans = but_texts(test.tokens)
        if args.embeddings == "glove":
            matrix, found = load_glove(data / "glove" / "glove.6B.50d.sst_vocab.txt.gz",
                                       vocabulary=vocab, seed=args.seed)
            dim = matrix.shape[1]
        else:
            matrix, dim = None, 50
    print(f"train {len(x_train)}, dev {len(x_dev)}, test {len(x_test)}, vocab {len(vocab)}, "
          f'"but" texts {len(but_idx)}')

    per_model = {}
    for kind in models:
        keras.utils.set_random_seed(args.seed)
        init = (keras.initializers.Constant(matrix) if matrix is not None
                else keras.initializers.RandomUniform(-0.05, 0.05, seed=args.seed))
        model = build_model(kind, len(vocab), init, dim, args.seed)
        with timer(f"{kind}:train"):
            fit = common.fit_best(model, (x_train, y_train), (x_dev, dev.labels), epochs,
                                  batch_size, args.seed)
        model.save_weights(out / f"{kind}.weights.h5")
        acc = common.accuracy(model, x_test, test.labels)
        print(f"{kind}: test accuracy {acc:.4f}", flush=True)
        scores = evaluate_model(model, methods, x_test, test.tokens, but_idx, but_spans,
                                lexicon, args.lime_samples, args.seed, timer)
        per_model[kind] = {"accuracy": acc, "training": fit, **scores}

    results = {
        "paper": PAPER,
        "setup": {
            "embeddings": args.embeddings, "dim": dim, "units": 150, "epochs": epochs,
            "batch_size": batch_size, "optimizer": "Adam 1e-3", "dropout": 0.3,
            "train_sentences": len(x_train), "lime_samples": args.lime_samples,
            "integrated_gradients_steps": 50, "quick": args.quick, "seed": args.seed,
        },
        "models": per_model,
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }

    def cell(kind, value, paper):
        return f"{value:.3f} ({paper:.3f})" if value is not None else "–"

    md = [
        "# Du et al. (2019) REAT reproduction: GRU / LSTM / BiGRU on SST-2",
        "",
        "Ours (paper) for each model.",
        "",
        common.md_table(
            ["", *models],
            [["test accuracy"] + [cell(k, per_model[k]["accuracy"], PAPER["accuracy"][k])
                                  for k in models]]),
        "",
        f"## Faithfulness (Eq. 23, higher is better; {len(but_idx)} \", but\" test texts)",
        "",
        common.md_table(
            ["method", *models],
            [[LABELS[m]] + [cell(k, per_model[k]["faithfulness"][m],
                                 PAPER["faithfulness"][m][k]) for k in models]
             for m in methods]),
        "",
        "## Lexicon interpretability (Eq. 24, fraction of texts; "
        f"{per_model[models[0]]['lexicon_texts'] if models else 0} test texts with both "
        "positive and negative lexicon words)",
        "",
        common.md_table(
            ["method", *models],
            [[LABELS[m]] + [cell(k, per_model[k]["interpretability"][m],
                                 PAPER["interpretability"][m][k]) for k in models]
             for m in methods]),
        "",
        f"Training: {len(x_train)} sentences, {args.embeddings} embeddings, {epochs} epochs per "
        "model (best dev epoch: " + ", ".join(
            f"{k} {per_model[k]['training']['best_epoch']}" for k in models) + ").",
        "",
        "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items())
        + f" ({results['machine']})",
    ]
    common.write_outputs(out, results, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
