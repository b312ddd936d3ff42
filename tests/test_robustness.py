"""Bad inputs, end to end: what each does is pinned here and listed in docs/ROBUSTNESS.md.

The rows of that table that other test files already pin (wrong rank, float ids, negative ids,
target out of range, ...) are not repeated here; the table names those tests.
"""

from __future__ import annotations

import json
import os
import time
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_relevance_tb import metadata, summary
from tensorboard import context as tb_context
from tensorboard.backend.event_processing import data_ingester
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer as tb_multiplexer

from keras_relevance.callbacks import ExplanationLogger, ExplanationWarning
from keras_relevance.explainer import METHOD_DEFAULTS, METHODS, Explainer, register_method
from keras_relevance.layers import ExplainableLSTM, make_explainable
from keras_relevance.text import OOV_ID, Vocabulary

TEXTS = ["a good film", "a bad film", "dull plot", "great fun", "boring and slow", "good acting"]
LABELS = np.array([1, 0, 0, 1, 0, 1])


def _build(policy, layers, seed=0):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((None,), dtype="int32"), *layers()])
    finally:
        keras.config.set_dtype_policy(previous)
    return model


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.from_texts(TEXTS)


@pytest.fixture(scope="module")
def bilstm(vocab):
    return _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 8, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(6)),
        keras.layers.Dense(2),
    ])  # fmt: skip


@pytest.fixture(scope="module")
def ex(bilstm):
    return Explainer(bilstm)


def _lrp_cons(ex, ids):
    return ex.explain(ids, method="lrp", bias_factor=1.0)


# ------------------------------------------------------------------------------ texts
@pytest.mark.parametrize("text", ["", "   \t\n  "])
def test_empty_or_whitespace_text_gives_an_all_zero_row(ex, vocab, text):
    ids = vocab.encode([text])
    assert ids.shape == (1, 1) and ids[0, 0] == 0  # one padding column, no token
    for method in ("lrp", "reat", "sa", "occlusion"):
        e = ex.explain(ids, method=method)
        assert e.mask.sum() == 0 and np.all(e.relevance == 0.0), method
        assert np.isfinite(e.logits).all()
        assert e.top_tokens(3) == [[]]


def test_all_oov_text_is_explained_as_unknown_tokens(ex, vocab):
    ids = vocab.encode(["zzz qqq xyzzy"])
    assert (ids == OOV_ID).all()
    e = _lrp_cons(ex, ids)
    assert e.mask.all() and np.isfinite(e.relevance).all()
    assert abs(e.delta[0]) < 1e-6
    assert vocab.decode(ids[0]) == ["<unk>"] * 3


def test_one_token_text(ex, vocab):
    ids = vocab.encode(["good"])
    assert ids.shape == (1, 1) and ids[0, 0] > OOV_ID
    e = _lrp_cons(ex, ids)
    assert abs(e.delta[0]) < 1e-6
    reat = ex.explain(ids, method="reat")
    bias = ex.chain.head.bias.numpy()[reat.target[0]]
    # one word: REAT's score is the whole logit minus the bias
    np.testing.assert_allclose(reat.relevance[0, 0], reat.logits[0, reat.target[0]] - bias,
                               rtol=1e-5, atol=1e-6)


def test_unicode_text_offsets_and_explanation(ex, vocab):
    text = "Café 😀 naïve\u200b שלום <script>alert(1)</script>"
    tok = vocab.tokenize([text])[0]
    for word, start, end in zip(tok.tokens, tok.starts, tok.ends, strict=True):
        assert text[start:end].lower() == word  # character (not byte) offsets
    e = ex.explain(vocab.encode([text]), method="sa")
    assert e.relevance.shape == (1, len(tok.tokens)) and np.isfinite(e.relevance).all()


TEN_K_SECONDS: dict[str, float] = {}


