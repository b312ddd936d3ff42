"""An independent float64 NumPy LRP reference for Keras graphs (notes/LRP_SPEC.md).

Walks the model's own graph (its nodes in topological order, nested models recursively, a
Sequential through its functional graph or, failing that, its layers in order), runs each layer
forward in NumPy on ONE sample with its Keras mask, then propagates relevance backwards through
the recorded nodes, summing what reaches a tensor from several consumers. Layer rules live in
`reference_graph_layers` / `reference_graph_rnn`; nothing here imports `keras_relevance`.

Preprocessing layers before the Embedding (TextVectorization, StringLookup, IntegerLookup) are run
by Keras itself (they map strings to ids; no relevance flows through them).

Public API:
    explain(model, x, target=None, eps=1e-3, bias_factor=0.0)
        -> dict(relevance (B, T), per_dim (B, T, E), logits (B, C), target (B,), delta (B,),
                leftover (B,), mask (B, T), padding (B,))
    delta = score − Σ relevance of real tokens − leftover (relevance at zero tensors: initial
    states, convolution padding); `padding` is the part of delta that reached padding (padded
    embeddings, outputs Keras zeroes at padded steps).
    scores(model, x) -> (B, C) class scores ([-z, z] for a one-unit head)
    RULES: layer class name -> fwd function (add a custom layer's rule here)
"""

from __future__ import annotations

import keras
import numpy as np
import reference_graph_layers as gl
import reference_graph_rnn as gr

__all__ = ["explain", "scores", "RULES"]

_IDENTITY = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
             "ActivityRegularization", "Identity", "InputLayer")
_PREPROCESS = ("TextVectorization", "StringLookup", "IntegerLookup")
RULES = {
    "Embedding": gl.fwd_embedding, "Dense": gl.fwd_dense, "Masking": gl.fwd_masking,
    "Activation": gl.fwd_activation, "ReLU": gl.fwd_activation, "LeakyReLU": gl.fwd_activation,
    "Softmax": gl.fwd_activation, "ELU": gl.fwd_activation,
    "Conv1D": gl.fwd_conv1d, "MaxPooling1D": gl.fwd_maxpool1d,
    "AveragePooling1D": gl.fwd_avgpool1d, "GlobalMaxPooling1D": gl.fwd_global_max,
    "GlobalAveragePooling1D": gl.fwd_global_avg, "Flatten": gl.fwd_reshape,
    "Reshape": gl.fwd_reshape, "Concatenate": gl.fwd_concatenate, "Add": gl.fwd_merge_sum,
    "Average": gl.fwd_merge_sum, "Subtract": gl.fwd_merge_sum, "Maximum": gl.fwd_maximum,
    "BatchNormalization": gl.fwd_batchnorm, "LayerNormalization": gl.fwd_layernorm,
    "LSTM": gr.fwd_rnn, "GRU": gr.fwd_rnn, "SimpleRNN": gr.fwd_rnn,
    "Bidirectional": gr.fwd_bidirectional, "Attention": gr.fwd_attention,
    "AdditiveAttention": gr.fwd_attention, "MultiHeadAttention": gr.fwd_mha,
    **{name: gl.fwd_identity for name in _IDENTITY},
}
_HEAD_SKIP = ("Activation", "Softmax")


class _Ctx:
    def __init__(self, eps, bias_factor, head):
        self.eps, self.bf, self.head = float(eps), float(bias_factor), head
        self.head_z = None
        self.embedding_mask = None
        self.r_embedding = None
        self.text_ids = None
        self.masked_out = 0.0


def _graph_of(model):
    """The functional graph of a model, or None for a Sequential without one."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(f"reference: {type(model).__name__} has no graph")
    return model


def _node_inputs(node):
    """Input KerasTensors of a node in call order (MHA: query, value, key)."""
    if type(node.operation).__name__ == "MultiHeadAttention":
        args, kw = list(node.arguments.args), node.arguments.kwargs
        names = ["query", "value", "key"]
        found = [args[i] if i < len(args) else kw.get(n) for i, n in enumerate(names)]
        return [t for t in found if t is not None]
    return keras.tree.flatten(node.arguments.args)


def _find_head(model):
    """The Dense layer whose (pre-activation) output is the model's output."""
    op = model
    while True:
        graph = _graph_of(op) if isinstance(op, keras.Model) else None
        if isinstance(op, keras.Model):
            if graph is None:
                op = op.layers[-1]
                continue
            op = graph.outputs[0]._keras_history.operation
        elif type(op).__name__ in _HEAD_SKIP:
            node = op._inbound_nodes[0]
            op = node.input_tensors[0]._keras_history.operation
        elif isinstance(op, keras.layers.Dense):
            return op
        else:
            raise ValueError(f"reference: the output comes from {type(op).__name__}, not Dense")


