"""Sanity checks for saliency (Adebayo et al. 2018): model-parameter and data randomisation.

An explanation that barely changes when the model's weights are replaced by random ones (or when
the model learnt shuffled labels) cannot be explaining what the model learnt. Relevance of the
randomised model is compared with the trained model's by Spearman rank correlation over each
text's real words (and of its absolute values), for the trained model's class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from keras_relevance.analysis import spearman
from keras_relevance.evaluation._scoring import Scorer, check_labels, explainer_of


def _keras_model(model):
    import keras

    inner = getattr(model, "model", model)  # an Explainer or a model view
    if not isinstance(inner, keras.Model):
        raise TypeError(f"randomization_test needs a Keras model, got {type(model).__name__}")
    return inner


def _relevance(method, model, ids, target, options) -> np.ndarray:
    if isinstance(method, str):
        return np.asarray(explainer_of(model).explain(
            ids, method=method, target=target, **options).relevance, np.float64)
    if callable(method):
        rel = method(model, ids, target)
        return np.asarray(getattr(rel, "relevance", rel), np.float64)
    raise TypeError(f"a method is a name or a function (model, ids, target), got {method!r}")


def _correlations(a, b, mask, absolute: bool) -> np.ndarray:
    f = np.abs if absolute else (lambda x: x)
    return np.array([spearman(f(x[m]), f(y[m])) for x, y, m in zip(a, b, mask, strict=True)])


def _nanmean(values) -> float:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def randomization_test(
    model,
    ids,
    methods: Sequence[str] | Mapping[str, str | Callable],
    target=None,
    *,
    layers: Sequence[str] | None = None,
    data_model=None,
    train_fn: Callable | None = None,
    threshold: float = 0.5,
    seed: int = 0,
    method_options: Mapping[str, Mapping] | None = None,
) -> dict:
    """Cascading model-parameter randomisation and data randomisation (Adebayo et al. 2018).

    Cascading: a copy of the model has its layers re-initialised from the head down, one more
    weighted layer per step (fresh weights from each layer's own initialisers, via
    `keras.models.clone_model`); after each step every method explains the same texts for the
    same class and its relevance is compared with the trained model's. Data randomisation
    compares with a model of the same architecture trained on shuffled labels: `data_model`,
    or `train_fn(seed)` that returns one.

    Args:
        model: the trained Keras model (or an `Explainer` of it).
        ids: (batch, time) token ids.
        methods: names, or `{name: method name or function (model, ids, target) -> relevance}`.
        target: the class explained (None: the trained model's prediction, kept for all steps).
        layers: names of the layers to randomise, head first (default: every layer with
            weights, from the last to the first).
        threshold: a method is flagged when the mean Spearman correlation of its relevance
            stays above this after the full cascade (or with the data-randomised model).
        seed: seeds the random re-initialisation.

    Returns:
        `{"layers": [layer randomised at step s], "spearman": {method: [mean per step]},
        "logit_change": [mean |logits − trained logits| per step],
        "spearman_abs": {...}, "per_example": {method: (steps, batch)},
        "data": {method: mean} or None, "data_abs": ..., "data_per_example": {method: (batch,)}
        or None, "flagged": {"cascade": [...],
        "data": [...]}, "threshold": float}`.

    >>> res = randomization_test(model, ids, ["lrp", "sa"])  # doctest: +SKIP
    >>> res["flagged"]                                       # doctest: +SKIP
    {'cascade': [], 'data': []}
    """
    import keras

    trained = _keras_model(model)
    ids = np.asarray(ids)
    if not isinstance(methods, Mapping):
        methods = {name: name for name in methods}
    if not methods:
        raise ValueError("give at least one method")
    options = dict(method_options or {})
    scorer = Scorer(trained)
    target = scorer.logits(ids).argmax(-1) if target is None else target
    target = np.full(len(ids), int(target)) if np.ndim(target) == 0 else target
    target = check_labels(target, len(ids), "target")
    mask = scorer.mask(ids)
    reference = {n: _relevance(m, trained, ids, target, options.get(n, {}))
                 for n, m in methods.items()}

    weighted = [layer for layer in trained.layers if layer.weights]
    if layers is None:
        order = [layer.name for layer in reversed(weighted)]
    else:
        known = {layer.name for layer in weighted}
        for name in layers:
            if name not in known:
                raise ValueError(f"layer {name!r} has no weights or is not in the model; "
                                 f"layers with weights: {sorted(known)}")
        order = list(layers)
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(trained)  # the architecture, freshly initialised
    work = keras.models.clone_model(trained)
    work.set_weights(trained.get_weights())
    per_example = {n: [] for n in methods}
    per_example_abs = {n: [] for n in methods}
    names = [layer.name for layer in trained.layers]
    base = scorer.logits(ids)
    changed = []  # mean |Δ logits| per step: 0 would mean the randomisation did nothing
    for name in order:
        i = names.index(name)
        work.layers[i].set_weights(fresh.layers[i].get_weights())
        changed.append(float(np.abs(Scorer(work).logits(ids) - base).mean()))
        for n, m in methods.items():
            rel = _relevance(m, work, ids, target, options.get(n, {}))
            per_example[n].append(_correlations(reference[n], rel, mask, False))
            per_example_abs[n].append(_correlations(reference[n], rel, mask, True))

    def means(table):
        return {n: [_nanmean(row) for row in rows] for n, rows in table.items()}

    result = {
        "layers": order,
        "spearman": means(per_example),
        "spearman_abs": means(per_example_abs),
        "per_example": {n: np.stack(rows) if rows else np.zeros((0, len(ids)))
                        for n, rows in per_example.items()},
        "logit_change": changed,
        "data": None,
        "data_abs": None,
        "data_per_example": None,
        "threshold": float(threshold),
    }
    flagged_cascade = [n for n, v in result["spearman"].items() if v and v[-1] > threshold]
    flagged_data: list[str] = []
    if data_model is None and train_fn is not None:
        data_model = train_fn(seed)
    if data_model is not None:
        data_model = _keras_model(data_model)
        result["data"], result["data_abs"], result["data_per_example"] = {}, {}, {}
        for n, m in methods.items():
            rel = _relevance(m, data_model, ids, target, options.get(n, {}))
            result["data_per_example"][n] = _correlations(reference[n], rel, mask, False)
            result["data"][n] = _nanmean(result["data_per_example"][n])
            result["data_abs"][n] = _nanmean(_correlations(reference[n], rel, mask, True))
        flagged_data = [n for n, v in result["data"].items() if v > threshold]
    result["flagged"] = {"cascade": flagged_cascade, "data": flagged_data}
    return result


__all__ = ["randomization_test"]
