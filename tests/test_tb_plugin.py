"""keras_relevance_tb: writers → logdir → TensorBoard's own data provider → plugin `*_impl`."""

from __future__ import annotations

import json

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


def _write_run(run_dir, steps=STEPS, methods=METHODS):
    tokens = _sentences()
    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for step in steps:
            for m, method in enumerate(methods):
                scores = {
                    c: [
                        np.linspace(-1.0, 1.0, len(t))
                        * (1 if c else -1)
                        * (1 + m)
                        * (1 + step / 10)
                        for t in tokens
                    ]
                    for c in (0, 1)
                }
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
                    {m: [1.0, 0.8 - 0.1 * i, 0.6 - 0.1 * i] for i, m in enumerate(methods)},
                    step=step,
                    random_mean=[1.0, 0.9, 0.85],
                    random_std=[0.0, 0.05, 0.07],
                    kind=kind,
                )
    writer.close()


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("kr_logs")
    _write_run(root / "train")
    _write_run(root / "eval", steps=(0, 1), methods=("lrp",))
    return root


def make_provider(logdir):
    """TensorBoard's own data provider, keeping every step of the plugin's tags."""
    mux = tb_multiplexer.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: 0})
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
    assert payload["samples"][0]["scores"]["1"] == pytest.approx([-2, -2 / 3, 2 / 3, 2], rel=1e-5)


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
