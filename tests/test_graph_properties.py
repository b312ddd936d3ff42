"""Property tests (hypothesis) over random Keras GRAPHS of supported layers, in float64.

A drawn graph: one Embedding (mask_zero or not) feeding 1..3 branches, each a short chain of
Conv1D / LSTM / GRU / SimpleRNN / Dense blocks closed by a global pooling or a last-state RNN,
merged by Concatenate / Add / Average, then a head of 1..4 units with no activation, sigmoid or
softmax. Rows are padded on the left or the right. What must hold for every one of them:

- LRP (bias_factor 0 and 1) equals the NumPy reference `reference_graph_lrp` (1e-10);
- LRP-cons conserves (|delta| < 1e-8) wherever no relevance can reach padding;
- padding is inert for mask-respecting graphs (more right padding, same relevance);
- a single-branch graph written as a Sequential gives the same relevance;
- REAT word scores add up to the target score minus the head bias when one RNN feeds the head.

Example counts come from the profiles of test_properties ("ci": derandomized, few examples).
"""

from __future__ import annotations

import warnings

import graph_zoo as gz
import keras
import numpy as np
import reference_graph_lrp as rg
from hypothesis import given, settings
from hypothesis import strategies as st
from keras import layers
from test_properties import examples, float64

import keras_relevance as kr

VOCAB = 23
RNNS = ("lstm", "gru", "simple_rnn")


@st.composite
def graphs(draw, max_branches=3):
    width = draw(st.integers(1, 4))
    branches = []
    for _ in range(draw(st.integers(1, max_branches))):
        body = draw(st.lists(st.sampled_from(["conv_same", "conv_causal", "dense"] + list(RNNS)),
                             max_size=2))
        end = draw(st.sampled_from(["max", "avg"] + list(RNNS)))
        branches.append(dict(body=body, end=end, units=draw(st.integers(1, 4)),
                             bidi=draw(st.booleans())))
    units = draw(st.integers(1, 4))
    act = draw(st.sampled_from([None, "sigmoid"] if units == 1 else [None, "softmax", "sigmoid"]))
    return dict(emb=draw(st.integers(1, 5)), width=width, branches=branches,
                merge=draw(st.sampled_from(["Concatenate", "Add", "Average"])),
                mask_zero=draw(st.booleans()), units=units, act=act,
                pad=draw(st.sampled_from(["left", "right"])), time=draw(st.integers(2, 7)),
                batch=draw(st.integers(1, 3)), seed=draw(st.integers(0, 2**16)))


def _rnn(kind, units, seqs, bidi):
    cell = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[kind]
    rnn = cell(units, return_sequences=seqs)
    return layers.Bidirectional(rnn) if bidi else rnn


def branch_layers(b, width):
    """The layers of one branch: its body, then a reduction to a vector of `width`."""
    out = []
    for block in b["body"]:
        if block.startswith("conv"):
            out.append(layers.Conv1D(b["units"], 2, padding=block[5:], activation="relu"))
        elif block == "dense":
            out.append(layers.Dense(b["units"], activation="tanh"))
        else:
            out.append(_rnn(block, b["units"], True, b["bidi"]))
    if b["end"] == "max":
        out += [layers.GlobalMaxPooling1D(), layers.Dense(width)]
    elif b["end"] == "avg":
        out += [layers.GlobalAveragePooling1D(), layers.Dense(width)]
    else:
        out.append(_rnn(b["end"], width, False, False))
    return out


def build(g):
    inp = keras.Input((None,), dtype="int32")
    emb = layers.Embedding(VOCAB, g["emb"], mask_zero=g["mask_zero"])(inp)
    outs = []
    for b in g["branches"]:
        x = emb
        for layer in branch_layers(b, g["width"]):
            x = layer(x)
        outs.append(x)
    x = outs[0] if len(outs) == 1 else getattr(layers, g["merge"])()(outs)
    head = layers.Dense(g["units"], activation=g["act"])(x)
    return gz.randomize(keras.Model(inp, head), g["seed"])


def mask_respecting(g):
    """No relevance can reach padding: masks kept down to every branch's reduction."""
    return g["mask_zero"] and all(
        b["end"] != "max" and not any(k.startswith("conv") for k in b["body"])
        for b in g["branches"])


def ids_for(g, extra_right=0):
    rng = np.random.default_rng(g["seed"])
    time = g["time"]
    ids = rng.integers(1, VOCAB, (g["batch"], time))
    if g["mask_zero"]:
        for n in range(1, g["batch"]):
            length = int(rng.integers(1, time + 1))
            if g["pad"] == "right":
                ids[n, length:] = 0
            else:
                ids[n, :time - length] = 0
    return np.pad(ids, ((0, 0), (0, extra_right)))


