"""Parquet shards and the manifest of `explain_corpus`: atomic commits, resume, reading back.

Layout of an output folder::

    out/shard-000000.parquet     one row per document, doc_ids [0, shard_size)
    out/shard-000001.parquet     doc_ids [shard_size, 2 * shard_size) ...
    out/manifest.json            config + committed shards (one process)
    out/manifest.worker-K.json   the same, written by worker K of a multi-worker run
    out/aggregates.json          dataset-level aggregates (merged from the shards' metadata)

A shard is **committed** when a manifest lists it. The commit is two atomic steps: the Parquet
file is written under a temporary name, fsynced, renamed (`os.replace`) and the folder fsynced;
then the manifest is rewritten the same way. A process killed between the two leaves a shard file
that no manifest lists: it does not count and is written again on resume. Every worker writes
only its own manifest, so workers never race on one file; a shard listed by any manifest is done.

Each shard's Parquet footer carries (key `keras_relevance.aggregates`) the aggregate statistics of
its rows, so dataset-level aggregates are exactly-once too and are merged without reading rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 1
AGG_KEY = b"keras_relevance.aggregates"
_SHARD_RE = re.compile(r"^shard-(\d{6,})\.parquet$")
_MANIFEST_RE = re.compile(r"^manifest(\.worker-\d+)?\.json$")
# config entries that must agree for a resume (batch_size only changes the batching)
RESUME_KEYS = ("format", "fingerprint", "methods", "options", "shard_size", "max_tokens", "data")


class ManifestMismatch(ValueError):
    """The output folder holds shards made with another model, methods, options or data."""


# ----------------------------------------------------------------------------- fingerprint
def weights_fingerprint(model) -> str:
    """sha256 over every weight's path, dtype, shape and bytes, in `model.weights` order."""
    digest = hashlib.sha256()
    for w in model.weights:
        value = getattr(w, "value", w)  # the backend tensor (Variable.numpy() warns in numpy 2)
        value = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value)
        name = str(getattr(w, "path", None) or getattr(w, "name", ""))
        digest.update(f"{name}|{value.dtype.str}|{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- atomic files
def fsync_dir(path: Path) -> None:
    """fsync a folder so that a rename inside it is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write) -> None:
    """`write(file)` to a temporary name beside `path`, fsync, rename over `path`, fsync folder.

    On any error the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> None:
    """Atomically write `obj` as JSON (see `atomic_write`)."""
    data = json.dumps(obj, indent=1, sort_keys=True).encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


def shard_name(index: int) -> str:
    return f"shard-{index:06d}.parquet"


def manifest_name(worker: int, num_workers: int) -> str:
    return "manifest.json" if num_workers == 1 else f"manifest.worker-{worker}.json"


# ----------------------------------------------------------------------------- Parquet rows
def _schema(methods: Sequence[str]):
    import pyarrow as pa

    fields = [
        pa.field("doc_id", pa.int64(), nullable=False),
        pa.field("tokens", pa.list_(pa.string())),
        pa.field("offsets", pa.list_(pa.list_(pa.int32()))),
        pa.field("label", pa.int64()),
        pa.field("logits", pa.list_(pa.float32())),
        pa.field("target", pa.int64()),
    ]
    fields += [pa.field(f"relevance_{m}", pa.list_(pa.float32())) for m in methods]
    return pa.schema(fields)


def _write_table(table, f) -> None:
    """Write a pyarrow Table as Parquet into an open file (tests replace it to simulate ENOSPC)."""
    import pyarrow.parquet as pq

    pq.write_table(table, f, compression="zstd")


def _row_offsets(lengths) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)


def _float_lists(arrays):
    """list<float32> from NumPy rows, without a Python float per value."""
    import pyarrow as pa

    values = [np.asarray(a, np.float32).reshape(-1) for a in arrays]
    flat = np.concatenate(values) if values else np.zeros(0, np.float32)
    return pa.ListArray.from_arrays(pa.array(_row_offsets([len(v) for v in values])), flat)


