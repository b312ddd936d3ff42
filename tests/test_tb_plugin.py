"""keras_relevance_tb: writers → logdir → TensorBoard's own data provider → plugin `*_impl`."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from keras_relevance_tb import metadata, summary
from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer as tb_multiplexer

HOSTILE = "<img src=x onerror=alert(1)>"
METHODS = ("lrp", "sa", "reat")
STEPS = (0, 1, 2, 5, 7, 9, 11, 12, 14, 20, 21, 30)  # 12 steps: more than the loader's default 10


def _sentences():
    return [
        ["a", "wonderful", "film", HOSTILE],
        ["the", "plot", "is", "dull", "and", "slow"],
        ["not", "bad", "at", "all"],
    ]


def _curve(kind, i):
    fall = [1.0, 0.75 - 0.1 * i, 0.55 - 0.12 * i, 0.45 - 0.12 * i]
    return fall if kind == "correct" else [1.0 - v for v in fall]


def _top_words(m, step):
    """Logged top words: the order of two words swaps after step 5, a word is new at step 9."""
    late = step > 5
    most = [("great", 0.9, 4), ("fun", 0.5 + m, 3)] if late else [("fun", 0.5 + m, 3)]
    if step >= 9:
        most.append((HOSTILE, 0.1, 2))
    return {1: {"most": most, "least": [("dull", -0.7, 5)]}, 0: {"most": [("dull", 0.8, 5)]}}


def _n_sentences(kind, step):
    return 40 + step if kind == "correct" else 7


def _aopc_and_area(kind, method_index, step):
    """AOPC and area to random from the curve formulas, in float64 NumPy (not the plugin's code)."""
    curve = np.array(_curve(kind, method_index), np.float64)
    rnd = np.array(_curve(kind, -1.5), np.float64)
    sign = 1.0 if kind == "correct" else -1.0
    return (sign * (curve[0] - curve)).mean(), (sign * (rnd - curve)).mean()


def _relevance(length, c, m, step):
    """Logged relevance: signed, different per class, method (m) and step; exact to recompute."""
    base = np.linspace(-1.0, 1.0, length) * (1 if c else -1) * (1 + m) * (1 + step / 10)
    return base + 0.5 * np.cos(np.arange(length) * (m + 1) + step / 5)


def _write_run(run_dir, steps=STEPS, methods=METHODS):
    tokens = _sentences()
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for step in steps:
            for m, method in enumerate(methods):
                scores = {c: [_relevance(len(t), c, m, step) for t in tokens] for c in (0, 1)}
                assert summary.token_heatmap(
                    f"heatmap/{method}",
                    tokens,
                    scores,
                    step=step,
                    method=method,
                    labels=[1, 0, 1],
                    predictions=[1, 0, 0],
                    logits=[[-1.0, 2.0], [1.5, -0.5], [0.2, 0.1]],
                    class_names=["negative", "positive"],
                    sample_ids=["s0", "s1", "s2"],
                )
            for kind in metadata.DELETION_KINDS:
                assert summary.deletion_curve(
                    f"deletion/{kind}",
                    {m: _curve(kind, i) for i, m in enumerate(methods)},
                    step=step,
                    random_mean=_curve(kind, -1.5),
                    random_std=[0.0, 0.05, 0.07, 0.08],
                    kind=kind,
                    n=_n_sentences(kind, step),
                )
            for m, method in enumerate(methods):
                assert summary.top_words(
                    f"top_words/{method}", _top_words(m, step), step=step, method=method, n=50,
                    class_names=["negative", "positive"],
                )  # fmt: skip
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("kr_logs")
    _write_run(root / "train")
    _write_run(root / "eval", steps=(0, 1), methods=("lrp",))
    return root


def make_provider(logdir, keep_all=True):
    """TensorBoard's own data provider; keeps every step of the plugin's tags (0 = all) or not."""
    from tensorboard.backend.event_processing import data_ingester

    guidance = {metadata.PLUGIN_NAME: 0} if keep_all else None
    mux = tb_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,  # as `tensorboard` itself
        tensor_size_guidance=guidance,
    )
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return tb_data_provider.MultiplexerDataProvider(mux, str(logdir))