def explain_quietly(explainer, ids, **kwargs):
    """Explain, ignoring the warning that relevance reached padding (the graph may let it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*padding.*")
        return explainer.explain(ids, **kwargs)


@settings(max_examples=examples(5))
@given(graphs())
def test_lrp_matches_reference_and_conserves(g):
    with float64():
        model = build(g)
    ids = ids_for(g)
    explainer = kr.Explainer(model)
    for bf in (0.0, 1.0):
        ref = rg.explain(model, ids, bias_factor=bf)
        e = explain_quietly(explainer, ids, method="lrp", bias_factor=bf)
        np.testing.assert_allclose(e.logits, ref["logits"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(e.relevance, ref["relevance"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(e.delta, ref["delta"], rtol=0, atol=1e-8)
    cons = explain_quietly(explainer, ids, method="lrp_cons")
    if mask_respecting(g) or not g["mask_zero"]:
        assert np.abs(cons.delta).max() < 1e-8
    if mask_respecting(g) and g["pad"] == "right":
        more = explainer.explain(ids_for(g, extra_right=3), method="lrp_cons",
                                 target=cons.target)
        np.testing.assert_allclose(more.relevance[:, :g["time"]], cons.relevance, rtol=0,
                                   atol=1e-10)
        assert np.all(more.relevance[:, g["time"]:] == 0.0)


@settings(max_examples=examples(2))
@given(graphs(max_branches=1))
def test_sequential_equals_functional(g):
    with float64():
        functional = build(g)
        sequential = keras.Sequential(
            [keras.Input((None,), dtype="int32"),
             layers.Embedding(VOCAB, g["emb"], mask_zero=g["mask_zero"])]
            + branch_layers(g["branches"][0], g["width"])
            + [layers.Dense(g["units"], activation=g["act"])])
    sequential.set_weights(functional.get_weights())
    ids = ids_for(g)
    for method in ("lrp", "lrp_cons"):
        f = explain_quietly(kr.Explainer(functional), ids, method=method)
        s = explain_quietly(kr.Explainer(sequential), ids, method=method)
        np.testing.assert_allclose(s.logits, f.logits, rtol=0, atol=1e-12)
        np.testing.assert_allclose(s.relevance, f.relevance, rtol=0, atol=1e-12)


@settings(max_examples=examples(3))
@given(graphs(max_branches=1), st.sampled_from(["lstm", "gru"]), st.booleans())
def test_reat_adds_up(g, kind, bidi):
    g["branches"][0].update(end=kind, bidi=bidi)
    with float64():
        inp = keras.Input((None,), dtype="int32")
        x = layers.Embedding(VOCAB, g["emb"], mask_zero=g["mask_zero"])(inp)
        x = _rnn(kind, g["width"], False, bidi)(x)
        model = gz.randomize(keras.Model(inp, layers.Dense(g["units"], activation=g["act"])(x)),
                             g["seed"])
    ids = ids_for(g)
    head = model.layers[-1]
    bias = np.asarray(head.bias.numpy(), np.float64)
    classes = 2 if g["units"] == 1 else g["units"]
    for c in range(classes):
        e = kr.Explainer(model).explain(ids, method="reat", target=np.full(len(ids), c))
        head_bias = (bias[0] if c == 1 else -bias[0]) if g["units"] == 1 else bias[c]
        np.testing.assert_allclose(e.relevance.sum(1), e.logits[:, c] - head_bias, rtol=0,
                                   atol=1e-10)


@settings(max_examples=examples(6))
@given(graphs())
def test_reference_on_random_graphs(g):
    """The reference itself: its forward is model(x), it conserves where it must."""
    with float64():
        model = build(g)
    ids = ids_for(g)
    ref = rg.explain(model, ids, bias_factor=1.0)
    out = np.asarray(model(ids), np.float64)
    z = ref["logits"][:, 1:] if g["units"] == 1 else ref["logits"]
    if g["act"] == "sigmoid":
        z = 1.0 / (1.0 + np.exp(-z))
    elif g["act"] == "softmax":
        z = np.exp(z - z.max(1, keepdims=True))
        z = z / z.sum(1, keepdims=True)
    np.testing.assert_allclose(z, out, rtol=0, atol=1e-12)
    if mask_respecting(g) or not g["mask_zero"]:
        assert np.abs(ref["delta"]).max() < 1e-12
