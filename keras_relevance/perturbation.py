"""Perturbation explanations: occlusion and LIME, evaluated in large batches.

A word is removed by setting its embedding vector to zero (as in the deletion experiments of
Arras et al.); padding is never touched and the model's mask is kept. Both methods score the
target logit `f_c` (`chain.logits`), and push every perturbed sequence of a batch through one
`tf.function` in chunks of `eval_batch_size` sequences: there is no Python loop per sample.

- `explain_occlusion`: R_t = f_c(x) − f_c(x with word t zeroed).
- `explain_lime`: LIME for text (Ribeiro et al. 2016, the `lime` package's LimeTextExplainer):
  `samples` binary masks over the real words (the first is the unperturbed text, the others
  remove a uniformly drawn number 1..n of distinct words), weights
  `sqrt(exp(-d² / kernel_width²))` with d the cosine distance of the mask to all-ones
  (`lime` uses 100·d and width 25, the same kernel), and a weighted ridge regression
  (`alpha`, with intercept, as sklearn's Ridge) of f_c on the masks, fitted in NumPy over all
  words (no feature selection). R_t = the coefficient of word t. Each distinct mask is
  evaluated once.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from keras_relevance.graph import (
    MethodResult,
    ModelGraph,
    length_chunks,
    row_ends,
    time_trim_safe,
)

_FLOAT_BUDGET = 1 << 22  # input floats per forward pass when eval_batch_size is not given


def masked_logits_fn(chain: ModelGraph):
    """The one cached `tf.function(emb, mask, rows, keep, remove) -> (N, classes)` scorer.

    Row i of the result holds the class scores (`chain.logits`) of example `rows[i]` with the
    words where `keep[i]` (bool (N, time)) is False deleted: their embeddings set to zero and
    the mask kept (`remove` False, Arras et al.), or dropped and the rest shifted left, the
    mask False at the end (`remove` True, ERASER; a text left without words is fully masked,
    as the model would see the empty text). Occlusion, LIME and every metric of
    `keras_relevance.evaluation` run through this function, traced once per model.
    """
    return chain.cached("masked_logits", lambda: _build_masked_logits_fn(chain))


def _build_masked_logits_fn(chain: ModelGraph):
    dtype = chain.compute_dtype

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, chain.fixed_length, None], dtype),
            tf.TensorSpec([None, chain.fixed_length], tf.bool),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, chain.fixed_length], tf.bool),
            tf.TensorSpec([], tf.bool),
        ],
        reduce_retracing=True,
    )
    def masked_logits(emb, mask, rows, keep, remove):
        x = tf.gather(emb, rows) * tf.cast(keep, dtype)[:, :, None]
        m = tf.gather(mask, rows)
        # remove: the kept steps first (in order), the deleted ones after them, masked
        steps = tf.range(tf.shape(keep)[1])[None, :] + tf.zeros_like(keep, tf.int32)
        order = tf.where(remove, tf.argsort(tf.cast(~keep, tf.int32), axis=1, stable=True),
                         steps)
        x = tf.gather(x, order, batch_dims=1)
        m = tf.gather(tf.where(remove, m & keep, m), order, batch_dims=1)
        return tf.cast(chain.logits(x, m), dtype)

    return masked_logits


def target_score_fn(chain: ModelGraph):
    """`fn(emb, mask, target, rows, keep) -> (N,)` target logits over `masked_logits_fn`.

    Row i of the result is f_{target[rows[i]]} of example `rows[i]` with its embeddings
    multiplied by `keep[i]` (bool (N, time): False = the word is removed).
    """
    fn = masked_logits_fn(chain)

    def score(emb, mask, target, rows, keep):
        logits = fn(emb, mask, rows, keep, tf.constant(False))
        return tf.gather(logits, tf.gather(target, rows), batch_dims=1)

    score.traced = fn
    return score


def perturbed_logits(chain, emb, mask, rows, keep, remove: bool = False,
                     eval_batch_size=None) -> np.ndarray:
    """Class scores (N, classes) float64 of all perturbed sequences (see `masked_logits_fn`)."""
    n = len(rows)
    time, dim = int(emb.shape[1]), int(emb.shape[2])
    if eval_batch_size is None:
        eval_batch_size = max(64, _FLOAT_BUDGET // max(1, time * dim))
    elif isinstance(eval_batch_size, bool) or int(eval_batch_size) < 1:
        raise ValueError(f"eval_batch_size must be a positive int, got {eval_batch_size!r}")
    fn = masked_logits_fn(chain)
    rows = np.asarray(rows, np.int32)
    keep = np.asarray(keep, bool)
    remove_t = tf.constant(bool(remove))
    out = np.empty((n, chain.num_classes), np.float64)
    step = int(eval_batch_size)
    # With a masked RNN-like body, sequences go by length and each chunk is cut after the
    # last real token of its longest sequence (trailing padding cannot change the logits);
    # a sequence without tokens keeps one (masked) step.
    trim = time_trim_safe(chain) and time > 0
    ends = np.maximum(row_ends(np.asarray(mask)), 1)[rows] if trim else None
    for sel, width in length_chunks(ends, np.arange(n), step, time, trim):
        out[sel] = fn(emb[:, :width], mask[:, :width], rows[sel], keep[sel, :width],
                      remove_t).numpy()
    return out


def perturbed_scores(chain, emb, mask, target, rows, keep, eval_batch_size=None) -> np.ndarray:
    """Target logits of all perturbed sequences (`rows`, `keep` as in `target_score_fn`)."""
    logits = perturbed_logits(chain, emb, mask, rows, keep, False, eval_batch_size)
    return logits[np.arange(len(rows)), np.asarray(target)[np.asarray(rows, np.int64)]]


def _prepare(chain, embeddings, mask, target):
    emb = tf.cast(embeddings, chain.compute_dtype)
    mask = tf.cast(mask, tf.bool)
    target = tf.cast(target, tf.int32)
    return emb, mask, target, np.asarray(mask)


def explain_occlusion(
    chain: ModelGraph, embeddings, mask, target, eval_batch_size: int | None = None
) -> MethodResult:
    """Occlusion: R_t = f_c(x) − f_c(x with the embedding of word t set to zero).

    Args:
        eval_batch_size: perturbed sequences per forward pass (default: about 4M input floats).
    """
    emb, mask_t, target_t, m = _prepare(chain, embeddings, mask, target)
    batch, time = m.shape
    b_idx, t_idx = np.nonzero(m)  # one perturbation per real word
    keep = np.ones((batch + len(b_idx), time), bool)
    keep[batch + np.arange(len(b_idx)), t_idx] = False
    rows = np.concatenate([np.arange(batch), b_idx])
    scores = perturbed_scores(chain, emb, mask_t, target_t, rows, keep, eval_batch_size)
    relevance = np.zeros((batch, time), np.float64)
    relevance[b_idx, t_idx] = scores[b_idx] - scores[batch:]
    return MethodResult(relevance=relevance.astype(chain.compute_dtype))


def lime_masks(n_words: int, samples: int, seed: int | None = 0) -> np.ndarray:
    """LIME's text perturbations: bool (samples, n_words), row 0 all True.

    Each other row removes `k` distinct words, `k` uniform in 1..n_words (as `lime` does). The
    masks depend only on `seed` and `n_words`, so an example's explanation does not depend on
    the other examples of its batch.
    """
    entropy = None if seed is None else [int(seed), int(n_words)]
    rng = np.random.default_rng(entropy)
    z = np.ones((samples, n_words), bool)
    if samples > 1 and n_words > 0:
        sizes = rng.integers(1, n_words + 1, size=samples - 1)
        ranks = np.argsort(np.argsort(rng.random((samples - 1, n_words)), axis=1), axis=1)
        z[1:] = ranks >= sizes[:, None]
    return z


def lime_kernel(z: np.ndarray, kernel_width: float = 0.25) -> np.ndarray:
    """Sample weights sqrt(exp(-d²/w²)), d = cosine distance of each mask row to all-ones."""
    n = z.shape[1]
    active = z.sum(axis=1).astype(np.float64)
    d = np.where(active > 0, 1.0 - np.sqrt(active / max(n, 1)), 1.0)
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


def weighted_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float = 1.0):
    """Weighted ridge with intercept (sklearn's `Ridge(alpha).fit(x, y, sample_weight=w)`).

    Args:
        x: (samples, features); y: (samples,) or (samples, targets); w: (samples,).

    Returns:
        (coef (features,) or (features, targets), intercept () or (targets,)).
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.asarray(w, np.float64)
    total = w.sum()
    x_mean = w @ x / total
    y_mean = w @ y / total
    xc = x - x_mean
    yc = y - y_mean
    gram = (xc * w[:, None]).T @ xc + alpha * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, (xc * w[:, None]).T @ yc)
    return coef, y_mean - x_mean @ coef


