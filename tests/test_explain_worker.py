"""Typed sentences: the worker pool (timeout, crash, concurrency, idle stop) with fake workers,
and the real worker against `Explainer.explain` on the model the logger kept."""

from __future__ import annotations

import json
import sys
import threading
import time

import keras
import numpy as np
import pytest
from keras_relevance_tb import explain
from keras_relevance_tb.params import RouteError

FAKE = r"""
import json, os, sys, time
for line in sys.stdin:
    r = json.loads(line)
    text = r["text"]
    if text == "die":
        os._exit(3)
    if text.startswith("sleep"):
        time.sleep(float(text.split()[1]))
    sys.stdout.write(json.dumps({"id": r["id"], "tokens": text.split(), "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
"""


@pytest.fixture
def fake_pool(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    pool = explain.WorkerPool(str(tmp_path), command=(sys.executable, str(script)),
                              timeout_s=2.0, idle_s=60)
    yield pool
    pool.close()


def test_pool_answers_and_reuses_its_worker(fake_pool):
    a = fake_pool.ask("run", {"text": "a b"})
    b = fake_pool.ask("run", {"text": "c"})
    assert a["tokens"] == ["a", "b"] and b["tokens"] == ["c"] and a["pid"] == b["pid"]
    other = fake_pool.ask("other", {"text": "x"})
    assert other["pid"] != a["pid"]  # one worker per run


def test_timeout_stops_the_worker_and_the_next_request_starts_one(fake_pool):
    first = fake_pool.ask("run", {"text": "x"})["pid"]
    with pytest.raises(RouteError, match="longer than 2 s") as info:
        fake_pool.ask("run", {"text": "sleep 30"})
    assert info.value.code == 504 and "run" not in fake_pool.workers()
    assert fake_pool.ask("run", {"text": "y"})["pid"] != first


def test_crash_mid_request_is_an_error_and_the_next_request_starts_a_new_worker(fake_pool):
    first = fake_pool.ask("run", {"text": "x"})["pid"]
    with pytest.raises(RouteError, match="died") as info:
        fake_pool.ask("run", {"text": "die"})
    assert info.value.code == 502
    assert fake_pool.ask("run", {"text": "y"})["pid"] != first


def test_killed_worker_between_requests(fake_pool):
    import os
    import signal

    pid = fake_pool.ask("run", {"text": "x"})["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert fake_pool.ask("run", {"text": "y"})["pid"] != pid


def test_one_request_in_flight_per_run(fake_pool):
    fake_pool.ask("run", {"text": "warm"})
    results = {}

    def slow():
        results["slow"] = fake_pool.ask("run", {"text": "sleep 1"})

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    with pytest.raises(RouteError) as info:
        fake_pool.ask("run", {"text": "second"})
    assert info.value.code == 409 and "already running" in info.value.message
    assert fake_pool.ask("other", {"text": "fine"})["tokens"] == ["fine"]  # other runs go on
    thread.join()
    assert results["slow"]["tokens"] == ["sleep", "1"]


def test_idle_workers_are_stopped(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE)
    pool = explain.WorkerPool(str(tmp_path), command=(sys.executable, str(script)), idle_s=0.3)
    try:
        pool.ask("run", {"text": "x"})
        assert "run" in pool.workers()
        deadline = time.monotonic() + 10
        while pool.workers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.workers() == {}
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"run": "r", "text": "x" * 10_000, "methods": ["lrp"]}, "10,000 characters; the limit"),
        ({"run": "r", "text": " ", "methods": ["lrp"]}, "non-empty"),
        ({"run": "../x", "text": "a", "methods": ["lrp"]}, "not a path"),
        ({"run": "r", "text": "a", "methods": []}, "1 to 8"),
        ({"run": "r", "text": "a", "methods": ["<b>"]}, "malformed method"),
        ({"run": "r", "text": "a", "methods": ["lrp"], "step": "1"}, "integer"),
        ({"run": "r", "text": "a", "methods": ["lrp"], "model": "/etc/x"}, "unknown fields"),
    ],
)
def test_request_validation(body, match):
    with pytest.raises(RouteError, match=match) as info:
        explain.parse_request(body)
    assert info.value.code == 400


# ---- the real worker on a model kept by ExplanationLogger -----------------------------------
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    from keras_relevance import ExplanationLogger, Vocabulary

    root = tmp_path_factory.mktemp("logs")
    texts = ["a good film", "a bad film", "good fun", "dull and bad", "very good", "boring plot"]
    vocab = Vocabulary.from_texts(texts)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(len(vocab), 6, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(3)),
        keras.layers.Dense(2),
    ])  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = ExplanationLogger(root, texts[:2], methods=("lrp", "sa"), vocabulary=vocab,
                               class_names=["neg", "pos"], keep_models=1)
    model.fit(vocab.encode(texts), np.array([1, 0, 1, 0, 1, 0]), epochs=2, verbose=0,
              callbacks=[logger])
    return root, model, vocab


def test_logger_keeps_the_newest_model_only(kept):
    root, _, _ = kept
    folder = root / "explanations" / "models"
    index = json.loads((folder / "index.json").read_text())
    assert index["steps"] == {"1": "step_1.keras"} and index["class_names"] == ["neg", "pos"]
    assert sorted(p.name for p in folder.iterdir()) == ["index.json", "step_1.keras", "vocab.json"]


