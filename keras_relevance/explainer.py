"""The public entry point: `Explainer(model).explain(ids, method=...)` → `Explanation`.

Every method is a function with the contract of `keras_relevance.graph`:

    def explain_<name>(chain, embeddings, mask, target, **options) -> MethodResult

and is found by name in `METHODS`. Names map to "module:function" strings that are imported on
first use, so `import keras_relevance` stays light and a method module that fails to import only
breaks that method. Users add their own with `register_method`.

The Explainer owns everything around the method: input checks with clear errors, the target class,
splitting big batches, rows without any real token, and a final check that nothing non-finite
leaves it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_relevance.explanation import ExampleExplanation, Explanation  # noqa: F401 (re-exported)
from keras_relevance.graph import MethodResult, ModelGraph, length_chunks, row_ends, time_trim_safe
from keras_relevance.inputs import InputChecks, is_texts

MethodFn = Callable[..., MethodResult]

#: name → "module:function" (imported lazily) or a callable with the method contract.
METHODS: dict[str, str | MethodFn] = {
    "lrp": "keras_relevance.lrp:explain_lrp",
    "lrp_cons": "keras_relevance.lrp:explain_lrp",
    "sa": "keras_relevance.gradients:explain_sa",
    "gradient": "keras_relevance.gradients:explain_gradient",
    "grad_input": "keras_relevance.gradients:explain_grad_input",
    "integrated_gradients": "keras_relevance.gradients:explain_integrated_gradients",
    "occlusion": "keras_relevance.perturbation:explain_occlusion",
    "lime": "keras_relevance.perturbation:explain_lime",
    "reat": "keras_relevance.reat:explain_reat",
    "naive_reat": "keras_relevance.reat:explain_naive_reat",
}

#: options a name implies (the caller's options win): "lrp_cons" is LRP with bias_factor=1.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "lrp_cons": {"bias_factor": 1.0},
}


def register_method(name: str, func: MethodFn | str, **defaults: Any) -> None:
    """Make `func` available as `Explainer.explain(..., method=name)`.

    Args:
        name: the method name; an existing name is replaced.
        func: a callable `func(chain, embeddings, mask, target, **options) -> MethodResult`,
            or a "module:function" string imported on first use.
        **defaults: options passed to `func` unless the caller gives them.

    >>> def explain_ones(chain, emb, mask, target):                 # doctest: +SKIP
    ...     return MethodResult(relevance=mask.numpy().astype(float))
    >>> register_method("ones", explain_ones)                        # doctest: +SKIP
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"method name must be a non-empty string, got {name!r}")
    if not (callable(func) or (isinstance(func, str) and ":" in func)):
        raise TypeError(f"func must be a callable or a 'module:function' string, got {func!r}")
    METHODS[name] = func
    if defaults:
        METHOD_DEFAULTS[name] = dict(defaults)
    else:
        METHOD_DEFAULTS.pop(name, None)


def get_method(name: str) -> MethodFn:
    """The method function registered as `name` (imports its module on first use)."""
    if not isinstance(name, str) or name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {sorted(METHODS)}")
    func = METHODS[name]
    if callable(func):
        return func
    module_name, _, attr = func.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(
            f"method {name!r} is registered as {func!r}, but {module_name} has no {attr!r}"
        ) from None