def test_summary_writes_versioned_json_tensor(logdir):
    provider = make_provider(logdir)
    ctx = tb_context.RequestContext()
    listing = provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
    assert set(listing) == {"train", "eval"}
    content = metadata.parse_plugin_metadata(listing["train"]["heatmap/lrp"].plugin_content)
    assert content == {
        "version": metadata.PAYLOAD_VERSION,
        "summary": "token_heatmap",
        "method": "lrp",
    }
    data = provider.read_tensors(
        ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME, downsample=1000
    )["train"]["heatmap/sa"]
    assert [d.step for d in data] == list(STEPS)
    payload = metadata.parse_payload(data[0].numpy, metadata.HEATMAP)
    assert payload["version"] == metadata.PAYLOAD_VERSION
    assert payload["method"] == "sa" and payload["classes"] == [0, 1]
    assert payload["samples"][0]["tokens"][3] == HOSTILE
    assert payload["samples"][0]["scores"]["1"] == pytest.approx(_relevance(4, 1, 1, 0), rel=1e-5)


def test_summary_returns_false_without_writer():
    assert summary.token_heatmap("x", [["a"]], {0: [[1.0]]}, step=0, method="sa") is False
    assert summary.deletion_curve("d", {"sa": [1.0, 0.5]}, step=0) is False


def test_summary_validates_shapes():
    with pytest.raises(ValueError, match="one per sample"):
        summary.token_heatmap("x", [["a"], ["b"]], {0: [[1.0]]}, step=0, method="sa")
    with pytest.raises(ValueError, match="tokens"):
        summary.token_heatmap("x", [["a", "b"]], {0: [[1.0]]}, step=0, method="sa")
    with pytest.raises(ValueError, match="kind"):
        summary.deletion_curve("d", {"sa": [1.0]}, step=0, kind="other")
    with pytest.raises(ValueError, match="same length"):
        summary.deletion_curve("d", {"sa": [1.0], "lrp": [1.0, 0.5]}, step=0)


def test_summary_padding_cut_and_nan_to_null(tmp_path):
    header, samples = summary._heatmap_payload(
        [["a", "b"]],
        {1: [np.array([0.5, np.nan, 0.0, 0.0])]},
        method="lrp",
        labels=None,
        predictions=None,
        logits=None,
        class_names=None,
        sample_ids=None,
    )
    assert samples[0]["scores"]["1"] == [0.5, None]
    payload = metadata.parse_payload(metadata.encode_payload(header, samples))  # strict JSON
    assert payload["ids"] == ["0"] and payload["samples"] == samples


def test_newer_payload_version_is_a_clear_error():
    newer = json.dumps({"version": metadata.PAYLOAD_VERSION + 1, "summary": "token_heatmap"})
    with pytest.raises(metadata.NewerPayloadError, match="Upgrade keras-relevance"):
        metadata.parse_payload(newer.encode())
    with pytest.raises(metadata.NewerPayloadError):
        metadata.parse_plugin_metadata(newer.encode())
    with pytest.raises(metadata.PayloadError):
        metadata.parse_payload(b"not json")


# ---- plugin *_impl over TensorBoard's own data provider --------------------------------------


def make_plugin(logdir, **mux_kwargs):
    from keras_relevance_tb import plugin
    from tensorboard.plugins import base_plugin

    provider = make_provider(logdir, **mux_kwargs)
    return plugin.KerasRelevancePlugin(
        base_plugin.TBContext(data_provider=provider, logdir=str(logdir))
    )


@pytest.fixture(scope="module")
def tb_plugin(logdir):
    return make_plugin(logdir)


CTX = tb_context.RequestContext()


