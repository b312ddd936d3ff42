"""ExplanationLogger on a tiny bi-LSTM: events read back, failing methods, beside TensorBoard."""

import json
import os
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras_relevance_tb import metadata
from tensorboard.backend.event_processing import event_accumulator

from keras_relevance import explainer as explainer_module
from keras_relevance.callbacks import ExplanationLogger, ExplanationWarning
from keras_relevance.text import Vocabulary

POS = ["a good film", "great fun and very good", "an entertaining , authentic film", "good acting"]
NEG = ["a bad film", "dull and boring", "a very bad plot", "boring acting , bad film"]
SAMPLES = ["a good film", "a dull , bad plot", "<img src=x onerror=alert(1)> good"]
DEFAULT_METHODS = ("lrp", "sa", "reat")


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.from_texts(POS + NEG)


@pytest.fixture(scope="module")
def data(vocab):
    x = vocab.encode((POS + NEG) * 4)
    y = np.array(([1] * len(POS) + [0] * len(NEG)) * 4)
    return x, y


@pytest.fixture(scope="module")
def model(vocab):
    """One model for the module: each test fits it a little further (tracing once keeps it fast)."""
    return tiny_model(vocab)


def tiny_model(vocab, seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), 8, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(4)),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    return model


def read_run(run_dir):
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != metadata.PLUGIN_NAME:
            continue  # stock dashboards' images and scalars
        out[tag] = {
            event.step: metadata.parse_payload(event.tensor_proto.string_val[0])
            for event in acc.Tensors(tag)
        }
    return out


