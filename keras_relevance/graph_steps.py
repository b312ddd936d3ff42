"""The flattened graph of a Keras model: its layer calls in order, and Keras's mask rules.

`flatten` lists the calls of a Functional graph (`Sequential._functional` for Sequential models)
in topological order, nested models inlined, as `keras/src/ops/function.py::_run_through_graph`
runs them; `fill` gives one call's arguments with values and the masks `Layer.__call__` would
pass; `output_masks` the masks it would set on the outputs. `keras_relevance.graph` walks these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras.src import tree
from keras.src.backend.common.keras_tensor import KerasTensor

from keras_relevance import capabilities as caps


def _is_mask_argument(name: str) -> bool:
    return name == "mask" or name.endswith("_mask")


@dataclass
class Step:
    """One call of a layer in the flattened graph.

    `args` / `kwargs` are the node's symbolic call arguments without the masks Keras recorded
    (the walk computes masks itself); `inputs` / `outputs` are the keys (ids of symbolic tensors,
    nested models' inputs resolved to their callers') of its data tensors.
    """

    layer: Any
    node: Any
    args: tuple
    kwargs: dict
    inputs: list[int]
    outputs: list[int]
    path: str

    @property
    def name(self) -> str:
        return f"{self.path}{self.layer.name}"

    def describe(self) -> str:
        return f"layer {self.name!r} ({type(self.layer).__name__})"


def _make_step(op, node, key_of, path) -> Step:
    args = tuple(node.arguments.args)
    kwargs = {k: v for k, v in node.arguments.kwargs.items()
              if not (_is_mask_argument(k) and _has_tensor(v))}
    inputs = [key_of(t) for t in tree.flatten((args, kwargs)) if isinstance(t, KerasTensor)]
    return Step(op, node, args, kwargs, inputs, [id(kt) for kt in node.outputs], path)


def _has_tensor(struct) -> bool:
    return any(isinstance(t, KerasTensor) for t in tree.flatten(struct))


def prune_mask_ops(steps: list, output_key: int, alias: dict) -> list:
    """Drop steps whose outputs only feed masks (the `not_equal` Keras records for mask_zero)."""
    while True:
        used = {output_key}
        for step in steps:
            used.update(step.inputs)
        kept = [s for s in steps if any(k in used for k in s.outputs)]
        if len(kept) == len(steps):
            return kept
        steps = kept


def functional_of(model) -> keras.Model:
    """The Functional graph behind `model`, or an error saying why there is none."""
    if isinstance(model, keras.Sequential):
        graph = getattr(model, "_functional", None)
        if graph is None:
            raise ValueError(
                f"Sequential model {model.name!r} has no graph yet: build it first "
                "(keras.Input as first layer, model.build((None, None)), or one batch through it)"
            )
        return graph
    if hasattr(model, "_nodes_by_depth") and getattr(model, "_operations", None) is not None:
        return model
    raise ValueError(
        f"model {model.name!r} is a subclassed keras.Model ({type(model).__name__}) without a "
        "graph: its call() may do anything (divide by a temperature, build its own mask), so "
        "explaining it from model.layers could be silently wrong. Write it as a functional model "
        "instead: inputs = keras.Input((None,), dtype='int32'); outputs = ...the same layers...; "
        "model = keras.Model(inputs, outputs)"
    )


def flatten(functional, input_keys, path, steps, alias, seen) -> list[int]:
    """Append the steps of `functional` (nested models inlined) in topological order."""
    if id(functional) in seen:
        raise ValueError(
            f"sub-model {functional.name!r} is called more than once in the graph; "
            "keras_relevance explains each sub-model called once"
        )
    seen.add(id(functional))
    for kt, key in zip(tree.flatten(functional.inputs), input_keys, strict=True):
        alias[id(kt)] = key

    def key_of(kt):
        return alias.get(id(kt), id(kt))

    by_depth = functional._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        for node in by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            op = node.operation
            inputs = [key_of(kt) for kt in node.input_tensors]
            if isinstance(op, keras.Model):
                inner = functional_of(op)
                outs = flatten(inner, inputs, f"{path}{op.name}/", steps, alias, seen)
                for kt, key in zip(node.outputs, outs, strict=True):
                    alias[id(kt)] = key
                continue
            steps.append(_make_step(op, node, key_of, path))
    return [key_of(kt) for kt in tree.flatten(functional.outputs)]


def rank(kt) -> int | None:
    shape = getattr(kt, "shape", None)
    return None if shape is None else len(shape)


def plain_call(step, args, kwargs):
    return step.layer(*args, **kwargs)


def fill(step: Step, values: dict, masks: dict, alias: dict):
    """The step's call arguments with tensors filled in, and the masks Keras would pass."""
    layer = step.layer

    def step_key(kt):
        return alias.get(id(kt), id(kt))

    def fill(struct):
        return tree.map_structure(
            lambda t: values[step_key(t)] if isinstance(t, KerasTensor) else t, struct)

    def mask_of(struct):
        return tree.map_structure(
            lambda t: masks.get(step_key(t)) if isinstance(t, KerasTensor) else None, struct
        )

    args, kwargs = list(fill(list(step.args))), dict(fill(step.kwargs))
    params = caps.call_parameters(layer)
    if "training" in params:
        kwargs["training"] = False
    tensor_args = _tensor_arguments(params, step.args, step.kwargs)
    if len(tensor_args) == 1:
        if "mask" in params and kwargs.get("mask") is None:
            (only,) = tensor_args.values()
            mask = mask_of(only)
            if any(m is not None for m in tree.flatten(mask)):
                kwargs["mask"] = mask
    elif len(tensor_args) > 1:
        for name, struct in tensor_args.items():
            if f"{name}_mask" in params and kwargs.get(f"{name}_mask") is None:
                mask = mask_of(struct)
                if any(m is not None for m in tree.flatten(mask)):
                    kwargs[f"{name}_mask"] = mask
    if kwargs.get("mask") is not None:
        previous = kwargs["mask"]
    else:
        previous = mask_of(step.args[0]) if step.args else None
    return args, kwargs, previous


def _tensor_arguments(params, args, kwargs) -> dict:
    names = [p for p in params if p != "self"]
    out = {}
    for name, value in zip(names, args, strict=False):
        if any(isinstance(t, KerasTensor) for t in tree.flatten(value)):
            out[name] = value
    for name, value in kwargs.items():
        if any(isinstance(t, KerasTensor) for t in tree.flatten(value)):
            out[name] = value
    return out


def output_masks(layer, args, previous, outputs) -> list:
    """The masks of a layer's outputs, as Keras's `Layer.__call__` sets them."""
    n = len(tree.flatten(outputs))
    if not getattr(layer, "supports_masking", False):
        return [None] * n
    if previous is None or all(m is None for m in tree.flatten(previous)):
        if not isinstance(layer, keras.layers.Masking):
            return [None] * n
    first = args[0] if args else None
    out = layer.compute_mask(first, previous)
    if out is None:
        return [None] * n
    flat = tree.flatten(out)
    return flat + [None] * (n - len(flat))