def test_plugin_module_imports_neither_tensorflow_nor_keras_relevance():
    code = (
        "import sys, keras_relevance_tb.plugin\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_relevance', 'tf_keras'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_runs_lists_tags_steps_methods_classes(tb_plugin):
    listing = tb_plugin.runs_impl(CTX, "")
    assert [r["run"] for r in listing["runs"]] == ["eval", "train"]
    assert listing["methods"] == sorted(METHODS)
    assert listing["notes"] == []  # every step kept
    train = listing["runs"][1]
    heat = {h["method"]: h for h in train["heatmaps"]}
    assert set(heat) == set(METHODS)
    assert heat["lrp"]["steps"] == list(STEPS)
    assert heat["lrp"]["classes"] == [0, 1]
    assert heat["lrp"]["class_names"] == ["negative", "positive"]
    assert heat["lrp"]["num_samples"] == 3 and heat["lrp"]["error"] is None
    kinds = {d["kind"]: d for d in train["deletion_curves"]}
    assert set(kinds) == {"correct", "misclassified"}
    assert kinds["correct"]["methods"] == sorted(METHODS)


def test_default_loader_sampling_is_explained(logdir):
    sampled = make_plugin(logdir, keep_all=False)
    listing = sampled.runs_impl(CTX, "")
    train = listing["runs"][1]
    assert len(train["heatmaps"][0]["steps"]) == 10
    assert any("--samples_per_plugin keras_relevance=0" in n for n in listing["notes"])


def test_heatmaps_pages_steps_filters(tb_plugin):
    page = tb_plugin.heatmaps_impl(CTX, "", run="train", tag="heatmap/sa")
    assert page["step"] == STEPS[-1] and page["steps"] == list(STEPS)
    assert page["total"] == 3 and page["offset"] == 0 and len(page["samples"]) == 3
    s0 = page["samples"][0]
    assert s0["id"] == "s0" and s0["index"] == 0 and s0["tokens"][3] == HOSTILE
    assert s0["label"] == 1 and s0["prediction"] == 1
    expected = _relevance(4, 1, METHODS.index("sa"), STEPS[-1])
    assert s0["scores"]["1"] == pytest.approx(expected, rel=1e-5)
    page = tb_plugin.heatmaps_impl(CTX, "", run="train", method="sa", step=5, offset=1, limit=1)
    assert page["step"] == 5 and [s["id"] for s in page["samples"]] == ["s1"]
    assert page["total"] == 3
    assert page["samples"][0]["scores"]["0"] == pytest.approx(_relevance(6, 0, 1, 5), rel=1e-5)
    wrong = tb_plugin.heatmaps_impl(CTX, "", run="train", method="lrp", filter="misclassified")
    assert [s["id"] for s in wrong["samples"]] == ["s2"] and wrong["total"] == 1
    only = tb_plugin.heatmaps_impl(CTX, "", run="train", method="lrp", target=0)
    assert list(only["samples"][0]["scores"]) == ["0"]
    past = tb_plugin.heatmaps_impl(CTX, "", run="train", method="lrp", offset=10)
    assert past["samples"] == [] and past["total"] == 3


def test_sample_side_by_side_and_history(tb_plugin):
    side = tb_plugin.sample_impl(CTX, "", run="train", id="s1", step=2)
    assert side["step"] == 2
    assert [m["method"] for m in side["methods"]] == ["lrp", "reat", "sa"]
    for m in side["methods"]:
        assert m["error"] is None and m["sample"]["id"] == "s1"
    history = tb_plugin.sample_history_impl(CTX, "", run="train", method="reat", id="s0")
    assert [h["step"] for h in history["history"]] == list(STEPS)
    first, last = history["history"][0]["sample"], history["history"][-1]["sample"]
    assert first["scores"]["1"] == pytest.approx(_relevance(4, 1, 2, STEPS[0]), rel=1e-5)
    assert last["scores"]["1"] == pytest.approx(_relevance(4, 1, 2, STEPS[-1]), rel=1e-5)


def test_deletion_curves(tb_plugin):
    body = tb_plugin.deletion_curves_impl(CTX, "", run="train")
    curves = {c["kind"]: c for c in body["deletion_curves"]}
    assert curves["correct"]["x"] == [0, 1, 2, 3]
    assert curves["correct"]["curves"]["sa"] == pytest.approx(_curve("correct", 1))
    assert curves["misclassified"]["random"]["std"] == pytest.approx([0.0, 0.05, 0.07, 0.08])
    one = tb_plugin.deletion_curves_impl(CTX, "", run="eval", tag="deletion/correct", step=0)
    assert [c["step"] for c in one["deletion_curves"]] == [0]


def test_aopc_over_steps(tb_plugin):
    for kind in metadata.DELETION_KINDS:
        body = tb_plugin.aopc_impl(CTX, "", run="train", kind=kind)
        assert sorted(body) == sorted(METHODS)
        for i, method in enumerate(METHODS):
            points = body[method]
            assert [p["step"] for p in points] == list(STEPS)
            aopc, area = _aopc_and_area(kind, i, 0)
            for p in points:
                assert p["aopc"] == pytest.approx(aopc, abs=1e-6)
                assert p["area"] == pytest.approx(area, abs=1e-6)
                assert p["n"] == _n_sentences(kind, p["step"])
    assert tb_plugin.handle("/aopc", CTX, "", {"run": "eval"})["lrp"][0]["step"] == 0
    curves = tb_plugin.deletion_curves_impl(CTX, "", run="train", tag="deletion/correct", step=5)
    (item,) = curves["deletion_curves"]
    assert item["n"] == 45
    assert item["aopc"]["sa"] == pytest.approx(_aopc_and_area("correct", 1, 5)[0])


def test_top_words_with_previous_step(tb_plugin):
    body = tb_plugin.top_words_impl(CTX, "", run="train", method="sa", step=9)
    assert body["step"] == 9 and body["previous"]["step"] == 7 and body["n"] == 50
    most = body["classes"]["1"]["most"]
    assert [(d["word"], d["count"]) for d in most] == [("great", 4), ("fun", 3), (HOSTILE, 2)]
    assert most[1]["mean"] == pytest.approx(1.5)
    assert [d["word"] for d in body["previous"]["classes"]["1"]["most"]] == ["great", "fun"]
    first = tb_plugin.top_words_impl(CTX, "", run="train", method="lrp", step=0)
    assert first["previous"] is None
    listing = tb_plugin.runs_impl(CTX, "")["runs"][1]
    assert [t["tag"] for t in listing["top_words"]] == [f"top_words/{m}" for m in sorted(METHODS)]


BAD_REQUESTS = [
    ("/heatmaps", {"run": "../../etc", "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "/etc/passwd", "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "train/../../x", "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "C:\\x", "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "nope", "tag": "heatmap/lrp"}, 404),
    ("/heatmaps", {"run": None, "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "train\x00", "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "x" * 10_000, "tag": "heatmap/lrp"}, 400),
    ("/heatmaps", {"run": "train"}, 400),
    ("/heatmaps", {"run": "train", "tag": "heatmap/nope"}, 404),
    ("/heatmaps", {"run": "train", "tag": "deletion/correct"}, 404),
    ("/heatmaps", {"run": "train", "method": "<script>"}, 400),
    ("/heatmaps", {"run": "train", "method": "nope"}, 404),
    ("/heatmaps", {"run": "train", "method": "lrp", "step": "3"}, 404),
    ("/heatmaps", {"run": "train", "method": "lrp", "step": "1e3"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "step": "9" * 40}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "step": "99999999999999999999"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "offset": "-1"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "offset": "1" * 30}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "limit": "0"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "limit": "100000"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "limit": "ten"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "filter": "odd"}, 400),
    ("/heatmaps", {"run": "train", "method": "lrp", "class": "7"}, 404),
    ("/heatmaps", {"run": "train", "method": "lrp", "class": "x"}, 400),
    ("/sample", {"run": "train", "id": "nope"}, 404),
    ("/sample", {"run": "train", "id": None}, 400),
    ("/sample", {"run": "../../etc", "id": "s0"}, 400),
    ("/sample", {"run": "train", "id": "s0", "step": "4"}, 404),
    ("/sample_history", {"run": "train", "method": "lrp", "id": "nope"}, 404),
    ("/deletion_curves", {"run": "train", "tag": "heatmap/lrp"}, 404),
    ("/deletion_curves", {"run": "train", "step": "x"}, 400),
    ("/deletion_curves", {"run": "train", "tag": "deletion/correct", "step": "3"}, 404),
    ("/aopc", {"run": "train", "kind": "other"}, 400),
    ("/aopc", {"run": "nope"}, 404),
    ("/aopc", {"run": "../x"}, 400),
    ("/top_words", {"run": "train"}, 400),
    ("/top_words", {"run": "train", "method": "nope"}, 404),
    ("/top_words", {"run": "train", "method": "lrp", "step": "3"}, 404),
]