def test_ten_thousand_tokens_lrp_completes(ex, vocab):
    ids = np.random.default_rng(0).integers(1, len(vocab), (1, 10_000)).astype(np.int32)
    ex.explain(ids[:, :5], method="lrp", bias_factor=1.0)  # trace once (None time dimension)
    start = time.perf_counter()
    e = _lrp_cons(ex, ids)
    TEN_K_SECONDS["lrp"] = time.perf_counter() - start
    assert e.relevance.shape == (1, 10_000) and np.isfinite(e.relevance).all()
    assert abs(e.delta[0]) < 1e-5 * max(1.0, abs(e.logits).max())
    start = time.perf_counter()
    r = ex.explain(ids, method="reat")
    TEN_K_SECONDS["reat"] = time.perf_counter() - start
    assert np.isfinite(r.relevance).all()
    print(f"10,000 tokens: LRP {TEN_K_SECONDS['lrp']:.2f} s, REAT {TEN_K_SECONDS['reat']:.2f} s")
    assert TEN_K_SECONDS["lrp"] < 120  # generous: a shared 2-core machine measured ~4-5 s


def test_texts_passed_as_ids_are_a_type_error(ex):
    with pytest.raises(TypeError, match="takes token ids, not text"):
        ex.explain(["a good film"], method="lrp")


# ------------------------------------------------------------------------------ models
def test_unsupported_layer_named_by_lrp_and_reat_gradients_still_work(vocab):
    model = _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 4, mask_zero=True),
        keras.layers.Lambda(lambda x: x * 1.0, name="scaled"),
        keras.layers.GRU(3),
        keras.layers.Dense(2),
    ])  # fmt: skip
    ex = Explainer(model)
    ids = vocab.encode(["a good film"])
    with pytest.raises(ValueError, match=r"scaled.*Lambda.*Supported layers.*register_rule"):
        ex.explain(ids, method="lrp")
    with pytest.raises(ValueError, match="REAT cannot explain"):
        ex.explain(ids, method="reat")
    assert np.isfinite(ex.explain(ids, method="grad_input").relevance).all()


@pytest.mark.parametrize("rnn", ["bigru", "lstm"])
def test_mixed_float16_model_is_explained_in_float32(vocab, rnn):
    def layers():
        body = (keras.layers.Bidirectional(keras.layers.GRU(5)) if rnn == "bigru"
                else keras.layers.LSTM(5))
        return [keras.layers.Embedding(len(vocab), 8, mask_zero=True), body,
                keras.layers.Dense(2)]

    model = _build("mixed_float16", layers)
    assert model.layers[1].compute_dtype == "float16"
    twin32 = _build("float32", layers)  # the same weights, computed in float32
    twin32.set_weights(model.get_weights())
    ex, ex32 = Explainer(model), Explainer(twin32)
    assert ex.chain.compute_dtype == "float32"
    ids = vocab.encode(["a good film", "dull"])
    lrp = _lrp_cons(ex, ids)
    assert lrp.relevance.dtype == np.float32 and np.isfinite(lrp.relevance).all()
    assert np.abs(lrp.delta).max() < 1e-5
    assert lrp.relevance[1, 1:].tolist() == [0.0, 0.0]  # padding
    # float32 all the way: the float32 copy gives the same relevance (float16 would differ ~1e-3)
    want = _lrp_cons(ex32, ids)
    np.testing.assert_allclose(lrp.relevance, want.relevance, rtol=1e-5, atol=1e-7)
    # REAT too (it recomputed the float16 gates before: 3% off on this sentence)
    reat = ex.explain(ids, method="reat", target=1)
    assert reat.relevance.dtype == np.float32
    np.testing.assert_allclose(reat.relevance, ex32.explain(ids, method="reat", target=1).relevance,
                               rtol=1e-5, atol=1e-7)
    # the logits reported are the model's own (float16 body): they agree to float16 precision
    np.testing.assert_allclose(reat.logits, ex32.explain(ids, method="sa").logits, atol=2e-3)


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("method", ["lrp", "reat"])
def test_non_finite_recurrent_weight_is_a_clear_error(vocab, value, method):
    model = _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 4, mask_zero=True),
        keras.layers.LSTM(3),
        keras.layers.Dense(2),
    ])  # fmt: skip
    kernel = model.layers[1].cell.recurrent_kernel
    broken = kernel.numpy()
    broken[0, 0] = value
    kernel.assign(broken)
    with pytest.raises(ValueError, match=r"recurrent_kernel.*contains NaN/Inf"):
        Explainer(model).explain(vocab.encode(["a good film"]), method=method)


