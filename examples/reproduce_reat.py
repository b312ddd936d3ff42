"""Reproduce Du et al. (2019), "On Attribution of Recurrent Neural Network Predictions via Additive
Decomposition" (REAT): GRU, LSTM and BiGRU on SST-2, their accuracy, faithfulness on the "but"
texts (Table 4) and lexicon interpretability (Table 5) for REAT, NaiveREAT, VanillaGrad,
IntegratedGrad, GradInput and LIME.

    python examples/reproduce_reat.py --data ../shared/data --out runs/repro/reat

Models (the paper's set-up by default): Embedding(vocab, 50, mask_zero; GloVe-6B-50d, frozen;
`--embeddings learned` for uniform(−0.05, 0.05), trained) → GRU(150) | LSTM(150) |
Bidirectional(GRU(150)) → Dense(2) (logits), no dropout (`--our-setup`: fine-tuned embeddings and
Dropout(0.3)). Adam 1e-3, batch 32, `--epochs` (default 20 as the paper), the epoch with the best
dev accuracy kept; `--seeds 0,1,2` trains each model once per seed.
Data: SST-2 from the trees (6920 / 872 / 1821 sentences, lowercased).

Faithfulness (Eq. 23, `evaluation.reat_faithfulness`): the SST-2 test sentences with exactly one
"but", preceded by a comma (", but": two clauses joined by "but"; 139 sentences, the paper had 142).
Clauses = [start, "but") and ["but", end). Each method scores a clause by the sum of its words'
scores for the predicted class (for REAT that sum *is* the Eq. 14 phrase score: REAT is additive);
the higher-scoring clause is deleted and y(x) − y(x∖A) is averaged, y = the predicted class's
probability; deletion both as occlusion (embeddings zeroed) and omission (words removed), beside an
oracle (the clause whose deletion drops most), always the second clause, and a random clause.

Interpretability (Eq. 24, `evaluation.lexicon_interpretability`): word scores for the positive class
on every SST-2 test sentence that holds both a positive and a negative word of Bing Liu's opinion
lexicon — all lexicon words, and only those NLTK's tagger marks as adjectives (the paper's
restriction; `<data>/nltk_data`) — with both readings of a match: every positive word outscores
every negative word, or the positive words' mean outscores the negative words' mean. Recency: the
share of a method's |score| on the last two words, second-clause picks and the models' mean gates.

Methods: reat, naive_reat, gradient (VanillaGrad: L2 norm of the gradient), integrated_gradients
(zero baseline, 50 steps), grad_input, lime (`--lime-samples`, default 500 perturbations).

Outputs in --out: results.json, results.md, one <model>.weights.h5 per model, compare_<model>.svg
(`evaluation.compare` on `--compare-texts` test sentences). `--models-dir` keeps trained models and
reloads them on the next run with the same settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _repro_common as common  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_relevance import evaluation, make_explainable  # noqa: E402
from keras_relevance.chunking import TaggerUnavailableError, nltk_tagger  # noqa: E402
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


def build_model(kind: str, vocab_size: int, init, dim: int, seed: int, units: int = 150,
                dropout: float = 0.3, train_embeddings: bool = True):
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
            keras.layers.Embedding(vocab_size, dim, mask_zero=True, embeddings_initializer=init,
                                   trainable=train_embeddings),
            *([keras.layers.Dropout(dropout, seed=seed)] if dropout else []),
            rnn,
            keras.layers.Dense(2),
        ],
        name=f"reat_{kind}",
    )
    return common.compile_classifier(model, lr=1e-3)


def method_options(lime_samples: int, seed: int) -> dict:
    return {"lime": {"samples": lime_samples, "seed": seed},
            "integrated_gradients": {"steps": 50}}


def clause_drops(explainer, x_but, spans, pred, deletion: str) -> np.ndarray:
    """(texts, 2): y(x) − y(x without clause j), j = first / second clause."""
    return np.stack([evaluation.reat_faithfulness(
        explainer, x_but, spans, clause_scores=[[1.0 - j, float(j)]] * len(x_but), target=pred,
        deletion=deletion, verbose=False)["per_example"] for j in (0, 1)], axis=1)


def recency(relevance, lengths) -> np.ndarray:
    """Per text: share of Σ|score| on its last two words."""
    out = []
    for r, n in zip(relevance, lengths, strict=True):
        a = np.abs(np.asarray(r[:n], np.float64))
        out.append(a[max(0, n - 2):].sum() / a.sum() if a.sum() > 0 else np.nan)
    return np.asarray(out)


# Eq. 24 variants: (lexicon words counted, reading of a match)
LEXICON_VARIANTS = {
    "lexicon": ("all", "all_pairs"),
    "lexicon_mean": ("all", "mean"),
    "lexicon_adj": ("adjectives", "all_pairs"),
    "lexicon_adj_mean": ("adjectives", "mean"),
}


def mean_gates(model, x) -> dict:
    """REAT's α over the real positions of `x` (GRU: the update gate z; LSTM: f_t ⊙ o_t / o_{t−1},
    positions ≥ 2) and, for an LSTM, its forget gate — the model's memory, which decides how much
    of a word's evidence survives to the end (REAT's recency)."""
    explainable = make_explainable(model)
    emb = explainable.layers[0](x)
    mask = x != 0
    rnn = explainable.layers[-2]
    layers = ([rnn.forward_layer, rnn.backward_layer]
              if isinstance(rnn, keras.layers.Bidirectional) else [rnn])
    alpha, forget = [], []
    for layer in layers:
        _, _, trace = layer.call_with_gates(emb, mask=mask)
        real = np.asarray(mask)[..., None] & np.ones((1, 1, layer.units), bool)
        if "z" in trace:
            alpha.append(np.asarray(trace["z"])[real])
        else:
            f, o = np.asarray(trace["f"]), np.asarray(trace["o"])
            o_prev = np.concatenate([np.ones_like(o[:, :1]), o[:, :-1]], axis=1)
            a = f * o / np.maximum(o_prev, 1e-6)
            later = real.copy()
            later[:, 0] = False  # position 1 has h_0 = 0: its α multiplies nothing
            alpha.append(a[later])
            forget.append(f[real])
    out = {"alpha": float(np.mean(np.concatenate(alpha)))}
    if forget:
        out["forget"] = float(np.mean(np.concatenate(forget)))
    return out


def evaluate_model(model, methods, x_test, test_tokens, test_tags, but_idx, but_spans, lexicon,
                   lime_samples: int, seed: int, timer) -> dict:
    """Faithfulness (omission and occlusion, with oracle / second-clause / random baselines),
    second-clause share, recency and lexicon interpretability (all words and adjectives, both
    readings of a match) of every method on one model."""
    explainer = Explainer(model)
    options = method_options(lime_samples, seed)
    tokens = [list(t) for t in test_tokens]
    probe = evaluation.lexicon_interpretability(
        tokens, [np.zeros(len(t)) for t in tokens], lexicon)
    eligible = probe["eligible"]
    tags_lex = None if test_tags is None else [test_tags[i] for i in eligible]
    variants = {k: v for k, v in LEXICON_VARIANTS.items()
                if tags_lex is not None or v[0] != "adjectives"}
    x_but = x_test[but_idx]
    lengths = (x_but != 0).sum(axis=1)
    x_lex = x_test[eligible]
    tok_lex = [tokens[i] for i in eligible]
    pred = explainer.predict_logits(x_but).argmax(-1)
    per_text = {"zero": {}, "remove": {}}
    faith, faith_remove, second, recent, interp, lexicon_texts = {}, {}, {}, {}, {}, {}
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, 2, len(x_but))
    for deletion in ("zero", "remove"):
        drops = clause_drops(explainer, x_but, but_spans, pred, deletion)
        per_text[deletion]["oracle"] = drops.max(axis=1)
        per_text[deletion]["second_clause"] = drops[:, 1]
        per_text[deletion]["random_clause"] = drops[np.arange(len(drops)), pick]
    for m in methods:
        with timer(f"{model.name}:{m}"):
            rel = explainer.explain(x_but, method=m, target=pred, **options.get(m, {}))
            for deletion in ("zero", "remove"):
                f = evaluation.reat_faithfulness(
                    explainer, x_but, but_spans, relevance=rel.relevance, target=pred,
                    deletion=deletion, verbose=False)
                per_text[deletion][m] = f["per_example"]
            faith[m] = float(per_text["zero"][m].mean())
            faith_remove[m] = float(per_text["remove"][m].mean())
            second[m] = float(np.mean(np.asarray(f["chosen"]) == 1))
            recent[m] = float(np.nanmean(recency(rel.relevance, lengths)))
            rel = explainer.explain(x_lex, method=m, target=1, **options.get(m, {}))
            rows = [r[: len(t)] for r, t in zip(rel.relevance, tok_lex, strict=True)]
            for key, (words, reading) in variants.items():
                res = evaluation.lexicon_interpretability(
                    tok_lex, rows, lexicon, match=reading,
                    tags=tags_lex if words == "adjectives" else None)
                per_text.setdefault(key, {})[m] = np.asarray(res["matched"], np.float64)
                lexicon_texts[key] = res["texts"]
                if key == "lexicon":
                    interp[m] = res["score"]
        print(f"{model.name} {m}: faithfulness zero {faith[m]:.3f} / remove "
              f"{faith_remove[m]:.3f}, second clause {second[m]:.2f}, interpretability "
              f"{interp[m]:.3f} (mean reading: {per_text['lexicon_mean'][m].mean():.3f})",
              flush=True)
    return {"faithfulness": faith, "faithfulness_remove": faith_remove,
            "baselines": {d: {b: float(per_text[d][b].mean())
                              for b in ("oracle", "second_clause", "random_clause")}
                          for d in ("zero", "remove")},
            "second_clause_share": second, "recency_last2": recent,
            "interpretability": interp, "but_texts": len(but_idx),
            "lexicon_texts": lexicon_texts, "gates": mean_gates(model, x_test),
            "per_text": per_text}


BASELINES = ("oracle", "second_clause", "random_clause")


def main(argv=None) -> int:
    p = common.parser(__doc__.splitlines()[0], "reat")
    common.seeds_arg(p)
    p.add_argument("--embeddings", choices=("glove", "learned"), default="glove")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of "
                   + ", ".join(MODELS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--lime-samples", type=int, default=500)
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--units", type=int, default=150)
    p.add_argument("--our-setup", action="store_true",
                   help="fine-tuned embeddings and dropout 0.3 (default: the paper's frozen "
                        "pre-trained embeddings, no dropout)")
    p.add_argument("--json", default=None, help="also write the summary JSON here")
    p.add_argument("--compare-texts", type=int, default=200,
                   help="test texts for the evaluation.compare table (0: skip it)")
    common.models_dir_arg(p)
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 1500
        args.lime_samples = min(args.lime_samples, 100)
    seeds = common.parse_seeds(args.seeds, args.seed)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 20)
    batch_size = args.batch_size or 32
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    data, out = common.data_dir(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timer = common.Timer()
    frozen = args.embeddings == "glove" and not args.our_setup
    dropout = 0.3 if args.our_setup else 0.0

    with timer("data"):
        sst = data / "sst"
        train, dev, test = (load_sst(sst, s, fine_grained=False, lower=True)
                            for s in ("train", "dev", "test"))
        keep = np.arange(len(train))
        if args.max_train:  # a random subset: the tree files are not shuffled
            keep = np.sort(np.random.default_rng(seeds[0]).permutation(len(train))[
                : args.max_train])
        tok_train, y_train = [train.tokens[i] for i in keep], train.labels[keep]
        vocab = Vocabulary.from_tokens(tok_train, tokenizer="treebank")
        x_train, x_dev, x_test = (vocab.encode(t) for t in (tok_train, dev.tokens, test.tokens))
        lexicon = load_opinion_lexicon(data / "opinion_lexicon")
        but_idx, but_spans = but_texts(test.tokens)
        try:  # Eq. 24 on adjectives (universal tags)
            tagger = nltk_tagger(data / "nltk_data")
            test_tags = [tagger(t) for t in test.tokens]
        except TaggerUnavailableError as err:
            print(f"no POS tagger, Eq. 24 on all lexicon words only: {err}", flush=True)
            test_tags = None
        if args.embeddings == "glove":
            matrix, found = load_glove(data / "glove" / "glove.6B.50d.sst_vocab.txt.gz",
                                       vocabulary=vocab, seed=seeds[0])
            dim = matrix.shape[1]
        else:
            matrix, dim = None, 50
    print(f"train {len(x_train)}, dev {len(x_dev)}, test {len(x_test)}, vocab {len(vocab)}, "
          f'"but" texts {len(but_idx)}')

    runs = {kind: [] for kind in models}  # per model, one entry per seed
    for seed in seeds:
        for kind in models:
            keras.utils.set_random_seed(seed)
            init = (keras.initializers.Constant(matrix) if matrix is not None
                    else keras.initializers.RandomUniform(-0.05, 0.05, seed=seed))
            model = build_model(kind, len(vocab), init, dim, seed, units=args.units,
                                dropout=dropout, train_embeddings=not frozen)
            with timer(f"{kind}:train"):
                cache = common.cache_dir(
                    args.models_dir, "reat", kind, f"seed{seed}", f"e{epochs}", f"u{args.units}",
                    args.embeddings, "frozen" if frozen else "tuned", f"d{dropout}",
                    f"n{len(x_train)}", f"b{batch_size}")
                fit = common.fit_best(model, (x_train, y_train), (x_dev, dev.labels), epochs,
                                      batch_size, seed, verbose=0, cache=cache)
            if args.train_only:
                continue
            if seed == seeds[0]:
                model.save_weights(out / f"{kind}.weights.h5")
            logits = model.predict(x_test, batch_size=256, verbose=0)
            correct = np.argmax(logits, -1) == test.labels
            print(f"{kind} seed {seed}: test accuracy {correct.mean():.4f}", flush=True)
            scores = evaluate_model(model, methods, x_test, test.tokens, test_tags, but_idx,
                                    but_spans,
                                    lexicon, args.lime_samples, seed, timer)
            runs[kind].append({"seed": seed, "correct": correct, "training": fit,
                               "model": model, **scores})

    if args.train_only:
        return 0

    def summary_of(kind, key, name):
        groups = [r["per_text"][key][name] for r in runs[kind]]
        out = {**common.interval(groups), "per_seed": [float(np.nanmean(g)) for g in groups]}
        if name != "reat" and "reat" in methods:  # paired: the same texts, this − REAT
            diff = common.interval([r["per_text"][key][name] - r["per_text"][key]["reat"]
                                    for r in runs[kind]])
            out["minus_reat"] = {**diff, "excludes_0": bool(diff["ci"][0] > 0
                                                            or diff["ci"][1] < 0)}
        return out

    compared = {}
    if args.compare_texts:
        for kind in models:
            with timer(f"{kind}:compare"):
                compared[kind] = common.compare_table(
                    [r["model"] for r in runs[kind]], x_test, test.labels,
                    [m for m in methods if m != "lime"], seeds, out, f"compare_{kind}",
                    texts=args.compare_texts, method_options=method_options(0, seeds[0]))
    names = list(methods) + list(BASELINES)
    tables = {
        kind: {
            "faithfulness_zero": {m: summary_of(kind, "zero", m) for m in names},
            "faithfulness_remove": {m: summary_of(kind, "remove", m) for m in names},
            "interpretability": {m: summary_of(kind, "lexicon", m) for m in methods},
            **{f"interpretability_{key[len('lexicon_'):]}": {m: summary_of(kind, key, m)
                                                             for m in methods}
               for key in runs[kind][0]["lexicon_texts"] if key != "lexicon"},
            "lexicon_texts": runs[kind][0]["lexicon_texts"],
            "gates": {g: [r["gates"][g] for r in runs[kind]] for g in runs[kind][0]["gates"]},
            "second_clause_share": {m: [r["second_clause_share"][m] for r in runs[kind]]
                                    for m in methods},
            "recency_last2": {m: [r["recency_last2"][m] for r in runs[kind]] for m in methods},
        } for kind in models}
    accuracy = {kind: common.accuracy_summary(PAPER["accuracy"][kind],
                                              [r["correct"] for r in runs[kind]])
                for kind in models}
    protocol = [
        {"item": "embeddings", "paper": "pre-trained, frozen",
         "ours": f"GloVe-6B-{dim}d, {'frozen' if frozen else 'fine-tuned'}"
                 if args.embeddings == "glove" else "learned from uniform(-0.05, 0.05)"},
        {"item": "dropout", "paper": "none", "ours": str(dropout)},
        {"item": "epochs", "paper": "20, Adam 1e-3",
         "ours": f"{epochs}, Adam 1e-3, best dev epoch kept"},
        {"item": "hidden units", "paper": "as stated in the paper",
         "ours": f"{args.units} (BiGRU: {args.units} per direction)"},
        {"item": "models", "paper": "GRU, LSTM, BiGRU", "ours": ", ".join(models)},
        {"item": "training data", "paper": "SST-2 sentences",
         "ours": f"{len(x_train)} SST-2 training sentences"},
        {"item": "Eq. 23 texts", "paper": "142 test texts with 'but'",
         "ours": f"{len(but_idx)} test texts with one ', but'; clauses [0, but) and "
                 "[but, end): 'but' belongs to the second clause"},
        {"item": "Eq. 23 deletion", "paper": "not stated",
         "ours": "both: occlusion (embeddings zeroed, mask kept) and omission (words removed, "
                 "the rest shifted)"},
        {"item": "Eq. 23 baselines", "paper": "none",
         "ours": "oracle (the clause whose deletion drops most), always the second clause, "
                 "a random clause (seeded per run)"},
        {"item": "Eq. 24 texts", "paper": "texts with positive and negative adjectives "
                                           "(POS-tagged; 78 texts)",
         "ours": "both: lexicon words tagged ADJ by NLTK's perceptron tagger (universal tags), "
                 "and any lexicon word (no POS restriction)" if test_tags is not None else
                 "any lexicon word only (no POS tagger found: see <data>/nltk_data)"},
        {"item": "Eq. 24 match", "paper": "positive words score higher than negative ones",
         "ours": "both readings: every positive word above every negative one (all_pairs), "
                 "and the positive words' mean above the negative words' mean (mean)"},
        {"item": "seeds / intervals", "paper": "one run",
         "ours": f"seeds {seeds}; 95% two-level bootstrap (seeds, texts)"},
        {"item": "methods", "paper": "VanillaGrad, IntegGrad, GradInput, LIME, NaiveREAT, REAT",
         "ours": ", ".join(LABELS[m] for m in methods)},
    ]
    summary = {
        "paper": "Du et al. 2019, On Attribution of Recurrent Neural Network Predictions via "
                 "Additive Decomposition",
        "seeds": seeds, "protocol": protocol, "accuracy": accuracy, "tables": tables,
        "paper_values": PAPER,
        "per_seed": {kind: [{k: v for k, v in r.items()
                             if k not in ("per_text", "correct", "model")}
                            for r in runs[kind]] for kind in models},
        "compare": compared,
        "seconds": {**timer.seconds, "total": timer.total},
        "machine": common.machine(),
    }
    if args.json:
        common.write_json(args.json, summary)

    def fmt(a):
        return f"{a['mean']:.3f} [{a['ci'][0]:.3f}, {a['ci'][1]:.3f}]"

    def paper_of(key, m, kind):
        value = PAPER.get(key, {}).get(m, {}).get(kind)
        return f" ({value:.3f})" if value is not None else ""

    md = [
        "# Du et al. (2019) REAT reproduction on SST-2",
        "",
        f"Mean [95% interval] over seeds {seeds}; the paper's value in parentheses.",
        "",
        common.md_table(["", *models],
                        [["test accuracy"] + [fmt(accuracy[k]) + f" ({PAPER['accuracy'][k]:.3f})"
                                              for k in models]]),
        "",
        "## Protocol",
        "",
        common.md_table(["item", "paper", "ours"],
                        [[r["item"], r["paper"], r["ours"]] for r in protocol]),
    ]
    for deletion, title in (("zero", "occlusion: embeddings zeroed"),
                            ("remove", "omission: words removed")):
        md += ["", f"## Faithfulness (Eq. 23, {title}; higher is better)", "",
               common.md_table(["method", *models], [
                   [LABELS.get(m, m)] + [fmt(tables[k][f"faithfulness_{deletion}"][m])
                                         + (paper_of("faithfulness", m, k)
                                            if deletion == "zero" else "") for k in models]
                   for m in names])]
    md += ["", "## Second-clause picks and recency (share of |score| on the last two words)",
           "", common.md_table(["method", *[f"{k} second / recency" for k in models]], [
               [LABELS[m]] + [f"{np.mean(tables[k]['second_clause_share'][m]):.2f} / "
                              f"{np.mean(tables[k]['recency_last2'][m]):.2f}" for k in models]
               for m in methods]),
           "", "## Mean gates (REAT's α: GRU update gate z; LSTM f_t o_t / o_{t-1}; and the "
           "LSTM forget gate)", "",
           common.md_table(["model", "α mean per seed", "forget gate per seed"], [
               [k, ", ".join(f"{v:.3f}" for v in tables[k]["gates"]["alpha"]),
                ", ".join(f"{v:.3f}" for v in tables[k]["gates"].get("forget", []))]
               for k in models])]
    for key, (words, reading) in LEXICON_VARIANTS.items():
        if key not in tables[models[0]]["lexicon_texts"]:
            continue
        table_key = "interpretability" + ("" if key == "lexicon" else key[len("lexicon"):])
        texts = ", ".join(f"{k} {tables[k]['lexicon_texts'][key]}" for k in models)
        md += ["", f"## Lexicon interpretability (Eq. 24; {words} lexicon words, match = "
               f"{reading}; texts: {texts})", "",
               common.md_table(["method", *models], [
                   [LABELS[m]] + [fmt(tables[k][table_key][m])
                                  + paper_of("interpretability", m, k) for k in models]
                   for m in methods])]
    for kind, table in compared.items():
        md += ["", f"## evaluation.compare, {kind} ({table['texts']} test texts, true label)", "",
               table["markdown"]]
    md += [
           "", "Seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in summary["seconds"].items())
           + f" ({summary['machine']})"]
    common.write_outputs(out, {"summary": summary}, "\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