def test_two_epochs_written_and_readable(tmp_path, vocab, data, model):
    logger = ExplanationLogger(
        tmp_path,
        SAMPLES,
        vocabulary=vocab,
        labels=[1, 0, 1],
        class_names=["neg", "pos"],
    )
    history = model.fit(*data, epochs=2, batch_size=8, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 2
    assert logger.logged_epochs == [0, 1]
    assert logger.tokenized[2].starts[0] == 0  # character offsets kept for texts
    events = read_run(tmp_path / "explanations")
    assert logger.methods == DEFAULT_METHODS
    assert set(events) == {f"heatmap/{m}" for m in DEFAULT_METHODS}
    for method in DEFAULT_METHODS:
        steps = events[f"heatmap/{method}"]
        assert sorted(steps) == [0, 1]
        payload = steps[1]
        assert payload["method"] == method
        assert payload["class_names"] == ["neg", "pos"]
        samples = payload["samples"]
        assert [s["tokens"] for s in samples] == logger.tokens
        assert samples[2]["tokens"][0] == "<"  # untrusted text logged as text
        assert [s["label"] for s in samples] == [1, 0, 1]
        predicted = {s["prediction"] for s in samples}
        classes = sorted(predicted | {0, 1})  # predicted and true targets
        assert payload["classes"] == classes
        for s in samples:
            assert len(s["logits"]) == 2
            for c in classes:
                assert len(s["scores"][str(c)]) == len(s["tokens"])
        # relevance matches a direct explanation with the final weights
        direct = explainer_module.Explainer(model).explain(logger.ids, method=method, target=1)
        np.testing.assert_allclose(
            samples[0]["scores"]["1"], direct.relevance[0, :3], rtol=1e-4, atol=1e-6
        )


def test_id_samples_every_n_and_targets(tmp_path, vocab, data, model):
    ids = vocab.encode(["a good film", "bad plot"], max_len=6)
    logger = ExplanationLogger(
        tmp_path, (ids, [1, 0]), methods=("sa",), every_n_epochs=2, targets=("true",)
    )
    model.fit(*data, epochs=3, verbose=0, callbacks=[logger])
    assert logger.logged_epochs == [1]
    logger.log_epoch(10)  # also usable outside fit, e.g. to log the state before training
    assert sorted(read_run(tmp_path / "explanations")["heatmap/sa"]) == [1, 10]
    payload = read_run(tmp_path / "explanations")["heatmap/sa"][1]
    assert payload["classes"] == [0, 1]
    assert payload["samples"][1]["tokens"] == [str(vocab.token_to_id(w)) for w in ("bad", "plot")]


def test_failing_methods_warn_and_training_continues(tmp_path, vocab, data, model, monkeypatch):
    calls = {"flaky": 0}

    def explain_broken(chain, emb, mask, target, **options):
        raise ValueError("needs a recurrent layer")

    def explain_flaky(chain, emb, mask, target, **options):
        calls["flaky"] += 1
        if calls["flaky"] > 1:  # works at epoch 0 (one batched call for both classes), then breaks
            raise RuntimeError("boom")
        return explainer_module.get_method("sa")(chain, emb, mask, target)

    monkeypatch.setitem(explainer_module.METHODS, "broken", explain_broken)
    monkeypatch.setitem(explainer_module.METHODS, "flaky", explain_flaky)
    logger = ExplanationLogger(
        tmp_path, SAMPLES, methods=("sa", "broken", "flaky"), vocabulary=vocab, labels=[1, 0, 0]
    )
    with pytest.warns(ExplanationWarning) as record:
        history = model.fit(*data, epochs=3, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 3
    messages = [str(w.message) for w in record if w.category is ExplanationWarning]
    skipped = [m for m in messages if "'broken' does not apply" in m]
    assert len(skipped) == 1 and "ValueError: needs a recurrent layer" in skipped[0]
    failed = [m for m in messages if "'flaky' failed" in m]
    assert len(failed) == 2 and "RuntimeError: boom" in failed[0]
    assert logger.skipped_methods == ["broken"]
    events = read_run(tmp_path / "explanations")
    assert sorted(events["heatmap/sa"]) == [0, 1, 2]
    assert sorted(events["heatmap/flaky"]) == [0]  # what was written stays intact
    assert "heatmap/broken" not in events


def test_model_that_cannot_be_explained_still_trains(tmp_path, vocab, data):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(len(vocab), 4, mask_zero=True)(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Activation("linear")(keras.layers.Dense(2)(x))  # not a Dense head
    model = keras.Model(inputs, outputs)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = ExplanationLogger(tmp_path, SAMPLES, methods=("sa",), vocabulary=vocab)
    with pytest.warns(ExplanationWarning, match="ValueError"):
        history = model.fit(*data, epochs=2, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 2
    assert logger.logged_epochs == []


def test_reat_on_a_cnn_is_skipped_with_one_warning(tmp_path, vocab, data):
    keras.utils.set_random_seed(0)
    cnn = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), 8),
            keras.layers.Conv1D(4, 2, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(2),
        ]
    )
    cnn.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logger = ExplanationLogger(tmp_path, SAMPLES, vocabulary=vocab)
    with pytest.warns(ExplanationWarning) as record:
        cnn.fit(*data, epochs=2, verbose=0, callbacks=[logger])
    messages = [str(w.message) for w in record if w.category is ExplanationWarning]
    assert len(messages) == 1 and "'reat' does not apply" in messages[0]
    assert logger.skipped_methods == ["reat"]
    events = read_run(tmp_path / "explanations")
    assert set(events) == {"heatmap/lrp", "heatmap/sa"}
    assert sorted(events["heatmap/lrp"]) == [0, 1]
    # no mask_zero: the padding's relevance is cut at the sample's own tokens
    assert [len(s["tokens"]) for s in events["heatmap/lrp"][1]["samples"]] == [
        len(t) for t in logger.tokens
    ]


def test_beside_keras_tensorboard(tmp_path, vocab, data, model):
    x, y = data
    callbacks = [
        keras.callbacks.TensorBoard(str(tmp_path)),
        ExplanationLogger(tmp_path, SAMPLES, methods=("sa",), vocabulary=vocab, labels=[1, 0, 1]),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=callbacks)
    assert {"train", "validation", "explanations"} <= set(os.listdir(tmp_path))
    assert sorted(read_run(tmp_path / "explanations")["heatmap/sa"]) == [0, 1]
    train = event_accumulator.EventAccumulator(str(tmp_path / "train"))
    train.Reload()
    tags = train.Tags()
    assert "epoch_loss" in tags["tensors"] + tags["scalars"]


def test_sample_forms(tmp_path, vocab):
    two_texts = ExplanationLogger(tmp_path, ("a good film", "bad"), vocabulary=vocab)
    assert two_texts.tokens == [["a", "good", "film"], ["bad"]] and two_texts.labels is None
    tokens = ExplanationLogger(tmp_path, [["a", "good"], ["film"]], vocabulary=vocab, max_len=1)
    assert tokens.tokens == [["a"], ["film"]] and tokens.ids.shape == (2, 1)
    pair = ExplanationLogger(tmp_path, (vocab.encode(["a good film"]), [1]), vocabulary=vocab)
    assert pair.tokens == [["a", "good", "film"]] and pair.labels.tolist() == [1]
    assert pair.targets == ("predicted", "true")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"samples": []}, "at least one sample"),
        ({"samples": ["a good film", "   "]}, "sample text 1 is empty"),
        ({"samples": np.zeros((2, 3), int)}, "sample 0 has no tokens"),
        ({"samples": ["a film"], "methods": ("lrp", "nope")}, "unknown method 'nope'"),
        ({"samples": ["a film"], "methods": ()}, "at least one"),
        ({"samples": ["a film"], "labels": [1, 0]}, "expected 1 labels"),
        ({"samples": ["a film"], "targets": ("true",)}, "no target"),
        ({"samples": ["a film"], "targets": ("best",)}, "unknown target"),
        ({"samples": ["a film"], "every_n_epochs": 0}, "positive"),
    ],
)
def test_construction_errors(tmp_path, vocab, kwargs, match):
    kwargs = {"vocabulary": vocab, **kwargs}
    with pytest.raises(ValueError, match=match):
        ExplanationLogger(tmp_path, **kwargs)