@pytest.mark.parametrize(("route", "args", "code"), BAD_REQUESTS)
def test_bad_requests_are_4xx_with_a_message(tb_plugin, route, args, code):
    """Raw query strings through the route's parser (`params.parse`) and its `*_impl`."""
    from keras_relevance_tb.plugin import RouteError

    with pytest.raises(RouteError) as info:
        tb_plugin.handle(route, CTX, "", args)
    assert info.value.code == code
    assert info.value.message


def _write_raw(run_dir, tag, header_version, metadata_version, step=0):
    """A heatmap written as a future keras-relevance might: newer header / metadata versions."""
    from tensorboard.compat.proto import summary_pb2

    md = metadata.create_summary_metadata(metadata.HEATMAP, method="future")
    content = json.loads(md.plugin_data.content)
    content["version"] = metadata_version
    md.plugin_data.content = json.dumps(content).encode()
    assert md.data_class == summary_pb2.DATA_CLASS_TENSOR
    header = {"version": header_version, "summary": "token_heatmap", "num_samples": 0}
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        tf.summary.write(tag, tf.constant(json.dumps(header)), step=step, metadata=md)
    writer.close()


def test_newer_payload_version_is_an_error_per_item(tmp_path):
    _write_run(tmp_path / "run", steps=(0,), methods=("lrp",))
    newer = metadata.PAYLOAD_VERSION + 1
    _write_raw(tmp_path / "run", "heatmap/future_meta", metadata.PAYLOAD_VERSION, newer)
    _write_raw(tmp_path / "run", "heatmap/future_payload", newer, metadata.PAYLOAD_VERSION)
    p = make_plugin(tmp_path)
    listing = p.runs_impl(CTX, "")
    heat = {h["tag"]: h for h in listing["runs"][0]["heatmaps"]}
    assert heat["heatmap/lrp"]["error"] is None
    for tag in ("heatmap/future_meta", "heatmap/future_payload"):
        assert "Upgrade keras-relevance" in heat[tag]["error"]
    side = p.sample_impl(CTX, "", run="run", id="s0")
    errors = {m["tag"]: m["error"] for m in side["methods"]}
    assert errors["heatmap/lrp"] is None
    assert "Upgrade keras-relevance" in errors["heatmap/future_payload"]
    assert "Upgrade keras-relevance" in errors["heatmap/future_meta"]
    from keras_relevance_tb.plugin import RouteError

    for tag in ("heatmap/future_meta", "heatmap/future_payload"):
        with pytest.raises(RouteError, match="Upgrade keras-relevance") as info:
            p.heatmaps_impl(CTX, "", run="run", tag=tag)
        assert info.value.code == 422


