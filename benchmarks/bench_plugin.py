"""TensorBoard plugin: latency of the data routes on a 10,000-sentence run.

Run: `python -m benchmarks.bench_plugin [--sentences 10000] [--steps 5] [--requests 200]`.
Prints a Markdown table.

Writes a run with `keras_relevance_tb.summary` (N sentences of 5-40 tokens, 2 classes, 3 methods,
several steps), loads it with TensorBoard's own loader (`EventMultiplexer` keeping every step, as
`--samples_per_plugin keras_relevance=0`) and data provider, then times the plugin's WSGI routes
(werkzeug test client: validation, data provider read, paging, JSON + gzip response) per request.

- heatmaps (cold): the first page of each step (payload split and header parse included).
- heatmaps (warm): random pages (offset anywhere in the run, limit 25 and 100), random steps.
- sample / sample_history / runs: the detail panel's requests and the listing.

Goal: p95 of a heatmaps page < 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras_relevance_tb import metadata, summary  # noqa: E402
from keras_relevance_tb.plugin import KerasRelevancePlugin  # noqa: E402
from tensorboard import context as tb_context  # noqa: E402
from tensorboard.backend.event_processing import data_provider as tb_data_provider  # noqa: E402
from tensorboard.backend.event_processing import plugin_event_multiplexer  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from werkzeug.test import Client  # noqa: E402

METHODS = ("lrp", "sa", "reat")
WORDS = "the a film movie plot acting is was not very good bad dull great slow fun and but".split()


def write_run(logdir: str, sentences: int, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    tokens = [list(rng.choice(WORDS, size=rng.integers(5, 41))) for _ in range(sentences)]
    labels = rng.integers(0, 2, size=sentences)
    preds = np.where(rng.random(sentences) < 0.8, labels, 1 - labels)
    start = time.perf_counter()
    writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
    with writer.as_default():
        for step in range(steps):
            for method in METHODS:
                scores = {c: [rng.normal(size=len(t)) for t in tokens] for c in (0, 1)}
                summary.token_heatmap(
                    f"heatmap/{method}", tokens, scores, step=step, method=method,
                    labels=labels, predictions=preds, class_names=["negative", "positive"],
                )  # fmt: skip
            summary.deletion_curve(
                "deletion/correct", {m: [1.0, 0.7, 0.5, 0.4] for m in METHODS}, step=step,
                random_mean=[1.0, 0.9, 0.8, 0.7], random_std=[0, 0.05, 0.05, 0.06],
            )  # fmt: skip
    writer.close()
    return (time.perf_counter() - start) / (steps * len(METHODS))


def _stats(times: list[float]) -> tuple[float, float, float]:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return statistics.median(ms), p95, ms[-1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as logdir:
        write_s = write_run(logdir, args.sentences, args.steps)
        start = time.perf_counter()
        mux = plugin_event_multiplexer.EventMultiplexer(
            tensor_size_guidance={metadata.PLUGIN_NAME: 0}
        )
        mux.AddRunsFromDirectory(logdir)
        mux.Reload()
        load_s = time.perf_counter() - start
        provider = tb_data_provider.MultiplexerDataProvider(mux, logdir)
        plugin = KerasRelevancePlugin(base_plugin.TBContext(data_provider=provider, logdir=logdir))
        apps = plugin.get_plugin_apps()
        clients = {route: Client(app) for route, app in apps.items() if route != "/static/*"}
        headers = {"Accept-Encoding": "gzip"}
        payload_mb = len(provider.read_tensors(
            tb_context.RequestContext(), experiment_id="", plugin_name=metadata.PLUGIN_NAME,
            downsample=1, run_tag_filter=None,
        )["train"]["heatmap/lrp"][0].numpy.item()) / 2**20  # fmt: skip

        def timed(route, query):
            t0 = time.perf_counter()
            response = clients[route].get(f"{route}?{query}", headers=headers)
            elapsed = time.perf_counter() - t0
            assert response.status_code == 200, (route, query, response.get_data()[:300])
            return elapsed, len(response.get_data())

        rows = []
        cold = [
            timed("/heatmaps", f"run=train&method={m}&step={s}&limit=25")[0]
            for s in range(args.steps)
            for m in METHODS
        ]
        rows.append(("heatmaps, cold (first page of a step)", cold, None))
        for limit in (25, 100):
            times, sizes = [], []
            for _ in range(args.requests):
                offset = rng.randrange(0, args.sentences - limit)
                query = (
                    f"run=train&method={rng.choice(METHODS)}&step={rng.randrange(args.steps)}"
                    f"&offset={offset}&limit={limit}"
                )
                t, n = timed("/heatmaps", query)
                times.append(t)
                sizes.append(n)
            rows.append((f"heatmaps, warm, limit={limit}", times, statistics.mean(sizes)))
        times = [
            timed("/heatmaps", f"run=train&method=lrp&filter=misclassified&offset={o}")[0]
            for o in range(0, 25 * 40, 25)
        ]
        rows.append(("heatmaps, filter=misclassified", times, None))
        times = [
            timed("/sample", f"run=train&id={rng.randrange(args.sentences)}")[0] for _ in range(50)
        ]
        rows.append(("sample (3 methods side by side)", times, None))
        times = [
            timed("/sample_history", f"run=train&method=lrp&id={rng.randrange(args.sentences)}")[0]
            for _ in range(50)
        ]
        rows.append((f"sample_history ({args.steps} steps)", times, None))
        rows.append(("runs (listing)", [timed("/runs", "")[0] for _ in range(20)], None))

    print(
        f"\n{args.sentences} sentences x {len(METHODS)} methods x {args.steps} steps; "
        f"payload {payload_mb:.1f} MiB per method and step; write {write_s:.2f} s per "
        f"token_heatmap call; TensorBoard load {load_s:.1f} s\n"
    )
    print("| route | requests | p50 ms | p95 ms | max ms | response bytes (gzip) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, times, size in rows:
        p50, p95, worst = _stats(times)
        size_s = f"{size:,.0f}" if size else ""
        print(f"| {name} | {len(times)} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {size_s} |")
    _, p95, _ = _stats(rows[1][1] + rows[2][1])
    print(f"\nheatmaps warm p95 {p95:.1f} ms: {'OK' if p95 < 500 else 'ABOVE'} the 500 ms goal")


if __name__ == "__main__":
    main()
