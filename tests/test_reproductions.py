"""Small, fast versions of the paper reproductions in examples/ (real data, tiny budgets).

They check the scripts' building blocks end to end and loose orderings that hold by a wide margin
even after one short epoch; the published numbers are in docs/REPRODUCTION.md, not here.
"""

from __future__ import annotations

import sys
import tarfile
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_relevance import evaluation
from keras_relevance.datasets import (
    load_opinion_lexicon,
    load_sst,
    strip_newsgroup_header,
)
from keras_relevance.explainer import Explainer
from keras_relevance.text import Vocabulary, tokenize

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

import reproduce_arras2016 as arras2016  # noqa: E402
import reproduce_arras2017 as arras2017  # noqa: E402
import reproduce_reat as reat  # noqa: E402


def _check_curves(result, methods, k):
    assert result["x"] == list(range(k + 1))
    for kind, start in (("correct", 1.0), ("misclassified", 0.0)):
        entry = result[kind]
        if entry["n"] == 0:
            continue
        for name in methods:
            curve = np.asarray(entry["curves"][name])
            assert curve.shape == (k + 1,)
            assert curve[0] == start
            assert ((curve >= 0) & (curve <= 1)).all()
        assert len(entry["random_mean"]) == k + 1
        assert np.all(np.asarray(entry["random_std"]) >= 0)
    n = result["correct"]["n"] + result["misclassified"]["n"]
    assert n == result["n"]
    assert result["accuracy"] == pytest.approx(result["correct"]["n"] / n)


# ------------------------------------------------------------------------------- Arras 2017
def test_arras2017_bilstm_deletion(data_dir, tmp_path):
    keras.utils.set_random_seed(0)
    vocab, train, dev, (x_test, y_test, tokens) = arras2017.load(
        data_dir, max_train=800, max_test=160, phrases=0, seed=0)
    model = arras2017.build_model(vocab, data_dir, "glove", seed=0)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Embedding", "Dropout", "Bidirectional", "Dense"]
    assert model.layers[2].forward_layer.units == 60 and model.layers[0].output_dim == 60
    model.fit(*train, batch_size=64, epochs=1, verbose=0)
    explainer = Explainer(model)

    binary = arras2017.binary_accuracies(explainer.predict_logits(x_test), y_test)
    assert binary["binary_n"] == int((y_test != 2).sum())
    assert 0.0 <= binary["binary_accuracy"] <= 1.0

    k = 3
    result = evaluation.deletion_curves(
        explainer, x_test, y_test, methods=("lrp", "sa"), max_deletions=k, random_seeds=2,
        verbose=False)
    _check_curves(result, ("lrp", "sa"), k)
    correct = result["correct"]
    assert correct["n"] >= 25
    # Fig. 3: deleting the most relevant words by LRP hurts more than deleting random ones
    lrp = np.mean(correct["curves"]["lrp"][1:])
    rnd = np.mean(correct["random_mean"][1:])
    assert lrp < rnd - 0.02, (lrp, rnd)

    top = arras2017.top_words_tables(explainer, x_test[:30], tokens[:30], "lrp", k=3,
                                     min_count=1)
    assert sorted(top) == [0, 1, 2, 3, 4]
    assert all(len(v["most"]) == 3 and len(v["least"]) == 3 for v in top.values())


def test_arras2017_binary_accuracy_definition():
    # classes 0..4; rows: true 0 predicted neg, true 4 predicted pos by summed probability
    # although the argmax is neutral, true 3 predicted neg
    logits = np.log(np.array([
        [0.5, 0.2, 0.1, 0.1, 0.1],
        [0.05, 0.05, 0.4, 0.3, 0.2],
        [0.3, 0.3, 0.0 + 1e-9, 0.2, 0.2],
        [0.2, 0.2, 0.2, 0.2, 0.2],
    ]))
    labels = np.array([0, 4, 3, 2])
    out = arras2017.binary_accuracies(logits, labels)
    assert out["binary_n"] == 3
    assert out["binary_accuracy"] == pytest.approx(2 / 3)
    assert out["binary_accuracy_argmax"] == pytest.approx(1 / 3)