# ---- a real `tensorboard` process -----------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
_URL_LINE = re.compile(rb"TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/")


def _get(url):
    """(status, parsed JSON or raw bytes, content type) for a GET; never raises on 4xx/5xx."""
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            status, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        status, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        body = json.loads(body)
    return status, body, ctype


def _start_tensorboard(logdir, log, reload_interval=0, runs=2):
    """(process, url) of a `tensorboard` serving `logdir` once it lists `runs` runs of ours."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--port", "0",
        "--host", "127.0.0.1", "--load_fast=false", "--reload_interval", str(reload_interval),
    ]  # fmt: skip  (no --samples_per_plugin: the entry-point loader keeps every step)
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline, url = time.monotonic() + 90, None
        while url is None:
            match = _URL_LINE.search(log.read_bytes())
            if match:
                url = match.group(1).decode()
            elif proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"tensorboard did not start:\n{log.read_text(errors='replace')[-3000:]}"
                )
            else:
                time.sleep(0.2)
        while True:  # the first load runs in the background: wait until our data is listed
            status, listing, _ = _get(f"{url}/data/plugins_listing")
            if status == 200 and listing.get(metadata.PLUGIN_NAME, {}).get("enabled"):
                status, body, _ = _get(f"{url}/data/plugin/{metadata.PLUGIN_NAME}/runs")
                if status == 200 and len(body["runs"]) == runs:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"keras_relevance never became active: {listing}")
            time.sleep(0.3)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


def _stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def tensorboard_url(logdir, tmp_path_factory):
    log = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    proc, url = _start_tensorboard(logdir, log)
    try:
        yield url
    finally:
        _stop(proc)


def test_server_lists_the_plugin_as_active(tensorboard_url):
    status, listing, _ = _get(f"{tensorboard_url}/data/plugins_listing")
    assert status == 200
    entry = listing[metadata.PLUGIN_NAME]
    assert entry["enabled"] is True
    assert entry["loading_mechanism"] == {
        "type": "IFRAME",
        "module_path": f"/data/plugin/{metadata.PLUGIN_NAME}/static/index.js",
    }


def test_server_routes_answer(tensorboard_url):
    base = f"{tensorboard_url}/data/plugin/{metadata.PLUGIN_NAME}"
    status, runs, _ = _get(f"{base}/runs")
    assert status == 200 and runs["methods"] == sorted(METHODS)
    train = next(r for r in runs["runs"] if r["run"] == "train")
    assert train["heatmaps"][0]["steps"] == list(STEPS)  # every step: KerasRelevanceLoader
    status, page, _ = _get(f"{base}/heatmaps?run=train&method=lrp&offset=1&limit=2&step=7")
    assert status == 200 and [s["id"] for s in page["samples"]] == ["s1", "s2"]
    status, side, _ = _get(f"{base}/sample?run=train&id=s0")
    assert status == 200 and len(side["methods"]) == len(METHODS)
    status, hist, _ = _get(f"{base}/sample_history?run=train&tag=heatmap/sa&id=s2")
    assert status == 200 and len(hist["history"]) == len(STEPS)
    status, curves, _ = _get(f"{base}/deletion_curves?run=eval")
    assert status == 200 and len(curves["deletion_curves"]) == 2
    status, js, ctype = _get(f"{base}/static/index.js")
    assert status == 200 and b"export async function render" in js and "javascript" in ctype


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("heatmaps?run=../../etc&tag=heatmap/lrp", 400),
        ("heatmaps?run=%2e%2e%2f%2e%2e%2fetc&tag=heatmap/lrp", 400),
        ("sample?run=..%5C..%5Cetc&id=s0", 400),
        ("heatmaps?run=nope&tag=heatmap/lrp", 404),
        ("heatmaps?run=train&tag=heatmap/lrp&step=123456789012345678901234567890", 400),
        ("heatmaps?run=train&tag=heatmap/lrp&limit=99999999", 400),
        ("heatmaps?run=train&tag=../../../etc/passwd", 404),
        ("static/..%2fplugin.py", 404),
        ("static/%2e%2e%2f%2e%2e%2fsetup.cfg", 404),
        ("static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", 404),
    ],
)
def test_server_rejects_bad_input_and_traversal(tensorboard_url, path, code):
    status, body, _ = _get(f"{tensorboard_url}/data/plugin/{metadata.PLUGIN_NAME}/{path}")
    assert status == code
    assert isinstance(body, dict) and body["error"]


# ---- headless Chromium ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)


def _chromium(tmp_path, *args):
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=8000", *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, timeout=90)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode("utf-8")


class _Dom(HTMLParser):
    """Collects the heatmap rows, every element's tag/classes, and token spans."""

    def __init__(self):
        super().__init__()
        self.elements, self.rows, self.spans = [], {}, []
        self.svg = None  # classes of the <svg> being read (charts do not nest)
        self._row, self._row_depth, self._depth, self._span = None, 0, 0, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            self.svg = classes
        a["_svg"] = self.svg
        self.elements.append((tag, classes, a))
        self._depth += 1
        if tag == "div" and "kr-row" in classes:
            self._row, self._row_depth = a["data-id"], self._depth
            self.rows[self._row] = []
        if tag == "span" and "kr-token" in classes:
            self._span = {"attrs": a, "text": "", "row": self._row}

    def handle_endtag(self, tag):
        if tag == "span" and self._span is not None:
            self.spans.append(self._span)
            if self._span["row"] is not None:
                self.rows[self._span["row"]].append(self._span)
            self._span = None
        if tag == "div" and self._row is not None and self._depth == self._row_depth:
            self._row = None
        self._depth -= 1

    def handle_data(self, data):
        if self._span is not None:
            self._span["text"] += data


