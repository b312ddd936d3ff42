"""The `keras-relevance` command on a saved tiny model: output, HTML, exit codes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_relevance.cli import find_metadata, find_vocabulary, main, write_metadata
from keras_relevance.text import Vocabulary

TEXTS = ["a good film", "a bad film", "good fun", "dull and bad", "very good", "boring plot"]
HOSTILE = "<img src=x onerror=alert(1)>"
ORIGINAL = {}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    vocab = Vocabulary.from_texts(TEXTS)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(len(vocab), 6, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(3)),
            keras.layers.Dense(2),
        ]
    )
    model(vocab.encode(TEXTS))
    model.save(folder / "model.keras")
    vocab.save(folder / "model.vocab.json")
    write_metadata(folder / "model.keras", ["neg", "pos"])
    ORIGINAL["model"] = model  # the in-memory original, to compare scores with
    return folder / "model.keras"


def test_explain_prints_colored_heatmap_and_html(saved, tmp_path, capsys):
    out_html = tmp_path / "out.html"
    code = main(
        [
            "explain",
            str(saved),
            "--text",
            "A good film",
            "--text",
            f"{HOSTILE} bad",
            "--method",
            "sa",
            "--color",
            "always",
            "--html",
            str(out_html),
            "--class-names",
            "neg,pos",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    n_tokens = sum(len(t) for t in Vocabulary([]).tokenize(["A good film", f"{HOSTILE} bad"]))
    assert captured.out.count("\x1b[48;2;") == n_tokens  # one background per token
    assert "good" in captured.out and "sa, class" in captured.out and "(pos)" in captured.out
    html = out_html.read_text(encoding="utf-8")
    assert html.count('class="kr-heatmap"') == 2
    assert "<img" not in html and "&lt;img" not in html  # tokenizer splits it into words...
    assert "&lt;" in html  # ...and the '<' token is escaped


def test_target_and_plain_output_match_the_explainer(saved, capsys):
    from keras_relevance.explainer import Explainer

    code = main(["explain", str(saved), "--text", "Very good", "--method", "sa", "--target", "1"])
    classes, label, line = capsys.readouterr().out.splitlines()
    assert code == 0 and classes == "classes: 0 neg, 1 pos"
    assert label.startswith("sa, class 1 (pos): logit ")
    assert "\x1b[" not in line  # not a terminal: plain scores
    assert [part.split("(")[0] for part in line.split()] == ["very", "good"]
    printed = [float(part.split("(")[1].rstrip(")")) for part in line.split()]
    vocab = Vocabulary.load(find_vocabulary(saved))
    expected = Explainer(ORIGINAL["model"]).explain(
        vocab.encode(["very good"]), method="sa", target=1
    )
    np.testing.assert_allclose(printed, expected.relevance[0], rtol=1e-3)


def test_class_names_from_metadata_and_unknown_words_warned(saved, capsys):
    assert find_metadata(saved).name == "model.meta.json"
    text = "An utterly good heartfelt film"
    code = main(["explain", str(saved), "--text", text, "--method", "sa"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[0] == "classes: 0 neg, 1 pos"
    assert "(neg)" in out or "(pos)" in out
    assert "3 of 5 words not in the vocabulary" in err
    assert "'an', 'utterly', 'heartfelt'" in err


def test_module_prints_no_tensorflow_log_lines(saved):
    """`python -m keras_relevance.cli` at the default verbosity: our lines only on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_relevance.cli", "explain", str(saved), "--text",
         "good zzz", "--method", "sa"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "keras-relevance: warning: text 1: 1 of 2 words not in the vocabulary, scored as "
        "<unk>: 'zzz'"
    ]
    assert result.stdout.startswith("classes: 0 neg, 1 pos\n")


def _error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_missing_model(tmp_path, capsys):
    assert main(["explain", str(tmp_path / "nope.keras"), "--text", "x"]) == 2
    assert "model file not found" in _error(capsys)


def test_missing_vocabulary(saved, tmp_path, capsys):
    lonely = tmp_path / "lonely.keras"
    shutil.copy(saved, lonely)
    assert main(["explain", str(lonely), "--text", "good"]) == 2
    assert "no vocabulary found" in _error(capsys)
    assert main(["explain", str(lonely), "--text", "good", "--vocab", "missing.json"]) == 2
    assert "vocabulary file not found" in _error(capsys)
    (tmp_path / "vocab.json").write_text("{}")
    assert main(["explain", str(lonely), "--text", "good"]) == 2
    assert "cannot read vocabulary" in _error(capsys)


def test_bad_inputs(saved, tmp_path, capsys):
    assert main(["explain", str(saved), "--text", "good", "--method", "nope"]) == 2
    assert "unknown method 'nope'" in _error(capsys)
    assert main(["explain", str(saved), "--text", "  "]) == 2
    assert "empty" in _error(capsys)
    assert main(["explain", str(saved), "--text", "good", "--target", "7", "--method", "sa"]) == 2
    assert "out of range" in _error(capsys)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    shutil.copy(find_vocabulary(saved), tmp_path / "vocab.json")
    assert main(["explain", str(broken), "--text", "good"]) == 2
    assert "cannot load model" in _error(capsys)


@pytest.mark.slow
def test_console_script_exit_code(tmp_path):
    script = Path(sys.executable).with_name("keras-relevance")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "keras_relevance.cli"]
    result = subprocess.run(
        [*command, "explain", str(tmp_path / "missing.keras"), "--text", "good"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "model file not found" in result.stderr and "Traceback" not in result.stderr


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2 and "usage" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", "model.keras"])  # --text is required
    assert exit_info.value.code == 2


def test_a_model_that_takes_text_needs_no_vocabulary(tmp_path, capsys):
    """The model's own TextVectorization tokenizes; unknown words are named as written."""
    import keras_relevance as kr

    texts = ["a gorgeous, witty film!", "dull and lifeless.", "a witty, moving story"]
    vectorize = keras.layers.TextVectorization()
    vectorize.adapt(texts)
    inputs = keras.Input((1,), dtype="string")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(vectorize(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GRU(3)(x)))
    model.save(tmp_path / "m.keras")
    code = main(["explain", str(tmp_path / "m.keras"), "--text", "A witty, Brilliant film!",
                 "--method", "lrp", "--color", "never"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "scored as [UNK]: 'Brilliant'" in err
    want = kr.Explainer(model).explain(["A witty, Brilliant film!"], method="lrp")
    assert want.tokens == [["a", "witty", "[UNK]", "film"]]
    assert f"witty({want.relevance[0, 1]:+.4g})" in out and "[UNK](" in out