def _offsets_column(arrays):
    """list<list<int32>> of [start, end] pairs, or nulls where a row has none."""
    import pyarrow as pa

    kind = pa.list_(pa.list_(pa.int32()))
    if all(a is None for a in arrays):
        return pa.nulls(len(arrays), kind)
    pairs = [np.asarray(a, np.int32).reshape(-1, 2) for a in arrays]
    flat = np.concatenate(pairs).reshape(-1) if pairs else np.zeros(0, np.int32)
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, len(flat) + 1, 2, dtype=np.int32)),
                                     flat)
    return pa.ListArray.from_arrays(pa.array(_row_offsets([len(p) for p in pairs])), inner)


def write_shard(path: Path, rows: Sequence[Mapping], methods: Sequence[str], aggregates) -> None:
    """Atomically write one shard: `rows` (dicts with the schema's columns) + its aggregates."""
    import pyarrow as pa

    schema = _schema(methods).with_metadata({AGG_KEY: json.dumps(aggregates).encode()})
    columns = {
        "doc_id": pa.array([r["doc_id"] for r in rows], pa.int64()),
        "tokens": pa.array([r["tokens"] for r in rows], pa.list_(pa.string())),
        "offsets": _offsets_column([r["offsets"] for r in rows]),
        "label": pa.array([r["label"] for r in rows], pa.int64()),
        "logits": _float_lists([r["logits"] for r in rows]),
        "target": pa.array([r["target"] for r in rows], pa.int64()),
    }
    for m in methods:
        columns[f"relevance_{m}"] = _float_lists([r[f"relevance_{m}"] for r in rows])
    table = pa.table(columns, schema=schema)
    atomic_write(path, lambda f: _write_table(table, f))