def test_seeded_summaries_by_hand():
    """The seed / interval helpers every reproduction uses, on hand-made per-text hits."""
    common = arras2017.common
    x = [0, 1, 2]

    def result(correct_hits, random_hits):
        return {"x": x, "correct": {"index": np.arange(len(correct_hits)),
                                    "hits": {"lrp": np.array(correct_hits, bool)},
                                    "random_hits": np.array(random_hits, float)},
                "misclassified": {"index": np.arange(0), "hits": {}, "random_hits": None}}

    runs = [result([[1, 0, 0], [1, 1, 0]], [[1, 1, 1], [1, 1, 0.5]]),
            result([[1, 0, 0], [1, 0, 0]], [[1, 1, 1], [1, 1, 1]])]
    out = common.seeded_deletion(runs, None, ["lrp"])
    area = out["correct"]["area"]
    # seed 0: lrp areas (0 + 0)/2 = 0 and (1 + 0)/2 = 0.5 → 0.25; seed 1: 0 → mean 0.125
    assert area["lrp"]["per_seed"] == [0.25, 0.0] and area["lrp"]["mean"] == 0.125
    assert area["random"]["mean"] == pytest.approx(((1 + 0.75) / 2 + 1.0) / 2)  # 0.875, 1
    assert out["correct"]["best_to_worst"] == ["lrp", "random"]
    assert out["correct"]["separated"] == [["lrp", "random"]]
    # paired per-text differences: seed 0 (0 − 1, 0.5 − 0.75) → −0.625, seed 1 → −1
    paired = out["correct"]["paired"]["lrp-random"]
    assert paired["mean"] == pytest.approx(-0.8125) and paired["excludes_0"]
    assert out["correct"]["n_per_seed"] == [2, 2] and out["misclassified"]["area"] == {}
    sub = common.seeded_deletion(runs, [np.array([True, False])] * 2, ["lrp"])
    assert sub["correct"]["area"]["lrp"]["per_seed"] == [0.0, 0.0]
    acc = common.accuracy_summary(0.5, [np.array([1, 0, 1, 1]), np.array([0, 0, 1, 1])])
    assert acc["paper"] == 0.5 and acc["per_seed"] == [0.75, 0.5]
    assert acc["mean"] == pytest.approx(0.625) and acc["ci"][0] <= 0.625 <= acc["ci"][1]
    assert "lrp" in common.seeded_deletion_markdown(out)
    assert "hits" not in common.strip_hits(runs[0])["correct"]


# ------------------------------------------------------------------------------- Arras 2016
def _two_newsgroups(data_dir, per_group=250):
    """alt.atheism vs comp.graphics from the start of the by-date tarball (fast: no full scan)."""
    groups = {"alt.atheism": [], "comp.graphics": []}
    path = data_dir / "20newsgroups" / "20news-bydate.tar.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[-2] in groups:
                if len(groups[parts[-2]]) < per_group:
                    text = tar.extractfile(member).read().decode("latin-1")
                    groups[parts[-2]].append(strip_newsgroup_header(text))
            if all(len(v) >= per_group for v in groups.values()):
                break
    texts = groups["alt.atheism"] + groups["comp.graphics"]
    labels = np.array([0] * per_group + [1] * per_group, np.int32)
    return texts, labels


