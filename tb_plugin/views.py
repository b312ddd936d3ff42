"""The plugin's ``*_impl`` implementations: typed arguments in, JSON-ready dict out.

`Views` holds one method per data route of `plugin.ROUTES`; each reads through a `PayloadStore`
(``self._store``), so it can be called directly in tests with a data provider and no HTTP. Bad
input raises `RouteError` (a 4xx answer). Like `plugin`, no TensorFlow or keras_relevance here.
"""

from __future__ import annotations

from typing import Any

from keras_relevance_tb import corpus, metadata, params
from keras_relevance_tb.params import RouteError, bad, missing, preview
from keras_relevance_tb.store import LOADER_DEFAULT_SAMPLES, PayloadStore, check_run


class Views:
    """The ``*_impl`` methods of `KerasRelevancePlugin` (a mixin: it sets ``self._store``)."""

    _store: PayloadStore
    _corpora: corpus.CorpusIndex

    def runs_impl(self, ctx, experiment) -> dict[str, Any]:
        """Runs, heatmap tags (method, steps, classes) and deletion-curve tags (kind, steps)."""
        index = self._store.index(ctx, experiment)
        runs, methods, notes = [], set(), []
        for run in sorted(index):
            heatmaps, deletions = [], []
            for tag, content in sorted(self._store.tags(index, run, metadata.HEATMAP).items()):
                heatmaps.append(self._store.describe(ctx, experiment, run, tag, content))
                if content.get("method"):
                    methods.add(content["method"])
            for tag, content in sorted(self._store.tags(index, run, metadata.DELETION).items()):
                deletions.append(self._store.describe(ctx, experiment, run, tag, content))
            words = [
                self._store.describe(ctx, experiment, run, tag, content)
                for tag, content in sorted(self._store.tags(index, run, metadata.TOP_WORDS).items())
            ]
            unreadable = [
                {"tag": tag, "error": content["error"]}
                for tag, content in self._store.tags(index, run, None).items()
            ]
            if heatmaps or deletions or words or unreadable:
                runs.append(
                    {
                        "run": run,
                        "heatmaps": heatmaps,
                        "deletion_curves": deletions,
                        "top_words": words,
                        "unreadable": unreadable,
                    }
                )
            if any(len(t.get("steps", ())) == LOADER_DEFAULT_SAMPLES for t in heatmaps + deletions):
                notes.append(
                    f"Run {run!r} shows exactly {LOADER_DEFAULT_SAMPLES} steps for some tags: "
                    "TensorBoard keeps 10 steps per plugin tag by default. Start it with "
                    "--samples_per_plugin keras_relevance=0 to see every step."
                )
        return {"runs": runs, "methods": sorted(methods), "notes": notes}

    def heatmaps_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        tag: str | None = None,
        method: str | None = None,
        step: int | None = None,
        offset: int = 0,
        limit: int = params.DEFAULT_LIMIT,
        filter: str = "all",  # noqa: A002 - the query parameter's name
        target: int | None = None,
    ) -> dict[str, Any]:
        """One page of samples of one method (tag) at one step."""
        run, tag, content, series, datum, entry = self._store.pick(
            ctx, experiment, run, tag, method, step, metadata.HEATMAP
        )
        header = entry.header
        if target is not None and target not in header.classes:
            raise missing(f"class {target} not explained in {run}/{tag}; classes: {header.classes}")
        n = entry.payload.num_records
        if filter == "all":
            total = n
            chosen = range(offset, min(n, offset + limit))
        else:
            labels, preds = header.labels, header.predictions
            if labels is None or preds is None:
                raise bad(
                    f"filter={filter} needs labels and predictions, not logged in {run}/{tag}"
                )
            want = filter == "correct"
            matching = [i for i in range(n) if (labels[i] == preds[i]) == want]
            total = len(matching)
            chosen = matching[offset : offset + limit]
        return {
            "run": run,
            "tag": tag,
            "method": content.get("method"),
            "step": datum.step,
            "wall_time": datum.wall_time,
            "steps": sorted(series),
            "classes": header.classes,
            "class_names": header.class_names,
            "num_samples": n,
            "max_abs": entry.max_abs,
            "filter": filter,
            "total": total,
            "offset": offset,
            "limit": limit,
            "samples": [self._store.sample(entry, i, target) for i in chosen],
        }

    def sample_impl(self, ctx, experiment, *, run: str, id: str, step: int | None = None):  # noqa: A002
        """One sample under every method of the run, at one step (default: the latest)."""
        index = self._store.index(ctx, experiment)
        run = check_run(run, index)
        tags = self._store.tags(index, run, metadata.HEATMAP)
        if not tags:
            raise missing(f"run {run!r} has no token heatmaps")
        all_series = {
            t: self._store.series(ctx, experiment, run, t)
            for t, c in tags.items()
            if not c.get("error")
        }
        steps = sorted({s for series in all_series.values() for s in series})
        step_n = (max(steps) if steps else 0) if step is None else step
        if step_n not in steps:
            raise missing(f"step {step_n} not logged for run {run!r}")
        methods, found = [], 0
        for tag, content in tags.items():
            item: dict[str, Any] = {"tag": tag, "method": content.get("method")}
            if content.get("error"):
                methods.append({**item, "error": content["error"]})
                continue
            datum = all_series[tag].get(step_n)
            if datum is None:
                methods.append({**item, "error": f"not logged at step {step_n}"})
                continue
            try:
                entry = self._store.entry(experiment, run, tag, datum, metadata.HEATMAP)
            except RouteError as e:
                methods.append({**item, "error": e.message})
                continue
            i = entry.index_of.get(id)
            if i is None:
                methods.append({**item, "error": f"sample {id!r} not logged at this step"})
                continue
            found += 1
            methods.append(
                {
                    **item,
                    "classes": entry.header.classes,
                    "class_names": entry.header.class_names,
                    "max_abs": entry.max_abs,
                    "sample": self._store.sample(entry, i),
                    "error": None,
                }
            )
        if not found and all(m["error"].startswith(("sample", "not logged")) for m in methods):
            raise missing(f"no sample {id!r} in run {run!r} at step {step_n}")
        return {"run": run, "id": id, "step": step_n, "steps": steps, "methods": methods}

    def sample_history_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        id: str,  # noqa: A002
        tag: str | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        """One sample under one method at every logged step."""
        index = self._store.index(ctx, experiment)
        run = check_run(run, index)
        tag, content = self._store.resolve_tag(index, run, tag, method, metadata.HEATMAP)
        history = []
        for step_n, datum in sorted(self._store.series(ctx, experiment, run, tag).items()):
            try:
                entry = self._store.entry(experiment, run, tag, datum, metadata.HEATMAP)
            except RouteError as e:
                history.append({"step": step_n, "error": e.message})
                continue
            i = entry.index_of.get(id)
            if i is not None:
                history.append(
                    {"step": step_n, "sample": self._store.sample(entry, i), "error": None}
                )
        if not history:
            raise missing(f"no sample {id!r} in {run}/{tag}")
        return {
            "run": run,
            "tag": tag,
            "method": content.get("method"),
            "id": id,
            "history": history,
        }

    def deletion_curves_impl(
        self, ctx, experiment, *, run: str, tag: str | None = None, step: int | None = None
    ) -> dict[str, Any]:
        """Deletion curves of a run (all deletion tags, or one), at one step (default: latest)."""
        index = self._store.index(ctx, experiment)
        run = check_run(run, index)
        tags = self._store.tags(index, run, metadata.DELETION)
        if tag is not None:
            if tag not in tags:
                raise missing(
                    f"unknown deletion_curve tag {tag!r} in run {run!r}; known: {preview(tags)}"
                )
            tags = {tag: tags[tag]}
        curves = []
        for name, content in tags.items():
            item: dict[str, Any] = {"tag": name, "kind": content.get("kind")}
            if content.get("error"):
                curves.append({**item, "error": content["error"]})
                continue
            series = self._store.series(ctx, experiment, run, name)
            try:
                datum = self._store.pick_step(series, step, run, name)
                entry = self._store.entry(experiment, run, name, datum, metadata.DELETION)
            except RouteError as e:
                if tag:  # one tag asked for: its error is the answer
                    raise
                curves.append({**item, "steps": sorted(series), "error": e.message})
                continue
            record = entry.header.to_json()
            for key in ("summary", "num_samples", "kind"):
                record.pop(key)
            curves.append(
                {**item, "step": datum.step, "steps": sorted(series), **record, "error": None}
            )
        return {"run": run, "deletion_curves": curves}

    def aopc_impl(self, ctx, experiment, *, run: str, kind: str = "correct") -> dict[str, Any]:
        """AOPC of each method at every logged step of the run's `kind` deletion curves.

        Returns ``{method: [AopcPoint.to_json(), ...]}`` sorted by step; empty without deletion
        curves of that kind. A step whose payload cannot be read is left out.
        """
        index = self._store.index(ctx, experiment)
        run = check_run(run, index)
        by_method: dict[str, dict[int, metadata.AopcPoint]] = {}
        for name, content in self._store.tags(index, run, metadata.DELETION).items():
            if content.get("error") or content.get("kind") != kind:
                continue
            for step_n, datum in self._store.series(ctx, experiment, run, name).items():
                try:
                    record = self._store.entry(
                        experiment, run, name, datum, metadata.DELETION
                    ).header
                except RouteError:
                    continue
                for method, value in record.aopc.items():
                    area = None if record.area is None else record.area.get(method)
                    by_method.setdefault(method, {})[step_n] = metadata.AopcPoint(
                        step_n, value, record.n, area, record.random_aopc
                    )
        return {
            method: [points[s].to_json() for s in sorted(points)]
            for method, points in sorted(by_method.items())
        }

    def top_words_impl(
        self,
        ctx,
        experiment,
        *,
        run: str,
        tag: str | None = None,
        method: str | None = None,
        step: int | None = None,
    ) -> dict[str, Any]:
        """Top words per class of one method at one step, and at the logged step before it."""
        run, tag, content, series, datum, entry = self._store.pick(
            ctx, experiment, run, tag, method, step, metadata.TOP_WORDS
        )
        record = entry.header
        earlier = [s for s in series if s < datum.step]
        previous = None
        if earlier:
            try:
                previous = self._store.entry(
                    experiment, run, tag, series[max(earlier)], metadata.TOP_WORDS
                ).header
            except RouteError:
                previous = None
        return {
            "run": run,
            "tag": tag,
            "method": record.method or content.get("method"),
            "step": datum.step,
            "steps": sorted(series),
            "n": record.n,
            "class_names": record.class_names,
            "classes": record.classes,
            "previous": None
            if previous is None
            else {"step": max(earlier), "n": previous.n, "classes": previous.classes},
        }

    def corpus_impl(self, ctx, experiment, *, path: str | None = None) -> dict[str, Any]:
        """Without `path`: the explain_corpus folders in the logdir. With it: their aggregates.

        `path` is a folder relative to the logdir exactly as the listing names it (400 for a
        path that is absolute or has '..'; 404 for one that is not a listed folder or whose
        aggregates.json leads outside the logdir; 422 for an unreadable file).
        """
        if path is None:
            return {"corpora": self._corpora.folders()}
        return self._corpora.aggregates(path)