def test_non_finite_row_of_an_unused_word_is_refused_too(vocab):
    """The check is on the weights, not on the words of the batch: a model with any NaN is
    refused (a NaN row would poison the next training step anyway)."""
    model = _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 4, mask_zero=True),
        keras.layers.GRU(3),
        keras.layers.Dense(2),
    ])  # fmt: skip
    table = model.layers[0].embeddings
    values = table.numpy()
    values[len(vocab) - 1] = np.nan
    table.assign(values)
    with pytest.raises(ValueError, match="embeddings.*NaN/Inf"):
        Explainer(model).explain(vocab.encode(["a good film"]), method="sa")


def test_model_saved_with_stock_layers(tmp_path, vocab, bilstm, ex):
    path = tmp_path / "stock.keras"
    bilstm.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[1].forward_layer) is keras.layers.LSTM
    ids = vocab.encode(["a good film", "dull plot", "good"])
    for method in ("lrp", "reat"):
        got = Explainer(loaded).explain(ids, method=method, target=1)
        want = ex.explain(ids, method=method, target=1)
        np.testing.assert_allclose(got.relevance, want.relevance, rtol=1e-6, atol=1e-7)
    twin = make_explainable(loaded)
    assert isinstance(twin.layers[1].forward_layer, ExplainableLSTM)
    np.testing.assert_allclose(np.asarray(twin(ids)), np.asarray(loaded(ids)), rtol=0, atol=1e-7)
    twin.save(tmp_path / "twin.keras")  # and the converted model round-trips too
    again = keras.saving.load_model(tmp_path / "twin.keras")
    assert isinstance(again.layers[1].forward_layer, ExplainableLSTM)
    np.testing.assert_allclose(np.asarray(again(ids)), np.asarray(loaded(ids)), atol=1e-7)


# ------------------------------------------------------------------------------ the callback
@pytest.fixture
def trainable(vocab):
    model = _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 8, mask_zero=True),
        keras.layers.Bidirectional(keras.layers.LSTM(4)),
        keras.layers.Dense(2),
    ])  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


@pytest.mark.parametrize("samples", [[""], ["a good film", ""], ["\n\t "]])
def test_callback_with_empty_sample_texts_refused_before_training(tmp_path, vocab, samples):
    with pytest.raises(ValueError, match=r"sample text \d is empty"):
        ExplanationLogger(tmp_path, samples, vocabulary=vocab)
    assert not os.listdir(tmp_path)  # nothing written