@pytest.mark.filterwarnings("ignore:.*does not support masking")
def test_arras2016_cnn_deletion(data_dir, tmp_path):
    keras.utils.set_random_seed(0)
    texts, labels = _two_newsgroups(data_dir)
    tokens = [t.tokens[: arras2016.MAX_LEN] for t in tokenize(texts, lower=True)]
    order = np.random.default_rng(0).permutation(len(texts))
    train, test = order[:350], order[350:]
    vocab = Vocabulary.from_tokens([tokens[i] for i in train], min_count=2)
    x = vocab.encode(tokens, max_len=150)
    model = arras2016.build_model(vocab, data_dir, "learned", seed=0, filters=64)
    model.pop()  # 20 classes → 2 for this two-group test
    model.add(keras.layers.Dense(2))
    arras2016.common.compile_classifier(model, lr=3e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(x[train], labels[train], batch_size=32, epochs=3, verbose=0)
    # the padding row stays exactly zero (padding looks like a deleted word)
    assert np.all(model.layers[0].embeddings.numpy()[0] == 0)
    explainer = Explainer(model)
    acc = float((explainer.predict_logits(x[test]).argmax(-1) == labels[test]).mean())
    assert acc > 0.7, acc

    k = 5
    result = evaluation.deletion_curves(
        explainer, x[test], labels[test], methods=("lrp", "sa"),
        method_options={"lrp": {"eps": 0.01}}, max_deletions=k, random_seeds=3, verbose=False)
    _check_curves(result, ("lrp", "sa"), k)
    correct = result["correct"]
    assert np.mean(correct["curves"]["lrp"][1:]) < np.mean(correct["random_mean"][1:]) - 0.02

    shown = arras2016.highlight(explainer, x[test[0]], tokens[test[0]][:150],
                                int(labels[test[0]]), ["alt.atheism", "comp.graphics"],
                                tmp_path, n_classes=2)
    html = (tmp_path / "highlight.html").read_text()
    assert html.count('class="kr-heatmap"') == 2
    assert shown["classes"][0] == ["alt.atheism", "comp.graphics"][labels[test[0]]]


# ------------------------------------------------------------------------------- REAT
def test_reat_but_texts(data_dir):
    test = load_sst(data_dir / "sst", "test", fine_grained=False, lower=True)
    idx, spans = reat.but_texts(test.tokens)
    assert 100 <= len(idx) <= 200  # the paper found 142 such texts
    for i, (a, b) in zip(idx, spans, strict=True):
        toks = test.tokens[i]
        assert a[0] == 0 and a[1] == b[0] and b[1] == len(toks)
        assert toks[b[0]] == "but" and toks[b[0] - 1] == ","


@pytest.mark.parametrize("kind", ["gru", "bigru"])
def test_reat_metrics(data_dir, kind):
    keras.utils.set_random_seed(0)
    train = load_sst(data_dir / "sst", "train", fine_grained=False, lower=True)
    test = load_sst(data_dir / "sst", "test", fine_grained=False, lower=True)
    keep = np.random.default_rng(0).permutation(len(train))[:1000]
    tok_train = [train.tokens[i] for i in keep]
    vocab = Vocabulary.from_tokens(tok_train, tokenizer="treebank")
    model = reat.build_model(kind, len(vocab), "uniform", dim=32, seed=0, units=16)
    model.fit(vocab.encode(tok_train), train.labels[keep], batch_size=64, epochs=2, verbose=0)
    idx, spans = reat.but_texts(test.tokens)
    idx, spans = idx[:40], spans[:40]
    x_test = vocab.encode(test.tokens)
    lexicon = load_opinion_lexicon(data_dir / "opinion_lexicon")
    timer = reat.common.Timer()
    methods = ("reat", "naive_reat", "gradient", "grad_input")
    tags = [["ADJ"] * len(t) for t in test.tokens[:200]]  # every word counts as an adjective
    scores = reat.evaluate_model(model, methods, x_test[:200], test.tokens[:200], tags,
                                 [i for i in idx if i < 200],
                                 [s for i, s in zip(idx, spans, strict=True) if i < 200],
                                 lexicon, lime_samples=50, seed=0, timer=timer)
    assert scores["but_texts"] > 0 and scores["lexicon_texts"]["lexicon"] > 10
    # with every word tagged ADJ the adjective restriction changes nothing
    assert scores["lexicon_texts"]["lexicon_adj"] == scores["lexicon_texts"]["lexicon"]
    np.testing.assert_array_equal(scores["per_text"]["lexicon_adj"]["reat"],
                                  scores["per_text"]["lexicon"]["reat"])
    for m in methods:
        assert -1.0 <= scores["faithfulness"][m] <= 1.0
        assert 0.0 <= scores["interpretability"][m] <= 1.0
    assert 0.0 < scores["gates"]["alpha"] < 1.0  # a GRU's update gate is a sigmoid
    # deleting the clause REAT scores highest for the predicted class lowers its probability
    assert scores["faithfulness"]["reat"] > 0


# ------------------------------------------------------------------------------- shared helpers
def test_fit_best_caches_and_batches_by_length(tmp_path):
    common = arras2017.common
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 12, 90)
    x = np.zeros((90, 12), np.int32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(1, 30, n)
    y = (x[:, 0] % 2).astype(np.int32)
    batches = common.length_batches(x, 8, np.random.default_rng(1), window=2)
    assert sorted(np.concatenate(batches).tolist()) == list(range(90))  # each text once

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(30, 4, mask_zero=True),
                              keras.layers.GRU(3), keras.layers.Dense(2)])
        return common.compile_classifier(m)

    first = model()
    fit = common.fit_best(first, (x, y), (x[:20], y[:20]), 2, 8, cache=tmp_path / "m",
                          verbose=0)
    assert fit["epochs"] == 2 and len(fit["train_loss"]) == 2 and "cached" not in fit
    again = model()
    loaded = common.fit_best(again, (x, y), (x[:20], y[:20]), 2, 8, cache=tmp_path / "m")
    assert loaded["cached"] and loaded["dev_accuracy"] == fit["dev_accuracy"]
    for a, b in zip(first.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_svg_figures_are_valid_and_escaped(tmp_path):
    import xml.etree.ElementTree as ET

    import _svg

    path = _svg.svg_lines(tmp_path / "l.svg", [0, 1, 2],
                            {"<b>": ([0.1, -0.2, np.nan], [0, -0.3, np.nan], [0.2, 0.1, np.nan])},
                            "t & t", "x", "y")
    ET.parse(path)
    assert "&lt;b&gt;" in path.read_text() and "<b>" not in path.read_text()
    pts = np.random.default_rng(0).normal(size=(30, 2))
    path = _svg.svg_scatter(tmp_path / "s.svg", pts, np.arange(30) % 12,
                              [f"class {i}" for i in range(12)], "pca")
    root = ET.parse(path).getroot()
    marks = [e for e in root if e.tag.endswith(("circle", "rect"))]
    assert len(marks) == 30 + 2  # the points, the background and the axes frame


def test_arras2017_directions_and_table1_statistic():
    import _arras2017_extra as extra

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(40, 6, mask_zero=True),
                              keras.layers.Dropout(0.3),
                              keras.layers.Bidirectional(keras.layers.LSTM(5)),
                              keras.layers.Dense(5)])
    ids = np.random.default_rng(0).integers(1, 40, (6, 8)).astype(np.int32)
    ids[1, 4:] = 0
    parts = extra.direction_relevance(model, ids, target=np.arange(6) % 5)
    full = Explainer(model).explain(ids, method="lrp", target=np.arange(6) % 5).relevance
    np.testing.assert_allclose(parts["forward"] + parts["backward"], full, atol=1e-6)
    assert np.abs(parts["forward"]).sum() > 0 and np.abs(parts["backward"]).sum() > 0
    assert (parts["forward"][1, 4:] == 0).all()
    # by hand: occurrences (a 3), (b -1), (a 2), (c .5), (b 5) ranked; distinct words
    ranked = extra.occurrence_ranking([["a", "b", "a"], ["c", "b"]], [[3, -1, 2], [0.5, 5]], k=2)
    assert ranked == {"most": ["b", "a"], "least": ["b", "c"]}
    prof = extra.position_profile([np.arange(4.0)], [4], bins=2)
    np.testing.assert_allclose(prof, [[0.5, 2.5]])
    np.testing.assert_allclose(extra.position_from([np.arange(3.0)], [3], n=4, from_end=True),
                               [[2.0, 1.0, 0.0, np.nan]])


