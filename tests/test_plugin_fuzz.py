"""The plugin's routes under random and hostile input, and under a run that is still being written.

Everything runs in process: TensorBoard's own WSGI application (`TensorBoardWSGI`, the router that
`tensorboard` serves) over the plugin and TensorBoard's data provider for a temporary logdir,
driven by werkzeug's test `Client`. No socket is opened.

What must hold: every answer is a 200, or a 4xx with a JSON ``{"error": message}``; never a 500,
never a byte of a file outside the plugin's data (a marker file sits beside and inside the logdir);
untrusted tokens come back as JSON data and the dashboard only ever puts them in the page as text;
a reader polling a run while a writer appends steps sees complete steps, and never fewer of them.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from keras_relevance_tb import metadata, summary
from keras_relevance_tb.plugin import KerasRelevancePlugin
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer as tb_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug.test import Client

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]
settings.register_profile(
    "ci", max_examples=10, deadline=None, derandomize=True, database=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate), suppress_health_check=_QUIET,
    print_blob=True,
)  # fmt: skip
settings.register_profile(
    "deep", max_examples=200, deadline=None, suppress_health_check=_QUIET, print_blob=True
)
PROFILE = os.environ.get("KR_HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    return ci if PROFILE == "ci" else 20 * ci


PREFIX = f"/data/plugin/{metadata.PLUGIN_NAME}"
ROUTES = ("runs", "heatmaps", "sample", "sample_history", "deletion_curves", "aopc", "corpus")
PARAMS = ("run", "tag", "method", "step", "offset", "limit", "filter", "class", "id", "kind",
          "path")
SECRET = "TOP-SECRET-7f3a9c"  # in files beside and inside the logdir: must never be served
HOSTILE_TOKENS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('x')</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "{{constructor.constructor('alert(1)')()}}",
    "\u202egnp.exe",
    "😀",
]
STEPS = (0, 1, 3)


def _write_logdir(root: Path) -> None:
    writer = tf.summary.create_file_writer(str(root / "train"))
    tokens = [HOSTILE_TOKENS, ["a", "fine", "film"], [SECRET[:3]]]
    with writer.as_default():
        for step in STEPS:
            for method in ("lrp", "sa"):
                summary.token_heatmap(
                    f"heatmap/{method}", tokens,
                    {c: [[0.1 * (i + c + step) for i in range(len(t))] for t in tokens]
                     for c in (0, 1)},
                    step=step, method=method, labels=[1, 0, 1], predictions=[1, 1, 0],
                    logits=[[0.0, 1.0]] * 3, class_names=["<b>neg</b>", "pos"],
                    sample_ids=["s0", "<s1>", "../s2"],
                )  # fmt: skip
            summary.deletion_curve("deletion/correct", {"lrp": [1.0, 0.5], "sa": [1.0, 0.7]},
                                   step=step, random_mean=[1.0, 0.9], kind="correct")
    writer.close()
    (root / "notes.txt").write_text(SECRET)
    (root.parent / "secret.txt").write_text(SECRET)
    # explain_corpus folders: one inside (hostile words are data), one outside reached by symlinks
    words = [[w, 0.5 - 0.1 * i, 3] for i, w in enumerate(HOSTILE_TOKENS)]
    aggregates = {"docs": 2, "tokens": 9, "labelled": 0, "correct": 0, "shards": 1,
                  "methods": {"lrp": {"top_words": {"0": {"most": words, "least": words[::-1]}},
                                      "position": {"mean": [0.1] * 10}}}}
    for folder, agg in ((root / "eval" / "corpus-a", aggregates),
                        (root.parent / "outside-corpus", {**aggregates, "secret": SECRET,
                         "methods": {"lrp": {"top_words": {"0": {"most": [[SECRET, 1.0, 3]]}}}}})):
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        (folder / "aggregates.json").write_text(json.dumps(agg))
    (root / "linked-corpus").symlink_to(root.parent / "outside-corpus", target_is_directory=True)
    (root / "eval" / "half").mkdir()
    (root / "eval" / "half" / "manifest.json").write_text("{}")
    (root / "eval" / "half" / "aggregates.json").symlink_to(
        root.parent / "outside-corpus" / "aggregates.json")


def _provider(logdir: Path):
    mux = tb_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={metadata.PLUGIN_NAME: 0},
    )
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    return mux, tb_data_provider.MultiplexerDataProvider(mux, str(logdir))


def _client(logdir: Path):
    mux, provider = _provider(logdir)
    plugin = KerasRelevancePlugin(
        base_plugin.TBContext(data_provider=provider, logdir=str(logdir))
    )
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return mux, Client(app)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "logs"
    root.mkdir()
    _write_logdir(root)
    _, c = _client(root)
    return c


def check(response, path=""):
    """The invariant of every answer; returns the parsed JSON body (or raw bytes for static)."""
    status = response.status_code
    body = response.get_data()
    assert status == 200 or 400 <= status < 500, (status, path, body[:300])
    assert SECRET.encode() not in body, path
    ctype = response.headers.get("Content-Type", "")
    if status == 200 and "/static/" in path:
        return body
    if status == 404 and ctype.startswith("text/plain") and "/static/" in path:
        # a path no plugin route matches (e.g. "static/" without a name): TensorBoard's router
        # answers it with its own plain-text 404 before the plugin is asked
        assert body.strip() == b"Not found", body[:200]
        return body
    assert ctype.startswith("application/json"), (path, ctype)
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    data = json.loads(body)
    if status != 200:
        assert isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"]
    return data


def get(client, route, query: str):
    path = f"{PREFIX}/{route}?{query}" if query else f"{PREFIX}/{route}"
    return check(client.get(path), path), path


# ------------------------------------------------------------------------------ the happy path
def test_routes_answer_and_tokens_are_data(client):
    runs, _ = get(client, "runs", "")
    assert [r["run"] for r in runs["runs"]] == ["train"]
    page, _ = get(client, "heatmaps", "run=train&method=lrp")
    assert page["samples"][0]["tokens"] == HOSTILE_TOKENS  # verbatim, as JSON strings
    assert page["class_names"] == ["<b>neg</b>", "pos"]
    side, _ = get(client, "sample", "run=train&id=%3Cs1%3E")
    assert side["id"] == "<s1>" and all(m["error"] is None for m in side["methods"])
    hist, _ = get(client, "sample_history", "run=train&tag=heatmap/sa&id=..%2Fs2")
    assert [h["step"] for h in hist["history"]] == list(STEPS)
    listing, _ = get(client, "corpus", "")
    assert [f["path"] for f in listing["corpora"]] == ["eval/corpus-a", "eval/half"]
    assert listing["corpora"][0]["error"] is None and listing["corpora"][1]["error"]
    corpus, _ = get(client, "corpus", "path=eval%2Fcorpus-a")
    most = corpus["methods"]["lrp"]["top_words"]["0"]["most"]
    assert [d["word"] for d in most] == HOSTILE_TOKENS  # verbatim, as JSON strings


# ------------------------------------------------------------------------------ hostile input
TRAVERSALS = [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fsecret.txt",
    "%252e%252e%252fsecret.txt", "..\\..\\secret.txt", "/etc/passwd", "~/.ssh/id_rsa",
    "C:\\Windows\\win.ini", "train/../../secret.txt", "train%00.txt", "%00", "notes.txt",
    "../secret.txt", "file:///etc/passwd", "\\\\host\\share",
]  # fmt: skip
HOSTILE_QUERIES = [
    "",  # everything missing
    "run", "run=", "run=&tag=&id=", "run=train&run=../x", "run=../x&run=train",
    "run=train&method=lrp&step=" + "9" * 5000,
    "run=train&method=lrp&step=-9223372036854775809",
    "run=train&method=lrp&step=9223372036854775807",
    "run=train&method=lrp&step=%20%2B1", "run=train&method=lrp&step=0x10",
    "run=train&method=lrp&step=1.0", "run=train&method=lrp&step=%EF%BC%91",  # fullwidth 1
    "run=train&method=lrp&offset=1000000000&limit=500",
    "run=train&method=lrp&offset=1000000001", "run=train&method=lrp&limit=-1",
    "run=train&method=lrp&class=99999999999999999999999",
    "run=train&method=lrp&filter=%00", "run=train&method=lr%00p",
    "run=train&tag=heatmap%2Flrp%00", "run=tr%C3%A0in&method=lrp",
    "run=%FF%FE&method=lrp", "run=%ED%A0%80&id=x",  # invalid UTF-8 / a lone surrogate
    "run=train&method=" + "a" * 100_000, "run=" + "%2e" * 3000,
    "run=train&id=" + "x" * 600, "run=train&method=lrp&step=&offset=&limit=&filter=&class=",
    "%=%&&&=&run=train", "run[]=train&method[]=lrp", "run=train;method=lrp",
]  # fmt: skip


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("value", TRAVERSALS)
def test_traversal_in_every_parameter(client, route, value):
    for param in ("run", "tag", "id", "method"):
        query = "&".join(f"{p}={value if p == param else 'train' if p == 'run' else 'x'}"
                         for p in ("run", "tag", "id", "method"))
        data, path = get(client, route, query)
        if route not in ("runs", "corpus") and (route != "aopc" or param == "run"):
            assert "error" in data, path  # a traversal never finds anything (aopc reads run only)


@pytest.mark.parametrize("value", [*TRAVERSALS, "linked-corpus", "eval/half", "eval",
                                   "eval/corpus-a/..", "./eval/corpus-a", "eval/corpus-a/"])
def test_traversal_in_the_corpus_path(client, value):
    for query in (f"path={value}", f"path={urllib.parse.quote(value, safe='')}"):
        data, path = get(client, "corpus", query)
        assert "error" in data, path


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_query_strings(client, route, query):
    get(client, route, query)


@pytest.mark.parametrize("name", [
    "..%2fplugin.py", "%2e%2e%2f%2e%2e%2fsecret.txt", "..%252fplugin.py", "index.js%00.txt",
    "..\\plugin.py", "/etc/passwd", "%2Fetc%2Fpasswd", "", "static", "index.js/..%2f..%2fx",
    "INDEX.JS", "index.js?x=%00",
])  # fmt: skip
def test_static_serves_only_its_own_files(client, name):
    path = f"{PREFIX}/static/{name}"
    response = client.get(path)
    body = check(response, path)
    if response.status_code == 200:  # only a file of static/, by its exact name
        assert name.split("?")[0] in {"index.js", "style.css"}
        assert b"def " not in body  # not plugin.py


def test_non_get_methods_and_odd_paths(client):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.open(f"{PREFIX}/heatmaps?run=train&method=lrp", method=method)
        assert response.status_code < 500
        assert SECRET.encode() not in response.get_data()
    for path in (f"{PREFIX}/", f"{PREFIX}/nope", f"{PREFIX}/heatmaps/extra", f"{PREFIX}//runs",
                 f"{PREFIX}/%2e%2e/%2e%2e/secret.txt"):
        response = client.get(path)
        assert response.status_code < 500 and SECRET.encode() not in response.get_data()


values = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=10),
    st.integers(-(2**80), 2**80).map(str),
    st.sampled_from(["train", "heatmap/lrp", "heatmap/sa", "deletion/correct", "lrp", "sa", "s0",
                     "<s1>", "../s2", "all", "correct", "misclassified", "0", "1", "3"]),
    st.sampled_from(TRAVERSALS),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=examples(150))
@given(
    route=st.sampled_from(ROUTES),
    pairs=st.lists(st.tuples(st.one_of(st.sampled_from(PARAMS), st.text(max_size=8)), values),
                   max_size=8),
)
def test_random_queries(client, route, pairs):
    """Random known and unknown parameters, repeated ones, any unicode, raw bytes."""
    query = urllib.parse.urlencode(pairs, encoding="utf-8", errors="surrogatepass")
    get(client, route, query)


@settings(max_examples=examples(100))
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_random_raw_query_bytes(client, route, raw):
    """Undecoded bytes straight into the query string (percent signs, NULs, broken escapes)."""
    query = urllib.parse.quote_from_bytes(raw, safe="=&%;+/?")
    get(client, route, query)


# ------------------------------------------------------------------------------ the front end
INDEX_JS = Path(__file__).resolve().parents[1] / "tb_plugin" / "static" / "index.js"


def _code_only(js: str) -> str:
    js = re.sub(r"/\*.*?\*/", "", js, flags=re.S)
    return "\n".join(line.split("//", 1)[0] if "'//" not in line else line
                     for line in js.splitlines())


def test_dashboard_puts_untrusted_text_in_the_page_only_as_text():
    code = "\n".join(_code_only(p.read_text()) for p in sorted(INDEX_JS.parent.glob("*.js")))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "createContextualFragment", "srcdoc", "DOMParser"):
        assert sink not in code, sink
    assert "span.textContent = token;" in code  # tokens: text nodes
    # attributes are set with setAttribute on created elements (never an HTML string) and no
    # attribute named on* comes from data: event handlers are only added as listeners
    assert "node.addEventListener(k.slice(2), v)" in code
    assert not re.search(r"setAttribute\(\s*['\"]on", code)
    assert not re.search(r"\.href\s*=|\.src\s*=", code)  # no URLs built from data


# ------------------------------------------------------------------------------ live run
def _expected_scores(step, n):
    return [round(0.01 * (step + i), 6) for i in range(n)]


def test_reading_while_a_run_is_written(tmp_path):
    """A writer thread appends steps (tf.summary, flushed after each); a reloader thread plays
    TensorBoard's background reload; two readers poll the routes. Every step a reader sees is
    complete and exact, and the list of steps never shrinks."""
    root = tmp_path / "logs"
    (root / "live").mkdir(parents=True)
    total, tokens = 12, [[f"w{i}" for i in range(n)] for n in (3, 40, 1)]
    # a first step so that the run exists when the multiplexer first looks
    writer = tf.summary.create_file_writer(str(root / "live"))

    def write(step):
        with writer.as_default():
            summary.token_heatmap(
                "heatmap/lrp", tokens,
                {0: [_expected_scores(step, len(t)) for t in tokens]},
                step=step, method="lrp", sample_ids=["a", "b", "c"],
            )  # fmt: skip
        writer.flush()

    write(0)
    mux, c = _client(root)
    done = threading.Event()
    failures: list[str] = []
    seen: dict[str, list[list[int]]] = {"r0": [], "r1": []}

    def writer_thread():
        try:
            for step in range(1, total):
                write(step)
                time.sleep(0.05)
        except Exception as e:  # pragma: no cover - reported below
            failures.append(f"writer: {e!r}")
        finally:
            done.set()

    def reloader_thread():
        while not done.is_set():
            mux.Reload()
            time.sleep(0.02)
        mux.Reload()

    def reader_thread(name):
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                last_round = done.is_set()
                runs = check(c.get(f"{PREFIX}/runs"))
                (run,) = runs["runs"]
                steps = run["heatmaps"][0]["steps"]
                seen[name].append(steps)
                for step in (steps[-1], steps[len(steps) // 2]):
                    page = check(c.get(f"{PREFIX}/heatmaps?run=live&method=lrp&step={step}"))
                    assert page["step"] == step and page["total"] == 3
                    for sample, toks in zip(page["samples"], tokens, strict=True):
                        assert sample["tokens"] == toks
                        assert sample["scores"]["0"] == _expected_scores(step, len(toks))
                hist = check(c.get(f"{PREFIX}/sample_history?run=live&method=lrp&id=b"))
                assert [h["step"] for h in hist["history"]][: len(steps)] == steps
                assert all(h["error"] is None for h in hist["history"])
                if last_round:
                    return
        except Exception as e:
            failures.append(f"{name}: {e!r}")

    threads = [threading.Thread(target=writer_thread), threading.Thread(target=reloader_thread),
               *(threading.Thread(target=reader_thread, args=(n,)) for n in seen)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    writer.close()
    assert not failures, failures
    assert not any(t.is_alive() for t in threads)
    for name, history in seen.items():
        assert history, name
        for before, after in zip(history, history[1:], strict=False):
            assert after[: len(before)] == before, (name, before, after)  # only grows
        assert history[-1] == list(range(total)), (name, history[-1])
    # the readers really raced the writer: they saw the run at several lengths
    assert len({tuple(steps) for h in seen.values() for steps in h}) >= 3, seen
