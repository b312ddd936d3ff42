"""explain_corpus on IMDB test reviews: throughput, peak memory, 1 vs 2 devices, 1 vs 2 workers.

Run: `python -m benchmarks bench_corpus [--quick]` (or `python -m benchmarks.bench_corpus`);
`python -m benchmarks bench_corpus -- --workers-only` runs only the 1 vs 2 workers part.

- Model: the SST-like BiLSTM (Embedding 20,000 × 64, mask_zero → Bidirectional(LSTM(128)) →
  Dense(2)) with **random weights** (seed 0): throughput does not depend on training. The
  vocabulary is the 20,000 most frequent words of the first 2,000 IMDB test reviews (prepared
  once, in the parent process, with the corpus files: the measured processes only load them).
- Documents: IMDB test reviews, truncated to their first 400 tokens (`max_tokens=400`).
- Throughput: documents/s and tokens/s of `explain_corpus` per method (lrp, gradient, reat),
  one method per run, no labels (no deletion aggregates), progress bar off, after a warm-up run
  of one batch (tracing excluded).
- Memory: peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss`) of a fresh process that
  explains N documents with `gradient` from a .txt file, for a small and a 12.5× larger N: the
  high-water mark before `explain_corpus` (vocabulary loaded, model traced on one batch) and
  after it. Streaming should keep the growth flat.
  --quick uses a smaller model for this part (see the printed table).
- Devices: the same LRP run with `MirroredStrategy` over 2 logical CPU devices vs none, in fresh
  processes (logical devices must be set before TensorFlow initializes).
- Workers: the same LRP run (`--worker-docs` documents, shard 64 so that each worker owns some
  shards) by one process with no strategy vs 2 local worker processes with
  `MultiWorkerMirroredStrategy` (TF_CONFIG on 127.0.0.1, free ports), all processes loading the
  same saved model. No warm-up: the wall time is end to end, from starting the process(es) to the
  last exit (Python and TensorFlow start-up, model load, collective set-up, tracing, explaining,
  writing); the explain_corpus call time (tracing included) is reported beside it. The workers are
  killed after `--worker-timeout` seconds. The outputs are compared (`read_explanations`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

_T0 = time.perf_counter()  # this module's import, ≈ the process's start (child timings)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import machine_markdown, markdown_table  # noqa: E402

VOCAB = 20000
MAX_TOKENS = 400


def _prepare(folder: str, sizes) -> str:
    """Write the first n IMDB test reviews (one a line) for each n, and the vocabulary."""
    import keras_relevance as kr
    from keras_relevance import datasets

    texts = list(datasets.load_imdb(split="test", max_docs=max(sizes), seed=0).texts)
    texts = [" ".join(t.split()) for t in texts]  # one review per line
    kr.Vocabulary.from_texts(texts[:2000], max_size=VOCAB).save(f"{folder}/vocab.json")
    for n in sizes:
        with open(f"{folder}/corpus-{n}.txt", "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in texts[:n])
    return folder


def _model(vocab_size: int, dim: int, units: int):
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, dim, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(units)),
        keras.layers.Dense(2),
    ])


def child(args) -> dict:
    """One measurement in this (fresh) process; prints a JSON line."""
    if args.out:
        return _worker_child(args)
    import tensorflow as tf

    strategy = None
    if args.devices == 2:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    import resource

    import keras_relevance as kr

    vocab = kr.Vocabulary.load(f"{args.prepared}/vocab.json")
    corpus = f"{args.prepared}/corpus-{args.docs}.txt"
    with open(corpus, encoding="utf-8") as f:
        warm = [next(f).rstrip("\n") for _ in range(args.batch_size)]
    model = _model(len(vocab), args.dim, args.units)
    warnings.simplefilter("ignore", kr.CorpusWarning)
    common = dict(methods=(args.method,), batch_size=args.batch_size, shard_size=args.shard_size,
                  vocabulary=vocab, quiet=True, max_tokens=MAX_TOKENS, strategy=strategy)
    with tempfile.TemporaryDirectory() as tmp:
        kr.explain_corpus(model, warm, out=f"{tmp}/warm", **common)  # traces the methods
        gc.collect()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB → MiB
        start = time.perf_counter()
        res = kr.explain_corpus(model, corpus, out=f"{tmp}/run", **common)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tokens = int(kr.read_explanations(f"{tmp}/run")["tokens"].map(len).sum())
    return {"docs": res["docs"], "tokens": tokens, "seconds": seconds, "rss_mib": peak,
            "rss_before_mib": base}


def _worker_child(args) -> dict:
    """One process of the workers comparison: no strategy, or MWMS from TF_CONFIG; no warm-up."""
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if os.environ.get("TF_CONFIG") else None
    import keras

    import keras_relevance as kr

    warnings.simplefilter("ignore", kr.CorpusWarning)
    vocab = kr.Vocabulary.load(f"{args.prepared}/vocab.json")
    model = keras.models.load_model(f"{args.prepared}/m.keras", compile=False)
    ready = time.perf_counter()
    res = kr.explain_corpus(
        model, f"{args.prepared}/corpus-{args.docs}.txt", methods=(args.method,), out=args.out,
        batch_size=args.batch_size, shard_size=args.shard_size, vocabulary=vocab, quiet=True,
        max_tokens=MAX_TOKENS, strategy=strategy,
    )
    return {"docs": res["docs"], "startup": ready - _T0, "seconds": time.perf_counter() - ready}


def _run_workers(prepared: str, n: int, workers: int, args, tmp: str) -> dict:
    """Start `workers` processes (1: no strategy), wait for all; kill all after the timeout."""
    import socket

    out = f"{tmp}/out-{workers}"
    socks = [socket.socket() for _ in range(workers)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    hosts = [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]
    for s in socks:
        s.close()
    argv = [sys.executable, "-m", "benchmarks.bench_corpus", "--child", "--out", out,
            "--docs", str(n), "--method", "lrp", "--batch-size", str(args.batch_size),
            "--shard-size", "64", "--prepared", prepared]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    procs, logs = [], []
    start = time.perf_counter()
    for k in range(workers):
        env = {k_: v for k_, v in os.environ.items() if k_ != "TF_CONFIG"}
        if workers > 1:
            env["TF_CONFIG"] = json.dumps(
                {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": k}})
        log = open(f"{tmp}/log-{workers}-{k}.txt", "w+")  # noqa: SIM115  (closed below)
        logs.append(log)
        procs.append(subprocess.Popen(argv, cwd=root, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, text=True))
    try:
        for proc in procs:
            proc.wait(timeout=max(1.0, args.worker_timeout - (time.perf_counter() - start)))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise RuntimeError(f"{workers} worker(s) killed after {args.worker_timeout} s") from None
    finally:
        wall = time.perf_counter() - start
        texts = []
        for log in logs:
            log.seek(0)
            texts.append(log.read())
            log.close()
    results = []
    for proc, text in zip(procs, texts, strict=True):
        line = [x for x in text.splitlines() if x.startswith("{")]
        if proc.returncode or not line:
            raise RuntimeError(f"worker failed (rc {proc.returncode}): {text[-2000:]}")
        results.append(json.loads(line[-1]))
    return {"wall": wall, "out": out, "docs": sum(r["docs"] for r in results),
            "per_worker": [r["docs"] for r in results],
            "startup": max(r["startup"] for r in results),
            "each": [r["seconds"] for r in results],
            "seconds": max(r["seconds"] for r in results)}


def _compare(a_out: str, b_out: str) -> str:
    """'equal' (doc_ids, tokens, targets; numbers to rtol 1e-5) with the largest difference."""
    import numpy as np

    import keras_relevance as kr

    a, b = kr.read_explanations(a_out), kr.read_explanations(b_out)
    if a["doc_id"].tolist() != b["doc_id"].tolist():
        return "NOT equal: doc_ids differ"
    for col in ("tokens", "target"):
        if [np.asarray(x).tolist() for x in a[col]] != [np.asarray(x).tolist() for x in b[col]]:
            return f"NOT equal: {col} differ"
    worst, close = 0.0, True
    for col in [c for c in a.columns if c.startswith(("relevance_", "logits"))]:
        for x, y in zip(a[col], b[col], strict=True):
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)))
            close &= bool(np.allclose(x, y, rtol=1e-5, atol=1e-7))
    verdict = "equal" if close else "NOT equal"
    return f"{verdict} ({len(a)} rows; max |Δ| relevance/logits = {worst:.2e})"


def workers_table(prepared: str, args) -> None:
    """1 process (no strategy) vs 2 local MultiWorkerMirroredStrategy workers; prints Markdown."""
    n = args.worker_docs
    _model(len(_vocab(prepared)), args.dim, args.units).save(f"{prepared}/m.keras")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {w: _run_workers(prepared, n, w, args, tmp) for w in (1, 2)}
        check = _compare(runs[1]["out"], runs[2]["out"])
    rows = []
    for w, r in runs.items():
        rows.append([w, "/".join(map(str, r["per_worker"])), f"{r['wall']:.1f}",
                     f"{r['docs'] / r['wall']:.1f}", f"{r['startup']:.1f}",
                     "/".join(f"{x:.1f}" for x in r["each"]), f"{r['docs'] / r['seconds']:.1f}"])
    print(f"\nLRP, {n} documents, shard 64, batch {args.batch_size}: 1 process (no strategy) vs "
          "2 local worker processes (MultiWorkerMirroredStrategy, TF_CONFIG on 127.0.0.1)\n")
    print(markdown_table(
        ["processes", "docs per process", "wall s (end to end)", "docs/s (wall)",
         "start-up s (slowest)", "explain_corpus s per process",
         "docs/s (slowest explain_corpus)"],
        rows, "rlrrrlr"))
    print(f"\nOutput check, 2 workers vs 1 process: {check}")


def _vocab(prepared: str):
    import keras_relevance as kr

    return kr.Vocabulary.load(f"{prepared}/vocab.json")


def _spawn(**kw) -> dict:
    argv = [sys.executable, "-m", "benchmarks.bench_corpus", "--child"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    out = subprocess.run(argv, capture_output=True, text=True, check=False,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if out.returncode or not line:
        raise RuntimeError(f"child failed: {out.stderr[-2000:]}")
    return json.loads(line[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_corpus")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--docs", type=int, default=0)
    p.add_argument("--method", default="lrp")
    p.add_argument("--devices", type=int, default=1)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=1000)
    p.add_argument("--rss-docs", default="2000,25000")
    p.add_argument("--prepared", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--workers-only", action="store_true",
                   help="run only the 1 process vs 2 workers comparison")
    p.add_argument("--worker-docs", type=int, default=512)
    p.add_argument("--worker-timeout", type=float, default=600.0)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0
    if args.workers_only:
        prepared = _prepare(tempfile.mkdtemp(prefix="bench_corpus_"), [args.worker_docs])
        print(machine_markdown())
        print(f"\nIMDB test reviews, ≤ {MAX_TOKENS} tokens, BiLSTM E{args.dim} H{args.units} "
              "(random weights)")
        workers_table(prepared, args)
        shutil.rmtree(prepared, ignore_errors=True)
        return 0
    n = args.docs or (128 if args.quick else 1000)
    sizes = [int(x) for x in args.rss_docs.split(",")]
    prepared = _prepare(tempfile.mkdtemp(prefix="bench_corpus_"),
                        sorted({n, args.worker_docs, *sizes}))
    print(machine_markdown())
    print(f"\nIMDB test reviews, ≤ {MAX_TOKENS} tokens, BiLSTM E{args.dim} H{args.units} "
          f"(random weights), batch {args.batch_size}\n")
    rows = []
    for method in ("lrp", "gradient", "reat"):
        r = _spawn(docs=n, method=method, dim=args.dim, units=args.units,
                   batch_size=args.batch_size, prepared=prepared)
        rows.append([method, r["docs"], f"{r['docs'] / r['seconds']:.1f}",
                     f"{r['tokens'] / r['seconds']:.0f}", f"{r['seconds']:.1f}"])
    print(markdown_table(["method", "docs", "docs/s", "tokens/s", "seconds"], rows, "lrrrr"))
    dim, units = (16, 16) if args.quick else (args.dim, args.units)
    rows = []
    for size in sizes:
        r = _spawn(docs=size, method="gradient", dim=dim, units=units, shard_size=500,
                   prepared=prepared)
        rows.append([size, f"{r['rss_before_mib']:.0f}", f"{r['rss_mib']:.0f}",
                     f"{r['rss_mib'] - r['rss_before_mib']:.0f}",
                     f"{r['docs'] / r['seconds']:.1f}"])
    print(f"\nPeak RSS, fresh process, gradient, BiLSTM E{dim} H{units}, shard 500, corpus "
          "streamed from a .txt file\n")
    print(markdown_table(
        ["documents", "peak RSS before (MiB)", "peak RSS after (MiB)", "growth (MiB)", "docs/s"],
        rows, "rrrrr"))
    rows = []
    for devices in (1, 2):
        r = _spawn(docs=n, method="lrp", devices=devices, dim=args.dim, units=args.units,
                   batch_size=args.batch_size, prepared=prepared)
        rows.append([devices, f"{r['docs'] / r['seconds']:.1f}",
                     f"{r['tokens'] / r['seconds']:.0f}"])
    print(f"\nLRP, {n} documents, 1 vs 2 logical CPU devices (MirroredStrategy)\n")
    print(markdown_table(["devices", "docs/s", "tokens/s"], rows, "rrr"))
    workers_table(prepared, args)
    shutil.rmtree(prepared, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
