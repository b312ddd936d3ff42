"""explain_corpus: rows equal the Explainer's, every input kind, resume (also after SIGKILL),
bad input, aggregates against NumPy sums, tf.distribute (2 logical CPUs, 2 local workers)."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_relevance as kr
from keras_relevance import render, shards

HERE = Path(__file__).resolve().parent
WORDS = "a good bad film plot dull fun great boring acting movie very not".split()


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(n)]


def _model(vocab_size, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, 8, mask_zero=True),
        keras.layers.LSTM(4),
        keras.layers.Dense(2),
    ])


@pytest.fixture(scope="module")
def setup():
    texts = _texts(130)
    vocab = kr.Vocabulary.from_texts(texts[:40])
    return texts, vocab, _model(len(vocab))


def _run(model, data, out, vocab, **kw):
    kw = {"batch_size": 16, "shard_size": 50, "quiet": True, "vocabulary": vocab, **kw}
    return kr.explain_corpus(model, data, out=out, **kw)


def _plain(x):
    """Nested lists of Python values; None for a null (pandas gives None or NaN)."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return None
    if isinstance(x, np.ndarray | list | tuple):
        return [_plain(v) for v in x]
    return x.item() if isinstance(x, np.generic) else x


def _same(a, b, exact_numbers=False):
    assert a["doc_id"].tolist() == b["doc_id"].tolist()
    for col in ("tokens", "offsets", "label", "target"):
        assert [_plain(x) for x in a[col]] == [_plain(x) for x in b[col]], col
    for col in [c for c in a.columns if c.startswith(("relevance_", "logits"))]:
        for x, y in zip(a[col], b[col], strict=True):
            if exact_numbers:
                np.testing.assert_array_equal(x, y)
            else:
                np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------- the rows
