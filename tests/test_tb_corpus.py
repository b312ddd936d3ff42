"""The plugin's ``/corpus`` route: explain_corpus folders inside the logdir, listed and shown.

A real corpus output (explain_corpus on a tiny LSTM, 40 labelled texts) is written inside a logdir;
the ``*_impl`` answers are checked against aggregates.json and against sums recomputed with NumPy
from the Parquet rows; traversal (``..``, absolute paths, symlinks out of the logdir) is refused; a
headless Chromium renders the Corpus panel of a real ``tensorboard``.
"""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest
from keras_relevance_tb import corpus as tb_corpus
from keras_relevance_tb import metadata
from tensorboard import context as tb_context
from tensorboard.plugins import base_plugin

import keras_relevance as kr

WORDS = "a good bad film plot dull fun great boring acting movie very not".split()
HOSTILE = "<img src=x onerror=alert(1)>"
CTX = tb_context.RequestContext()


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(2, 12))) for _ in range(n)]
    return [f"{t} {HOSTILE}" if i % 4 == 0 else t for i, t in enumerate(texts)]


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("kr_corpus_logs")
    texts = _texts(40)
    vocab = kr.Vocabulary.from_texts(texts)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(len(vocab), 8, mask_zero=True),
        keras.layers.LSTM(4),
        keras.layers.Dense(2),
    ])
    data = [(t, i % 2) for i, t in enumerate(texts)]
    kr.explain_corpus(model, data, methods=("lrp", "sa"), out=root / "exp1" / "corpus-imdb",
                      batch_size=16, shard_size=25, quiet=True, vocabulary=vocab,
                      deletion_steps=3, class_names=["negative", f"pos {HOSTILE}"])
    (root / "exp1" / "notes").mkdir()  # a folder that is not a corpus
    return root


def _plugin(logdir):
    from keras_relevance_tb import plugin

    context = base_plugin.TBContext(data_provider=None, logdir=str(logdir))
    return plugin.KerasRelevancePlugin(context)


@pytest.fixture(scope="module")
def tb_plugin(logdir):
    return _plugin(logdir)


def test_listing_names_the_corpus_folder_with_counts(tb_plugin, logdir):
    listing = tb_plugin.handle("/corpus", CTX, "", {})
    assert listing == {"corpora": [{"path": "exp1/corpus-imdb", "docs": 40,
                                    "tokens": listing["corpora"][0]["tokens"],
                                    "methods": ["lrp", "sa"], "error": None}]}
    df = kr.read_explanations(logdir / "exp1" / "corpus-imdb")
    assert listing["corpora"][0]["tokens"] == sum(len(t) for t in df["tokens"])
    assert tb_plugin.is_active()


