"""What every model-based metric shares: the masked scorer, relevance and target resolution.

All forward passes go through `perturbation.masked_logits_fn`, one `tf.function` cached on the
model view (`chain.cached`), so a second metric call, a second `Explainer` or a second logged
epoch reuses the trace.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RelevanceLike = Any  # np.ndarray | Explanation | str | Callable[[ids, target], np.ndarray]
DELETIONS = ("zero", "remove")


def chain_of(model):
    """The model view of a Keras model, an `Explainer` or a view itself."""
    from keras_relevance.graph import ModelGraph

    if isinstance(model, ModelGraph):
        return model
    chain = getattr(model, "chain", None)  # an Explainer
    if isinstance(chain, ModelGraph):
        return chain
    return ModelGraph.from_model(model)


def explainer_of(model):
    """An `Explainer` for a Keras model, a model view or an `Explainer`."""
    from keras_relevance.explainer import Explainer

    if isinstance(model, Explainer):
        return model
    inner = getattr(model, "model", None)  # a model view
    if inner is not None and not hasattr(model, "explain") and hasattr(model, "logits"):
        return Explainer(inner)
    return Explainer(model)


def check_deletion(deletion: str) -> bool:
    """True for "remove", False for "zero"; ValueError otherwise."""
    if deletion not in DELETIONS:
        raise ValueError(f"deletion must be 'zero' or 'remove', got {deletion!r}")
    return deletion == "remove"


class Scorer:
    """Class scores (float64) of a model with some words deleted, in batches.

    Args:
        model: a Keras model, `Explainer` or model view.
        batch_size: examples embedded at once; their perturbed copies go through the cached
            scorer in chunks of about 4M input floats.
        verbose: True / False, or "auto" (a Keras Progbar for large evaluations).
    """

    def __init__(self, model, batch_size: int = 256, verbose="auto"):
        self.chain = chain_of(model)
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.verbose = verbose
        self._progbar = None

    def start(self, rows: int) -> None:
        """A progress bar over `rows` perturbed examples (shown when verbose)."""
        show = self.verbose if self.verbose != "auto" else rows >= 50 * self.batch_size
        self._progbar = None
        if show and rows:
            import keras

            self._progbar = keras.utils.Progbar(rows, unit_name="example")

    def mask(self, ids) -> np.ndarray:
        """(batch, time) True at real tokens, as the model's embedding sees them."""
        ids = np.asarray(ids)
        if len(ids) == 0:
            return np.zeros(ids.shape[:2], bool)
        return np.asarray(self.chain.embed(ids)[1], bool)

    def logits(self, ids, delete=None, deletion: str = "zero") -> np.ndarray:
        """Class scores with words deleted.

        Args:
            ids: (batch, time) token ids.
            delete: None, bool (batch, time), or (K, batch, time) for K perturbations each.
            deletion: "zero" (embedding set to zero, mask kept) or "remove" (word dropped).

        Returns:
            float64 (batch, classes), or (K, batch, classes) for a 3-D `delete`.
        """
        from keras_relevance.perturbation import perturbed_logits

        remove = check_deletion(deletion)
        ids = np.asarray(ids)
        n = len(ids)
        single = delete is None or np.ndim(delete) == 2
        if delete is None:
            delete = np.zeros(ids.shape[:2], bool)
        delete = np.asarray(delete, bool)
        if single:
            delete = delete[None]
        if delete.shape[1:] != ids.shape[:2]:
            raise ValueError(f"delete has shape {delete.shape[1:]}, expected {ids.shape[:2]}")
        k = len(delete)
        out = np.zeros((k, n, self.chain.num_classes))
        for start in range(0, n, self.batch_size):
            stop = min(n, start + self.batch_size)
            emb, mask = self.chain.embed(ids[start:stop])
            b = stop - start
            rows = np.tile(np.arange(b), k)
            keep = ~delete[:, start:stop].reshape(k * b, -1)
            logits = perturbed_logits(self.chain, emb, mask, rows, keep, remove)
            if not np.isfinite(logits).all():
                bad = int(np.flatnonzero(~np.isfinite(logits).all(axis=1))[0])
                empty = remove and not (keep[bad] & np.asarray(mask)[rows[bad]]).any()
                raise ValueError(
                    f"the model gives non-finite scores for example {start + rows[bad]}"
                    + (" with every word removed (the model is not defined on the empty "
                       "text, e.g. a masked mean over nothing): use deletion='zero'"
                       if empty else " with words deleted")
                )
            out[:, start:stop] = logits.reshape(k, b, -1)
            if self._progbar is not None:
                self._progbar.add(k * b)
        return out[0] if single else out


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def score_of(logits: np.ndarray, target: np.ndarray, score: str) -> np.ndarray:
    """The target's logit or probability from (..., batch, classes) scores → (..., batch)."""
    if score == "logit":
        values = logits
    elif score == "probability":
        values = softmax(logits)
    else:
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    return np.take_along_axis(values, np.broadcast_to(
        np.asarray(target)[..., None], (*values.shape[:-1], 1)), axis=-1)[..., 0]


