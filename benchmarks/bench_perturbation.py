"""Our LIME and occlusion vs the `lime` package's LimeTextExplainer on the same model and texts.

Run: `python -m benchmarks.bench_perturbation [--quick]` (needs `pip install lime==0.2.0.1`, the
`bench` extra). Prints a Markdown table; goal: ≥ 10× faster than the `lime` package.

Set-up: Embedding(V, E, mask_zero) → LSTM(H) → Dense(2, softmax), random weights, float32;
N synthetic texts of 12–28 words. Row 1 of the embedding is zero and stands for LIME's removed
word ("UNKWORDZ"), so `lime` (bow=False: one feature per position) perturbs exactly as we do
(a removed word's embedding is zero). Every method explains all words of all N texts with 1000
samples (LIME):

- lime[tf.function]: LimeTextExplainer, classifier_fn = one `tf.function` call on all 1000 texts
  (the strongest classifier a user could give it).
- lime[model.predict]: the same, classifier_fn = `model.predict(ids, verbose=0)` (Keras default
  batch size 32, what lime examples do).
- ours lime (batch): `Explainer.explain(ids, "lime", samples=1000)` on all N texts at once.
- ours lime (1 text/call): the same, one call per text.
- ours occlusion (batch): `explain(ids, "occlusion")`.

Timings are interleaved (one round runs every method once) after a warm-up round; the table
shows the median round.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_relevance import Explainer  # noqa: E402

REMOVED = "UNKWORDZ"


def make_model(vocab: int, dim: int, units: int, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab, dim, mask_zero=True),
        keras.layers.LSTM(units),
        keras.layers.Dense(2, activation="softmax"),
    ])
    emb = model.layers[0].embeddings
    emb.assign(tf.tensor_scatter_nd_update(emb, [[1]], tf.zeros((1, dim))))  # removed word
    return model


def make_texts(n: int, vocab: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{i}" for i in rng.integers(2, vocab, rng.integers(12, 29)))
            for _ in range(n)]


def to_ids(texts: list[str], index: dict[str, int]) -> np.ndarray:
    rows = [[index.get(w, 1) for w in t.split(" ")] for t in texts]
    out = np.zeros((len(rows), max(len(r) for r in rows)), np.int32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def lime_package(texts, classifier_fn, samples):
    from lime.lime_text import LimeTextExplainer

    explainer = LimeTextExplainer(class_names=["neg", "pos"], bow=False, split_expression=" ",
                                  mask_string=REMOVED, random_state=0)
    out = []
    for text in texts:
        n = len(text.split(" "))
        exp = explainer.explain_instance(text, classifier_fn, labels=(1,), num_features=n,
                                         num_samples=samples)
        out.append(exp.as_map()[1])
    return out


def run(n_texts: int, rounds: int, samples: int, vocab: int, dim: int, units: int):
    model = make_model(vocab, dim, units)
    texts = make_texts(n_texts, vocab)
    index = {f"w{i}": i for i in range(2, vocab)}
    index[REMOVED] = 1
    ids = to_ids(texts, index)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def probs(x):
        return model(x, training=False)

    def fn_tf(strings):
        return probs(tf.constant(to_ids(list(strings), index))).numpy()

    def fn_predict(strings):
        return model.predict(to_ids(list(strings), index), verbose=0)

    ex = Explainer(model)
    methods = {
        "lime[tf.function]": lambda: lime_package(texts, fn_tf, samples),
        "lime[model.predict]": lambda: lime_package(texts, fn_predict, samples),
        "ours lime (batch)": lambda: ex.explain(ids, method="lime", samples=samples, target=1),
        "ours lime (1 text/call)": lambda: [
            ex.explain(ids[i : i + 1], method="lime", samples=samples, target=1)
            for i in range(len(ids))
        ],
        "ours occlusion (batch)": lambda: ex.explain(ids, method="occlusion", target=1),
    }
    times: dict[str, list[float]] = {k: [] for k in methods}
    for r in range(rounds + 1):  # round 0 is the warm-up
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            if r:
                times[name].append(time.perf_counter() - start)

    # agreement: lime fed the logits (it regresses whatever classifier_fn returns) vs ours,
    # rank correlation per text (the masks differ: both are random samples)
    ours = ex.explain(ids, method="lime", samples=samples, target=1).relevance
    theirs = lime_package(texts, lambda s: ex.predict_logits(to_ids(list(s), index)), samples)
    corr = []
    for i, pairs in enumerate(theirs):
        ref = np.zeros(len(pairs))
        for pos, w in pairs:
            ref[pos] = w
        a = np.argsort(np.argsort(ref))
        b = np.argsort(np.argsort(ours[i, : len(ref)]))
        corr.append(np.corrcoef(a, b)[0, 1])

    base = statistics.median(times["lime[tf.function]"])
    base_p = statistics.median(times["lime[model.predict]"])
    print(f"\n{n_texts} texts ({ids.shape[1]} max words, {int((ids != 0).sum())} words), "
          f"{samples} LIME samples, LSTM E={dim} H={units}, median of {rounds} interleaved "
          f"rounds after a warm-up; CPU threads: {os.cpu_count()}\n")
    print("| method | s (all texts) | ms / text | × vs lime[tf.function] | × vs lime[predict] |")
    print("|---|---:|---:|---:|---:|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m:.3f} | {1000 * m / n_texts:.1f} | {base / m:.1f} | "
              f"{base_p / m:.1f} |")
    print(f"\nSpearman rank correlation of word scores, ours vs lime (both on the logit): "
          f"median {np.median(corr):.3f}, min {np.min(corr):.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 texts, 2 rounds")
    parser.add_argument("--texts", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.quick:
        args.texts, args.rounds = 8, 2
    run(args.texts, args.rounds, args.samples, args.vocab, args.dim, args.units)


if __name__ == "__main__":
    main()