def _unique_rows(z: np.ndarray):
    """`np.unique(z, axis=0, return_inverse=True)` for a bool matrix, via packed bytes."""
    packed = np.ascontiguousarray(np.packbits(z, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return z[first], inverse.reshape(-1)


@functools.lru_cache(maxsize=256)
def _lime_plan(n_words: int, samples: int, seed: int, kernel_width: float, alpha: float):
    """Distinct masks (U, n) and the map (n, U) from their scores to the ridge coefficients.

    With x, w fixed, the weighted ridge coefficients are linear in y: coef = P y, where
    P = (Xcᵀ W Xc + αI)⁻¹ Xcᵀ W (the intercept absorbs the mean, Xcᵀ W 1 = 0). Columns of P
    that belong to the same distinct mask are summed.
    """
    z = lime_masks(n_words, samples, seed)
    unique, inverse = _unique_rows(z)
    x = z.astype(np.float64)
    w = lime_kernel(z, kernel_width)
    xc = x - (w @ x) / w.sum()
    gram = (xc * w[:, None]).T @ xc + alpha * np.eye(n_words)
    proj = np.linalg.solve(gram, (xc * w[:, None]).T)  # (n, samples)
    proj_unique = np.zeros((n_words, len(unique)))
    np.add.at(proj_unique.T, inverse, proj.T)
    return unique, proj_unique


def explain_lime(
    chain: ModelGraph,
    embeddings,
    mask,
    target,
    samples: int = 1000,
    seed: int | None = 0,
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    eval_batch_size: int | None = None,
) -> MethodResult:
    """LIME for text over the real words of each example (see the module docstring).

    Args:
        samples: perturbed texts per example (the first is the original text).
        seed: seeds the masks (None: fresh randomness); same seed, same result.
        kernel_width: width of the exponential kernel on the cosine distance.
        alpha: ridge penalty.
        eval_batch_size: perturbed sequences per forward pass (default: about 4M input floats).
    """
    if isinstance(samples, bool) or not isinstance(samples, int | np.integer) or samples < 2:
        raise ValueError(f"samples must be an int >= 2, got {samples!r}")
    if not kernel_width > 0:
        raise ValueError(f"kernel_width must be > 0, got {kernel_width!r}")
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    emb, mask_t, target_t, m = _prepare(chain, embeddings, mask, target)
    batch, time = m.shape
    lengths = m.sum(axis=1)
    seed = int(np.random.SeedSequence().entropy % (1 << 63)) if seed is None else int(seed)
    groups, all_rows, all_keep = [], [], []
    for n in np.unique(lengths):
        if n == 0:
            continue
        rows = np.flatnonzero(lengths == n)  # examples with n words share the masks
        unique, proj = _lime_plan(int(n), int(samples), seed, float(kernel_width), float(alpha))
        positions = np.nonzero(m[rows])[1].reshape(len(rows), int(n))  # (G, n), in order
        keep = np.ones((len(rows), len(unique), time), bool)
        keep[np.arange(len(rows))[:, None, None], np.arange(len(unique))[None, :, None],
             positions[:, None, :]] = unique
        all_rows.append(np.repeat(rows, len(unique)))
        all_keep.append(keep.reshape(-1, time))
        groups.append((rows, positions, proj))
    relevance = np.zeros((batch, time), np.float64)
    if groups:
        scores = perturbed_scores(chain, emb, mask_t, target_t, np.concatenate(all_rows),
                                  np.concatenate(all_keep), eval_batch_size)
        offset = 0
        for rows_g, positions, proj in groups:
            size = len(rows_g) * proj.shape[1]
            y = scores[offset : offset + size].reshape(len(rows_g), proj.shape[1])
            offset += size
            relevance[rows_g[:, None], positions] = y @ proj.T  # each distinct mask once
    return MethodResult(relevance=relevance.astype(chain.compute_dtype))