def test_rows_equal_explainer_and_doc_order(setup, tmp_path):
    texts, vocab, model = setup
    labels = [i % 2 for i in range(len(texts))]
    res = _run(model, list(zip(texts, labels, strict=True)), tmp_path, vocab,
               methods=("lrp", "sa"))
    assert res["shards"] == 3 and res["docs"] == 130
    df = kr.read_explanations(tmp_path)
    assert df["doc_id"].tolist() == list(range(130))
    tok = vocab.tokenize(texts)
    ids = vocab.encode(tok)
    ex = kr.Explainer(model)
    lrp = ex.explain(ids, method="lrp")
    sa = ex.explain(ids, method="sa", target=lrp.target)
    for i, t in enumerate(tok):
        n = len(t.tokens)
        assert list(df.tokens[i]) == t.tokens
        assert [list(o) for o in df.offsets[i]] == [list(s) for s in t.spans()]
        assert df.label[i] == labels[i] and df.target[i] == lrp.target[i]
        np.testing.assert_allclose(df.logits[i], lrp.logits[i], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(df.relevance_lrp[i], lrp.relevance[i, :n], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(df.relevance_sa[i], sa.relevance[i, :n], rtol=1e-4, atol=1e-9)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(e["first_doc_id"], e["last_doc_id"], e["rows"]) for e in manifest["shards"]] == [
        (0, 49, 50), (50, 99, 50), (100, 129, 30)]
    assert manifest["config"]["fingerprint"] == shards.weights_fingerprint(model)


def test_aggregates_equal_numpy_sums_of_the_rows(setup, tmp_path):
    texts, vocab, model = setup
    labels = [i % 2 for i in range(len(texts))]
    _run(model, list(zip(texts, labels, strict=True)), tmp_path, vocab, deletion_steps=3)
    df = kr.read_explanations(tmp_path)
    agg = json.loads((tmp_path / "aggregates.json").read_text())
    assert agg["docs"] == 130 and agg["tokens"] == sum(len(t) for t in df.tokens)
    lrp = agg["methods"]["lrp"]
    # top words: mean relevance per (target class, word), from the rows with plain Python
    sums = {}
    for toks, rel, c in zip(df.tokens, df.relevance_lrp, df.target, strict=True):
        for w, r in zip(toks, rel, strict=True):
            s = sums.setdefault((str(c), w), [0.0, 0])
            s[0] += float(r)
            s[1] += 1
    for cls, lists in lrp["top_words"].items():
        for w, mean, count in lists["most"] + lists["least"]:
            s, n = sums[(cls, w)]
            assert count == n and mean == pytest.approx(s / n, rel=1e-9, abs=1e-12)
        means = sorted(((s / n, w) for (c, w), (s, n) in sums.items() if c == cls and n >= 3),
                       key=lambda x: (-x[0], x[1]))
        assert [w for _, w in means[: len(lists["most"])]] == [w for w, _, _ in lists["most"]]
    # positions: word t of L goes to bin floor(10 t / L)
    total = np.zeros(10)
    for rel in df.relevance_lrp:
        L = len(rel)
        np.add.at(total, (np.arange(L) * 10) // max(L, 1), np.asarray(rel, np.float64))
    np.testing.assert_allclose(lrp["position"]["total"], total, rtol=1e-9, atol=1e-12)
    # AOPC and deletion equal the evaluation functions on the whole corpus at once
    from keras_relevance import evaluation

    ids = vocab.encode(texts)
    rel = np.zeros(ids.shape)
    for i, r in enumerate(df.relevance_lrp):
        rel[i, : len(r)] = r
    ref = evaluation.aopc(model, ids, rel, df.target.to_numpy(), steps=3, verbose=False)
    assert lrp["aopc"]["aopc"] == pytest.approx(ref["aopc"], rel=1e-4, abs=1e-7)
    correct = df.target.to_numpy() == np.asarray(labels)
    acc = evaluation.deletion_curve(model, ids[correct], np.asarray(labels)[correct],
                                    rel[correct], max_deletions=3, verbose=False)
    assert lrp["deletion"]["n"] == correct.sum()
    np.testing.assert_allclose(lrp["deletion"]["accuracy"], acc, atol=1e-12)
    html = render.corpus_summary_html(tmp_path)
    assert "lrp" in html and "AOPC" in html and "<script" not in html


# ------------------------------------------------------------------------------- inputs
def test_every_input_kind_gives_the_same_rows(setup, tmp_path):
    texts, vocab, model = setup
    texts = texts[:60]
    labels = [i % 2 for i in range(60)]
    ref = _run(model, list(zip(texts, labels, strict=True)), tmp_path / "ref", vocab)
    assert ref["docs"] == 60
    ref = kr.read_explanations(tmp_path / "ref")
    (tmp_path / "c.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    import csv

    with open(tmp_path / "c.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels, strict=True))
    with tf.io.TFRecordWriter(str(tmp_path / "c.tfrecord")) as w:
        for t, y in zip(texts, labels, strict=True):
            feat = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[t.encode()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[y]))}
            w.write(tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString())
    inputs = {
        "csv": tmp_path / "c.csv",
        "tfrecord": [str(tmp_path / "c.tfrecord")],
        "dataset": tf.data.Dataset.from_tensor_slices((texts, labels)),
    }
    for name, data in inputs.items():
        _run(model, data, tmp_path / name, vocab)
        _same(kr.read_explanations(tmp_path / name), ref)
    _run(model, tmp_path / "c.txt", tmp_path / "txt", vocab)  # no labels in a .txt
    txt = kr.read_explanations(tmp_path / "txt")
    assert txt["label"].isna().all() and txt["tokens"].map(list).tolist() == ref.tokens.map(
        list).tolist()
    ids = [vocab.encode([t])[0].tolist() for t in texts]
    _run(model, ids, tmp_path / "ids", vocab)
    got = kr.read_explanations(tmp_path / "ids")
    assert got["offsets"].isna().all()
    for a, b in zip(got.relevance_lrp, ref.relevance_lrp, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------- resume
def test_resume_after_failure_skips_committed_and_equals_full_run(setup, tmp_path, monkeypatch):
    texts, vocab, model = setup
    _run(model, texts, tmp_path / "full", vocab)
    calls = {"n": 0}
    real = shards._write_table

    def full_disk(table, f):  # the second shard hits a full disk in the middle of its write
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"PAR1 half a shard")
            raise OSError(errno.ENOSPC, "No space left on device")
        real(table, f)

    monkeypatch.setattr(shards, "_write_table", full_disk)
    with pytest.raises(OSError, match=r"could not write shard 1 .*No space left.*resume=True"):
        _run(model, texts, tmp_path / "part", vocab)
    names = sorted(p.name for p in (tmp_path / "part").iterdir())
    assert names == ["manifest.json", "shard-000000.parquet"]  # no half shard, no temp file
    assert kr.read_explanations(tmp_path / "part")["doc_id"].tolist() == list(range(50))
    monkeypatch.setattr(shards, "_write_table", real)
    res = _run(model, texts, tmp_path / "part", vocab)
    assert res["skipped_shards"] == 1 and res["docs"] == 80
    _same(kr.read_explanations(tmp_path / "part"), kr.read_explanations(tmp_path / "full"))
    agg = [json.loads((tmp_path / d / "aggregates.json").read_text()) for d in ("part", "full")]
    assert agg[0] == agg[1]


def test_shard_written_but_not_in_manifest_does_not_count(setup, tmp_path, monkeypatch):
    texts, vocab, model = setup
    real = shards.write_json

    def crash(path, obj):
        if Path(path).name == "manifest.json" and len(obj["shards"]) == 2:
            raise KeyboardInterrupt  # killed between the shard's rename and the manifest's
        real(path, obj)

    monkeypatch.setattr(shards, "write_json", crash)
    with pytest.raises(KeyboardInterrupt):
        _run(model, texts, tmp_path, vocab)
    assert (tmp_path / "shard-000001.parquet").is_file()
    assert kr.read_explanations(tmp_path)["doc_id"].max() == 49
    monkeypatch.setattr(shards, "write_json", real)
    assert _run(model, texts, tmp_path, vocab)["docs"] == 80
    assert kr.read_explanations(tmp_path)["doc_id"].tolist() == list(range(130))


def test_other_model_options_or_no_resume_are_refused(setup, tmp_path):
    texts, vocab, model = setup
    _run(model, texts[:60], tmp_path, vocab)
    other = _model(len(vocab), seed=1)
    with pytest.raises(shards.ManifestMismatch, match="fingerprint.*another out="):
        _run(other, texts[:60], tmp_path, vocab)
    with pytest.raises(shards.ManifestMismatch, match="methods"):
        _run(model, texts[:60], tmp_path, vocab, methods=("sa",))
    with pytest.raises(shards.ManifestMismatch, match="options"):
        _run(model, texts[:60], tmp_path, vocab, lrp={"eps": 0.1})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _run(model, texts[:60], tmp_path, vocab, resume=False)
    _run(other, texts[:60], tmp_path, vocab, resume=False, overwrite=True)
    cfg = json.loads((tmp_path / "manifest.json").read_text())["config"]
    assert cfg["fingerprint"] == shards.weights_fingerprint(other)


def _subprocess(args, env=None, **kw):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(HERE / "corpus_worker.py"), *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus_model")
    texts = _texts(160, seed=3)
    vocab = kr.Vocabulary.from_texts(texts[:50])
    model = _model(len(vocab), seed=2)
    model.save(folder / "m.keras")
    vocab.save(folder / "v.json")
    (folder / "c.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    import corpus_worker  # noqa: F401  (tests/ is on sys.path under pytest's rootdir import)

    ref = folder / "ref"
    sys.path.insert(0, str(HERE))
    from corpus_worker import main as worker_main

    worker_main([folder / "m.keras", folder / "v.json", folder / "c.txt", ref, "plain"])
    return folder, kr.read_explanations(ref)


def test_sigkill_then_restart_gives_every_doc_exactly_once(saved, tmp_path):
    folder, ref = saved
    args = [folder / "m.keras", folder / "v.json", folder / "c.txt", tmp_path, "plain", 0.02]
    proc = _subprocess(args)
    deadline = time.monotonic() + 120
    manifest = tmp_path / "manifest.json"
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and json.loads(manifest.read_text())["shards"]:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(json.loads(manifest.read_text())["shards"])
    assert 1 <= committed < 4  # killed in the middle
    restart = _subprocess(args[:-1])
    output = restart.communicate(timeout=180)[0].decode()
    assert restart.returncode == 0 and "DONE" in output, output[-2000:]
    got = kr.read_explanations(tmp_path)
    assert got["doc_id"].tolist() == list(range(160))
    _same(got, ref)


# ------------------------------------------------------------------------------- distribute
def test_mirrored_strategy_two_logical_cpus_equals_single_device(saved, tmp_path):
    folder, ref = saved
    proc = _subprocess([folder / "m.keras", folder / "v.json", folder / "c.txt", tmp_path,
                        "mirrored"])
    output = proc.communicate(timeout=240)[0].decode()
    assert proc.returncode == 0 and "DONE" in output, output[-3000:]
    _same(kr.read_explanations(tmp_path), ref)
    ref_agg = json.loads((folder / "ref" / "aggregates.json").read_text())
    agg = json.loads((tmp_path / "aggregates.json").read_text())
    assert agg["docs"] == ref_agg["docs"] and agg["methods"].keys() == ref_agg["methods"].keys()


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow  # two worker processes + the collective set-up: 40-70 s on 2 shared cores
def test_multi_worker_two_local_processes_equal_single_device(saved, tmp_path):
    folder, ref = saved
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for k in range(2):
        tf_config = {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": k}}
        procs.append(_subprocess(
            [folder / "m.keras", folder / "v.json", folder / "c.txt", tmp_path, "worker"],
            env={"TF_CONFIG": json.dumps(tf_config)},
        ))
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0 and "DONE" in out, out[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "manifest.worker-0.json" in names and "manifest.worker-1.json" in names
    workers = {e["worker"] for k in range(2) for e in json.loads(
        (tmp_path / f"manifest.worker-{k}.json").read_text())["shards"]}
    assert workers == {0, 1}
    _same(kr.read_explanations(tmp_path), ref)
    agg = json.loads((tmp_path / "aggregates.json").read_text())
    assert agg["docs"] == 160 and agg["shards"] == 4


# ------------------------------------------------------------------------------- bad input
def test_empty_corpus_is_refused_and_writes_nothing(setup, tmp_path):
    _, vocab, model = setup
    with pytest.raises(ValueError, match="corpus is empty"):
        _run(model, [], tmp_path / "a", vocab)
    (tmp_path / "e.txt").write_bytes(b"")
    with pytest.raises(ValueError, match="corpus is empty"):
        _run(model, tmp_path / "e.txt", tmp_path / "b", vocab)
    unknown = tf.data.Dataset.from_tensor_slices(["x"]).filter(lambda s: False)  # size unknown
    with pytest.raises(ValueError, match="corpus is empty"):
        _run(model, unknown, tmp_path / "c", vocab)
    assert not [p for p in (tmp_path / "c").iterdir() if p.suffix in (".json", ".parquet")]


def test_empty_oov_and_too_long_documents(setup, tmp_path):
    _, vocab, model = setup
    long_doc = " ".join(["good", "film"] * 50_000)  # 100k tokens
    docs = ["", "zzz qqq xyzzy", long_doc, "a good film"]
    with pytest.warns(kr.CorpusWarning, match=r"truncated .*doc_ids \[2\]"):
        _run(model, docs, tmp_path, vocab, methods=("lrp",), max_tokens=2_000)  # fast test
    df = kr.read_explanations(tmp_path)
    assert list(df.tokens[0]) == [] and list(df.relevance_lrp[0]) == []  # kept, nothing to score
    assert list(df.tokens[1]) == ["zzz", "qqq", "xyzzy"]  # OOV words keep their text (id 1)
    ex = kr.Explainer(model)
    oov = ex.explain([[1, 1, 1]], method="lrp")
    np.testing.assert_allclose(df.relevance_lrp[1], oov.relevance[0], rtol=1e-4, atol=1e-8)
    assert len(df.tokens[2]) == 2_000 and len(df.relevance_lrp[2]) == 2_000
    assert list(df.offsets[2][-1]) == [2_000 * 5 - 5, 2_000 * 5 - 1]  # "good film good ... film"
    assert np.isfinite(np.asarray(df.relevance_lrp[2])).all()


def test_non_utf8_line_is_replaced_and_reported(setup, tmp_path):
    _, vocab, model = setup
    (tmp_path / "c.txt").write_bytes(b"a good film\n\xff\xfe bad plot\nfun\n")
    with pytest.warns(kr.CorpusWarning, match=r"not valid UTF-8.*c\.txt:2"):
        _run(model, tmp_path / "c.txt", tmp_path / "out", vocab)
    df = kr.read_explanations(tmp_path / "out")
    assert df.doc_id.tolist() == [0, 1, 2]
    assert "\ufffd" in "".join(df.tokens[1]) and list(df.tokens[1])[-2:] == ["bad", "plot"]


def test_label_outside_classes_names_the_doc(setup, tmp_path):
    _, vocab, model = setup
    data = [("a good film", 1), ("bad", 0), ("dull plot", 5)]
    with pytest.raises(ValueError, match=r"doc_id 2: label 5 is outside the model's 2 classes"):
        _run(model, data, tmp_path / "a", vocab)
    with pytest.raises(ValueError, match=r"doc_id 1: label -1 is not a class"):
        _run(model, [("good", 0), ("bad", -1)], tmp_path / "b", vocab)
    with pytest.raises(ValueError, match="needs vocabulary="):
        kr.explain_corpus(model, ["good"], out=tmp_path / "c", quiet=True)
    with pytest.raises(TypeError, match="method options go as"):
        _run(model, ["good"], tmp_path / "d", vocab, eps=0.1)


def test_class_names_are_checked_kept_on_resume_and_in_aggregates(setup, tmp_path):
    texts, vocab, model = setup
    data = [(t, i % 2) for i, t in enumerate(texts[:60])]
    with pytest.raises(ValueError, match="3 names for a model with 2 classes"):
        _run(model, data, tmp_path / "bad", vocab, class_names=["a", "b", "c"])
    with pytest.raises(TypeError, match="list of strings"):
        _run(model, data, tmp_path / "bad", vocab, class_names="neg,pos")
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    _run(model, data, tmp_path / "out", vocab, class_names=["neg", "pos"])
    (tmp_path / "out" / "aggregates.json").unlink()
    res = _run(model, data, tmp_path / "out", vocab)  # resumed without names: kept
    assert res["skipped_shards"] == 2
    agg = json.loads((tmp_path / "out" / "aggregates.json").read_text())
    assert agg["class_names"] == ["neg", "pos"]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["class_names"] == ["neg", "pos"]
    _run(model, data, tmp_path / "plain", vocab)
    assert json.loads((tmp_path / "plain" / "aggregates.json").read_text())["class_names"] is None
    html = render.corpus_summary_html(tmp_path / "out")
    assert "class 1 (pos), most relevant" in html and "class 0 (neg)" in html


def test_cli_explain_corpus(setup, tmp_path, capsys):
    from keras_relevance.cli import main

    texts, vocab, model = setup
    model.save(tmp_path / "m.keras")
    vocab.save(tmp_path / "m.vocab.json")
    (tmp_path / "c.txt").write_text("\n".join(texts[:30]) + "\n", encoding="utf-8")
    args = ["explain-corpus", str(tmp_path / "m.keras"), str(tmp_path / "c.txt"), "--out",
            str(tmp_path / "out"), "--methods", "lrp,sa", "--shard-size", "20", "--quiet"]
    assert main(args) == 0
    assert "explained 30 documents" in capsys.readouterr().out
    df = kr.read_explanations(tmp_path / "out")
    assert df.doc_id.tolist() == list(range(30)) and {"relevance_lrp", "relevance_sa"} <= set(df)
    assert main(args + ["--no-resume"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(args) == 0 and "skipped 2 committed" in capsys.readouterr().out
    assert main(args[:-1] + ["--out", str(tmp_path / "named"), "--class-names", "neg,pos",
                             "--quiet"]) == 0
    agg = json.loads((tmp_path / "named" / "aggregates.json").read_text())
    assert agg["class_names"] == ["neg", "pos"]


# ------------------------------------------------------------------- raw strings, sigmoid head
PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"  # what TextVectorization strips


def _raw_texts(n, seed, extra=()):
    """Sentences with capitals, punctuation and (with `extra`) words the layer never saw."""
    rng = np.random.default_rng(seed)
    words = WORDS + ["don't"] + list(extra)
    out = []
    for _ in range(n):
        ws = [str(w) for w in rng.choice(words, size=rng.integers(1, 10))]
        ws = [w.capitalize() if rng.random() < 0.3 else w for w in ws]
        ws = [w + str(rng.choice([",", "!", "."])) if rng.random() < 0.2 else w for w in ws]
        out.append(" ".join(ws))
    return out


@pytest.fixture(scope="module")
def strings():
    """Input(string) → TextVectorization (adapted on 30 sentences) → Embedding → GRU → sigmoid."""
    keras.utils.set_random_seed(3)
    layer = keras.layers.TextVectorization()
    layer.adapt(_raw_texts(30, seed=1))
    inp = keras.Input(shape=(1,), dtype="string")
    x = keras.layers.Embedding(len(layer.get_vocabulary()), 8, mask_zero=True)(layer(inp))
    x = keras.layers.GRU(4)(x)
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(x))
    texts = _raw_texts(60, seed=2, extra=("zebra", "Opera"))
    texts[5] = ""  # an empty document
    return texts, model


def test_string_model_rows_equal_explainer_without_vocabulary(strings, tmp_path):
    texts, model = strings
    labels = [i % 2 for i in range(len(texts))]  # 0/1 labels of a one-unit sigmoid head
    _run(model, list(zip(texts, labels, strict=True)), tmp_path, None, methods=("lrp", "sa"),
         shard_size=25, deletion_steps=2)
    df = kr.read_explanations(tmp_path)
    assert df.doc_id.tolist() == list(range(60))
    ex = kr.Explainer(model)
    lrp = ex.explain(texts, method="lrp")
    sa = ex.explain(texts, method="sa", target=lrp.target)
    # independent: z = logit(p) of the model's probability; class scores [-z, z], target z > 0
    p = np.asarray(model(np.asarray(texts)[:, None]), np.float64)[:, 0]
    z = np.log(p / (1 - p))
    unknown = 0
    for i, text in enumerate(texts):
        n = len(lrp.tokens[i])
        assert list(df.tokens[i]) == lrp.tokens[i] and df.label[i] == labels[i]
        np.testing.assert_allclose(df.logits[i], [-z[i], z[i]], rtol=1e-4, atol=1e-6)
        assert df.target[i] == lrp.target[i] == int(z[i] > 0)
        np.testing.assert_allclose(df.logits[i], lrp.logits[i], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(df.relevance_lrp[i], lrp.relevance[i, :n], rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(df.relevance_sa[i], sa.relevance[i, :n], rtol=1e-4, atol=1e-9)
        assert len(df.offsets[i]) == n
        for (start, end), token in zip(df.offsets[i], df.tokens[i], strict=True):
            word = text[start:end]
            assert word.strip(PUNCT) == word.rstrip(PUNCT) and " " not in word  # one word
            if token == "[UNK]":
                unknown += 1
                assert word.lower().strip(PUNCT) in ("zebra", "opera")
            else:
                assert "".join(c for c in word.lower() if c not in PUNCT) == token
    assert unknown > 0 and len(df.tokens[5]) == 0 and df.target[5] == 0
    assert set(df.target) == {0, 1}  # both classes predicted: the per-class checks below bite
    agg = json.loads((tmp_path / "aggregates.json").read_text())
    assert set(agg["methods"]["lrp"]["top_words"]) <= {"0", "1"}
    correct = df.target.to_numpy() == np.asarray(labels)
    correct &= np.array([len(t) > 0 for t in df.tokens])  # no deletion curve without a token
    assert agg["methods"]["lrp"]["deletion"]["n"] == correct.sum()


def test_string_model_resume_and_refusals(strings, tmp_path, monkeypatch):
    texts, model = strings
    _run(model, texts, tmp_path / "full", None, shard_size=25)
    real = shards._write_table
    calls = {"n": 0}

    def full_disk(table, f):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(table, f)

    monkeypatch.setattr(shards, "_write_table", full_disk)
    with pytest.raises(OSError, match="could not write shard 1"):
        _run(model, texts, tmp_path / "part", None, shard_size=25)
    monkeypatch.setattr(shards, "_write_table", real)
    res = _run(model, texts, tmp_path / "part", None, shard_size=25)
    assert res["skipped_shards"] == 1 and res["docs"] == 35
    _same(kr.read_explanations(tmp_path / "part"), kr.read_explanations(tmp_path / "full"))
    with pytest.raises(ValueError, match="own TextVectorization.*no vocabulary="):
        _run(model, texts, tmp_path / "v", kr.Vocabulary.from_texts(texts))
    # id lists: the tokens are the layer's words
    ids = kr.Explainer(model)._text_batch(texts[:3]).ids
    _run(model, [list(r[r > 0]) for r in ids], tmp_path / "ids", None)
    df = kr.read_explanations(tmp_path / "ids")
    assert [list(t) for t in df.tokens] == kr.Explainer(model).explain(texts[:3]).tokens


def test_cli_explain_corpus_string_model_needs_no_vocab(strings, tmp_path, capsys):
    from keras_relevance.cli import main

    texts, model = strings
    model.save(tmp_path / "s.keras")
    (tmp_path / "c.txt").write_text("\n".join(texts[:20]) + "\n", encoding="utf-8")
    args = ["explain-corpus", str(tmp_path / "s.keras"), str(tmp_path / "c.txt"), "--out",
            str(tmp_path / "out"), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    assert "explained 20 documents" in capsys.readouterr().out
    df = kr.read_explanations(tmp_path / "out")
    e = kr.Explainer(model).explain(texts[:20])
    assert [list(t) for t in df.tokens] == e.tokens
    for i in range(20):
        np.testing.assert_allclose(df.relevance_lrp[i], e.relevance[i, : len(e.tokens[i])],
                                   rtol=1e-4, atol=1e-7)


def test_string_model_with_callable_standardize_has_null_offsets(tmp_path):
    keras.utils.set_random_seed(4)
    layer = keras.layers.TextVectorization(standardize=lambda s: tf.strings.lower(s))
    texts = _raw_texts(8, seed=5)
    layer.adapt(texts)
    inp = keras.Input(shape=(1,), dtype="string")
    x = keras.layers.Embedding(len(layer.get_vocabulary()), 4, mask_zero=True)(layer(inp))
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GRU(2)(x)))
    _run(model, texts, tmp_path, None, deletion_steps=0)
    df = kr.read_explanations(tmp_path)
    assert all(o is None for o in df.offsets)  # the layer's tokens cannot be placed in the text
    assert [list(t) for t in df.tokens] == kr.Explainer(model).explain(texts).tokens