def _token_color(score, max_abs):
    """Python copy of index.js tokenColor (Math.round = floor(x + 0.5))."""
    if score is None or not max_abs > 0:
        return "rgb(255, 255, 255)"
    a = min(1.0, abs(score) / max_abs)
    end = (214, 39, 40) if score >= 0 else (31, 119, 180)
    return "rgb({}, {}, {})".format(*(math.floor(255 + (c - 255) * a + 0.5) for c in end))


@needs_chromium
@pytest.mark.browser
def test_dashboard_renders_heatmaps_and_deletion_chart(tensorboard_url, tb_plugin, tmp_path):
    page = f"{tensorboard_url}/data/plugin_entry.html?name={metadata.PLUGIN_NAME}"
    dom_text = _chromium(tmp_path, "--dump-dom", page)
    dom = _Dom()
    dom.feed(dom_text)
    assert 'data-kr-ready="1"' in dom_text, dom_text[-2000:]
    assert not [e for e in dom.elements if e[0] == "div" and "kr-error" in e[1]], dom_text

    # The first page: run "train", method lrp, latest step, class = prediction.
    expected = tb_plugin.heatmaps_impl(CTX, "", run="train", tag="heatmap/lrp")
    assert set(dom.rows) == {s["id"] for s in expected["samples"]}
    for sample in expected["samples"]:
        scores = sample["scores"][str(sample["prediction"])]
        spans = dom.rows[sample["id"]]
        assert [s["text"] for s in spans] == sample["tokens"]
        max_abs = max(abs(v) for v in scores)
        for span, score in zip(spans, scores, strict=True):
            assert float(span["attrs"]["data-score"]) == pytest.approx(score)
            assert f"background-color: {_token_color(score, max_abs)}" in span["attrs"]["style"]
            assert span["attrs"]["title"].startswith(span["text"] + ": ")

    # The hostile token is text, never an element.
    assert any(s["text"] == HOSTILE for s in dom.spans)
    assert not [e for e in dom.elements if e[0] == "img"]
    # Methods side by side and across steps for the selected sentence.
    tables = {e[2].get("id") for e in dom.elements if e[0] == "table"}
    assert {"kr-methods", "kr-history"} <= tables
    # Deletion curves: one SVG per kind, a line per method plus random and its band.
    charts = [e for e in dom.elements if e[0] == "svg" and "kr-deletion-chart" in e[1]]
    assert len(charts) == 2
    lines = [
        e[2]["data-method"]
        for e in dom.elements
        if e[0] == "path" and "kr-line" in e[1] and "kr-deletion-chart" in e[2]["_svg"]
    ]
    assert sorted(lines) == sorted([*METHODS, "random"] * 2)
    # AOPC over steps: one line per method through the logged values, and the random baseline.
    aopc = {
        e[2]["data-method"]: e[2].get("data-values")
        for e in dom.elements
        if e[0] == "path" and "kr-line" in e[1] and "kr-aopc-chart" in e[2]["_svg"]
    }
    assert sorted(aopc) == sorted([*METHODS, "random"])
    for i, method in enumerate(METHODS):
        points = [p.split(":") for p in aopc[method].split()]
        assert [int(step) for step, _ in points] == list(STEPS)
        expected, _ = _aopc_and_area("correct", i, 0)
        assert [float(v) for _, v in points] == pytest.approx([expected] * len(STEPS), abs=1e-6)
    assert "n = 70 sentences" in dom_text  # 40 + the latest step (30)
    # Top words of the current method (lrp) at the latest step, with their changes
    words = [e for e in dom.elements if e[0] == "ol" and "kr-word-list" in e[1]]
    assert [e[2]["data-class"] for e in words] == ["0", "1"]
    assert "supports positive" in dom_text and "×4" in dom_text
    assert [e for e in dom.elements if e[0] == "polygon" and "kr-band" in e[1]]

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "tb_plugin_dashboard.png"
    shot.unlink(missing_ok=True)
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1100", page)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_loader_keeps_every_step_unless_the_user_chose():
    import argparse

    from keras_relevance_tb.loader import KerasRelevanceLoader

    flags = argparse.Namespace(samples_per_plugin={})
    KerasRelevanceLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {metadata.PLUGIN_NAME: 0}
    flags = argparse.Namespace(samples_per_plugin={metadata.PLUGIN_NAME: 5})
    KerasRelevanceLoader().fix_flags(flags)
    assert flags.samples_per_plugin == {metadata.PLUGIN_NAME: 5}


