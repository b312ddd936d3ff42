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

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

__all__ = ["ExplanationLogger", "ExplanationWarning"]

_TARGET_WORDS = ("predicted", "true", "all")


class ExplanationWarning(UserWarning):
    """An explanation could not be computed or logged during training (training goes on)."""


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class ExplanationLogger(keras.callbacks.Callback):
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
        self.methods = _check_methods(methods)
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
        if self.model_path is not None and not _inside(self.model_path, self.log_dir):
            raise ValueError(
                f"model_path {self.model_path!r} must lie inside log_dir {self.log_dir!r}: "
                "the dashboard loads models from the log directory only"
            )
        if _is_ids_and_labels(samples) and labels is None:
            samples, labels = samples
        self._raw = (samples, labels, targets, deletion_data, summary_data)
        self.ids = self.tokens = self.tokenized = self.labels = None
        self.deletion_data = self.summary_ids = None
        # Texts without a vocabulary are for a model that takes text: its own TextVectorization
        # tokenizes them, once the model is known (set_model).
        self._prepared = not (vocabulary is None and _holds_texts(samples, deletion_data,
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
        self.ids, self.tokens, self.tokenized = _prepare_samples(samples, vocabulary, max_len)
        self.labels = _prepare_labels(labels, len(self.tokens), "labels")
        self.targets = _check_targets(targets, has_labels=self.labels is not None)
        self.deletion_data = None
        if deletion_data is not None:
            self.deletion_data = _prepare_deletion(deletion_data, vocabulary, max_len)
        self.summary_ids = None
        if summary_data is False:
            pass
        elif summary_data is not None:  # ids, texts or (ids or texts, labels)
            data = summary_data[0] if _is_pair(summary_data) else summary_data
            self.summary_ids = _prepare_samples(data, vocabulary, max_len)[0]
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
                self._prepare(_ModelVocabulary(graph))
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
        if getattr(self, "_prepare_error", None) is not None or not self._prepared:
            error = getattr(self, "_prepare_error", None) or ValueError("samples not prepared")
            self._disabled_reason = _describe(error)
            warnings.warn(
                f"ExplanationLogger: nothing will be logged during this fit: "
                f"{self._disabled_reason}",
                ExplanationWarning,
                stacklevel=2,
            )
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
            self._disabled_reason = _describe(error)
            warnings.warn(
                f"ExplanationLogger: nothing will be logged during this fit: "
                f"{self._disabled_reason}",
                ExplanationWarning,
                stacklevel=2,
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
            messages = [f"ExplanationLogger: logging epoch {epoch} failed: {_describe(error)}"]
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
        predictions = _predictions(logits)
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
                try:
                    self._log_images(heatmaps, predictions, step)
                except Exception as error:
                    messages.append(
                        f"ExplanationLogger: heatmap images at step {step} failed: "
                        f"{_describe(error)}"
                    )
            writer.flush()
            if heatmaps and (self.keep_models or self.model_path):
                try:
                    self._keep_model(int(step))
                except Exception as error:
                    messages.append(
                        f"ExplanationLogger: keeping the model of step {step} failed: "
                        f"{_describe(error)}"
                    )
            if self.summary_ids is not None and heatmaps:
                try:
                    self._log_top_words(list(heatmaps), step)
                except Exception as error:
                    messages.append(
                        f"ExplanationLogger: top words at step {step} failed: {_describe(error)}"
                    )
            if self.deletion_data is not None and heatmaps:
                try:
                    messages.extend(self._log_deletion(list(heatmaps), step))
                except Exception as error:
                    messages.append(
                        f"ExplanationLogger: deletion curves at step {step} failed: "
                        f"{_describe(error)}"
                    )
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
                    f"({_describe(error)}); it is skipped from now on"
                )
            else:
                messages.append(
                    f"ExplanationLogger: method {method!r} failed at step {step}: "
                    f"{_describe(error)}"
                )
        return messages

    def _class_name(self, c: int) -> str:
        if self.class_names is not None and 0 <= c < len(self.class_names):
            return f"{c} ({self.class_names[c]})"
        return str(c)

    def _log_images(self, heatmaps: dict, predictions: np.ndarray, step: int) -> None:
        """One stacked PNG per method and class: a title line, then every sample's heatmap."""
        import tensorflow as tf

        from keras_relevance.render import heatmap_image

        width = self.image_width
        rule = np.full((1, width, 3), 200, np.uint8)
        for method, per_class in heatmaps.items():
            for c, rows in per_class.items():
                title = f"{method} relevance for class {self._class_name(c)}"
                parts = [heatmap_image([], [], width=width, label=title)]
                for i, (tokens, scores) in enumerate(zip(self.tokens, rows, strict=True)):
                    caption = f"#{i}"
                    if self.labels is not None:
                        caption += f"  true {self._class_name(int(self.labels[i]))}"
                    caption += f"  predicted {self._class_name(int(predictions[i]))}"
                    parts += [rule, heatmap_image(tokens, scores, width=width, label=caption)]
                image = np.concatenate(parts, axis=0)
                tf.summary.image(
                    f"heatmap_image/{method}/class_{c}",
                    image[None],
                    step=step,
                    max_outputs=1,
                    description=f"{title}: positive red, negative blue, scaled per sentence",
                )

    def _log_deletion_scalars(self, kind: str, x, curves: dict, step: int) -> None:
        import tensorflow as tf
        from keras_relevance_tb.metadata import deletion_scores

        aopc, _, _ = deletion_scores(curves, None, kind)
        for name, curve in curves.items():
            if aopc.get(name) is not None:
                tf.summary.scalar(
                    f"deletion/{kind}/{name}/aopc",
                    aopc[name],
                    step=step,
                    description=f"AOPC of the {kind} deletion curve (accuracy)",
                )
            values = np.asarray(curve, dtype=np.float64)
            for k, value in zip(x, values, strict=True):
                tf.summary.scalar(f"deletion/{kind}/{name}/k={int(k)}", float(value), step=step)
            tf.summary.scalar(
                f"deletion/{kind}/{name}/mean",
                float(values.mean()),
                step=step,
                description=f"mean accuracy over 0..{int(x[-1])} deleted words ({kind})",
            )

    @property
    def models_dir(self) -> str:
        """Where the kept models and their index go: `run_dir/models`."""
        return os.path.join(self.run_dir, "models")

    def _keep_model(self, step: int) -> None:
        """Save the model of `step` (or point at `model_path`) and rewrite `models/index.json`."""
        import json

        folder = self.models_dir
        os.makedirs(folder, exist_ok=True)
        index_path = os.path.join(folder, "index.json")
        try:
            with open(index_path, encoding="utf-8") as f:
                steps = {int(k): v for k, v in json.load(f).get("steps", {}).items()}
        except (OSError, ValueError):
            steps = {}
        if self.model_path is not None:
            steps = {step: os.path.relpath(os.path.abspath(self.model_path), folder)}
        else:
            name = f"step_{step}.keras"
            self.model.save(os.path.join(folder, name))
            steps[step] = name
            for old in sorted(steps)[: -self.keep_models]:
                try:
                    os.remove(os.path.join(folder, steps.pop(old)))
                except OSError:
                    pass
        vocab = None
        if self.vocabulary is not None:
            vocab = "vocab.json"
            if not os.path.exists(os.path.join(folder, vocab)):
                self.vocabulary.save(os.path.join(folder, vocab))
        index = {
            "version": 1,
            "steps": {str(k): v for k, v in sorted(steps.items())},
            "vocab": vocab,
            "class_names": self.class_names,
            "max_len": self.max_len,
        }
        tmp = index_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(index, f, indent=1)
        os.replace(tmp, index_path)  # readers never see half an index

    def _log_top_words(self, methods: list[str], step: int) -> None:
        """Per method, the top words per predicted class over `summary_data` (mean relevance)."""
        from keras_relevance_tb import summary

        from keras_relevance import evaluation

        explainer = self._get_explainer()
        ids = self.summary_ids
        predictions = _predictions(np.asarray(explainer.predict_logits(ids), dtype=np.float64))
        tokens = [self._words(row) for row in ids]
        for method in methods:
            options = self.explain_options.get(method, {})
            explanation = explainer.explain(ids, method=method, target=predictions, **options)
            relevance = np.asarray(explanation.relevance, dtype=np.float64)
            rows = [relevance[i, : len(t)] for i, t in enumerate(tokens)]
            words = evaluation.top_words(tokens, rows, predictions, k=self.top_k, min_count=2)
            summary.top_words(
                f"top_words/{method}",
                words,
                step=step,
                method=method,
                n=len(ids),
                class_names=self.class_names,
                description=f"words by mean {method} relevance for the predicted class",
            )

    def _words(self, row) -> list[str]:
        """The tokens of an id row (padding dropped): words with a vocabulary, else the ids."""
        row = [int(t) for t in np.asarray(row).reshape(-1)]
        while row and row[-1] == 0:
            row.pop()
        if self.vocabulary is None:
            return [str(t) for t in row]
        return [self.vocabulary.id_to_token(t) for t in row]

    def _log_deletion(self, methods: list[str], step: int) -> list[str]:
        """Deletion curves (plugin summaries, and scalars with `stock_dashboards`); → warnings."""
        from keras_relevance_tb import summary

        from keras_relevance import evaluation

        messages: list[str] = []
        ids, labels = self.deletion_data
        result = evaluation.deletion_curves(
            self._get_explainer(),
            ids,
            labels,
            methods=methods,
            method_options={
                m: self.explain_options[m] for m in methods if m in self.explain_options
            },
            verbose=False,
        )
        for kind in ("correct", "misclassified"):
            entry = result.get(kind)
            if not entry or not entry.get("n"):
                continue
            curves = {m: c for m, c in entry["curves"].items() if c is not None}
            if not curves:
                continue
            summary.deletion_curve(
                f"deletion/{kind}",
                curves,
                step=step,
                description=f"{entry['n']} {kind} examples of {result['n']}",
                x=result.get("x"),
                random_mean=entry.get("random_mean"),
                random_std=entry.get("random_std"),
                kind=kind,
                n=int(entry["n"]),
            )
            if self.stock_dashboards:
                try:
                    x = result.get("x") or list(range(len(next(iter(curves.values())))))
                    scalars = dict(curves)
                    if entry.get("random_mean") is not None:
                        scalars["random"] = entry["random_mean"]
                    self._log_deletion_scalars(kind, x, scalars, step)
                except Exception as error:
                    messages.append(
                        f"ExplanationLogger: deletion scalars ({kind}) at step {step} failed: "
                        f"{_describe(error)}"
                    )
        return messages


# ---------------------------------------------------------------------------------- inputs
def _check_methods(methods) -> tuple[str, ...]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError("methods must name at least one explanation method")
    from keras_relevance.explainer import METHODS

    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods contains duplicates: {list(methods)}")
    return methods


def _check_targets(targets, has_labels: bool) -> tuple:
    if isinstance(targets, str | int):
        targets = (targets,)
    out = []
    for target in targets:
        if isinstance(target, str):
            if target not in _TARGET_WORDS:
                raise ValueError(
                    f"unknown target {target!r}: use 'predicted', 'true', 'all' or class ids"
                )
            if target == "true" and not has_labels:
                continue
        elif isinstance(target, bool) or not isinstance(target, int | np.integer) or target < 0:
            raise ValueError(
                f"targets must be 'predicted', 'true', 'all' or class ids, got {target!r}"
            )
        out.append(target if isinstance(target, str) else int(target))
    if not out:
        raise ValueError(
            f"no target to explain in {list(targets)!r} (labels are needed for 'true')"
        )
    return tuple(out)


def _prepare_labels(labels, n: int, what: str) -> np.ndarray | None:
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] > 1:  # one-hot
        arr = arr.argmax(axis=1)
    arr = arr.reshape(-1)
    if arr.shape[0] != n:
        raise ValueError(f"{what}: expected {n} labels (one per sample), got {arr.shape[0]}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.all(arr == np.round(arr))):
        raise ValueError(f"{what} must be class ids (integers)")
    return arr.astype(np.int64)


def _is_ids_and_labels(samples) -> bool:
    """A pair `(ids, labels)`, told apart from a pair of texts or of token lists."""
    if not isinstance(samples, tuple) or len(samples) != 2:
        return False
    try:
        ids = np.asarray(samples[0])
    except ValueError:  # ragged
        return False
    return ids.ndim in (1, 2) and ids.size > 0 and np.issubdtype(ids.dtype, np.integer)


def _inside(path, root) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path.startswith(root.rstrip(os.sep) + os.sep)


def _is_pair(data) -> bool:
    """(ids or texts, labels): a 2-tuple whose second item is one label per sentence."""
    if not isinstance(data, tuple) or len(data) != 2:
        return False
    first, second = data
    try:
        return len(first) == len(second) and np.asarray(second).ndim == 1
    except (TypeError, ValueError):
        return False


def _is_text_list(samples) -> bool:
    return (
        isinstance(samples, list | tuple)
        and bool(samples)
        and all(isinstance(s, str) for s in samples)
    )


def _is_token_lists(samples) -> bool:
    return (
        isinstance(samples, list | tuple)
        and bool(samples)
        and all(isinstance(s, list | tuple) and all(isinstance(t, str) for t in s) for s in samples)
    )


def _prepare_samples(samples, vocabulary, max_len):
    """→ (ids (batch, time) int32, tokens per sample, Tokenized per sample or None)."""
    if isinstance(samples, str):
        samples = [samples]
    if samples is None or (hasattr(samples, "__len__") and len(samples) == 0):
        raise ValueError("ExplanationLogger needs at least one sample to explain")
    tokenized = None
    if _is_text_list(samples) or _is_token_lists(samples):
        if vocabulary is None:
            raise ValueError(
                "samples are texts: pass vocabulary= (a keras_relevance.text.Vocabulary) to "
                "turn them into the model's token ids"
            )
        if _is_text_list(samples):
            for i, text in enumerate(samples):
                if not text.strip():
                    raise ValueError(f"sample text {i} is empty: {text!r}")
            tokenized = vocabulary.tokenize(list(samples))
            token_lists = [list(t.tokens) for t in tokenized]
        else:
            token_lists = [list(s) for s in samples]
        for i, toks in enumerate(token_lists):
            if not toks:
                raise ValueError(f"sample {i} has no tokens: {samples[i]!r}")
        if max_len is not None:
            token_lists = [toks[:max_len] for toks in token_lists]
        ids = vocabulary.encode(token_lists, max_len=max_len)
        return ids, token_lists, tokenized

    ids = np.asarray(samples)
    if ids.dtype == object or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            "samples must be texts, token lists or an int id array (batch, time); "
            f"got an array of dtype {ids.dtype}"
        )
    if ids.ndim == 1:
        ids = ids[None, :]
    if ids.ndim != 2:
        raise ValueError(f"sample ids must have shape (batch, time), got {ids.shape}")
    if max_len is not None:
        ids = ids[:, :max_len]
    tokens = []
    for i, row in enumerate(ids):
        nonzero = np.flatnonzero(row)
        if nonzero.size == 0:
            raise ValueError(f"sample {i} has no tokens (all ids are padding 0)")
        row = row[: nonzero[-1] + 1]
        if vocabulary is not None:
            tokens.append([vocabulary.id_to_token(int(t)) for t in row])
        else:
            tokens.append([str(int(t)) for t in row])
    return ids.astype(np.int32), tokens, tokenized


def _holds_texts(samples, deletion_data, summary_data) -> bool:
    def texts(x):
        if isinstance(x, str):
            return True
        return isinstance(x, list | tuple) and (_is_text_list(list(x)) or _is_token_lists(x))

    parts = [samples]
    for extra in (deletion_data, summary_data):
        if isinstance(extra, tuple | list) and len(extra) == 2 and _is_pair(extra):
            parts.append(extra[0])
        elif extra is not None and extra is not False:
            parts.append(extra)
    return any(texts(p) for p in parts)


class _ModelVocabulary:
    """The model's own TextVectorization as the logger's vocabulary (tokenize / encode)."""

    def __init__(self, graph):
        from keras_relevance.batch import to_batch

        self._graph, self._to_batch = graph, to_batch
        self._ids: dict = {}

    def tokenize(self, texts):
        from keras_relevance.text import Tokenized

        batch = self._to_batch(list(texts), source=self._graph)
        out = []
        for i, text in enumerate(texts):
            tokens = list(batch.tokens[i])
            offsets = batch.offsets[i] if batch.offsets is not None else None
            starts = [a for a, _ in offsets] if offsets else [0] * len(tokens)
            ends = [b for _, b in offsets] if offsets else [0] * len(tokens)
            self._ids[tuple(tokens)] = batch.ids[i][batch.token_mask[i]]
            out.append(Tokenized(tokens, starts, ends, text))
        return out

    def encode(self, rows, max_len=None):
        found, texts = [], []
        for r in rows:
            cached = None if isinstance(r, str) else self._ids.get(tuple(r))
            found.append(cached)
            if cached is None:
                texts.append(r if isinstance(r, str) else " ".join(r))
        vectors = iter(self._graph.vectorize(texts)) if texts else iter(())
        rows = [next(vectors) if r is None else r for r in found]
        rows = [r[r != 0] for r in rows]
        width = max((len(r) for r in rows), default=0)
        if max_len is not None:
            width = min(width, max_len)
        out = np.zeros((len(rows), width), np.int32)
        for i, r in enumerate(rows):
            out[i, : min(len(r), width)] = r[:width]
        return out

    def id_to_token(self, index: int) -> str:
        vocab = self._graph.vocabulary or []
        return vocab[index] if 0 <= index < len(vocab) else "?"


def _prepare_deletion(deletion_data, vocabulary, max_len):
    if not isinstance(deletion_data, tuple | list) or len(deletion_data) != 2:
        raise ValueError("deletion_data must be a pair (ids or texts, labels)")
    data, labels = deletion_data
    if _is_text_list(list(data) if isinstance(data, tuple) else data):
        if vocabulary is None:
            raise ValueError("deletion_data holds texts: pass vocabulary= to encode them")
        ids = vocabulary.encode(list(data), max_len=max_len)
    else:
        ids = np.asarray(data)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"deletion_data ids must be an int array (batch, time), got {ids.dtype} {ids.shape}"
            )
    if len(ids) == 0:
        raise ValueError("deletion_data is empty")
    return ids.astype(np.int32), _prepare_labels(labels, len(ids), "deletion_data labels")


def _predictions(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] == 1:  # one sigmoid unit: class 1 when the logit is positive
        return (logits[:, 0] > 0).astype(np.int64)
    return logits.argmax(axis=-1).astype(np.int64)