def test_typed_sentence_equals_explainer_on_the_same_model(kept):
    from keras_relevance_tb import plugin as plugin_module
    from tensorboard import context as tb_context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from werkzeug.test import Client

    from keras_relevance.explainer import Explainer

    root, model, vocab = kept
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"keras_relevance": 0})
    mux.AddRunsFromDirectory(str(root))
    mux.Reload()
    p = plugin_module.KerasRelevancePlugin(base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(mux, str(root)), logdir=str(root)))
    try:
        text = f"a very good {HOSTILE} film"
        body = p.explain_impl(tb_context.RequestContext(), "", run="explanations", text=text,
                              methods=["lrp", "sa"])
        assert body["step"] == 1 and body["class_names"] == ["neg", "pos"]
        (tokenized,) = vocab.tokenize([text])
        assert body["tokens"] == list(tokenized.tokens) and "img" in body["tokens"]
        ids = vocab.encode([body["tokens"]])
        for method in ("lrp", "sa"):
            expected = Explainer(model).explain(ids, method=method)
            np.testing.assert_allclose(body["relevance"][method], expected.relevance[0], rtol=1e-5,
                                       atol=1e-7)
            assert body["target"] == int(expected.target[0])
        np.testing.assert_allclose(body["logits"], expected.logits[0], rtol=1e-5, atol=1e-7)
        assert "<" in body["unknown"]
        # over HTTP: a 10k-character sentence is refused with a message; other content types too
        client = Client(p.get_plugin_apps()["/explain"])
        long = client.post("/explain", json={"run": "explanations", "text": "a" * 10_000,
                                             "methods": ["lrp"]})
        assert long.status_code == 400 and "limit is 2,000" in long.get_json()["error"]
        form = client.post("/explain", data="run=explanations", content_type="text/plain")
        assert form.status_code == 415
        assert client.get("/explain").status_code == 405
        missing = client.post("/explain", json={"run": "explanations", "text": "good",
                                                "methods": ["lrp"], "step": 0})
        assert missing.status_code == 404 and "kept steps: [1]" in missing.get_json()["error"]
    finally:
        p.pool.close()


def _children(pid):
    import subprocess

    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "serve_worker" in line]


@pytest.mark.slow  # ~45 s: two workers load TensorFlow (the killed one and its successor)
@pytest.mark.browser
def test_page_explains_typed_text_and_shows_worker_errors(kept, tmp_path):
    """In Chromium: a worker killed mid-request shows an error and the next request works; the
    typed sentence's heatmap equals Explainer.explain; the hostile token is text; 10k characters
    are refused with a message."""
    import os
    import signal

    from _cdp import Browser
    from test_tb_plugin import CHROMIUM, _start_tensorboard, _stop

    from keras_relevance.explainer import Explainer

    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    root, model, vocab = kept
    proc, url = _start_tensorboard(root, tmp_path / "tb.log", runs=1)
    browser = None
    try:
        browser = Browser(CHROMIUM, str(tmp_path / "profile"),
                          f"{url}/data/plugin_entry.html?name=keras_relevance")
        browser.wait_for("document.body && document.body.dataset.krReady === '1'")

        def ask(text):
            browser.evaluate(f"""(() => {{ delete document.body.dataset.krTyped;
                document.querySelector('#kr-typed-text').value = {json.dumps(text)};
                document.querySelectorAll('#kr-typed-methods input').forEach((i) => {{
                  i.checked = true; }});
                document.querySelector('#kr-typed-go').click(); return true; }})()""")

        # killed while it loads the model: an error on the page, then a new worker answers
        ask("a good film")
        deadline = time.monotonic() + 30
        while not _children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (worker,) = _children(proc.pid)
        os.kill(worker, signal.SIGKILL)
        browser.wait_for("document.body.dataset.krTyped === 'error'", timeout=60)
        message = browser.evaluate("document.querySelector('#kr-typed-result').textContent")
        assert "worker died" in message

        text = f"a very good {HOSTILE} film"
        ask(text)
        browser.wait_for("document.body.dataset.krTyped === 'done'", timeout=120)
        rows = browser.evaluate("""[...document.querySelectorAll('#kr-typed-table tr')].map((tr) =>
            [tr.dataset.method, [...tr.querySelectorAll('.kr-token')].map((s) =>
              [s.textContent, Number(s.dataset.score)])])""")
        assert [m for m, _ in rows] == ["lrp", "sa"]
        tokens = list(vocab.tokenize([text])[0].tokens)
        ids = vocab.encode([tokens])
        for method, spans in rows:
            expected = Explainer(model).explain(ids, method=method).relevance[0]
            assert [t for t, _ in spans] == tokens
            np.testing.assert_allclose([v for _, v in spans], expected, rtol=1e-5, atol=1e-7)
        assert browser.evaluate("document.querySelectorAll('img').length") == 0

        ask("a" * 10_000)
        browser.wait_for("document.body.dataset.krTyped === 'error'", timeout=30)
        message = browser.evaluate("document.querySelector('#kr-typed-result').textContent")
        assert "10,000 characters; the limit is 2,000" in message
    finally:
        if browser is not None:
            browser.close()
        _stop(proc)