def _layer_forward(layer, values, masks, ctx):
    name = type(layer).__name__
    if name in _PREPROCESS:
        ids = np.asarray(layer(np.asarray(values[0])[None]))[0]
        ctx.text_ids = ids  # for raw text, the tokens are the non-zero ids (0 = padding)
        return ids, None, lambda r: ([None], 0.0)
    if isinstance(layer, keras.Model):
        return _model_forward(layer, values, masks, ctx)
    if name not in RULES:
        raise ValueError(f"reference: no rule for {name}")
    return RULES[name](layer, values, masks, ctx)


def _model_forward(model, values, masks, ctx):
    """Run a (sub)model; returns (out, mask, back) like a layer."""
    graph = _graph_of(model)
    if graph is None:  # Sequential built without an Input: a plain chain
        tape = []
        x, m = values[0], masks[0]
        for layer in model.layers:
            x, m, back = _layer_forward(layer, [x], [m], ctx)
            tape.append(back)

        def chain_back(r):
            leftover = 0.0
            for back in reversed(tape):
                (r,), left = back(r)
                leftover += left
                if r is None:
                    break
            return [r], leftover

        return x, m, chain_back
    env = {id(t): (v, m) for t, v, m in zip(graph.inputs, values, masks, strict=False)}
    tape = []
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            ins = _node_inputs(node)
            if any(id(t) not in env for t in ins):
                continue
            vals = [env[id(t)][0] for t in ins]
            msks = [env[id(t)][1] for t in ins]
            out, mask, back = _layer_forward(node.operation, vals, msks, ctx)
            env[id(node.outputs[0])] = (out, mask)
            tape.append((ins, node.outputs[0], back))
    out_t = graph.outputs[0]

    def graph_back(r):
        rel = {id(out_t): r}
        leftover = 0.0
        for ins, out, back in reversed(tape):
            if id(out) not in rel:
                continue
            r_ins, left = back(rel.pop(id(out)))
            leftover += left
            for t, r_t in zip(ins, r_ins, strict=True):
                if r_t is not None:
                    rel[id(t)] = rel.get(id(t), 0.0) + r_t
        return [rel.get(id(t)) for t in graph.inputs], leftover

    return env[id(out_t)][0], env[id(out_t)][1], graph_back


def explain(model, x, target=None, eps=1e-3, bias_factor=0.0):
    """LRP of each row of x (ids (B, T) or raw strings) for `target` (None = predicted)."""
    head = _find_head(model)
    rows = list(x) if not isinstance(x, np.ndarray) else [x[n] for n in range(len(x))]
    targets = [None] * len(rows) if target is None else list(np.broadcast_to(target, len(rows)))
    res = dict(relevance=[], per_dim=[], logits=[], target=[], delta=[], leftover=[], mask=[],
               padding=[])
    for row, tgt in zip(rows, targets, strict=True):
        ctx = _Ctx(eps, bias_factor, head)
        _, _, back = _model_forward(model, [row], [None], ctx)
        z = np.atleast_1d(ctx.head_z)
        score = np.array([-z[0], z[0]]) if z.shape[0] == 1 else z
        c = int(np.argmax(score)) if tgt is None else int(tgt)
        r_out = np.zeros_like(score)
        r_out[c] = score[c]
        _, leftover = back(r_out)
        per_dim = ctx.r_embedding
        if ctx.embedding_mask is not None:
            keep = ctx.embedding_mask
        elif ctx.text_ids is not None:
            keep = ctx.text_ids != 0
        else:
            keep = np.ones(per_dim.shape[0], bool)
        res["padding"].append(per_dim[~keep].sum() + ctx.masked_out)
        per_dim = np.where(keep[:, None], per_dim, 0.0)
        res["relevance"].append(per_dim.sum(-1))
        res["per_dim"].append(per_dim)
        res["logits"].append(score)
        res["target"].append(c)
        res["leftover"].append(leftover)
        res["delta"].append(score[c] - per_dim.sum() - leftover)
        res["mask"].append(keep)
    return {k: np.array(v) for k, v in res.items()}


def scores(model, x):
    """Class scores of each row of x from the NumPy forward ([-z, z] for a one-unit head)."""
    return explain(model, x, target=0)["logits"]
