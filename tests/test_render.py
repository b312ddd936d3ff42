"""HTML and terminal heatmaps: escaping, colour sign and intensity against hand-computed values."""

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from keras_relevance import render

HOSTILE = "<img src=x onerror=alert(1)>"


def test_colors_hand_computed():
    # max |s| = 4: 4 → full red; -2 → half blue (255·0.5 = 127.5 → 128);
    # 1 → quarter red (255·0.75 = 191.25 → 191); 0 → white
    assert render.score_colors([4.0, -2.0, 1.0, 0.0]) == [
        (255, 0, 0),
        (128, 128, 255),
        (255, 191, 191),
        (255, 255, 255),
    ]


def test_colors_normalised_per_sentence():
    assert render.score_colors([0.01, -0.005]) == render.score_colors([100.0, -50.0])


def test_colors_fixed_scale_and_clipping():
    assert render.score_colors([1.0, -3.0], max_abs=2.0) == [(255, 128, 128), (0, 0, 255)]


def test_colors_degenerate():
    assert render.score_colors([0.0, 0.0]) == [(255, 255, 255)] * 2
    assert render.score_colors([np.nan, 1.0]) == [(255, 255, 255), (255, 0, 0)]
    assert render.score_colors([]) == []


def test_html_escapes_hostile_token():
    out = render.to_html(["a", HOSTILE, '" onmouseover="x'], [1.0, -1.0, 0.5], label="<script>")
    assert "<img" not in out
    assert "<script>" not in out
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert '" onmouseover' not in out
    # the only tags are ours
    assert set(re.findall(r"<(/?\w+)", out)) == {"div", "/div", "span", "/span"}


def test_html_colors_and_titles():
    out = render.to_html(["good", "bad", "film"], [2.0, -1.0, 0.0])
    assert out.startswith('<div class="kr-heatmap"')
    backgrounds = re.findall(r"background-color: (rgb\([^)]*\))", out)

    def mix(end, a):  # the dashboard's palette (index.js tokenColor)
        return "rgb({}, {}, {})".format(*(math.floor(255 + (c - 255) * a + 0.5) for c in end))

    assert backgrounds == [mix((214, 39, 40), 1.0), mix((31, 119, 180), 0.5), "rgb(255, 255, 255)"]
    titles = re.findall(r'title="([^"]*)"', out)
    assert titles == ["good: +2", "bad: -1", "film: +0", "|value| at full colour"]
    assert "±2</span></div>" in out  # the sentence's scale, as the dashboard shows it
    assert "<style" not in out and "<script" not in out  # inline CSS only


def test_html_legend_names_the_class_and_its_ends(tmp_path):
    heatmaps = [render.Heatmap(["a", "<b>"], [1.0, -0.2], class_name="<pos>", max_abs=1.5)]
    text = open(render.write_html(tmp_path / "x.html", *heatmaps), encoding="utf-8").read()
    assert "supports &lt;pos&gt;" in text and "speaks against &lt;pos&gt;" in text
    assert "+1.5" in text and "−1.5" in text and "<b>" not in text
    mixed = [render.Heatmap(["a"], [1.0], class_name=c) for c in ("neg", "pos")]
    text = open(render.write_html(tmp_path / "y.html", *mixed), encoding="utf-8").read()
    assert "supports the explained class" in text and "its largest |value|" in text


def test_html_length_mismatch():
    with pytest.raises(ValueError, match="2 tokens but 3 scores"):
        render.to_html(["a", "b"], [1, 2, 3])


def test_terminal_ansi():
    out = render.to_terminal(["good", "bad"], [1.0, -0.5])
    assert out == (
        "\x1b[48;2;255;0;0m\x1b[38;2;0;0;0mgood\x1b[0m "
        "\x1b[48;2;128;128;255m\x1b[38;2;0;0;0mbad\x1b[0m"
    )
    assert render.to_terminal(["good", "bad"], [1.0, -0.5], color=False) == "good(+1) bad(-0.5)"


def test_terminal_strips_control_sequences():
    out = render.to_terminal(["\x1b[2Jevil"], [1.0])
    assert "\x1b[2J" not in out
    assert "\\x1b[2Jevil" in out


def test_heatmap_object_and_file(tmp_path):
    heatmap = render.Heatmap(["a", HOSTILE], [0.5, -1.0], label="lrp")
    assert heatmap._repr_html_() == heatmap.to_html()
    assert "&lt;img" in heatmap._repr_html_()
    assert "lrp" in heatmap.to_terminal()
    path = heatmap.save(tmp_path / "out.html")
    text = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert path.endswith("out.html")
    assert text.startswith("<!DOCTYPE html>") and "<img" not in text
    render.write_html(tmp_path / "two.html", heatmap, (["x"], [1.0]), render.to_html(["y"], [-1]))
    assert (tmp_path / "two.html").read_text(encoding="utf-8").count('class="kr-heatmap"') == 3


