"""The graph view (issues 11, 12) through the public API: LRP and REAT vs gradient and forward.

Run: `python -m benchmarks bench_graph [--quick] [--repeats N] [--breakdown]`.

Every explanation is timed as a user calls it: `kr.Explainer(model).explain(ids, method=...)`,
one Explainer per model built outside the timed region, each program called `--warmup` times
first (tracing and the first-call `model(x)` check excluded). The baseline "forward" is the
model compiled as a user would, `tf.function(lambda x: model(x, training=False))`, on the same
ids. All models are functional (`keras.Input` → ... → `keras.Model`), B=64, T=40, vocabulary
5000, random weights (seed 0); ids are random in [1, V) with lengths drawn in [T/2, T] and right
padding with 0 (masked where the Embedding has `mask_zero=True`, a plain token for the CNN).

1. BiLSTM: Embedding(V, 64, mask_zero) → Bidirectional(LSTM(128)) → Dense(2).
   LRP / gradient (goal ≤ 1.0, issue 11 and 12), REAT / forward (goal ≤ 1.5, issue 12),
   REAT / gradient (reported).
2. BiGRU E64 H128: REAT / forward (issue 12: 3.8× before the one-pass change; goal ≤ 1.5).
3. Kim CNN: Embedding(V, 64) → Conv1D(100, k, relu) → GlobalMaxPooling1D for k = 3, 4, 5 →
   Concatenate → Dropout(0.5) → Dense(2). LRP / gradient (goal ≤ 1.2, issue 11).
4. MultiHeadAttention classifier: Embedding(V, 64, mask_zero) → MultiHeadAttention(4 heads,
   key_dim 16) self-attention → Add (residual) → LayerNormalization → GlobalAveragePooling1D →
   Dense(2). LRP / gradient (goal ≤ 1.2, issue 11).

Timing: `benchmarks._timing.interleaved` (round-robin rounds, rotated start), one call per
sample; the process CPU time of each call is recorded beside its wall time (the fairer figure
on a shared machine: wall time there includes waiting for a core). Ratios are medians of
per-round ratios (IQR in brackets); the verdict is given on both clocks.

`--breakdown` adds, per model, where a public call's time goes, timed in the same interleaved
rounds as the public calls: the Explainer's embedding lookup (`ModelGraph.embed`), a separate
forward pass (`Explainer.predict_logits`; only for a method that is not one-pass), each method
function alone on prepared embeddings, and for REAT the gate pass alone (the recurrences with
everything REAT reads, under `tf.function`) and the same recurrence loops recording only `h`
(about what the Keras forward does). These use internals and are for diagnosis only; the tables
above them are public API only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_relevance as kr  # noqa: E402
from benchmarks._timing import (  # noqa: E402
    Timing,
    fmt_ratio,
    fmt_time,
    fmt_timing,
    interleaved,
    machine_markdown,
    markdown_table,
    paired_ratio,
)

VOCAB, DIM, UNITS, BATCH, LENGTH = 5000, 64, 128, 64, 40


# ------------------------------------------------------------------------------------ models
def _embedding(mask_zero=True):
    return keras.layers.Embedding(VOCAB, DIM, mask_zero=mask_zero)


def bilstm():
    keras.utils.set_random_seed(0)
    x = keras.Input((None,), dtype="int32")
    h = keras.layers.Bidirectional(keras.layers.LSTM(UNITS))(_embedding()(x))
    return keras.Model(x, keras.layers.Dense(2)(h))


def bigru():
    keras.utils.set_random_seed(0)
    x = keras.Input((None,), dtype="int32")
    h = keras.layers.Bidirectional(keras.layers.GRU(UNITS))(_embedding()(x))
    return keras.Model(x, keras.layers.Dense(2)(h))


def kim_cnn():
    keras.utils.set_random_seed(0)
    x = keras.Input((None,), dtype="int32")
    e = _embedding(mask_zero=False)(x)
    pooled = [
        keras.layers.GlobalMaxPooling1D()(keras.layers.Conv1D(100, k, activation="relu")(e))
        for k in (3, 4, 5)
    ]
    h = keras.layers.Dropout(0.5)(keras.layers.Concatenate()(pooled))
    return keras.Model(x, keras.layers.Dense(2)(h))


def mha():
    keras.utils.set_random_seed(0)
    x = keras.Input((None,), dtype="int32")
    e = _embedding()(x)
    a = keras.layers.MultiHeadAttention(num_heads=4, key_dim=16)(e, e)
    h = keras.layers.LayerNormalization()(keras.layers.Add()([e, a]))
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(x, keras.layers.Dense(2)(h))


#: name → (builder, programs timed, [(numerator, denominator, goal or None)])
CASES = {
    "BiLSTM E64 H128": (bilstm, ("lrp", "gradient", "reat", "forward"),
                        [("lrp", "gradient", 1.0), ("reat", "forward", 1.5),
                         ("reat", "gradient", None)]),
    "BiGRU E64 H128": (bigru, ("reat", "forward"), [("reat", "forward", 1.5)]),
    "Kim CNN (100×3/4/5)": (kim_cnn, ("lrp", "gradient", "forward"),
                            [("lrp", "gradient", 1.2)]),
    "MultiHeadAttention (4×16)": (mha, ("lrp", "gradient", "forward"),
                                  [("lrp", "gradient", 1.2)]),
}


def random_ids(batch=BATCH, length=LENGTH, seed=0):
    """Random ids in [1, V), lengths in [length/2, length], right-padded with 0."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(batch, length)).astype("int32")
    lengths = rng.integers(length // 2, length + 1, size=batch)
    ids[np.arange(length)[None, :] >= lengths[:, None]] = 0  # right padding
    return ids


# ------------------------------------------------------------------------------------ timing
def _with_cpu(fn, sink):
    """`fn` that also appends the process CPU seconds of each call to `sink`."""

    def run():
        cpu = time.process_time()
        out = fn()
        sink.append(time.process_time() - cpu)
        return out

    return run


def timed(fns, repeats, warmup):
    """`interleaved` wall times and the matching process CPU times, name → (wall, cpu)."""
    cpu = {name: [] for name in fns}
    wall = interleaved({n: _with_cpu(f, cpu[n]) for n, f in fns.items()},
                       repeats=repeats, warmup=warmup, number=1)
    return {n: (wall[n], Timing(cpu[n][warmup:])) for n in fns}  # drop the warm-up calls


def programs(model, ids, names):
    """name → zero-argument call, as a user makes it (the Explainer is built here, once)."""
    explainer = kr.Explainer(model)
    compiled = tf.function(lambda x: model(x, training=False))
    ids_t = tf.constant(ids)
    fns = {}
    for name in names:
        if name == "forward":
            fns[name] = lambda: compiled(ids_t).numpy()
        else:
            fns[name] = lambda m=name: explainer.explain(ids, method=m)
    return fns, explainer


def breakdown_programs(explainer, ids, names):
    """Parts of the public calls (diagnosis only), part name → (call, public program it is in).

    The embedding lookup, the Explainer's separate forward (only for a method that is not
    one-pass), each method function alone on prepared embeddings, and for REAT the gate pass
    alone and the bare recurrence loops. These read internals that may move: a part whose
    internals are gone is left out with a note instead of failing the benchmark.
    """
    from keras_relevance.explainer import get_method

    chain = explainer.chain
    inputs = np.asarray(ids, np.int32)
    emb, mask = chain.embed(inputs)
    first = next(n for n in names if n != "forward")
    parts = {"embed (Explainer's lookup)": (lambda: chain.embed(inputs)[0].numpy(), first)}
    for name in names:
        if name == "forward":
            continue
        func = get_method(name)
        one_pass = bool(getattr(func, "one_pass", False))
        if one_pass:
            target = tf.fill([inputs.shape[0]], -1)
        else:
            scores = explainer.predict_logits(inputs)
            target = tf.constant(np.argmax(scores, axis=1), tf.int32)
            parts.setdefault("Explainer forward (predict_logits)",
                             (lambda: explainer.predict_logits(inputs), name))
        parts[f"{name}: method alone{' (one-pass)' if one_pass else ''}"] = (
            lambda f=func, t=target: np.asarray(f(chain, emb, mask, t).relevance), name)
        if name == "reat":
            try:
                parts.update(_reat_parts(chain, emb, mask))
            except (AttributeError, ImportError, TypeError) as err:
                print(f"(breakdown: REAT internals moved, gate-pass parts left out: {err})")
    return parts


def _reat_parts(chain, emb, mask):
    """REAT's gate pass alone, and the same recurrences recording only h (internals)."""
    from keras_relevance import reat, recurrence

    plan = reat._plan(chain)
    gates = tf.function(lambda e, m: [v for t in plan._traces(e, m) for v in t[0].values()])
    rnns = [plan.rnn.forward_layer, plan.rnn.backward_layer] if plan.bidirectional else [plan.rnn]
    loops = tf.function(lambda e, m: [
        recurrence.run(layer, e, m, recurrence.PLAIN, ("h",))[0]["h"] for layer in rnns])
    gates(emb, mask), loops(emb, mask)  # fail here, not in the timed rounds
    return {
        "reat: gate pass alone": (lambda: [v.numpy() for v in gates(emb, mask)], "reat"),
        "reat: recurrence loops recording h only": (
            lambda: [v.numpy() for v in loops(emb, mask)], "reat"),
    }


def _load():
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def _commit():
    """The checkout's commit, and whether the package has uncommitted edits."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args):
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True,
                                  check=False, cwd=repo).stdout.strip()
        except OSError:
            return ""

    head = git("log", "-1", "--format=%h %cd", "--date=iso") or "?"
    dirty = git("status", "--porcelain", "keras_relevance")
    return head + (" + uncommitted edits in keras_relevance/" if dirty else "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_graph", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the parts of an LRP call (internals, diagnosis)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--length", type=int, default=LENGTH,
                        help="T (the goals are stated for 40; longer shows how costs scale)")
    parser.add_argument("--cases", default=None,
                        help="comma-separated prefixes of case names (default: all)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)
    cases = [c for c in CASES if args.cases is None
             or any(c.lower().startswith(p.strip().lower()) for p in args.cases.split(","))]

    print(f"Public API, B={args.batch}, T={args.length} (lengths {args.length // 2}–{args.length},"
          " right-padded), "
          f"V={VOCAB}, {repeats} interleaved rounds after {args.warmup} warm-up calls each; "
          "times: median ± half IQR; ratios: median of per-round ratios (IQR)\n")
    print(machine_markdown({"code": _commit()}) + "\n")
    ids = random_ids(args.batch, args.length)
    time_rows, ratio_rows, parts_rows = [], [], []
    for case in cases:
        build, names, ratios = CASES[case]
        model = build()
        fns, explainer = programs(model, ids, names)
        parts = breakdown_programs(explainer, ids, names) if args.breakdown else {}
        load_before = _load()
        # the parts run in the same interleaved rounds as the public calls
        t = timed({**fns, **{k: v[0] for k, v in parts.items()}}, repeats, args.warmup)
        for name in names:
            wall, cpu = t[name]
            time_rows.append([case, name, fmt_timing(wall), fmt_timing(cpu)])
        for num, den, goal in ratios:
            wall = paired_ratio(t[num][0], t[den][0])
            cpu = paired_ratio(t[num][1], t[den][1])
            verdict = "—" if goal is None else " / ".join(
                "met" if r.median <= goal else "missed" for r in (wall, cpu))
            ratio_rows.append([case, f"{num} / {den}", fmt_ratio(wall), fmt_ratio(cpu),
                               "report" if goal is None else f"≤ {goal}", verdict,
                               f"{load_before} → {_load()}"])
        for part, (_, whole) in parts.items():
            wall, cpu = t[part]
            share = paired_ratio(cpu, t[whole][1]).median
            parts_rows.append([case, part, fmt_timing(wall), fmt_timing(cpu),
                               f"{100 * share:.0f} % of {whole}",
                               fmt_time(t[whole][1].median)])
        print(f"({case}: done, load {_load()})", flush=True)

    print(f"\nAbsolute time per call (B={args.batch}): `explain(ids, method=...)`; forward = "
          "`tf.function(lambda x: model(x, training=False))(ids)`\n")
    print(markdown_table(["model", "program", "wall", "process CPU"], time_rows, "llrr"))
    print("\nRatios (verdict on wall / on process CPU time; load average 1/5/15 min before →"
          " after the case)\n")
    print(markdown_table(["model", "ratio", "wall", "process CPU", "goal", "wall / CPU", "load"],
                         ratio_rows, "llrrlll"))
    if parts_rows:
        print("\nWhere a public call's time goes (internals, same batch, timed in the same"
              " rounds; share = median per-round CPU time of the part / of the public call)\n")
        print(markdown_table(["model", "part", "wall", "process CPU", "share (CPU)",
                              "public call (CPU)"],
                             parts_rows, "llrrrr"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