def test_texts_without_vocabulary_for_a_model_of_ids_warn_and_fit_goes_on(tmp_path, data, model):
    """Texts are tokenized by the model's own TextVectorization; a model of ids has none: one
    warning naming the fix, and training goes on."""
    x, y = data
    logger = ExplanationLogger(tmp_path, ["a good film"], methods=("sa",))
    with pytest.warns(ExplanationWarning, match="pass vocabulary"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert logger.logged_epochs == []


def test_deletion_curves_logged(tmp_path, vocab, data, model):
    x, y = data
    logger = ExplanationLogger(
        tmp_path, SAMPLES[:1], methods=("sa",), vocabulary=vocab, deletion_data=(x[:8], y[:8])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    events = read_run(tmp_path / "explanations")
    deletion = {tag: steps for tag, steps in events.items() if tag.startswith("deletion/")}
    assert deletion, events.keys()
    for tag, steps in deletion.items():
        payload = steps[0]
        assert payload["kind"] == tag.split("/")[1]
        assert set(payload["curves"]) == {"sa"}
        assert payload["x"] == [0, 1, 2, 3, 4, 5]
        assert len(payload["random"]["mean"]) == 6 and len(payload["random"]["std"]) == 6
        # n sentences behind the curve; AOPC and area to random from the formula, in NumPy
        predicted = model.predict(x[:8], verbose=0).argmax(-1)
        correct = int((predicted == y[:8]).sum())
        assert payload["n"] == (correct if payload["kind"] == "correct" else 8 - correct)
        curve = np.asarray(payload["curves"]["sa"], np.float64)
        rnd = np.asarray(payload["random"]["mean"], np.float64)
        sign = 1.0 if payload["kind"] == "correct" else -1.0
        assert payload["aopc"]["sa"] == pytest.approx((sign * (curve[0] - curve)).mean(), abs=1e-6)
        assert payload["area"]["sa"] == pytest.approx((sign * (rnd - curve)).mean(), abs=1e-6)


def test_top_words_logged_per_class_with_counts(tmp_path, vocab, data, model):
    from keras_relevance.explainer import Explainer

    x, y = data
    logger = ExplanationLogger(
        tmp_path, SAMPLES[:1], methods=("sa",), vocabulary=vocab, class_names=["neg", "pos"],
        summary_data=(x[:12], y[:12]), top_k=3,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    payload = read_run(tmp_path / "explanations")["top_words/sa"][0]
    assert payload["n"] == 12 and payload["class_names"] == ["neg", "pos"]
    # independent: explain for the predicted class, pool each word's relevance per class
    ids = x[:12]
    predicted = model.predict(ids, verbose=0).argmax(-1)
    relevance = Explainer(model).explain(ids, method="sa", target=predicted).relevance
    pooled = {}
    for row, rel, c in zip(ids, relevance, predicted, strict=True):
        for t, r in zip(row, rel, strict=True):
            if t:
                pooled.setdefault(int(c), {}).setdefault(vocab.id_to_token(int(t)), []).append(r)
    for c, words in pooled.items():
        stats = sorted(
            ((w, np.mean(v, dtype=np.float64), len(v)) for w, v in words.items() if len(v) >= 2),
            key=lambda s: (-s[1], s[0]),
        )[:3]
        logged = payload["classes"][str(c)]["most"]
        assert [d["word"] for d in logged] == [w for w, _, _ in stats]
        assert [d["count"] for d in logged] == [k for _, _, k in stats]
        assert [d["mean"] for d in logged] == pytest.approx([m for _, m, _ in stats], rel=1e-4)


# ---- examples/demo.py (`make demo`) ----------------------------------------------------------
def _demo_module():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "demo.py"
    spec = importlib.util.spec_from_file_location("kr_demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_demo_logdir(logdir, capsys):
    from keras_relevance.cli import main as cli_main

    out = capsys.readouterr().out
    assert "test accuracy:" in out
    assert {"train", "validation", "explanations"} <= set(os.listdir(logdir))
    events = read_run(logdir / "explanations")
    assert {"heatmap/lrp", "heatmap/sa", "heatmap/reat"} <= set(events)
    samples = events["heatmap/lrp"][0]["samples"]
    assert samples[0]["tokens"][:4] == ["it", "'s", "a", "good"]
    assert samples[0]["label"] == 1
    # the saved model comes with its vocabulary: the CLI explains it as is
    assert (logdir / "model.keras").is_file() and (logdir / "model.vocab.json").is_file()
    code = cli_main(["explain", str(logdir / "model.keras"), "--text", "a good film ."])
    assert code == 0, capsys.readouterr().err
    assert "good(" in capsys.readouterr().out
    return events


def test_demo_embedded_data_no_serve(tmp_path, capsys):
    demo = _demo_module()
    logdir = tmp_path / "runs"
    code = demo.main(
        [
            "--data",
            str(tmp_path / "no-data"),
            "--logdir",
            str(logdir),
            "--no-serve",
            "--epochs",
            "1",
        ]
    )
    assert code == 0
    events = _check_demo_logdir(logdir, capsys)
    # the embedded data gets deletion curves too, on its dev split (not its test split)
    assert {"deletion/correct", "deletion/misclassified"} & set(events)
    assert not {t for t, _ in demo.EMBEDDED_DEV} & {t for t, _ in demo.EMBEDDED_TEST}
    assert json.loads((logdir / "model.meta.json").read_text())["class_names"] == demo.CLASS_NAMES


def test_demo_refuses_a_busy_port_before_training(tmp_path, capsys):
    import socket

    demo = _demo_module()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        argv = ["--data", str(tmp_path / "none"), "--logdir", str(tmp_path / "r"), "--port"]
        assert demo.main([*argv, str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is busy" in err and f"PORT={port + 1}" in err
    assert not (tmp_path / "r").exists()  # refused before training


@pytest.mark.slow
def test_demo_on_sst(tmp_path, capsys, data_dir):
    demo = _demo_module()
    logdir = tmp_path / "runs"
    argv = ["--data", str(data_dir), "--logdir", str(logdir), "--no-serve", "--epochs", "1"]
    assert demo.main([*argv, "--max-train", "1000"]) == 0
    events = _check_demo_logdir(logdir, capsys)
    assert "deletion/correct" in events


# ---- stock dashboards (no plugin): images and scalars ----------------------------------------
def test_stock_dashboards_images_and_scalars(tmp_path, vocab, data, model):
    import io

    from PIL import Image
    from tensorboard.util import tensor_util

    def scalar(tag):
        (event,) = acc.Tensors(tag)
        assert event.step == 0
        return float(tensor_util.make_ndarray(event.tensor_proto))

    x, y = data
    logger = ExplanationLogger(
        tmp_path,
        SAMPLES,
        methods=("sa",),
        vocabulary=vocab,
        labels=[1, 0, 1],
        class_names=["neg", "pos"],
        deletion_data=(x[:8], y[:8]),
        stock_dashboards=True,
        image_width=320,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExplanationWarning)
        model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    acc = event_accumulator.EventAccumulator(
        str(tmp_path / "explanations"), size_guidance={event_accumulator.TENSORS: 0}
    )
    acc.Reload()
    tags = acc.Tags()["tensors"]
    plugin_of = {tag: acc.SummaryMetadata(tag).plugin_data.plugin_name for tag in tags}
    images = sorted(t for t in tags if plugin_of[t] == "images")
    plugin = {t for t in tags if plugin_of[t] == metadata.PLUGIN_NAME}
    assert "heatmap/sa" in plugin
    payload = metadata.parse_payload(acc.Tensors("heatmap/sa")[0].tensor_proto.string_val[0])
    assert images == [f"heatmap_image/sa/class_{c}" for c in payload["classes"]]
    for tag in images:
        (event,) = acc.Tensors(tag)
        assert event.step == 0
        width, height, png = event.tensor_proto.string_val  # the images plugin's layout
        assert png.startswith(b"\x89PNG")
        decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        assert decoded.shape == (int(height), int(width), 3) and int(width) == 320
        assert decoded.shape[0] > 3 * 20  # title + three samples

    # scalars equal the logged deletion curves, point by point, with the random baseline
    scalars = {t for t in tags if plugin_of[t] == "scalars"}
    assert scalars
    deletion = {t for t in plugin if t.startswith("deletion/")}
    assert deletion
    for tag in deletion:
        curve_payload = metadata.parse_payload(acc.Tensors(tag)[0].tensor_proto.string_val[0])
        kind = curve_payload["kind"]
        logged = dict(curve_payload["curves"], random=curve_payload["random"]["mean"])
        for name, curve in logged.items():
            for k, value in zip(curve_payload["x"], curve, strict=True):
                tag = f"deletion/{kind}/{name}/k={int(k)}"
                assert scalar(tag) == pytest.approx(value, abs=1e-6)
            assert scalar(f"deletion/{kind}/{name}/mean") == pytest.approx(np.mean(curve), 1e-6)
            sign = 1.0 if kind == "correct" else -1.0
            aopc = np.mean([sign * (curve[0] - v) for v in curve])
            assert scalar(f"deletion/{kind}/{name}/aopc") == pytest.approx(aopc, abs=1e-5)
    assert plugin | scalars | set(images) == set(tags)


def test_stock_dashboards_failure_warns_and_training_continues(
    tmp_path, vocab, data, model, monkeypatch
):
    from keras_relevance import render

    def broken(*args, **kwargs):
        raise RuntimeError("no font")

    monkeypatch.setattr(render, "heatmap_image", broken)
    logger = ExplanationLogger(
        tmp_path, SAMPLES[:1], methods=("sa",), vocabulary=vocab, stock_dashboards=True
    )
    with pytest.warns(ExplanationWarning, match="heatmap images at step 0 failed.*no font"):
        history = model.fit(*data, epochs=1, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 1
    assert sorted(read_run(tmp_path / "explanations")["heatmap/sa"]) == [0]  # plugin data intact
