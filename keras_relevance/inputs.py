"""The Explainer's input checks: texts, token ids or embeddings → checked ids (batch, time).

Texts go through the model's own TextVectorization (`keras_relevance.batch.to_batch` with the
graph as its source); ids are checked against the vocabulary and padded to the model's fixed or
minimum length; embeddings (models without an Embedding) are checked for shape and finiteness;
targets against the classes (a one-unit head has two). Every error names the problem.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class InputChecks:
    """Mixed into `Explainer` (which provides `self.chain` and `self.model`)."""

    def _check_inputs(self, token_ids) -> np.ndarray:
        chain = self.chain
        if chain.takes_strings and is_texts(token_ids):
            return self._fit_length(self._text_batch(token_ids).ids)
        if isinstance(token_ids, str) or (
            isinstance(token_ids, list | tuple) and token_ids
            and all(isinstance(t, str) for t in token_ids)
        ):
            raise TypeError(
                f"model {self.model.name!r} takes token ids, not text: encode the texts first "
                "(e.g. kr.Vocabulary.encode), or put a TextVectorization layer in the model"
            )
        if isinstance(token_ids, tf.RaggedTensor):
            token_ids = token_ids.to_tensor(0)
        if isinstance(token_ids, tf.Tensor | tf.Variable) or hasattr(token_ids, "numpy"):
            token_ids = np.asarray(token_ids)
        if chain.embedding is None:
            return self._check_embedded(token_ids)
        if isinstance(token_ids, list | tuple):
            token_ids = _pad_ragged(token_ids, chain.mask_zero)
        arr = np.asarray(token_ids)
        if arr.dtype == object:
            raise TypeError("token_ids must be an int array (batch, time); got an object array")
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            if arr.size == 0 and arr.dtype == np.float64 and arr.ndim in (1, 2):
                arr = arr.astype(np.int64)  # np.asarray([]) / [[]] is float64: an empty batch
            else:
                raise TypeError(
                    f"token_ids must be integers (batch, time), got dtype {arr.dtype}; "
                    "float input is accepted only by models without an Embedding layer "
                    "(then it is the embeddings, (batch, time, dim))"
                )
        if arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, 0)
        if arr.ndim != 2:
            hint = " (wrap one sequence as [ids])" if arr.ndim == 1 else ""
            raise ValueError(
                f"token_ids must have shape (batch, time), got shape {arr.shape}{hint}"
            )
        if arr.size:
            vocab = chain.vocab_size
            low = arr < 0
            high = arr >= vocab
            for bad, what in ((low, "negative"), (high, "outside the vocabulary")):
                if bad.any():
                    b, t = np.argwhere(bad)[0]
                    raise ValueError(
                        f"token id {int(arr[b, t])} at position (row {b}, time {t}) is {what}: "
                        f"ids must lie in [0, {vocab}) (vocab size {vocab}); "
                        f"{int(bad.sum())} such id(s) in total"
                    )
        if arr.shape[1] == 0 and arr.shape[0] > 0 and not chain.mask_zero:
            raise ValueError(
                "sequences of length 0 cannot be explained by a model whose Embedding has no "
                "mask_zero=True (there is no padding to stand for them)"
            )
        return self._fit_length(arr.astype(np.int32, copy=False))

    def _text_batch(self, texts):
        """Texts through the model's own TextVectorization: the one input type."""
        from keras_relevance.batch import to_batch

        return to_batch(texts, source=self.chain, vocab_size=self.chain.vocab_size)

    def _fit_length(self, arr: np.ndarray) -> np.ndarray:
        """Pad ids to the model's fixed or minimum length (id 0 is the model's padding), or
        refuse by name where padding would be read as words."""
        chain = self.chain
        if arr.shape[0] == 0:
            return arr
        fixed = chain.fixed_length
        if fixed is not None:
            if arr.shape[1] > fixed:
                extra = arr[:, fixed:] != 0
                if extra.any():
                    raise ValueError(
                        f"model {self.model.name!r} takes sequences of exactly {fixed} tokens "
                        f"(its Input shape); got {arr.shape[1]} with tokens beyond {fixed}"
                    )
                return arr[:, :fixed]
            return np.pad(arr, ((0, 0), (0, fixed - arr.shape[1])))
        need = chain.min_length()
        if 0 < arr.shape[1] < need or (arr.shape[1] == 0 and need > 1):
            if not (chain.mask_zero or chain.takes_strings):
                raise ValueError(
                    f"model {self.model.name!r} needs sequences of at least {need} tokens (its "
                    f"convolutions and pooling shorten them); got {arr.shape[1]}: pad the ids "
                    f"to {need}"
                )
            return np.pad(arr, ((0, 0), (0, need - arr.shape[1])))
        return arr

    def _check_embedded(self, x) -> np.ndarray:
        if isinstance(x, list | tuple):
            x = np.asarray(x)
        arr = np.asarray(x)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.floating):
            if np.issubdtype(arr.dtype, np.integer) and arr.size == 0:
                arr = arr.astype(np.float32)
            else:
                raise TypeError(
                    f"model {self.model.name!r} has no Embedding layer, so its input is the "
                    f"embeddings: a float array (batch, time, dim); got dtype {arr.dtype}"
                )
        if arr.ndim != 3:
            raise ValueError(
                f"model {self.model.name!r} has no Embedding layer: input must be embeddings "
                f"(batch, time, dim), got shape {arr.shape}"
            )
        expected = _input_dim(self.model)
        if expected is not None and arr.shape[2] != expected:
            raise ValueError(
                f"embedding size {arr.shape[2]} does not match the model's input size {expected}"
            )
        if arr.shape[0] and arr.shape[1] == 0:
            raise ValueError("sequences of length 0 cannot be explained by a model without "
                             "an Embedding with mask_zero=True")
        if not np.isfinite(arr).all():
            b, t, _ = np.argwhere(~np.isfinite(arr))[0]
            raise ValueError(f"input embeddings contain NaN/Inf (first at row {b}, time {t})")
        return arr

    def _check_target(self, target, logits, batch) -> np.ndarray:
        num_classes = self.chain.num_classes
        if target is None:
            if logits is None:
                return np.zeros((0,), np.int64)
            return np.argmax(logits, axis=1).astype(np.int64)
        if isinstance(target, tf.Tensor | tf.Variable):
            target = target.numpy()
        arr = np.asarray(target)
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise TypeError(f"target must be None, an int or ints (batch,), got dtype {arr.dtype}")
        if arr.ndim == 0:
            arr = np.full((batch,), int(arr), np.int64)
        elif arr.ndim != 1 or arr.shape[0] != batch:
            raise ValueError(
                f"target must be an int or one int per example: shape ({batch},), got {arr.shape}"
            )
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= num_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"target {int(arr[i])} (example {i}) is out of range: the model has "
                f"{num_classes} classes, so targets lie in [0, {num_classes})"
            )
        return arr

    def _token_mask(self, inputs) -> np.ndarray:
        """(batch, time) True at real tokens: ids ≠ 0 where the model masks or vectorizes."""
        chain = self.chain
        if chain.embedding is None:
            emb = tf.convert_to_tensor(inputs, chain.compute_dtype)
            return np.asarray(chain.embed(emb)[1])
        return np.asarray(chain.token_mask(inputs))