def get_relevance(source: RelevanceLike, model, ids, target, options=None) -> np.ndarray:
    """Resolve an array / Explanation / method name / callable to a (batch, time) array."""
    if isinstance(source, str):
        explanation = explainer_of(model).explain(
            ids, method=source, target=np.asarray(target), **(options or {})
        )
        rel = explanation.relevance
    elif hasattr(source, "relevance"):
        rel = source.relevance
    elif callable(source):
        rel = source(ids, np.asarray(target))
        rel = getattr(rel, "relevance", rel)
    else:
        rel = source
    rel = np.asarray(rel, np.float64)
    ids = np.asarray(ids)
    if rel.shape != ids.shape[:2]:
        raise ValueError(f"relevance has shape {rel.shape}, expected {ids.shape[:2]} (batch, time)")
    if not np.isfinite(rel).all():
        raise ValueError("relevance holds NaN or Inf")
    return rel


def check_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be {n} integers, got shape {labels.shape} {labels.dtype}")
    return labels.astype(np.int64)


def resolve_target(target, logits: np.ndarray) -> np.ndarray:
    """None → the predicted class; an int → that class for all; else (batch,) ints."""
    n = len(logits)
    if target is None:
        return logits.argmax(-1).astype(np.int64)
    target = np.asarray(target)
    if target.ndim == 0:
        target = np.full(n, int(target))
    target = check_labels(target, n, "target")
    classes = logits.shape[-1]
    if len(target) and (target.min() < 0 or target.max() >= classes):
        raise ValueError(f"target must be in 0..{classes - 1}, got {target.min()}..{target.max()}")
    return target


def score_setup(model, ids, target=None, batch_size: int = 256, verbose="auto"):
    """The common start of a perturbation metric: the ids, their scorer, scores, target and mask.

    Returns:
        ``(ids, scorer, base, target, mask)``: `ids` as an array, a `Scorer`, the float64 class
        scores of the unchanged ids (batch, classes), `target` resolved (None: the predicted
        class) as (batch,) ints, and the (batch, time) word mask.
    """
    ids = np.asarray(ids)
    scorer = Scorer(model, batch_size, verbose)
    base = scorer.logits(ids)
    return ids, scorer, base, resolve_target(target, base), scorer.mask(ids)


def deletion_ranks(relevance, mask, order: str = "decreasing") -> np.ndarray:
    """Rank of each position in the deletion order (0 = deleted first), (batch, time) int.

    Padding gets ranks ≥ the sentence length, so `rank < k` deletes min(k, length) real words.
    Ties go to the earlier position.
    """
    rel = np.asarray(relevance, np.float64)
    mask = np.asarray(mask, bool)
    if order == "decreasing":
        keys = np.where(mask, -rel, np.inf)
    elif order == "increasing":
        keys = np.where(mask, rel, np.inf)
    else:
        raise ValueError(f"order must be 'decreasing' or 'increasing', got {order!r}")
    sorted_positions = np.argsort(keys, axis=1, kind="stable")
    ranks = np.empty_like(sorted_positions)
    rows = np.arange(rel.shape[0])[:, None]
    ranks[rows, sorted_positions] = np.arange(rel.shape[1])[None, :]
    return ranks


def random_relevance(mask, seed: int) -> np.ndarray:
    """Uniform random scores (batch, time) for the random-deletion baseline (0 at padding)."""
    mask = np.asarray(mask, bool)
    return np.where(mask, np.random.default_rng(seed).random(mask.shape), 0.0)


def curve_scores(scorer, ids, ranks, mask, steps, deletion, base_logits=None, insert=False):
    """Logits (K+1, batch, classes) after deleting (or, with `insert`, keeping only) the k
    first-ranked words, k = 0..K."""
    ks = np.arange(0 if base_logits is None or insert else 1, steps + 1)
    chosen = (ranks[None] < ks[:, None, None]) & mask[None]
    delete = (mask[None] & ~chosen) if insert else chosen
    logits = scorer.logits(ids, delete, deletion)
    if base_logits is not None and not insert:
        logits = np.concatenate([np.asarray(base_logits)[None], logits])
    return logits