def test_explanation_helpers_drop_padding():
    explanation = SimpleNamespace(
        relevance=np.array([[1.0, -2.0, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]]),
        mask=np.array([[True, True, False, False], [True, False, False, False]]),
        target=np.array([1, 0]),
        logits=np.array([[-1.0, 2.5], [0.3, -0.3]]),
    )
    heatmap = render.explanation_heatmap(explanation, [["good", "bad"], ["ok"]], index=0)
    assert heatmap.tokens == ["good", "bad"]
    np.testing.assert_allclose(heatmap.scores, [1.0, -2.0])
    assert heatmap.label == "class 1, logit 2.5"
    out = render.explanation_html(explanation, ["ok"], index=1)
    assert out.count('<span style="padding') == 1 and "class 0, logit 0.3" in out


# ---- heatmap_image (stock Images dashboard fallback) -----------------------------------------
def _box_pixel(image, color):
    """Where a box of exactly `color` is: the image has at least one pixel of it."""
    return np.all(image == np.array(color, np.uint8), axis=-1)


def test_heatmap_image_shape_dtype_and_colours():
    image = render.heatmap_image(["good", "film", "bad"], [4.0, 0.0, -4.0], width=300)
    assert image.dtype == np.uint8 and image.ndim == 3
    assert image.shape[1] == 300 and image.shape[2] == 3 and 16 <= image.shape[0] <= 80
    red, blue = _box_pixel(image, (255, 0, 0)), _box_pixel(image, (0, 0, 255))
    assert red.sum() > 50 and blue.sum() > 50
    # the positive token comes first (left), the negative one last (right), on one line
    assert np.flatnonzero(red.any(axis=0)).max() < np.flatnonzero(blue.any(axis=0)).min()
    # a box corner (padding, no text) of each token: reddish / bluish
    rows, cols = np.nonzero(red)
    r, g, b = (int(v) for v in image[rows.min(), cols.min()])
    assert r > 200 and g < 60 and b < 60
    rows, cols = np.nonzero(blue)
    r, g, b = (int(v) for v in image[rows.min(), cols.max()])
    assert b > 200 and r < 60 and g < 60


def test_heatmap_image_same_colours_as_score_colors_and_wraps():
    scores = [1.0, -0.5, 0.25]
    image = render.heatmap_image(["a", "b", "c"], scores, max_abs=2.0)
    for color in render.score_colors(scores, max_abs=2.0):
        assert _box_pixel(image, color).sum() > 20, color
    one_line = render.heatmap_image(["word"] * 3, [1.0] * 3, width=400)
    wrapped = render.heatmap_image(["word"] * 60, [1.0] * 60, width=400, label="lrp")
    assert wrapped.shape[1] == 400 and wrapped.shape[0] > 3 * one_line.shape[0]


@pytest.mark.parametrize(
    "tokens",
    [
        [HOSTILE, "\x1b[31mred\x07", "a\r\nb", "", "中文", "😀", "é" * 3],
        ["x" * 5000],  # wider than the image: cut with '...'
        [],
    ],
)
def test_heatmap_image_hostile_tokens(tokens):
    scores = np.linspace(-1, 1, len(tokens)) if tokens else []
    image = render.heatmap_image(tokens, scores, width=120, label=HOSTILE)
    assert image.dtype == np.uint8 and image.shape[1:] == (120, 3)


def test_heatmap_image_bad_input():
    with pytest.raises(ValueError, match="2 tokens but 1 scores"):
        render.heatmap_image(["a", "b"], [1.0])
    with pytest.raises(ValueError, match="width"):
        render.heatmap_image(["a"], [1.0], width=4)
    image = render.heatmap_image(["a", "b"], [float("nan"), float("inf")])  # count as 0: white
    assert not _box_pixel(image, (255, 0, 0)).any()


def test_heatmap_image_bitmap_font_non_latin():
    image_font = pytest.importorskip("PIL.ImageFont")
    if not hasattr(image_font, "load_default_imagefont"):
        pytest.skip("Pillow < 10.1")
    font = image_font.load_default_imagefont()  # Latin-1 only: others drawn as '?'
    image = render.heatmap_image(["中文", "😀", "ok"], [1.0, -1.0, 0.5], font=font)
    assert image.dtype == np.uint8 and image.shape[2] == 3