def test_aggregates_are_the_files_and_match_numpy_sums(tb_plugin, logdir):
    body = tb_plugin.handle("/corpus", CTX, "", {"path": "exp1/corpus-imdb"})
    raw = json.loads((logdir / "exp1" / "corpus-imdb" / "aggregates.json").read_text())
    assert body["path"] == "exp1/corpus-imdb"
    assert (body["docs"], body["labelled"], body["shards"]) == (40, 40, 2)
    assert body["class_names"] == raw["class_names"] == ["negative", f"pos {HOSTILE}"]
    assert body["correct"] == raw["correct"]
    df = kr.read_explanations(logdir / "exp1" / "corpus-imdb")
    for method in ("lrp", "sa"):
        got, want = body["methods"][method], raw["methods"][method]
        # top words: the file's triples as {word, mean, count}; means recomputed in float64
        sums: dict[tuple[str, str], list[float]] = {}
        for tokens, rel, target in zip(df["tokens"], df[f"relevance_{method}"], df["target"],
                                       strict=True):
            for w, s in zip(tokens, np.asarray(rel, np.float64), strict=True):
                sums.setdefault((str(target), w), []).append(s)
        assert set(got["top_words"]) == set(want["top_words"])
        for cls, lists in want["top_words"].items():
            for which in ("most", "least"):
                rows = got["top_words"][cls][which]
                assert [r["word"] for r in rows] == [w for w, _, _ in lists[which]]
                for r in rows:
                    values = sums[(cls, r["word"])]
                    assert r["count"] == len(values)
                    assert r["mean"] == pytest.approx(np.mean(values), rel=1e-5, abs=1e-7)
        # relative position: word t of L in bin floor(10 t / L); mean per bin, in float64
        total, count = np.zeros(10), np.zeros(10)
        for rel in df[f"relevance_{method}"]:
            rel = np.asarray(rel, np.float64)
            for t, s in enumerate(rel):
                total[t * 10 // len(rel)] += s
                count[t * 10 // len(rel)] += 1
        assert got["position"]["count"] == count.tolist()
        np.testing.assert_allclose(got["position"]["mean"], total / np.maximum(count, 1),
                                   rtol=1e-5, atol=1e-9)
        assert got["position"]["bins"] == pytest.approx([(b + 1) / 10 for b in range(10)])
        assert got["aopc"]["aopc"] == pytest.approx(want["aopc"]["aopc"])
        assert got["deletion"]["accuracy"] == pytest.approx(want["deletion"]["accuracy"])


@pytest.mark.parametrize(("path", "code"), [
    ("../..", 400), ("..", 400), ("exp1/../..", 400), ("/etc", 400), ("~/x", 400),
    ("C:/x", 400), ("exp1\\corpus-imdb", 400), ("exp1//corpus-imdb", 400),
    ("exp1/./corpus-imdb", 400), ("exp1/notes", 404), ("exp1", 404), ("nope", 404),
])
def test_bad_paths_are_refused(tb_plugin, path, code):
    from keras_relevance_tb.plugin import RouteError

    with pytest.raises(RouteError) as info:
        tb_plugin.handle("/corpus", CTX, "", {"path": path})
    assert info.value.code == code and info.value.message


def test_absolute_path_of_the_real_folder_is_refused(tb_plugin, logdir):
    from keras_relevance_tb.plugin import RouteError

    with pytest.raises(RouteError) as info:
        tb_plugin.handle("/corpus", CTX, "", {"path": str(logdir / "exp1" / "corpus-imdb")})
    assert info.value.code == 400


def test_symlinks_out_of_the_logdir_are_never_read(logdir, tmp_path):
    from keras_relevance_tb.plugin import RouteError

    outside = tmp_path / "outside"
    (outside / "secret").mkdir(parents=True)
    for name in ("aggregates.json", "manifest.json"):
        (outside / "secret" / name).write_text(
            (logdir / "exp1" / "corpus-imdb" / name).read_text())
    inside = tmp_path / "logs"
    (inside / "run").mkdir(parents=True)
    (inside / "linked").symlink_to(outside / "secret", target_is_directory=True)
    # a real folder whose aggregates.json is a symlink to a file outside
    (inside / "run" / "manifest.json").write_text("{}")
    (inside / "run" / "aggregates.json").symlink_to(outside / "secret" / "aggregates.json")
    plugin = _plugin(inside)
    listing = plugin.corpus_impl(CTX, "")["corpora"]
    assert [f["path"] for f in listing] == ["run"] and "outside" in listing[0]["error"]
    for path in ("linked", "run"):
        with pytest.raises(RouteError) as info:
            plugin.corpus_impl(CTX, "", path=path)
        assert info.value.code == 404, path


def test_unreadable_aggregates_are_422_and_listed_with_an_error(tmp_path):
    from keras_relevance_tb.plugin import RouteError

    for name, text in (("broken", "{not json"), ("foreign", '{"methods": {"lrp": 3}}'),
                       ("badcount", '{"docs": -1, "methods": {}}'),
                       ("badnames", '{"methods": {}, "class_names": ["a", 1]}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text("{}")
        (tmp_path / name / "aggregates.json").write_text(text)
    plugin = _plugin(tmp_path)
    listing = plugin.corpus_impl(CTX, "")["corpora"]
    assert [f["path"] for f in listing] == ["badcount", "badnames", "broken", "foreign"]
    assert all(f["error"] for f in listing)
    for name in ("broken", "foreign", "badcount", "badnames"):
        with pytest.raises(RouteError) as info:
            plugin.corpus_impl(CTX, "", path=name)
        assert info.value.code == 422


def test_no_local_logdir_lists_nothing():
    assert tb_corpus.CorpusIndex("").folders() == []
    assert tb_corpus.CorpusIndex("gs://bucket/logs").folders() == []


def test_listing_follows_changes_after_the_ttl(tmp_path):
    index = tb_corpus.CorpusIndex(str(tmp_path), ttl=0.0)
    assert index.folders() == []
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "manifest.json").write_text("{}")
    (tmp_path / "c" / "aggregates.json").write_text('{"docs": 3, "methods": {}}')
    assert [(f["path"], f["docs"]) for f in index.folders()] == [("c", 3)]
    (tmp_path / "c" / "aggregates.json").write_text('{"docs": 12, "methods": {}}')
    assert [(f["path"], f["docs"]) for f in index.folders()] == [("c", 12)]


def test_walk_is_bounded_in_depth(tmp_path):
    deep = tmp_path.joinpath(*[f"d{i}" for i in range(tb_corpus.MAX_DEPTH + 1)])
    deep.mkdir(parents=True)
    (deep / "manifest.json").write_text("{}")
    (deep / "aggregates.json").write_text('{"methods": {}}')
    assert tb_corpus.CorpusIndex(str(tmp_path)).folders() == []


# ---- the dashboard in a real tensorboard + headless Chromium ---------------------------------

@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="Debian's chromium is not installed (apt-get install chromium)")
@pytest.mark.browser
def test_dashboard_renders_the_corpus_panel(logdir, tmp_path):
    """A logdir holding only a corpus: the tab is active and the panel shows every top word."""
    from test_tb_plugin import _chromium, _Dom, _start_tensorboard, _stop

    proc, url = _start_tensorboard(logdir, tmp_path / "tb.log", runs=0)
    try:
        page = f"{url}/data/plugin_entry.html?name={metadata.PLUGIN_NAME}"
        dom_text = _chromium(tmp_path, "--dump-dom", page)
    finally:
        _stop(proc)
    dom = _Dom()
    dom.feed(dom_text)
    assert 'data-kr-corpus-ready="1"' in dom_text, dom_text[-3000:]
    body = json.loads((logdir / "exp1" / "corpus-imdb" / "aggregates.json").read_text())
    lists = [e for e in dom.elements if e[0] == "ol" and "kr-corpus-words" in e[1]]
    want = {(m, c, which) for m, agg in body["methods"].items()
            for c in agg["top_words"] for which in ("most", "least")}
    got = {(e[2]["data-method"], e[2]["data-class"], e[2]["data-which"]) for e in lists}
    assert got == want
    # the first method's top word of class 0 is shown with its count, as text
    first = body["methods"]["lrp"]["top_words"]["0"]["most"][0]
    assert f"×{first[2]}" in dom_text
    words = [s for s in dom.spans if "kr-corpus-word" in s["attrs"].get("class", "")]
    shown = {s["text"] for s in words}
    for agg in body["methods"].values():
        for ls in agg["top_words"].values():
            assert {w for w, _, _ in ls["most"]} <= shown
    assert not [e for e in dom.elements if e[0] == "img"]  # the hostile token stays text
    # the classes are named (the hostile class name is text, too)
    headings = [h for h in dom_text.split("<h4>")[1:]]
    assert any(h.startswith("negative: most relevant") for h in headings), headings[:4]
    assert "pos &lt;img src=x onerror=alert(1)&gt;: least relevant" in dom_text
    assert [e for e in dom.elements if e[0] == "svg" and "kr-position-chart" in e[1]]
    assert "exp1/corpus-imdb" in dom_text and "AOPC" in dom_text

