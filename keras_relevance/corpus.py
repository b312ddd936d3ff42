"""Explain a whole corpus: streamed, length-bucketed, sharded to Parquet, resumable, distributed.

>>> kr.explain_corpus(model, "reviews.txt", methods=("lrp", "sa"), out="out/reviews",
...                   vocabulary=vocab)                                    # doctest: +SKIP
>>> df = kr.read_explanations("out/reviews")                              # doctest: +SKIP

How it runs (docs/CORPUS.md has the full story):

1. A Python generator reads the input in order and numbers the documents (`doc_id`, 0-based);
   documents of shards already committed, or owned by another worker, are skipped before they
   are tokenized. `tf.data.Dataset.from_generator` carries doc_id, ids, tokens, offsets, label.
2. `group_by_window` keyed by shard (`doc_id // shard_size`) collects one shard's documents; inside
   it they are sorted by length and cut into batches padded to their own longest document (not
   the corpus's). Then `prefetch`. At most one shard is held here.
3. Each batch goes through `Explainer(model).explain(ids, method=m, target=...)` once per method
   (the first method's predicted class is the target of all of them). Under a `tf.distribute`
   strategy the per-replica batches come from `strategy.distribute_datasets_from_function` and
   `strategy.run` calls this same Python step once per replica in that replica's device scope.
4. Rows wait in a buffer until their shard's window is over (the stream has moved to a later
   shard, or ended), then the shard is committed (`shards.ShardStore.commit`): at most one shard
   plus the prefetched batches is ever buffered, whatever the corpus size.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_relevance import corpus_data, corpus_stats, shards

__all__ = ["explain_corpus", "read_explanations", "CorpusWarning"]

read_explanations = shards.read_explanations
PREFETCH = 2


class CorpusWarning(UserWarning):
    """A corpus input was changed on the way (truncated document, undecodable line)."""


def _check_class_names(names, num_classes: int) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"class_names must be a list of strings, got {names!r}"[:200])
    names = list(names)
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names for a model with {num_classes} "
                         "classes")
    return names


def explain_corpus(
    model,
    data,
    methods: Sequence[str] = ("lrp",),
    out: str | os.PathLike | None = None,
    batch_size: int = 64,
    shard_size: int = 1000,
    strategy=None,
    resume: bool = True,
    vocabulary=None,
    quiet: bool = False,
    *,
    max_tokens: int = 10000,
    deletion_steps: int = 5,
    overwrite: bool = False,
    class_names: Sequence[str] | None = None,
    **options,
) -> dict:
    """Explain every document of a corpus and write one Parquet row per document.

    Args:
        model: a built Keras text classifier (as for `Explainer`).
        data: a `tf.data.Dataset` of scalar strings or 1-D int ids (unbatched; or (x, label)
            pairs), a list of texts / id lists / (x, label) pairs, or paths of .txt (one document
            per line), .csv (header with `text` and optional `label`) or .tfrecord files.
        methods: explanation methods (names in `METHODS`); all explain the class the model
            predicts (the target of the first method).
        out: output folder (required): shard-NNNNNN.parquet files, manifest(s),
            aggregates.json.
        batch_size: documents per explained batch (split across replicas under a strategy).
        shard_size: documents per shard (the unit of commit and resume).
        strategy: a `tf.distribute` strategy (Mirrored, MultiWorkerMirrored, ...) or None.
        resume: continue after the committed shards of `out` (same model weights, methods,
            options and data required); False refuses a folder with shards unless `overwrite`.
        vocabulary: a `Vocabulary`: needed for texts unless the model takes raw strings (a
            TextVectorization layer inside: then the layer tokenizes them, tokens are its
            vocabulary's words and no `vocabulary=` may be given); names the tokens of id
            inputs.
        quiet: no progress bar.
        max_tokens: longer documents are truncated to their first `max_tokens` tokens (one
            `CorpusWarning` lists their doc_ids).
        deletion_steps: K of the deletion curve / AOPC aggregates (labelled data; 0: skip them).
        overwrite: with resume=False, replace what `out` holds.
        class_names: a name per class (as many as the model has), kept in the manifest and in
            aggregates.json for the dashboard's Corpus panel; a resumed run keeps the names of
            the first run unless new ones are given.
        **options: per-method options, e.g. `lrp={"eps": 1e-2}`.

    Returns:
        `{"out", "docs" (explained now), "skipped_shards", "shards" (committed in total),
        "seconds", "docs_per_second"}`.

    Raises:
        ValueError: empty corpus, unknown method, a label outside the model's classes (names
        the doc_id), a folder with another run's shards (`shards.ManifestMismatch`).
        FileExistsError: resume=False on a non-empty folder without overwrite=True.
        OSError: a shard could not be written (e.g. a full disk); committed shards stay valid
        and a new call with resume=True continues.
    """
    import tensorflow as tf

    from keras_relevance.explainer import METHODS, Explainer

    if out is None:
        raise TypeError("explain_corpus needs out= (the folder for the shards)")
    methods = list(methods)
    if not methods or any(m not in METHODS for m in methods) or len(set(methods)) < len(methods):
        raise ValueError(f"methods must be distinct names from {sorted(METHODS)}, got {methods}")
    for key, value in options.items():
        if key not in methods or not isinstance(value, dict):
            raise TypeError(
                f"unexpected option {key}={value!r}: method options go as "
                f"<method>={{...}} for one of {methods}"
            )
    for name, value, low in (("batch_size", batch_size, 1), ("shard_size", shard_size, 1),
                             ("max_tokens", max_tokens, 1), ("deletion_steps", deletion_steps, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    problems = corpus_data.Problems()
    source = corpus_data.make_source(data, problems)
    explainer = Explainer(model)
    text_source = corpus_data.text_source(explainer, source.has_text, vocabulary)
    if source.total == 0:
        raise ValueError("the corpus is empty: no documents to explain; nothing was written")
    class_names = _check_class_names(class_names, explainer.chain.num_classes)
    config = {
        "format": shards.FORMAT_VERSION,
        "fingerprint": shards.weights_fingerprint(model),
        "methods": methods,
        "options": {m: options.get(m, {}) for m in methods},
        "shard_size": shard_size,
        "max_tokens": max_tokens,
        "data": {**source.description, "deletion_steps": deletion_steps,
                 "vocabulary": corpus_data.vocab_hash(vocabulary, text_source)},
        "batch_size": batch_size,
        "class_names": class_names,
    }
    run = _Run(explainer, methods, options, deletion_steps, source, vocabulary, problems)
    run.text_source = text_source
    place = {"worker": 0, "workers": 1, "replicas": 1}

    def dataset_fn(ctx=None):
        per_replica = batch_size
        if ctx is not None:
            place.update(worker=ctx.input_pipeline_id, workers=ctx.num_input_pipelines,
                         replicas=ctx.num_replicas_in_sync)
            per_replica = max(1, -(-batch_size // ctx.num_replicas_in_sync))
        return _dataset(run, shard_size, max_tokens, per_replica, place)

    if strategy is None:
        batches = dataset_fn()
    else:
        batches = strategy.distribute_datasets_from_function(
            dataset_fn, options=tf.distribute.InputOptions(experimental_fetch_to_device=False)
        )
    store = shards.ShardStore(out, config, resume, overwrite, place["worker"], place["workers"])
    class_names = config["class_names"] = class_names or store.previous_class_names
    run.skip = set(store.done)
    skipped = len(store.done)
    progbar = None
    if not quiet:
        import keras

        todo = None
        if source.total is not None:
            todo = source.total - sum(e["rows"] for e in store.done.values())
            todo = todo if place["workers"] == 1 else None
        progbar = keras.utils.Progbar(todo, unit_name="doc", stateful_metrics=["docs/s"])
    start, done = time.perf_counter(), 0
    pending: dict[int, dict] = {}
    try:
        for batch in batches:
            parts = _run_step(run, batch, strategy)
            for inputs, outputs in parts:
                for index in _add_rows(run, pending, inputs, outputs, shard_size):
                    _commit(run, store, pending, index)
                done += len(inputs["doc_id"])
            if progbar is not None:
                progbar.update(done, values=[("docs/s", done / (time.perf_counter() - start))])
    except tf.errors.OpError:
        if run.error is not None:  # the input's own error, not TensorFlow's wrapping of it
            raise run.error from None
        raise
    for index in sorted(pending):
        _commit(run, store, pending, index)
    _report(problems)
    if strategy is not None and place["workers"] > 1:
        _barrier(strategy)
    total_shards = len(shards.committed_shards(out)[1])  # all workers' (after the barrier)
    if not total_shards:
        raise ValueError("the corpus is empty: no documents to explain; nothing was written")
    if place["worker"] == 0:
        aggregates = corpus_stats.folder_aggregates(out)
        aggregates["class_names"] = class_names
        shards.write_json(Path(out) / "aggregates.json", aggregates)
    seconds = time.perf_counter() - start
    return {
        "out": str(out),
        "docs": done,
        "skipped_shards": skipped,
        "shards": total_shards,
        "seconds": seconds,
        "docs_per_second": done / seconds if seconds > 0 else float("nan"),
    }


class _Run:
    """What one call explains with, and the shards it skips."""

    def __init__(self, explainer, methods, options, steps, source, vocabulary, problems):
        self.explainer, self.methods, self.options = explainer, methods, options
        self.steps, self.source, self.vocabulary = steps, source, vocabulary
        self.problems = problems
        self.skip: set[int] = set()
        self.error: Exception | None = None  # raised by the input generator
        self.text_source = None  # the model's TextVectorization (a ModelGraph), or None


def _dataset(run: _Run, shard_size: int, max_tokens: int, per_replica: int, place: dict):
    import tensorflow as tf

    def keep(doc_id):
        index = doc_id // shard_size
        return index % place["workers"] == place["worker"] and index not in run.skip

    def generate():
        try:
            yield from corpus_data.documents(run.source, run.vocabulary, keep, max_tokens,
                                             run.problems, run.text_source)
        except Exception as error:  # tf.data would turn it into an InvalidArgumentError
            run.error = error
            raise

    vec = tf.TensorSpec([None], tf.int32)
    signature = {
        "doc_id": tf.TensorSpec([], tf.int64),
        "ids": vec,
        "tokens": tf.TensorSpec([None], tf.string),
        "starts": vec, "ends": vec, "label": tf.TensorSpec([], tf.int64),
        "length": tf.TensorSpec([], tf.int32),
    }

    def by_length(window):
        order = tf.argsort(window["ids"].row_lengths(), stable=True)
        return {k: tf.gather(v, order) for k, v in window.items()}

    def dense(batch):
        return {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in batch.items()}

    def sort_and_batch(_, window):
        return (window.ragged_batch(shard_size).map(by_length).unbatch()
                .ragged_batch(per_replica).map(dense))

    ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
    ds = ds.group_by_window(lambda d: d["doc_id"] // shard_size, sort_and_batch, shard_size)
    return ds.prefetch(PREFETCH)


def explain_batch(run: _Run, batch) -> dict:
    """Explain one (per-replica) batch with every method: NumPy logits, target, relevance."""
    ids = np.asarray(batch["ids"], np.int32)
    if ids.shape[1] == 0:
        ids = np.zeros((ids.shape[0], 1), np.int32)
    doc_ids = np.asarray(batch["doc_id"])
    labels = np.asarray(batch["label"])
    out, target = {}, None
    for m in run.methods:
        try:
            e = run.explainer.explain(ids, method=m, target=target, **run.options.get(m, {}))
        except ValueError as error:
            span = f"{doc_ids.min()}..{doc_ids.max()}" if len(doc_ids) else "none"
            raise ValueError(f"explaining doc_ids {span} with {m!r}: {error}") from error
        if target is None:
            target = e.target
            classes = e.logits.shape[1]
            bad = labels >= classes
            if bad.any():
                raise ValueError(
                    f"doc_id {int(doc_ids[bad][0])}: label {int(labels[bad][0])} is outside the "
                    f"model's {classes} classes [0, {classes})"
                )
            out["logits"] = np.asarray(e.logits, np.float32)
            out["target"] = np.asarray(target, np.int64)
        out[f"relevance_{m}"] = np.asarray(e.relevance, np.float32)
        out[f"eval_{m}"] = corpus_stats.batch_evaluation(
            run.explainer, ids, e.relevance, e.target, labels, run.steps
        )
    return out


def _run_step(run: _Run, batch, strategy) -> list[tuple[dict, dict]]:
    """[(inputs, outputs)] per local replica, NumPy."""
    import tensorflow as tf

    if strategy is None:
        inputs = {k: v.numpy() for k, v in batch.items()}
        return [(inputs, explain_batch(run, inputs))]

    def step(b):
        res = explain_batch(run, {k: v.numpy() for k, v in b.items()})
        evals = {k: res.pop(k) for k in list(res) if k.startswith("eval_")}
        tensors = {k: tf.constant(v) for k, v in res.items()}
        tensors["_evals"] = tf.constant(json.dumps(evals))  # plain Python: through as text
        return tensors

    result = strategy.run(step, args=(batch,))
    local_in = strategy.experimental_local_results(batch)
    local_out = strategy.experimental_local_results(result)
    parts = []
    for b, r in zip(local_in, local_out, strict=True):
        inputs = {k: v.numpy() for k, v in b.items()}
        if len(inputs["doc_id"]) == 0:
            continue
        outputs = {k: v.numpy() for k, v in r.items() if k != "_evals"}
        outputs.update(json.loads(r["_evals"].numpy().decode()))
        parts.append((inputs, outputs))
    return parts


def _add_rows(run: _Run, pending: dict, inputs: dict, outputs: dict, shard_size: int) -> list:
    """Buffer a batch's rows; return the shards that are complete (the stream moved past them)."""
    if len(inputs["doc_id"]) == 0:
        return []
    offsets = np.stack([inputs["starts"], inputs["ends"]], axis=-1).astype(np.int32)
    for i, doc_id in enumerate(inputs["doc_id"].tolist()):
        length = int(inputs["length"][i])
        label = int(inputs["label"][i])
        row = {
            "doc_id": doc_id,
            "tokens": [t.decode("utf-8") for t in inputs["tokens"][i][:length]],
            "offsets": _offsets(offsets[i, :length]) if run.source.has_text else None,
            "label": None if label < 0 else label,
            "logits": outputs["logits"][i],
            "target": int(outputs["target"][i]),
        }
        for m in run.methods:
            row[f"relevance_{m}"] = outputs[f"relevance_{m}"][i, :length]
        entry = pending.setdefault(doc_id // shard_size, {"rows": [], "evals": {}})
        entry["rows"].append(row)
    index = int(inputs["doc_id"][0]) // shard_size
    for m in run.methods:
        if outputs.get(f"eval_{m}"):
            pending[index]["evals"].setdefault(m, []).append(outputs[f"eval_{m}"])
    return [k for k in sorted(pending) if k < index]


def _offsets(spans: np.ndarray):
    """A row's (start, end) offsets; None where the source could not give them (-1)."""
    return None if (spans < 0).any() else spans


def _commit(run: _Run, store, pending: dict, index: int) -> None:
    entry = pending.pop(index)
    rows = sorted(entry["rows"], key=lambda r: r["doc_id"])
    stats = corpus_stats.shard_statistics(rows, run.methods, entry["evals"])
    try:
        store.commit(index, rows, run.methods, stats)
    except OSError as error:
        raise OSError(
            error.errno,
            f"could not write shard {index} to {store.out} ({error.strerror or error}); the "
            f"{len(store.done)} shards committed before it are intact: free the space and run "
            "again with resume=True",
        ) from error


def _report(problems) -> None:
    if problems.truncated:
        ids = problems.truncated
        warnings.warn(
            f"{len(ids)} document(s) longer than max_tokens were truncated to their first "
            f"max_tokens tokens: doc_ids {ids[:20]}{' ...' if len(ids) > 20 else ''}",
            CorpusWarning,
            stacklevel=3,
        )
    if problems.undecodable:
        where = problems.undecodable
        warnings.warn(
            f"{len(where)} line(s) were not valid UTF-8 and were decoded with U+FFFD "
            f"replacement characters: {where[:20]}{' ...' if len(where) > 20 else ''}",
            CorpusWarning,
            stacklevel=3,
        )


def _barrier(strategy) -> None:
    """Wait for every worker (an all-reduce of one number) before the chief merges aggregates."""
    import tensorflow as tf

    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)
