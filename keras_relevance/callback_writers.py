"""What `ExplanationLogger` writes besides the token heatmaps, one failure at a time.

The deletion curves and top words (plugin summaries), the same curves as scalars and the
heatmaps as images for TensorBoard without the plugin (`stock_dashboards=True`), and the kept
models with their index for the dashboard's "type a sentence" box. A failure of one of these
becomes a warning message (`attempt`); the epoch's other summaries are still written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np

from keras_relevance.callback_data import predicted_classes


def describe(error: BaseException) -> str:
    """``"TypeName: message"`` of an error, for a warning."""
    return f"{type(error).__name__}: {error}"


def attempt(messages: list[str], what: str, write: Callable[[], object]) -> None:
    """Run `write`; a failure becomes ``"ExplanationLogger: <what> failed: ..."`` in `messages`.

    A list returned by `write` (its own warnings) is added to `messages`.
    """
    try:
        out = write()
    except Exception as error:  # never stop training because of an explanation
        messages.append(f"ExplanationLogger: {what} failed: {describe(error)}")
        return
    if isinstance(out, list):
        messages.extend(out)


class SummaryWriters:
    """The writing methods of `ExplanationLogger` (a mixin: it reads the logger's settings)."""

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
        predictions = predicted_classes(np.asarray(explainer.predict_logits(ids), dtype=np.float64))
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
                x = result.get("x") or list(range(len(next(iter(curves.values())))))
                scalars = dict(curves)
                if entry.get("random_mean") is not None:
                    scalars["random"] = entry["random_mean"]
                write = functools.partial(self._log_deletion_scalars, kind, x, scalars, step)
                attempt(messages, f"deletion scalars ({kind}) at step {step}", write)
        return messages