@needs_chromium
@pytest.mark.browser
def test_dashboard_is_live_and_scales_as_computed(tmp_path):
    """A page opened on steps 0-1 shows step 2 once it is written (no reload); switching the
    colour scale recolours the tokens exactly as computed here from the logged values."""
    from _cdp import Browser

    run_dir = tmp_path / "logs" / "live"
    tokens = _sentences()
    writer = tf.summary.create_file_writer(str(run_dir))

    def write(step):
        with writer.as_default():
            scores = {c: [_relevance(len(t), c, 0, step) for t in tokens] for c in (0, 1)}
            summary.token_heatmap("heatmap/lrp", tokens, scores, step=step, method="lrp",
                                  labels=[1, 0, 1], predictions=[1, 0, 0],
                                  class_names=["negative", "positive"])
        writer.flush()

    write(0)
    write(1)
    proc, url = _start_tensorboard(tmp_path / "logs", tmp_path / "tb.log", reload_interval=1,
                                   runs=1)
    browser = None
    try:
        page = f"{url}/data/plugin_entry.html?name={metadata.PLUGIN_NAME}&poll=500"
        browser = Browser(CHROMIUM, str(tmp_path / "profile"), page)
        browser.wait_for("document.body && document.body.dataset.krStep === '1'")
        polls = int(browser.evaluate("document.body.dataset.krPolls || '0'"))
        write(2)
        browser.wait_for("document.body.dataset.krStep === '2'", timeout=40)
        assert int(browser.evaluate("document.body.dataset.krPolls")) > polls
        assert browser.evaluate("document.querySelector('#kr-step').value") == "2"
        assert browser.evaluate("document.querySelector('#kr-step').max") == "2"

        read_spans = """[...document.querySelectorAll('#kr-list .kr-row')].map((row) => [
            row.dataset.id, [...row.querySelectorAll('.kr-token')].map((s) =>
            [Number(s.dataset.score), s.style.backgroundColor])])"""
        predicted = {"0": 1, "1": 0, "2": 0}
        # independent step maximum: every sample, both classes, at step 2
        step_max = max(abs(v) for t in tokens for c in (0, 1) for v in _relevance(len(t), c, 0, 2))

        def check(scale_of):
            rows = browser.evaluate(read_spans)
            assert [r[0] for r in rows] == ["0", "1", "2"]
            for sample_id, spans in rows:
                i = int(sample_id)
                expected = _relevance(len(tokens[i]), predicted[sample_id], 0, 2)
                assert [s[0] for s in spans] == pytest.approx(expected, rel=1e-5)
                for (_score, colour), value in zip(spans, expected, strict=True):
                    assert colour == _token_color(value, scale_of(expected))

        check(lambda scores: max(abs(v) for v in scores))  # per sentence (default)
        set_scale = """(() => {{ const s = document.querySelector('#kr-scale'); s.value = '{0}';
            s.dispatchEvent(new Event('change')); return true; }})()"""
        browser.evaluate(set_scale.format("step"))
        check(lambda scores: step_max)
        assert float(browser.evaluate("document.querySelector('#kr-legend').dataset.scale")) == (
            pytest.approx(step_max, rel=1e-5)
        )
        browser.evaluate("""(() => { const f = document.querySelector('#kr-fixed'); f.value = '0.5';
            f.dispatchEvent(new Event('change')); return true; })()""")
        browser.evaluate(set_scale.format("fixed"))
        check(lambda scores: 0.5)
        legend = browser.evaluate("document.querySelector('#kr-legend').textContent")
        assert "supports the predicted class" in legend and "speaks against" in legend
        assert "+0.500" in legend
        assert "scale=fixed" in browser.evaluate("location.hash")

        # compare the selected sentence with an earlier step: two rows on one (fixed) scale
        browser.evaluate("""(() => { const c = document.querySelector('#kr-compare');
            c.value = 'step:0'; c.dispatchEvent(new Event('change')); return true; })()""")
        browser.wait_for("document.querySelectorAll('#kr-compare-table tr').length === 2")
        rows = browser.evaluate("""[...document.querySelectorAll('#kr-compare-table tr')].map(
            (tr) => [tr.querySelector('th').textContent, tr.querySelector('.kr-sentence')
              .dataset.scale])""")
        assert [r[0] for r in rows] == ["live · step 2", "live · step 0"]
        assert [float(r[1]) for r in rows] == [0.5, 0.5]
        # the system's dark mode is followed
        assert not browser.evaluate("document.body.classList.contains('kr-dark-mode')")
        browser.call("Emulation.setEmulatedMedia",
                     features=[{"name": "prefers-color-scheme", "value": "dark"}])
        browser.wait_for("document.body.classList.contains('kr-dark-mode')", timeout=10)

        # a shared URL restores the view: run, method, step, sample, class and scale
        browser.evaluate("location.hash = 'run=live&tag=heatmap/lrp&step=0&sample=1&target=0"
                         "&scale=step'; true")
        browser.call("Page.reload")
        try:
            browser.wait_for("document.body && document.body.dataset.krStep === '0'")
        except TimeoutError:
            raise AssertionError(browser.evaluate("""[location.href, document.body.dataset.krStep,
                document.body.innerText.slice(0, 600)]""")) from None
        state = browser.evaluate("""[document.querySelector('#kr-scale').value,
            document.querySelector('#kr-target').value,
            document.querySelector('.kr-row.kr-selected').dataset.id,
            document.querySelector('#kr-step').value]""")
        assert state == ["step", "0", "1", "0"]
    finally:
        if browser is not None:
            browser.close()
        writer.close()
        _stop(proc)