def is_texts(x) -> bool:
    if isinstance(x, str):
        return True
    if isinstance(x, tf.Tensor) and x.dtype == tf.string:
        return True
    if isinstance(x, np.ndarray) and x.dtype.kind in "OUS":
        return True
    return isinstance(x, list | tuple) and len(x) > 0 and all(
        isinstance(t, str | bytes) for t in x)


def _pad_ragged(rows, mask_zero: bool):
    """Right-pad a list of id lists with 0 (only for mask_zero models)."""
    if not rows or not all(isinstance(r, list | tuple | np.ndarray) for r in rows):
        return rows
    lengths = {len(r) for r in rows}
    if len(lengths) <= 1:
        return rows
    if not mask_zero:
        raise ValueError(
            f"sequences have different lengths {sorted(lengths)[:5]}; padding them needs an "
            "Embedding with mask_zero=True (pad them yourself otherwise)"
        )
    width = max(lengths)
    out = np.zeros((len(rows), width), np.int64)
    for i, r in enumerate(rows):
        r = np.asarray(r)
        if r.size and (r.dtype == bool or not np.issubdtype(r.dtype, np.integer)):
            raise TypeError(f"token_ids must be integers, row {i} has dtype {r.dtype}")
        out[i, : len(r)] = r
    return out


def _input_dim(model) -> int | None:
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        try:
            shape = model.layers[0].input.shape
        except (AttributeError, IndexError, TypeError, ValueError):
            return None
    dim = shape[-1] if shape is not None and len(shape) == 3 else None
    return None if dim is None else int(dim)