def shard_aggregates(path: Path) -> dict:
    """The aggregate statistics stored in a shard's footer (its rows are not read)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    if AGG_KEY not in meta:
        raise ValueError(f"{path} has no keras_relevance aggregates in its metadata")
    return json.loads(meta[AGG_KEY])


# ----------------------------------------------------------------------------- manifests
def _load_manifests(out: Path) -> dict[str, dict]:
    found = {}
    if not out.is_dir():
        return found
    for p in sorted(out.iterdir()):
        if _MANIFEST_RE.match(p.name):
            try:
                found[p.name] = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ValueError(f"cannot read manifest {p}: {error}") from None
    return found


def committed_shards(out: str | os.PathLike) -> tuple[dict | None, dict[int, dict]]:
    """(config, {shard index: entry}) from every manifest in `out`; config None if none.

    Raises:
        ManifestMismatch: two manifests with different configs.
    """
    out = Path(out)
    config, shards = None, {}
    for name, manifest in _load_manifests(out).items():
        cfg = manifest.get("config", {})
        if config is None:
            config = cfg
        elif _resume_view(cfg) != _resume_view(config):
            raise ManifestMismatch(f"{out / name} was written with another config than the others")
        for entry in manifest.get("shards", []):
            shards[int(entry["index"])] = entry
    return config, shards


def _resume_view(config: Mapping) -> dict:
    return {k: config.get(k) for k in RESUME_KEYS}


def _differences(old: Mapping, new: Mapping) -> list[str]:
    out = []
    for key in RESUME_KEYS:
        if old.get(key) != new.get(key):
            a, b = json.dumps(old.get(key))[:80], json.dumps(new.get(key))[:80]
            out.append(f"{key}: {a} in the folder, {b} now")
    return out


class ShardStore:
    """The shards and this worker's manifest in one output folder.

    Args:
        out: the folder (created).
        config: what this run computes (`RESUME_KEYS` must match existing manifests to resume).
        resume: continue after the committed shards; False refuses a folder with shards unless
            `overwrite`.
        overwrite: with resume=False, delete the folder's shards, manifests and aggregates first.
        worker, num_workers: this process's place in a multi-worker run.
    """

    def __init__(self, out, config: dict, resume=True, overwrite=False, worker=0, num_workers=1):
        self.out = Path(out)
        self.config = config
        self.worker, self.num_workers = int(worker), int(num_workers)
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob(".*.tmp-*"):  # left by a killed process; never committed
            with contextlib.suppress(OSError):
                stale.unlink()
        old, shards = committed_shards(self.out)
        has_files = old is not None or any(_SHARD_RE.match(p.name) for p in self.out.iterdir())
        if has_files and not resume:
            if not overwrite:
                raise FileExistsError(
                    f"{self.out} already holds explain_corpus output and resume=False: pass "
                    "overwrite=True to delete it, resume=True to continue it, or another out="
                )
            self._clear()
            old, shards = None, {}
        if old is not None:
            diff = _differences(old, config)
            if diff:
                raise ManifestMismatch(
                    f"{self.out} holds shards of another run ({'; '.join(diff)}); use another "
                    "out= folder, or resume=False with overwrite=True to replace them"
                )
        self.done: dict[int, dict] = shards
        self.previous_class_names = (old or {}).get("class_names")
        self.path = self.out / manifest_name(self.worker, self.num_workers)
        self.mine = [e for e in self._own_manifest().get("shards", [])]

    def _own_manifest(self) -> dict:
        if self.path.is_file():
            return json.loads(self.path.read_text(encoding="utf-8"))
        return {}

    def _clear(self) -> None:
        for p in self.out.iterdir():
            if _SHARD_RE.match(p.name) or _MANIFEST_RE.match(p.name) or p.name == "aggregates.json":
                p.unlink()
        fsync_dir(self.out)

    def commit(self, index: int, rows: Sequence[Mapping], methods, aggregates) -> None:
        """Write shard `index` atomically, then list it in this worker's manifest atomically."""
        doc_ids = [int(r["doc_id"]) for r in rows]
        first = doc_ids[0]
        if doc_ids != list(range(first, first + len(rows))):
            raise RuntimeError(f"shard {index} is not a run of consecutive doc_ids (a bug)")
        write_shard(self.out / shard_name(index), rows, methods, aggregates)
        entry = {
            "index": index,
            "file": shard_name(index),
            "rows": len(rows),
            "first_doc_id": first,
            "last_doc_id": doc_ids[-1],
            "worker": self.worker,
        }
        self.mine = [e for e in self.mine if e["index"] != index] + [entry]
        self.mine.sort(key=lambda e: e["index"])
        write_json(
            self.path,
            {"version": FORMAT_VERSION, "config": self.config, "shards": self.mine},
        )
        self.done[index] = entry


def read_explanations(out: str | os.PathLike):
    """All committed shards of an `explain_corpus` folder as one pandas DataFrame.

    Rows are in doc_id order; shard files that no manifest lists (an interrupted commit) are
    ignored. Columns: doc_id, tokens, offsets, label, logits, target, relevance_<method>...

    >>> df = read_explanations("out/imdb")          # doctest: +SKIP
    >>> df.loc[0, "relevance_lrp"][:3]              # doctest: +SKIP
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"no explain_corpus output folder at {out}")
    config, shards = committed_shards(out)
    if config is None:
        raise FileNotFoundError(f"{out} has no manifest: not an explain_corpus folder (yet)")
    methods = config.get("methods", [])
    tables = [pq.read_table(out / shards[i]["file"]) for i in sorted(shards)]
    if not tables:
        return _schema(methods).empty_table().to_pandas()
    table = pa.concat_tables(tables)
    df = table.to_pandas()
    if not df["doc_id"].is_monotonic_increasing or df["doc_id"].duplicated().any():
        raise ValueError(f"{out}: committed shards overlap in doc_id (corrupt folder)")
    return df.reset_index(drop=True) if isinstance(df, pd.DataFrame) else df