# ---------------------------------------------------------------------------------- explainer
class Explainer(InputChecks):
    """Explains the predictions of a Keras text classifier.

    Args:
        model: a built Keras 3 Sequential or Functional model with one text input: ids (or
            strings through a TextVectorization inside it) → Embedding → any graph of supported
            layers → Dense head (softmax / sigmoid / none; explained at its logits; a one-unit
            head is binary, class scores [−z, z]). A model without an Embedding takes
            embeddings (batch, time, dim). Subclassed models without a graph are refused.
        batch_size: at most this many examples go through a method at once.
        verify: check on every call (not only the first per model and method) that the
            explainer's scores reproduce `model(x)`; a disagreement raises and names the layer.

    >>> ex = Explainer(model)                                     # doctest: +SKIP
    >>> e = ex.explain(ids, method="lrp")                         # doctest: +SKIP
    >>> e.relevance.shape, e.target                               # doctest: +SKIP
    ((2, 12), array([1, 0]))
    """

    def __init__(self, model: keras.Model, batch_size: int = 256, verify: bool = False):
        if not isinstance(model, keras.Model):
            raise TypeError(f"expected a keras.Model, got {type(model).__name__}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size}")
        self.model = model
        self.batch_size = int(batch_size)
        self.verify = bool(verify)
        self._weights_version, self._weights_checked = None, False
        self._chain: ModelGraph | None = None
        if model.built:
            self._chain = ModelGraph.from_model(model)

    @property
    def chain(self) -> ModelGraph:
        """The model's `ModelGraph`, built once (on first use if the model was not built)."""
        if self._chain is None:
            self._chain = ModelGraph.from_model(self.model)
        return self._chain

    # -------------------------------------------------------------------------- explain
    def explain(
        self,
        token_ids,
        method: str = "lrp",
        target=None,
        **options: Any,
    ) -> Explanation:
        """Explain the model's score for `target` on each example.

        Args:
            token_ids: int array or tensor (batch, time), padded with 0 when the Embedding has
                `mask_zero=True`; a list of unequal-length id lists is right-padded with 0 then.
                Raw texts (a str or a list of str) for a model that takes strings (its own
                TextVectorization tokenizes them; `Explanation.tokens` are its tokens). For a
                model without an Embedding: float embeddings (batch, time, dim).
            method: a name in `METHODS`: "lrp", "lrp_cons", "sa", "gradient", "grad_input",
                "integrated_gradients", "occlusion", "lime", "reat", "naive_reat".
            target: None (the predicted class, = logit > 0 for a one-unit head), one int for
                all examples, or one int each.
            **options: passed to the method (e.g. `eps`, `bias_factor`, `steps`, `samples`).

        Returns:
            An `Explanation`. An empty batch gives an empty Explanation (batch 0) without
            running the method; rows without real tokens (all padding, or time 0) get
            relevance 0 (and delta 0) without running it either. Their logits are what the
            model gives for them (NaN for a model that averages over no token).

        Raises:
            KeyError: unknown method. TypeError: float ids for a model with an Embedding, or a
            non-integer target. ValueError: wrong rank or embedding size, ids outside
            [0, vocab_size), target outside [0, classes), non-finite weights or logits, or a
            method that returned non-finite relevance.
        """
        func = get_method(method)
        options = {**METHOD_DEFAULTS.get(method, {}), **options}
        chain = self.chain
        raw = token_ids
        inputs = self._check_inputs(token_ids)
        batch, time = inputs.shape[0], inputs.shape[1]
        dtype = chain.compute_dtype
        num_classes = chain.num_classes

        if batch == 0:
            return Explanation(
                relevance=np.zeros((0, time), dtype),
                per_dim=None,
                logits=np.zeros((0, num_classes), dtype),
                target=self._check_target(target, None, 0),
                delta=None,
                method=method,
                options=options,
                mask=np.zeros((0, time), bool),
            )

        self._check_finite_weights()
        mask_all = self._token_mask(inputs)
        ends = row_ends(mask_all)
        rows = np.flatnonzero(ends > 0)
        # One pass: a method whose traced function computes the scores (and the predicted class)
        # needs no separate forward; the others get the scores first.
        one_pass = bool(getattr(func, "one_pass", False))
        logits_all = np.full((batch, num_classes), np.nan, dtype)
        if not one_pass or len(rows) < batch:
            forward_rows = np.arange(batch) if not one_pass else np.flatnonzero(ends == 0)
            logits_all[forward_rows] = self._forward(inputs, forward_rows)
            self._check_finite_logits(logits_all, mask_all, forward_rows)
        if target is None and one_pass:
            target_arr = np.full((batch,), -1, np.int64)
            target_arr[ends == 0] = np.argmax(logits_all[ends == 0], axis=1)
        else:
            target_arr = self._check_target(target, logits_all, batch)

        relevance = np.zeros((batch, time), dtype)
        per_dim = None
        delta = None
        padding = np.zeros((batch,), dtype)
        # Rows without real tokens stay 0. With a masked RNN-like body, trailing padding
        # changes nothing: rows go by length and each chunk is cut after its last real token.
        trim = time_trim_safe(chain)
        for idx, width in length_chunks(ends, rows, self.batch_size, time, trim):
            emb, mask = chain.embed(inputs[idx, :width])
            tgt = tf.constant(target_arr[idx], tf.int32)
            with np.errstate(over="ignore", invalid="ignore"):  # non-finite scores: see below
                result = func(chain, emb, mask, tgt, **options)
            if not isinstance(result, MethodResult):
                result = MethodResult(*result)
            rel = np.asarray(result.relevance)
            if rel.shape != (len(idx), width):
                raise ValueError(
                    f"method {method!r} returned relevance of shape {rel.shape}, "
                    f"expected {(len(idx), width)}"
                )
            relevance[idx, :width] = rel
            if result.scores is not None:
                logits_all[idx] = np.asarray(result.scores)
                target_arr[idx] = np.asarray(result.target)
            if result.per_dim is not None:
                pd = np.asarray(result.per_dim)
                if per_dim is None:
                    per_dim = np.zeros((batch, time, pd.shape[-1]), dtype)
                per_dim[idx, :width] = pd
            if result.delta is not None:
                if delta is None:
                    delta = np.zeros((batch,), dtype)
                delta[idx] = np.asarray(result.delta)
            if getattr(result, "padding", None) is not None:
                padding[idx] = np.asarray(result.padding)
        if one_pass:
            self._check_finite_logits(logits_all, mask_all, rows)
        # the scores come from the method's own pass (one pass) or from the plain walk
        self._verify_once(raw, inputs, logits_all, func if one_pass else None)

        relevance[~mask_all] = 0
        if per_dim is not None:
            per_dim[~mask_all] = 0
        self._check_finite_result(method, relevance, per_dim, delta)
        tokens = None
        if chain.takes_strings and is_texts(raw):
            tokens = self._text_batch(raw).tokens
        return Explanation(
            relevance=relevance,
            per_dim=per_dim,
            logits=logits_all,
            target=target_arr,
            delta=delta,
            method=method,
            options=options,
            mask=mask_all,
            tokens=tokens,
        )

    __call__ = explain

    def predict_logits(self, token_ids) -> np.ndarray:
        """The model's pre-softmax scores (batch, classes), checked like `explain`'s input."""
        inputs = self._check_inputs(token_ids)
        if inputs.shape[0] == 0:
            return np.zeros((0, self.chain.num_classes), self.chain.compute_dtype)
        return self._forward(inputs, np.arange(inputs.shape[0]))

    # -------------------------------------------------------------------------- REAT extras
    def phrase_scores(self, token_ids, spans, target=None) -> np.ndarray:
        """REAT scores of token spans (Du et al. 2019, Eq. 14 / 22), (batch, n_spans).

        Args:
            token_ids: as for `explain`.
            spans: ``(start, end)`` token positions, end exclusive: one list for all examples
                or one list per example; any length, overlapping allowed.
            target: as for `explain` (None: the predicted class).

        Returns:
            (batch, n_spans); NaN where a per-example list is shorter than the longest.
            See `keras_relevance.reat.phrase_scores`.

        >>> Explainer(model).phrase_scores(ids, [(0, 2), (2, 5)])  # doctest: +SKIP
        """
        from keras_relevance import reat

        inputs = self._check_inputs(token_ids)
        batch, time = inputs.shape[0], inputs.shape[1]
        index, valid = reat.normalize_spans(spans, batch, time)
        if batch == 0:
            return np.zeros((0, index.shape[1]), self.chain.compute_dtype)
        scores = self._forward(inputs, np.arange(inputs.shape[0]))
        target_arr = self._check_target(target, scores, batch)
        parts = []
        for start in range(0, batch, self.batch_size):
            sl = slice(start, start + self.batch_size)
            emb, mask = self.chain.embed(inputs[sl])
            parts.append(reat.phrase_scores(self.chain, emb, mask, index[sl], target_arr[sl]))
        out = np.concatenate(parts, axis=0)
        if valid is not None:
            out[~valid] = np.nan
        return out

    def hierarchy(self, inputs, target=None, *, tokens=None, vocab=None, method: str = "reat",
                  **options) -> list:
        """Word, phrase and clause levels with scores, one `reat.Hierarchy` per example.

        With `method="reat"` (default) phrases score by REAT's Eq. 14 / 22; any other additive
        method (e.g. "lrp", "grad_input", "occlusion") scores a phrase as the sum of its words.

        Args:
            inputs: token ids (batch, time) with ``tokens`` (one list per example) or ``vocab``
                (a `keras_relevance.text.Vocabulary` to decode them); or texts / token lists
                with ``vocab`` to encode them.
            target: as for `explain` (None: the predicted class).
            **options: ``phrases``, ``clauses``, ``tagger``, ``nltk_data`` of
                `keras_relevance.reat.hierarchy` (per-example span lists are sliced per chunk).

        >>> h = Explainer(model).hierarchy(["good , but dull ."], vocab=vocab)[0]  # doctest: +SKIP
        >>> h["clause"].texts, h["clause"].scores                                  # doctest: +SKIP
        """
        from keras_relevance import reat

        if isinstance(inputs, str):
            inputs = [inputs]
        is_list = isinstance(inputs, list | tuple) and len(inputs) > 0
        if is_list and all(isinstance(x, str) for x in inputs):  # texts
            if vocab is None:
                raise ValueError("hierarchy of raw texts needs vocab= (a text.Vocabulary)")
            tokenized = vocab.tokenize(list(inputs))
            tokens = [t.tokens for t in tokenized]
            inputs = vocab.encode(tokenized)
        elif is_list and all(
            isinstance(x, list | tuple) and x and all(isinstance(t, str) for t in x)
            for x in inputs
        ):  # token lists
            if vocab is None:
                raise ValueError("hierarchy of token lists needs vocab= (a text.Vocabulary)")
            tokens = [list(x) for x in inputs]
            inputs = vocab.encode(tokens)
        ids = self._check_inputs(inputs)
        if tokens is None:
            if vocab is None:
                raise ValueError("hierarchy of token ids needs tokens= or vocab= to name them")
            tokens = vocab.decode(ids)
        batch = ids.shape[0]
        if len(tokens) != batch:
            raise ValueError(f"got tokens for {len(tokens)} examples, the batch has {batch}")
        if batch == 0:
            return []
        if method != "reat":
            e = self.explain(ids, method=method, target=target)
            opts = {k: options[k] for k in ("phrases", "clauses", "tagger", "nltk_data")
                    if k in options}
            g = reat.cumulative_scores(e.relevance, e.mask)
            return reat.build_hierarchy(e.relevance, g, e.mask, e.target, tokens, **opts)
        target_arr = self._check_target(target, self._forward(ids, np.arange(batch)), batch)
        out = []
        for start in range(0, batch, self.batch_size):
            sl = slice(start, start + self.batch_size)
            emb, mask = self.chain.embed(ids[sl])
            opts = dict(options)
            for key in ("phrases", "clauses"):
                value = opts.get(key)
                if isinstance(value, list | tuple):
                    opts[key] = value[sl]
            out.extend(
                reat.hierarchy(self.chain, emb, mask, target_arr[sl], tokens[sl], **opts)
            )
        return out

    # -------------------------------------------------------------------------- checks
    def _check_finite_weights(self) -> None:
        """NaN/Inf weights are refused, checked once per weight version: per optimizer step
        while the model trains, once per Explainer otherwise."""
        optimizer = getattr(self.model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        version = (id(optimizer), int(iterations.numpy())) if iterations is not None else None
        if self._weights_version == version and self._weights_checked:
            return
        for w in self.model.weights:
            value = tf.convert_to_tensor(w)
            if value.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(value))):
                raise ValueError(
                    f"weight {getattr(w, 'path', w.name)!r} contains NaN/Inf: the model is not "
                    "finite, so there is nothing to explain"
                )
        self._weights_version, self._weights_checked = version, True

    def _check_finite_logits(self, logits, mask, rows) -> None:
        # Rows without real tokens may legitimately give NaN (a masked average over nothing);
        # they are not explained, so only rows with tokens must be finite.
        bad = np.zeros(len(logits), bool)
        bad[rows] = ~np.isfinite(logits[rows]).all(axis=1) & mask[rows].any(axis=1)
        if not bad.any():
            return
        for w in self.model.weights:  # name the culprit where there is one
            value = tf.convert_to_tensor(w)
            if value.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(value))):
                raise ValueError(
                    f"weight {getattr(w, 'path', w.name)!r} contains NaN/Inf: the model is not "
                    "finite, so there is nothing to explain"
                )
        rows_bad = np.flatnonzero(bad)
        raise ValueError(
            f"the model gives non-finite logits for {bad.sum()} of {len(logits)} examples "
            f"(rows {rows_bad[:10].tolist()}); explanations of NaN/Inf scores are meaningless"
        )

    def _forward(self, inputs, rows) -> np.ndarray:
        """Class scores (len(rows), classes) of the given rows, in chunks of batch_size rows,
        sorted by length and cut after their last real token where trailing padding cannot
        change the scores (`time_trim_safe`), as in `explain`."""
        chain = self.chain
        rows = np.asarray(rows, np.int64)
        time = inputs.shape[1]
        out = np.zeros((inputs.shape[0], chain.num_classes), chain.compute_dtype)
        ends = row_ends(self._token_mask(inputs))
        for idx, width in length_chunks(ends, rows, self.batch_size, time, time_trim_safe(chain)):
            emb, mask = chain.embed(inputs[idx, :width])
            if width == 0:
                logits = _empty_logits(chain, emb)
            else:
                logits = _logits_fn(chain)(emb, mask)
            out[idx] = np.asarray(tf.cast(logits, chain.compute_dtype))
        return out[rows]

    def _verify_once(self, raw, inputs, scores, source=None) -> None:
        """Never a silent wrong answer: the scores the explainer computed must be the model's.

        Checked on the first explanation of a model (and on every call with `verify=True`):
        the model is called as the user calls it and its output compared with the head's
        activation of our scores. A disagreement names the first layer where the walk departs.
        """
        chain = self.chain
        key = ("verified", source)  # per source of scores: the plain walk or a method's pass
        if not self.verify and chain.cached(key, lambda: [False])[0]:
            return
        has_tokens = self._token_mask(inputs).any(axis=1) & np.isfinite(scores).all(axis=1)
        rows = np.flatnonzero(has_tokens)[:8]
        if len(rows) == 0:
            return
        if chain.takes_strings and not is_texts(raw):
            return  # ids given to a model that takes text: model(x) cannot be called on them
        if chain.takes_strings:
            texts = [raw] if isinstance(raw, str) else list(np.asarray(raw, object).reshape(-1))
            x = [texts[i] for i in rows]
        else:
            x = inputs[rows]
        expected = np.asarray(self.model(_model_input(chain, x), training=False), np.float64)
        z = scores[rows, 1:] if chain.units == 1 else scores[rows]
        ours = np.asarray(chain.head.activation(tf.constant(z)), np.float64)
        for step in chain.trailing:
            ours = np.asarray(step.layer(tf.constant(ours)), np.float64)
        tol = 1e-6 if chain.compute_dtype == "float64" else 2e-4
        diff = np.abs(expected - ours)
        if float(diff.max()) > tol * max(1.0, float(np.abs(expected).max())):
            raise ValueError(
                f"the explainer's scores for model {self.model.name!r} do not reproduce "
                f"model(x) (max difference {float(diff.max()):.3g}); "
                + chain.departure(inputs[rows])
            )
        chain.cached(key, lambda: [False])[0] = True

    @staticmethod
    def _check_finite_result(method, relevance, per_dim, delta) -> None:
        for name, arr in (("relevance", relevance), ("per_dim", per_dim), ("delta", delta)):
            if arr is not None and not np.isfinite(arr).all():
                rows = np.flatnonzero(~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1))
                raise ValueError(
                    f"method {method!r} produced non-finite {name} for rows "
                    f"{rows[:10].tolist()} although the model's logits are finite"
                )


def _logits_fn(chain: ModelGraph):
    """A `tf.function(emb, mask) -> logits` cached on the chain (no retracing per shape)."""
    return chain.cached("logits", lambda: _build_logits_fn(chain))


def _build_logits_fn(chain: ModelGraph):
    dtype = chain.compute_dtype

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, chain.fixed_length, None], dtype),
            tf.TensorSpec([None, chain.fixed_length], tf.bool),
        ],
        reduce_retracing=True,
    )
    def logits(emb, mask):
        return tf.cast(chain.logits(emb, mask), dtype)

    return logits


def _model_input(chain, x):
    """What `model(...)` takes: the strings, or ids (batch, time)."""
    if chain.takes_strings:
        x = tf.constant(list(x))
        return x[:, None] if len(chain.input_tensor.shape) == 2 else x
    return tf.constant(np.asarray(x))


def _empty_logits(chain, emb) -> tf.Tensor:
    """Logits of length-0 sequences: one padding step, fully masked."""
    batch, dim = int(emb.shape[0]), int(emb.shape[-1])
    pad = tf.zeros((batch, 1, dim), chain.compute_dtype)
    return chain.logits(pad, tf.zeros((batch, 1), tf.bool))