class _LogsSpy(keras.callbacks.Callback):
    """Runs after ExplanationLogger: records what `logs` the later callbacks receive."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(dict(logs or {}))


def test_explanation_failure_inside_fit(tmp_path, vocab, trainable):
    def explain_raises(chain, emb, mask, target, **options):
        raise RuntimeError("injected failure")

    register_method("_raises", explain_raises)
    try:
        x, y = vocab.encode(TEXTS * 2), np.concatenate([LABELS, LABELS])
        logger = ExplanationLogger(tmp_path, TEXTS[:2], methods=("_raises", "sa"),
                                   vocabulary=vocab)
        spy = _LogsSpy()
        tensorboard = keras.callbacks.TensorBoard(str(tmp_path))
        with pytest.warns(ExplanationWarning, match="injected failure") as record:
            history = trainable.fit(x, y, epochs=3, verbose=0,
                                    callbacks=[logger, spy, tensorboard])
    finally:
        METHODS.pop("_raises")
        METHOD_DEFAULTS.pop("_raises", None)
    # "_raises" never worked while "sa" did: dropped after one warning
    messages = [str(w.message) for w in record if w.category is ExplanationWarning]
    assert len(messages) == 1 and "'_raises' does not apply" in messages[0]
    assert len(history.history["loss"]) == 3
    assert [s["loss"] for s in spy.seen] == pytest.approx(history.history["loss"])
    assert all(set(s) == {"loss", "accuracy"} for s in spy.seen)  # logs untouched
    assert logger.logged_epochs == [0, 1, 2] and logger.skipped_methods == ["_raises"]
    assert {"train", "explanations"} <= set(os.listdir(tmp_path))


def test_every_method_failing_inside_fit_still_trains(tmp_path, vocab, trainable):
    register_method("_raises", lambda *a, **k: (_ for _ in ()).throw(MemoryError("oom")))
    try:
        logger = ExplanationLogger(tmp_path, TEXTS[:2], methods=("_raises",), vocabulary=vocab)
        with pytest.warns(ExplanationWarning, match="MemoryError: oom") as record:
            history = trainable.fit(vocab.encode(TEXTS), LABELS, epochs=2, verbose=0,
                                    callbacks=[logger])
    finally:
        METHODS.pop("_raises")
    assert len(history.history["loss"]) == 2
    assert len([w for w in record if w.category is ExplanationWarning]) == 2  # one per epoch
    assert logger.logged_epochs == []


@pytest.mark.parametrize("where", ["a_file", "under_a_file"])
def test_log_dir_that_cannot_be_written(tmp_path, vocab, trainable, where):
    """Tests run as root, so a chmod-ed folder would still be writable: the log_dir is a regular
    file (or a path below one), which no user can write a run folder into."""
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    log_dir = blocker if where == "a_file" else blocker / "runs"
    logger = ExplanationLogger(log_dir, TEXTS[:2], methods=("sa",), vocabulary=vocab)
    with pytest.warns(ExplanationWarning) as record:
        history = trainable.fit(vocab.encode(TEXTS), LABELS, epochs=2, verbose=0,
                                callbacks=[logger])
    messages = [str(w.message) for w in record if w.category is ExplanationWarning]
    assert len(messages) == 1  # checked once before training, not after every epoch's work
    assert "nothing will be logged during this fit" in messages[0]
    assert "not a directory" in messages[0].lower()
    assert len(history.history["loss"]) == 2 and logger.logged_epochs == []
    assert blocker.read_text() == "x"
    with pytest.raises(tf.errors.OpError, match="not a directory|Not a directory"):
        logger.log_epoch(5)  # outside fit the error is raised, not warned about


# ------------------------------------------------------------------------------ event files
def _heatmaps(run_dir, steps, method="lrp"):
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for step in steps:
            assert summary.token_heatmap(f"heatmap/{method}", [["a", "film"]],
                                         {1: [[0.5, -0.25]]}, step=step, method=method)
    writer.close()
    (path,) = run_dir.glob("events.out.tfevents.*")
    return path


def _plugin(logdir):
    from keras_relevance_tb.plugin import KerasRelevancePlugin
    from tensorboard.plugins import base_plugin

    mux = tb_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={metadata.PLUGIN_NAME: 0},
    )
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = tb_data_provider.MultiplexerDataProvider(mux, str(logdir))
    return KerasRelevancePlugin(base_plugin.TBContext(data_provider=provider, logdir=str(logdir)))


CTX = tb_context.RequestContext()


def test_truncated_and_corrupt_event_files(tmp_path):
    _heatmaps(tmp_path / "good", steps=(0, 1, 2))
    truncated = _heatmaps(tmp_path / "truncated", steps=(0, 1, 2))
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) - 20])  # a writer killed mid-record
    flipped = _heatmaps(tmp_path / "flipped", steps=(0, 1, 2))
    data = bytearray(flipped.read_bytes())
    data[-30] ^= 0xFF  # a bit error inside the last record (its CRC no longer matches)
    flipped.write_bytes(bytes(data))
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "events.out.tfevents.0.host").write_bytes(os.urandom(4096))
    p = _plugin(tmp_path)
    runs = {r["run"]: r for r in p.runs_impl(CTX, "")["runs"]}
    assert runs["good"]["heatmaps"][0]["steps"] == [0, 1, 2]
    for run in ("truncated", "flipped"):  # the complete records before the damage are served
        assert runs[run]["heatmaps"][0]["steps"] == [0, 1], run
        page = p.heatmaps_impl(CTX, "", run=run, method="lrp")
        assert page["step"] == 1 and page["samples"][0]["tokens"] == ["a", "film"]
    assert "garbage" not in runs


def test_payload_that_is_not_json_is_an_error_for_that_step_only(tmp_path):
    from keras_relevance_tb.plugin import RouteError

    run = tmp_path / "run"
    _heatmaps(run, steps=(0,))
    md = metadata.create_summary_metadata(metadata.HEATMAP, method="lrp")
    writer = tf.summary.create_file_writer(str(run))
    with writer.as_default():
        tf.summary.write("heatmap/lrp", tf.constant("{not json\n"), step=1, metadata=md)
        tf.summary.write("heatmap/lrp", tf.constant(json.dumps({"version": 1})), step=2,
                         metadata=md)
    writer.close()
    p = _plugin(tmp_path)
    assert p.heatmaps_impl(CTX, "", run="run", method="lrp", step=0)["samples"]
    for step, match in ((1, "not JSON"), (2, "unknown summary type")):
        with pytest.raises(RouteError, match=match) as info:
            p.heatmaps_impl(CTX, "", run="run", method="lrp", step=step)
        assert info.value.code == 422
    history = p.sample_history_impl(CTX, "", run="run", method="lrp", id="0")["history"]
    assert [h["step"] for h in history] == [0, 1, 2]
    assert history[0]["error"] is None and history[1]["error"] and history[2]["error"]


def test_summary_refuses_non_finite_scores_as_null_not_nan(tmp_path):
    """NaN/inf relevance handed to the writer becomes JSON null (strict JSON, no 'NaN')."""
    run = tmp_path / "run"
    writer = tf.summary.create_file_writer(str(run))
    with writer.as_default(), warnings.catch_warnings():
        warnings.simplefilter("error")
        summary.token_heatmap("heatmap/sa", [["a", "b", "c"]],
                              {0: [[np.nan, np.inf, 1.0]]}, step=0, method="sa")
    writer.close()
    p = _plugin(tmp_path)
    page = p.heatmaps_impl(CTX, "", run="run", method="sa")
    assert page["samples"][0]["scores"]["0"] == [None, None, 1.0]


# ------------------------------------------------------------------------------ method options
def test_lrp_eps_zero_is_refused_naming_the_option(vocab):
    model = _build("float32", lambda: [
        keras.layers.Embedding(len(vocab), 4, mask_zero=True),
        keras.layers.LSTM(3),
        keras.layers.Dense(2),
    ])  # fmt: skip
    table = model.layers[0].embeddings
    table.assign(np.zeros(table.shape, np.float32))  # every pre-activation is 0: 0/0 with ε = 0
    ex = Explainer(model)
    assert np.isfinite(ex.explain(vocab.encode(["a good film"]), method="lrp").relevance).all()
    with pytest.raises(ValueError, match=r"eps=0\.0 is outside \(0"):  # 0/0 would be NaN
        ex.explain(vocab.encode(["a good film"]), method="lrp", eps=0.0)


@pytest.mark.parametrize("options", [{"steps": 0}, {"steps": -3}])
def test_integrated_gradients_bad_steps(ex, vocab, options):
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ex.explain(vocab.encode(["a good film"]), method="integrated_gradients", **options)


def test_unknown_option_is_a_type_error(ex, vocab):
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        ex.explain(vocab.encode(["a good film"]), method="sa", foo=1)


@pytest.mark.parametrize("options", [{"eps": -1.0}, {"eps": float("nan")},
                                     {"bias_factor": float("nan")}, {"eps": "x"}])
def test_lrp_options_out_of_range_name_the_option(ex, vocab, options):
    with pytest.raises(ValueError, match=next(iter(options))):
        ex.explain(vocab.encode(["a good film"]), method="lrp", **options)


def test_callback_sample_ids_outside_the_vocabulary_warn_once(tmp_path, vocab, trainable):
    """Id samples are checked against the model when it is known (at fit begin): one warning
    with the Explainer's message, no wasted explanations, and training goes on."""
    logger = ExplanationLogger(tmp_path, np.array([[2, 3, 999]]), methods=("sa",))
    with pytest.warns(ExplanationWarning) as record:
        history = trainable.fit(vocab.encode(TEXTS), LABELS, epochs=2, verbose=0,
                                callbacks=[logger])
    messages = [str(w.message) for w in record if w.category is ExplanationWarning]
    assert len(messages) == 1 and "999" in messages[0] and "vocab size" in messages[0]
    assert len(history.history["loss"]) == 2 and logger.logged_epochs == []