def test_arras2017_all_phrases_are_distinct(data_dir):
    sst = data_dir / "sst"
    train = load_sst(sst, "train", fine_grained=True, lower=True)
    keep = np.arange(40)
    tokens = [train.tokens[i] for i in keep]
    labels = [int(train.labels[i]) for i in keep]
    out_tokens, out_labels = arras2017.add_phrases(sst, keep, tokens, labels, -1, seed=0)
    keys = [tuple(t) for t in out_tokens]
    assert len(keys) == len(set(keys)) == len(out_labels) > 200
    assert any(len(t) == 1 for t in out_tokens[40:])  # single words are labelled phrases too
    assert out_tokens[:40] == tokens


# ------------------------------------------------------------------------------- published JSON
@pytest.mark.parametrize("name", ["arras2017", "arras2016", "reat"])
def test_published_reproduction_json_has_the_contract_fields(name):
    """docs/reproduction/*.json: seeds, a protocol of paper-vs-ours rows, accuracy with mean,
    interval and one value per seed (per model for REAT), per-seed tables — and the numbers agree
    with each other (the mean is the mean of the per-seed values, inside its interval)."""
    import json

    path = Path(__file__).resolve().parents[1] / "docs" / "reproduction" / f"{name}.json"
    data = json.loads(path.read_text())
    seeds = data["seeds"]
    assert len(seeds) >= 3 and all(isinstance(s, int) for s in seeds)
    assert data["protocol"] and all(set(r) == {"item", "paper", "ours"} for r in data["protocol"])
    accuracies = data["accuracy"] if name == "reat" else {"model": data["accuracy"]}
    for acc in accuracies.values():
        assert {"paper", "mean", "ci", "per_seed"} <= set(acc)
        assert len(acc["per_seed"]) == len(seeds)
        assert acc["mean"] == pytest.approx(np.mean(acc["per_seed"]))
        assert acc["ci"][0] <= acc["mean"] <= acc["ci"][1]
    per_seed = data["per_seed"]
    runs = per_seed.values() if isinstance(per_seed, dict) else [per_seed]
    for run in runs:
        assert [r["seed"] for r in run] == seeds
        assert all(r["training"]["dev_accuracy"] for r in run)
