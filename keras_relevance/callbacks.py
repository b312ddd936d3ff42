"""`ExplanationLogger`: log explanations of a few sentences to TensorBoard while a model trains.

Each logged epoch writes, into the run `<log_dir>/explanations` (beside the `train` and
`validation` runs of `keras.callbacks.TensorBoard` when both share `log_dir`):

- one `token_heatmap` summary per method (tag `heatmap/<method>`): the tokens of every sample,
  the relevance for each target class (the predicted and the true class of each sample), the
  predictions, labels and logits;
- with `deletion_data=(ids, labels)`: `deletion_curve` summaries `deletion/correct` and
  `deletion/misclassified`, one curve per method plus the random baseline;
- with `summary_data=(ids or texts[, labels])` (by default the `deletion_data` sentences):
  `top_words` summaries `top_words/<method>`, per class the words with the highest and lowest
  mean relevance for the predicted class over those sentences, with their counts;
- the model of its newest logged step (`keep_models=1`; more, or 0 for none) as
  `models/step_<step>.keras` with the vocabulary (`models/vocab.json`) and an index
  (`models/index.json`: steps → files, class names, max_len), so that the dashboard's "type a
  sentence" box can explain new text with it (in a separate worker process); or, with
  `model_path=`, an index pointing at the user's own `ModelCheckpoint` file (inside the log dir);
- with `stock_dashboards=True`, also for TensorBoard without the plugin: one PNG per method and
  target class (`heatmap_image/<method>/class_<c>`, all samples stacked, Images dashboard) and
  the deletion curves as scalars (`deletion/<kind>/<method>/k=<k>` for each number of deleted
  words k, `deletion/<kind>/<method>/mean`, the curve's mean, and `.../aopc`, its AOPC;
  Scalars dashboard, x = epoch).

The step is the epoch index, as for `keras.callbacks.TensorBoard`'s epoch summaries. Explanation
errors never stop training: they become `ExplanationWarning`s and the epoch's other summaries
are still written. A method that fails before it has ever worked while others work (for example
"reat" on a CNN) is dropped with one warning.

>>> logger = ExplanationLogger("runs/x", ["a good film", "a dull plot"], vocabulary=vocab,
...                            labels=[1, 0])                   # doctest: +SKIP
>>> model.fit(x, y, epochs=3, callbacks=[logger,
...           keras.callbacks.TensorBoard("runs/x")])          # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from keras_relevance.callback_data import (
    ModelVocabulary,
    check_methods,
    check_targets,
    holds_texts,
    inside,
    is_ids_and_labels,
    is_pair,
    predicted_classes,
    prepare_deletion,
    prepare_labels,
    prepare_samples,
)
from keras_relevance.callback_writers import SummaryWriters, attempt, describe

__all__ = ["ExplanationLogger", "ExplanationWarning"]

class ExplanationWarning(UserWarning):
    """An explanation could not be computed or logged during training (training goes on)."""


class ExplanationLogger(SummaryWriters, keras.callbacks.Callback):
    """Logs token relevance (and optionally deletion curves) to TensorBoard during `fit`.

    Args:
        log_dir: the TensorBoard log directory (the same one as `keras.callbacks.TensorBoard`'s
            is fine: this callback writes to the run `log_dir/<run_name>`).
        samples: the sentences to explain every logged epoch: raw texts (tokenized with
            `vocabulary`, character offsets kept in `self.tokenized`), token lists, an int id
            array (batch, time) right-padded with 0, or a tuple `(ids, labels)`. Keep it small
            (a handful to a few dozen): they are explained for every method and target class.
        methods: method names of `keras_relevance.explainer.METHODS`.
        every_n_epochs: log after epochs n, 2n, ... (the step is the epoch index).
        deletion_data: optional `(ids, labels)` (or `(texts, labels)` with a vocabulary) on which
            word-deletion curves are computed per method, with the random baseline.
        vocabulary: a `keras_relevance.text.Vocabulary`: required for texts; for id arrays it
            turns ids back into words (otherwise the ids themselves are shown).
        labels: the true class of each sample (enables the "true" target).
        targets: which classes to explain: "predicted", "true", "all" and/or class ids. The
            relevance for every class that is some sample's target is logged for all samples.
            "true" is ignored without labels.
        class_names: optional names of the classes, shown by the dashboard.
        max_len: pad / truncate the encoded samples to this length.
        run_name: the run folder under `log_dir`.
        explain_options: extra keyword arguments for `Explainer.explain`, per method name.
        stock_dashboards: also write heatmap images (`tf.summary.image`) and deletion-curve
            scalars (`tf.summary.scalar`) that TensorBoard's own Images and Scalars dashboards
            show, for users who cannot install the plugin. Off by default (it costs drawing
            time and disk).
        image_width: width in pixels of the heatmap images.
        summary_data: optional sentences (ids, texts, or a pair with labels) whose top words per
            class (mean relevance for the predicted class, with counts) are logged per method
            every logged epoch; defaults to the `deletion_data` sentences. `False`: none.
        top_k: words per list of the top-words summary.
        keep_models: how many of the newest logged steps keep their model in
            `run_dir/models/` (saved only at logged epochs; 0: none).
        model_path: instead of saving, the file the user's `keras.callbacks.ModelCheckpoint`
            writes (it must lie inside `log_dir`; the dashboard loads nothing outside it).

    Raises:
        ValueError: no samples, an empty text, or texts without a vocabulary (at construction,
            not in the middle of training).

    Attributes:
        tokens: the token list of every sample (what the dashboard shows).
        ids: the encoded samples (batch, time).
        tokenized: the `Tokenized` texts (with character offsets) when texts were given.
        skipped_methods: methods dropped because they do not apply to the model.
        logged_epochs: the epochs for which heatmaps were written.
        seconds: the time each logging epoch took (the callback's overhead).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        samples,
        methods: Sequence[str] = ("lrp", "sa", "reat"),
        every_n_epochs: int = 1,
        deletion_data=None,
        vocabulary=None,
        labels=None,
        targets: Sequence[str | int] = ("predicted", "true"),
        class_names: Sequence[str] | None = None,
        max_len: int | None = None,
        run_name: str = "explanations",
        explain_options: dict[str, dict[str, Any]] | None = None,
        stock_dashboards: bool = False,
        image_width: int = 640,
        summary_data=None,
        top_k: int = 10,
        keep_models: int = 1,
        model_path: str | os.PathLike | None = None,
    ):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        if not run_name or os.path.isabs(run_name) or ".." in run_name.split(os.sep):
            raise ValueError(f"run_name must be a relative folder name, got {run_name!r}")
        self.run_name = run_name
        self.methods = check_methods(methods)
        if isinstance(every_n_epochs, bool) or not isinstance(every_n_epochs, int):
            raise TypeError(f"every_n_epochs must be a positive int, got {every_n_epochs!r}")
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be a positive int, got {every_n_epochs}")
        self.every_n_epochs = every_n_epochs
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"max_len must be a positive int or None, got {max_len!r}")
        self.max_len = max_len
        self.vocabulary = vocabulary
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.explain_options = dict(explain_options or {})
        self.stock_dashboards = bool(stock_dashboards)
        if isinstance(image_width, bool) or not isinstance(image_width, int) or image_width < 32:
            raise ValueError(f"image_width must be an int >= 32, got {image_width!r}")
        self.image_width = image_width

        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        self.top_k = top_k
        if isinstance(keep_models, bool) or not isinstance(keep_models, int) or keep_models < 0:
            raise ValueError(f"keep_models must be an int >= 0, got {keep_models!r}")
        self.keep_models = keep_models
        self.model_path = None if model_path is None else os.fspath(model_path)
        if self.model_path is not None and not inside(self.model_path, self.log_dir):
            raise ValueError(
                f"model_path {self.model_path!r} must lie inside log_dir {self.log_dir!r}: "
                "the dashboard loads models from the log directory only"
            )
        if is_ids_and_labels(samples) and labels is None:
            samples, labels = samples
        self._raw = (samples, labels, targets, deletion_data, summary_data)
        self._prepare_error = None
        self.ids = self.tokens = self.tokenized = self.labels = None
        self.deletion_data = self.summary_ids = None
        # Texts without a vocabulary are for a model that takes text: its own TextVectorization
        # tokenizes them, once the model is known (set_model).
        self._prepared = not (vocabulary is None and holds_texts(samples, deletion_data,
                                                                    summary_data))
        if self._prepared:
            self._prepare(vocabulary)

        self.skipped_methods: list[str] = []
        self.logged_epochs: list[int] = []
        self.seconds: list[float] = []
        self._worked: set[str] = set()
        self._explainer = None
        self._writer = None
        self._disabled_reason: str | None = None

    def _prepare(self, vocabulary) -> None:
        samples, labels, targets, deletion_data, summary_data = self._raw
        max_len = self.max_len
        self.ids, self.tokens, self.tokenized = prepare_samples(samples, vocabulary, max_len)
        self.labels = prepare_labels(labels, len(self.tokens), "labels")
        self.targets = check_targets(targets, has_labels=self.labels is not None)
        self.deletion_data = None
        if deletion_data is not None:
            self.deletion_data = prepare_deletion(deletion_data, vocabulary, max_len)
        self.summary_ids = None
        if summary_data is False:
            pass
        elif summary_data is not None:  # ids, texts or (ids or texts, labels)
            data = summary_data[0] if is_pair(summary_data) else summary_data
            self.summary_ids = prepare_samples(data, vocabulary, max_len)[0]
        elif self.deletion_data is not None:
            self.summary_ids = self.deletion_data[0]

    def set_model(self, model):
        super().set_model(model)
        self._prepare_error = None
        if not self._prepared:
            try:  # a failure here must not stop fit: on_train_begin turns it into a warning
                from keras_relevance.graph import ModelGraph

                graph = ModelGraph.from_model(model)
                if not graph.takes_strings:
                    raise ValueError(
                        "samples are texts but the model takes token ids: pass vocabulary= "
                        "(a keras_relevance.text.Vocabulary) to encode them"
                    )
                self._prepare(ModelVocabulary(graph))
                self._prepared = True
            except Exception as error:
                self._prepare_error = error

    # ------------------------------------------------------------------ keras hooks
    def on_train_begin(self, logs=None):
        """Check once, before any epoch, that the samples fit the model and log_dir is writable.

        A failure here is one warning and no logging for this `fit` (training goes on), instead
        of the same failure after every epoch's explanations were computed.
        """
        if self._explainer is not None and self._explainer.model is not self.model:
            self._explainer = None  # a different model: build its explainer again
        self._disabled_reason = None
        if self._prepare_error is not None or not self._prepared:
            self._disable(self._prepare_error or ValueError("samples not prepared"))
            return
        self._check_pending = not self.model.built  # built by the first batch: check then
        if self._check_pending:
            return
        self._check_model()

    def _check_model(self) -> None:
        try:
            self._get_explainer().predict_logits(self.ids)  # ids vs vocabulary, shapes
            self._get_writer()  # log_dir must be a writable folder
        except Exception as error:
            self._disable(error, stacklevel=4)

    def _disable(self, error, stacklevel: int = 3) -> None:
        """One warning, and nothing logged for this fit (training goes on)."""
        self._disabled_reason = describe(error)
        warnings.warn(
            f"ExplanationLogger: nothing will be logged during this fit: {self._disabled_reason}",
            ExplanationWarning,
            stacklevel=stacklevel,
        )

    def on_epoch_end(self, epoch, logs=None):
        if getattr(self, "_check_pending", False):
            self._check_pending = False
            self._check_model()
        if (epoch + 1) % self.every_n_epochs or self._disabled_reason is not None:
            return
        start = time.perf_counter()
        try:
            messages = self._log(epoch)
        except Exception as error:  # never stop training because of an explanation
            messages = [f"ExplanationLogger: logging epoch {epoch} failed: {describe(error)}"]
        self.seconds.append(time.perf_counter() - start)
        for message in messages:  # attributed to the caller (Keras's callback loop)
            warnings.warn(message, ExplanationWarning, stacklevel=2)

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        """Flush and close the summary writer (a later epoch opens it again)."""
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._writer = None

    # ------------------------------------------------------------------ logging
    @property
    def run_dir(self) -> str:
        """The folder the summaries go to: `log_dir/run_name`."""
        return os.path.join(self.log_dir, self.run_name)

    def _get_writer(self):
        if self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(self.run_dir)
        return self._writer

    def _get_explainer(self):
        if self._explainer is None:
            from keras_relevance.explainer import Explainer

            self._explainer = Explainer(self.model)
        return self._explainer

    def log_epoch(self, step: int) -> None:
        """Explain the samples with the current weights and write the summaries at `step`.

        `on_epoch_end` does this for every n-th epoch; call it directly to log another state
        (e.g. before training with `step=-1`). Errors of single methods become
        `ExplanationWarning`s; an error that concerns all of them (e.g. a model that cannot be
        explained) is raised here, and only warned about during `fit`.
        """
        for message in self._log(step):
            warnings.warn(message, ExplanationWarning, stacklevel=2)

    def _log(self, step: int) -> list[str]:
        """Log one step; returns the warning messages (method failures) for the caller to emit."""
        from keras_relevance_tb import summary

        explainer = self._get_explainer()
        logits = np.asarray(explainer.predict_logits(self.ids), dtype=np.float64)
        predictions = predicted_classes(logits)
        classes = self._classes(predictions, logits.shape[-1])
        heatmaps, failures = {}, {}
        for method in self.methods:
            if method in self.skipped_methods:
                continue
            try:
                heatmaps[method] = self._explain_classes(explainer, method, classes)
                self._worked.add(method)
            except Exception as error:
                failures[method] = error
        messages = self._failure_messages(failures, step, any_worked=bool(heatmaps))

        writer = self._get_writer()
        with writer.as_default():
            for method, scores in heatmaps.items():
                summary.token_heatmap(
                    f"heatmap/{method}",
                    self.tokens,
                    scores,
                    step=step,
                    method=method,
                    labels=self.labels,
                    predictions=predictions,
                    logits=logits,
                    class_names=self.class_names,
                )
            if heatmaps:
                self.logged_epochs.append(int(step))
            if self.stock_dashboards and heatmaps:
                write_images = functools.partial(self._log_images, heatmaps, predictions, step)
                attempt(messages, f"heatmap images at step {step}", write_images)
            writer.flush()
            if heatmaps and (self.keep_models or self.model_path):
                keep = functools.partial(self._keep_model, int(step))
                attempt(messages, f"keeping the model of step {step}", keep)
            if self.summary_ids is not None and heatmaps:
                words = functools.partial(self._log_top_words, list(heatmaps), step)
                attempt(messages, f"top words at step {step}", words)
            if self.deletion_data is not None and heatmaps:
                deletion = functools.partial(self._log_deletion, list(heatmaps), step)
                attempt(messages, f"deletion curves at step {step}", deletion)
            writer.flush()
        return messages

    def _classes(self, predictions: np.ndarray, num_classes: int) -> list[int]:
        classes: set[int] = set()
        for target in self.targets:
            if target == "predicted":
                classes.update(int(p) for p in predictions)
            elif target == "true":
                classes.update(int(c) for c in self.labels)
            elif target == "all":
                classes.update(range(num_classes))
            else:
                classes.add(int(target))
        return sorted(c for c in classes if 0 <= c < num_classes)

    def _explain_classes(self, explainer, method: str, classes: list[int]) -> dict:
        """Relevance of every sample for every class in `classes`, in one batched call."""
        options = self.explain_options.get(method, {})
        n = len(self.tokens)
        ids = np.concatenate([self.ids] * len(classes), axis=0)
        target = np.repeat(np.asarray(classes, np.int64), n)
        explanation = explainer.explain(ids, method=method, target=target, **options)
        relevance = np.asarray(explanation.relevance, dtype=np.float64)
        return {
            c: [relevance[k * n + i, : len(toks)] for i, toks in enumerate(self.tokens)]
            for k, c in enumerate(classes)
        }

    def _failure_messages(self, failures: dict, step: int, any_worked: bool) -> list[str]:
        messages = []
        for method, error in failures.items():
            never_worked = method not in self._worked
            if never_worked and (any_worked or isinstance(error, NotImplementedError)):
                self.skipped_methods.append(method)
                name = getattr(self.model, "name", "model")
                messages.append(
                    f"ExplanationLogger: method {method!r} does not apply to model {name!r} "
                    f"({describe(error)}); it is skipped from now on"
                )
            else:
                messages.append(
                    f"ExplanationLogger: method {method!r} failed at step {step}: "
                    f"{describe(error)}"
                )
        return messages
