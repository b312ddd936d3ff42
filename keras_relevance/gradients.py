"""Gradient-family explanations: SA, VanillaGrad, Grad×Input, Integrated Gradients.

All are gradients of the target logit `f_c` (`chain.logits`, the head's activation stripped)
with respect to the input embeddings x (batch, time, dim):

- `explain_sa`:       R_t = ‖∂f_c/∂x_t‖²           per_dim = (∂f_c/∂x)²       (Arras et al.)
- `explain_gradient`: R_t = ‖∂f_c/∂x_t‖₂           per_dim = ∂f_c/∂x
- `explain_grad_input`: R_t = Σ_d x_td ∂f_c/∂x_td  per_dim = x ⊙ ∂f_c/∂x
- `explain_integrated_gradients`: baseline x′ = 0 at real words (padding is left as it is),
  per_dim = (x − x′) ⊙ mean_{k=1..m} ∂f_c/∂x (x′ + k/m (x − x′)), R_t = Σ_d per_dim;
  Σ_t R_t ≈ f_c(x) − f_c(x′), the error shrinking as `steps` grows.

Relevance is 0 at masked positions. Each function runs one `tf.function` per chain with an
input signature of unknown batch and time, so new shapes do not retrace it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_relevance.graph import MethodResult, ModelGraph


def target_gradient_fn(chain: ModelGraph):
    """A cached `tf.function(emb, mask, target, alphas, keep) -> (sum_k grad, logits)`.

    For each alpha in `alphas` (k,), the input is `emb ⊙ (keep + alpha (1 − keep))` with `keep`
    1 where the embedding stays fixed (padding) and 0 where it is scaled (real words); the
    gradient of the target logit w.r.t. that input is summed over the alphas. With `alphas = [1]`
    this is the plain gradient at `emb` and `logits` are the model's logits there.
    """
    return chain.cached("target_gradient", lambda: _build_gradient_fn(chain))


def _build_gradient_fn(chain: ModelGraph):
    dtype = chain.compute_dtype

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, chain.fixed_length, None], dtype),
            tf.TensorSpec([None, chain.fixed_length], tf.bool),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], dtype),
        ],
        reduce_retracing=True,
    )
    def grad_fn(emb, mask, target, alphas):
        k = tf.shape(alphas)[0]
        batch = tf.shape(emb)[0]
        scale = tf.cast(mask, dtype)[None, :, :, None]  # (1, B, T, 1): 1 at real words
        a = alphas[:, None, None, None]  # (k, 1, 1, 1)
        factor = (1.0 - scale) + a * scale  # padding keeps its embedding
        x = tf.reshape(factor * emb[None], tf.concat([[k * batch], tf.shape(emb)[1:]], 0))
        tiled_mask = tf.tile(mask, [k, 1])
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = tf.cast(chain.logits(x, tiled_mask), dtype)
            # target −1: the predicted class at the first alpha (the input itself for [1])
            predicted = tf.cast(tf.argmax(logits[:batch], axis=-1), tf.int32)
            target = tf.where(target < 0, predicted, target)
            score = tf.gather(logits, tf.tile(target, [k]), batch_dims=1)
        grad = tf.cast(tape.gradient(score, x), dtype)
        grad = tf.reduce_sum(tf.reshape(grad, tf.concat([[k, batch], tf.shape(emb)[1:]], 0)), 0)
        return grad, logits[:batch], target

    return grad_fn


def _gradient(chain, embeddings, mask, target):
    emb = tf.cast(embeddings, chain.compute_dtype)
    mask = tf.cast(mask, tf.bool)
    target = tf.cast(target, tf.int32)
    grad, scores, target = target_gradient_fn(chain)(emb, mask, target,
                                                     tf.ones([1], chain.compute_dtype))
    m = np.asarray(mask)[..., None]
    extra = {"scores": scores.numpy(), "target": target.numpy()}
    return np.asarray(emb), np.where(m, np.asarray(grad), 0), extra


def explain_sa(chain: ModelGraph, embeddings, mask, target) -> MethodResult:
    """Sensitivity analysis: R_t = ‖∂f_c/∂x_t‖², per_dim = (∂f_c/∂x)² (sums to ‖∇f_c‖²)."""
    _, grad, extra = _gradient(chain, embeddings, mask, target)
    per_dim = grad**2
    return MethodResult(relevance=per_dim.sum(-1), per_dim=per_dim, **extra)


def explain_gradient(chain: ModelGraph, embeddings, mask, target) -> MethodResult:
    """VanillaGrad: R_t = ‖∂f_c/∂x_t‖₂, per_dim = the gradient ∂f_c/∂x."""
    _, grad, extra = _gradient(chain, embeddings, mask, target)
    return MethodResult(relevance=np.sqrt((grad**2).sum(-1)), per_dim=grad, **extra)


def explain_grad_input(chain: ModelGraph, embeddings, mask, target) -> MethodResult:
    """Gradient × input: R_t = Σ_d x_td ∂f_c/∂x_td, per_dim = x ⊙ ∂f_c/∂x."""
    emb, grad, extra = _gradient(chain, embeddings, mask, target)
    per_dim = emb * grad
    return MethodResult(relevance=per_dim.sum(-1), per_dim=per_dim, **extra)


# these compute the scores and resolve the predicted class in their own traced pass
explain_sa.one_pass = explain_gradient.one_pass = explain_grad_input.one_pass = True


def explain_integrated_gradients(
    chain: ModelGraph, embeddings, mask, target, steps: int = 50, batch_size: int | None = None
) -> MethodResult:
    """Integrated Gradients from the all-zero embedding baseline (right Riemann sum).

    Args:
        steps: m, the number of points k/m, k = 1..m, on the straight path.
        batch_size: at most this many scaled sequences per forward/backward pass
            (default: all `steps` copies of the batch at once, capped near 4M input floats).

    Padding keeps its embedding (it is no word); only real words are scaled from 0 to x, so
    Σ R ≈ f_c(x) − f_c(x with real words' embeddings zeroed), also for CNNs that see padding.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    dtype = chain.compute_dtype
    emb = tf.cast(embeddings, dtype)
    mask = tf.cast(mask, tf.bool)
    target = tf.cast(target, tf.int32)
    batch, time, dim = (int(s) for s in emb.shape)
    if batch_size is None:
        per_seq = max(1, time * dim)
        batch_size = max(batch, min(steps * batch, (1 << 22) // per_seq))
    alphas_per_call = max(1, int(batch_size) // max(batch, 1))
    alphas = np.arange(1, steps + 1, dtype=np.float64) / steps
    fn = target_gradient_fn(chain)
    total = None
    for start in range(0, steps, alphas_per_call):
        chunk = tf.constant(alphas[start : start + alphas_per_call], dtype)
        grad, _, _ = fn(emb, mask, target, chunk)
        total = grad if total is None else total + grad
    avg = np.asarray(total) / steps
    m = np.asarray(mask)[..., None]
    per_dim = np.where(m, np.asarray(emb) * avg, 0)
    return MethodResult(relevance=per_dim.sum(-1), per_dim=per_dim)
