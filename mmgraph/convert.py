"""``convert``: a manifest or a built-in dataset → featurized graph shards on disk, in parallel, resumable.

Layout of ``OUT``::

    meta.json                  format, source, chunk size, graph config (with its tokenizer), schema,
                               tasks, counts per split, every shard's file, records, SHA-256
    rejected.jsonl             one line per refused record: {"record", "line", "id", "reason"}
    shards/shard-000000.pt     chunk 0: records [0, chunk_size) of the input order, featurized
    shards/shard-000000.json   its sidecar: checksum, counts, rejections (written after the shard)

**Shard format.** A shard is ``torch.save`` of plain tensors, lists, strings and dicts, read back
with ``torch.load(weights_only=True)`` (which unpickles no code)::

    {"format": "mmgraph-shard-v1", "chunk": k,
     "columns": {modality: {"x": (N_m, *F), "pos": (N_m, D), "counts": (B,), "shapes": (B, rank)}},
     "y": (B,) or None, "targets": {name: (B,)}, "node_targets": {modality: {name: (N_m, ...)}},
     "ids": [B strings], "split": [B strings], "record": (B,) record numbers}

The columns are those of ``GraphDataset`` (all nodes of a modality concatenated plus per-sample
counts and layouts), so loading is a few concatenations, not per-sample work. ``torch.save`` was
chosen over safetensors because a shard also holds strings (ids, splits), optional entries and nested
dicts, which safetensors (flat dict of tensors, string metadata only) would need a second encoding
for; safetensors is also not a dependency of the project, while ``torch.load(weights_only=True)``
already guards checkpoints and ``GraphDataset.save``. Every shard's SHA-256 is checked before it is
unpickled.

**Determinism and resume.** Chunk ``k`` always holds records ``[k * chunk_size, (k + 1) *
chunk_size)`` of the input order (rejected ones included, as rejections), each chunk is featurized
alone on one thread, and ``meta.json`` holds no timestamps: the output depends only on the source,
the graph config and the chunk size (given the same software and kind of CPU: math libraries may
round differently elsewhere), never on timing or the number of workers. Each shard and then
its sidecar is written atomically (temp file + ``os.replace``). A chunk is done when its sidecar
exists, belongs to the same plan (same source, config and chunk size: ``plan_sha256``) and its shard
matches the sidecar's SHA-256; a re-run skips done chunks, removes temp files a killed run left, and
redoes the rest, so it ends with the same bytes as an uninterrupted run.

**Several machines.** ``shard=(i, n)`` converts only the chunks with ``k % n == i``. Every machine
reads the whole source (cheap checks only, to keep ids unique and chunk numbers right) but decodes
and featurizes only its chunks. Either all machines write into one shared ``OUT`` (file names are
disjoint; the last to finish writes the complete ``meta.json``; if two finish at once, run ``mmgraph
convert --merge OUT`` to rebuild it), or each writes its own ``OUT`` and ``merge([out0, out1, ...],
dest)`` copies the shards (checking them) into ``dest`` and writes ``meta.json``; the result is the
same bytes as a single-machine run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing as mp
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import mmgraph
from mmgraph.datasets.base import MultimodalDataset, NodeTargetFn
from mmgraph.datasets.manifest import ManifestDataset, ManifestRecord, Rejection, TaskStats, is_manifest_path
from mmgraph.datasets.on_disk import (
    FORMAT,
    META,
    REJECTED,
    SHARD_DIR,
    SHARD_FORMAT,
    CorruptShardError,
    is_converted,
    read_meta,
    shard_stem,
)
from mmgraph.featurize import FeaturizedSample, Tokenizer
from mmgraph.files import sha256_file, write_atomic
from mmgraph.graph.build import concat_node_target, label_tensor
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS
from mmgraph.modality import MODALITIES
from mmgraph.sample import MultimodalSample

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 512
PLAN_KEYS = ("format", "mmgraph_version", "name", "source", "chunk_size", "num_records", "num_chunks",
             "graph_config", "schema", "dataset_tasks")
"""The ``meta.json`` fields that define a conversion; ``plan_sha256`` is their hash."""


@dataclass
class ConvertReport:
    """What a ``convert`` (or ``merge``) call did.

    Attributes:
        out: the output folder.
        records: records in the source.
        converted, rejected: samples written and records refused, over the chunks this call
            covers (its ``shard`` selection), whether written now or by an earlier run.
        chunks_written, chunks_skipped: chunks written by this call / already done before it.
        seconds: wall time of the call.
        records_per_second: records of the chunks written by this call, per second of wall time.
        complete: whether ``out`` now holds every chunk (``meta.json`` is final).
    """

    out: Path
    records: int
    converted: int
    rejected: int
    chunks_written: int
    chunks_skipped: int
    seconds: float
    records_per_second: float
    complete: bool

    @property
    def meta_path(self) -> Path:
        return self.out / META

    @property
    def rejected_path(self) -> Path:
        return self.out / REJECTED

    def summary(self) -> str:
        lines = [
            f"converted {self.converted:,} records, rejected {self.rejected:,} "
            f"({self.chunks_written} shard(s) written, {self.chunks_skipped} already done; "
            f"{self.seconds:.1f} s, {self.records_per_second:,.0f} records/s)",
            f"out: {self.out} (report: {self.meta_path.name}, rejections: {self.rejected_path.name})",
        ]
        if not self.complete:
            lines.append("incomplete: other --shard parts are missing; run them, then 'mmgraph convert --merge'")
        return "\n".join(lines)


@dataclass
class VerifyReport:
    """Result of ``verify``: shards checked against ``meta.json``.

    Attributes:
        missing: shard files that are absent, or chunks not converted yet (incomplete conversion).
        corrupt: shard files whose SHA-256 differs from ``meta.json``.
    """

    out: Path
    checked: int
    missing: list[str]
    corrupt: list[str]
    complete: bool

    @property
    def ok(self) -> bool:
        return self.complete and not self.missing and not self.corrupt

    def summary(self) -> str:
        if self.ok:
            return f"{self.out}: {self.checked} shard(s) verified, all match meta.json"
        problems = []
        if self.corrupt:
            problems.append(f"{len(self.corrupt)} corrupt ({', '.join(self.corrupt[:5])})")
        if self.missing:
            problems.append(f"{len(self.missing)} missing ({', '.join(self.missing[:5])})")
        return f"{self.out}: {self.checked} shard(s) checked: " + "; ".join(problems)


# ------------------------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class _DatasetRecord:
    """A record of an in-memory dataset (already a validated sample)."""

    index: int
    split: str
    sample: MultimodalSample


@dataclass
class _Source:
    name: str
    description: dict[str, Any]
    num_records: int
    config: GraphConfig
    tasks: dict[str, Any] | None
    node_targets: NodeTargetFn | None
    items: Callable[[], Iterator[ManifestRecord | _DatasetRecord]]


def _manifest_source(
    path: Path, graph_config: GraphConfig | None, *, allow_outside: bool, max_image_pixels: int
) -> _Source:
    manifest = ManifestDataset(path, allow_outside=allow_outside, max_image_pixels=max_image_pixels)
    digest = sha256_file(path)
    num_records, present = 0, set()

    def train_texts() -> Iterator[str]:  # the one streaming pass: counts, modalities present, train text
        nonlocal num_records
        for record in manifest.records():
            num_records += 1
            if record.ok:
                present.update(m for m in record.fields if m in MODALITIES)
                if record.split == "train" and "text" in record.fields:
                    yield record.fields["text"]

    tokenizer = Tokenizer.fit(train_texts())
    if graph_config is None:
        # modalities no usable record has are left out; an all-bad manifest still gets a report
        config = GraphConfig(modalities=tuple(sorted(present))) if present else GraphConfig()
    else:
        config = graph_config
    if "text" in config.modalities and config.settings["text"].tokenizer is None:
        config = config.replace(text={"tokenizer": tokenizer})
    return _Source(
        name=manifest.name,
        description={"kind": "manifest", "file": path.name, "format": manifest.format, "sha256": digest,
                     "allow_outside": allow_outside, "max_image_pixels": max_image_pixels},
        num_records=num_records,
        config=config,
        tasks=None,
        node_targets=None,
        items=manifest.records,
    )


def _dataset_source(dataset: MultimodalDataset, graph_config: GraphConfig | None, description: dict) -> _Source:
    config = dataset.fit_graph_config(graph_config)
    splits = dict(dataset.splits)

    def items() -> Iterator[_DatasetRecord]:
        index = 0
        for split, samples in splits.items():
            for sample in samples:
                yield _DatasetRecord(index, split, sample)
                index += 1

    return _Source(
        name=dataset.name,
        description=description,
        num_records=sum(len(v) for v in splits.values()),
        config=config,
        tasks={k: t.to_dict() for k, t in dataset.tasks.items()},
        node_targets=dataset.node_targets,
        items=items,
    )


def _source(
    source: str | os.PathLike | MultimodalDataset,
    graph_config: GraphConfig | None,
    *,
    root: str | None,
    seed: int,
    allow_outside: bool,
    max_image_pixels: int,
) -> _Source:
    if isinstance(source, MultimodalDataset):
        info = json.loads(json.dumps(source.info, sort_keys=True, default=str))
        return _dataset_source(source, graph_config, {"kind": "dataset", "name": source.name, "info": info})
    if is_manifest_path(source):
        return _manifest_source(Path(source), graph_config, allow_outside=allow_outside,
                                max_image_pixels=max_image_pixels)
    if is_converted(source):
        raise ValueError(f"{source} is already converted (it holds {META}); pass a manifest or a dataset name")
    from mmgraph.datasets import DATASETS

    if str(source) not in DATASETS and Path(source).exists():
        raise ValueError(f"{source}: not a manifest (.jsonl or .csv) nor a built-in dataset ({DATASETS.list()})")
    dataset = DATASETS.create(str(source), seed=seed, root=root)
    return _dataset_source(dataset, graph_config, {"kind": "builtin", "name": dataset.name, "seed": seed})


# --------------------------------------------------------------------------------------------- plan


def _schema(config: GraphConfig) -> dict[str, Any]:
    featurizer = Featurizer(config)
    return {
        "node_types": config.node_types,
        "edge_types": [list(e) for e in config.edge_types],
        "features": {
            m: {"layout": f.layout, "x_shape": list(f.feature_shape),
                "x_dtype": str(f.feature_dtype).removeprefix("torch."), "pos_dim": f.pos_dim}
            for m, f in featurizer.modalities.items()
        },
    }


def _plan(source: _Source, chunk_size: int) -> tuple[dict[str, Any], str]:
    plan = {
        "format": FORMAT,
        "mmgraph_version": mmgraph.__version__,
        "name": source.name,
        "source": source.description,
        "chunk_size": chunk_size,
        "num_records": source.num_records,
        "num_chunks": math.ceil(source.num_records / chunk_size),
        "graph_config": source.config.to_dict(),
        "schema": _schema(source.config),
        "dataset_tasks": source.tasks,
    }
    return plan, _plan_hash(plan)


def _plan_hash(plan: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _plan_of(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in PLAN_KEYS}


def _plan_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    differ = [k for k in PLAN_KEYS if a.get(k) != b.get(k)]
    return "differ in " + ", ".join(differ) if differ else "different plans"


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _open_out(out: Path, plan: dict[str, Any], plan_hash: str) -> None:
    """Create ``out`` (or check that it holds this very conversion) and write the initial meta.json."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} exists and is not a folder")
    if (out / META).is_file():
        meta = read_meta(out)
        if meta.get("plan_sha256") != plan_hash:
            raise ValueError(
                f"{out} holds a conversion with other settings ({_plan_difference(_plan_of(meta), plan)}); "
                f"choose another output folder or delete it"
            )
    else:
        if out.is_dir():
            foreign = sorted(p.name for p in out.iterdir() if p.name not in (SHARD_DIR, REJECTED)
                             and not p.name.startswith("."))
            if foreign:
                raise ValueError(f"output {out} is not empty and holds no conversion (it has {foreign[:3]}); "
                                 f"choose a new or empty folder")
        write_atomic(out / META, _dump(_meta(plan, plan_hash, [], TaskStats())))
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)


def _shard_entry(sidecar: dict[str, Any]) -> dict[str, Any]:
    """A shard's line in ``meta.json``: its sidecar with the rejections counted, not listed."""
    keys = ("file", "chunk", "records", "samples", "rejected", "splits", "sha256", "bytes")
    return {k: len(sidecar[k]) if k == "rejected" else sidecar[k] for k in keys}


def _meta(plan: dict[str, Any], plan_hash: str, shards: list[dict[str, Any]], stats: TaskStats) -> dict[str, Any]:
    present = {sc["chunk"] for sc in shards}
    splits: dict[str, int] = {}
    for sc in shards:
        for split, n in sc["splits"].items():
            splits[split] = splits.get(split, 0) + n
    given = plan["dataset_tasks"]
    tasks = given if given is not None else {k: t.to_dict() for k, t in stats.tasks().items()}
    missing = [k for k in range(plan["num_chunks"]) if k not in present]
    return {
        **plan,
        "plan_sha256": plan_hash,
        "complete": not missing,
        "counts": {"records": plan["num_records"], "converted": sum(sc["samples"] for sc in shards),
                   "rejected": sum(sc["rejected"] for sc in shards)},
        "splits": dict(sorted(splits.items())),
        "tasks": tasks,
        "label_kind": stats.label_kind,
        "target_names": sorted(stats.target_names),
        "missing_chunks": missing,
        "shards": shards,
    }


def _read_sidecar(out: Path, chunk: int, plan_hash: str) -> dict[str, Any] | None:
    path = out / SHARD_DIR / f"{shard_stem(chunk)}.json"
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(sidecar, dict) or sidecar.get("plan_sha256") != plan_hash or sidecar.get("chunk") != chunk:
        return None
    return sidecar


def _done_sidecar(out: Path, chunk: int, plan_hash: str) -> dict[str, Any] | None:
    """The sidecar of ``chunk`` when the chunk is complete and its shard matches its checksum."""
    sidecar = _read_sidecar(out, chunk, plan_hash)
    if sidecar is None:
        return None
    shard = out / sidecar["file"]
    if not shard.is_file() or sha256_file(shard) != sidecar["sha256"]:
        log.warning("%s is missing or does not match its checksum: converting chunk %d again", shard, chunk)
        return None
    return sidecar


def _finalize(out: Path, plan: dict[str, Any], plan_hash: str) -> dict[str, Any]:
    """Write ``rejected.jsonl`` and ``meta.json`` from the sidecars present (streamed, atomic)."""
    shards, stats = [], TaskStats()
    fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{REJECTED}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for chunk in range(plan["num_chunks"]):
                sidecar = _read_sidecar(out, chunk, plan_hash)
                if sidecar is None:
                    continue
                for rejection in sidecar["rejected"]:
                    f.write(json.dumps(rejection, ensure_ascii=False) + "\n")
                stats = stats.merge(TaskStats.from_dict(sidecar["stats"]))
                shards.append(_shard_entry(sidecar))  # without the rejections: memory stays bounded
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out / REJECTED)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    meta = _meta(plan, plan_hash, shards, stats)
    write_atomic(out / META, _dump(meta))
    return meta


_TEMP = re.compile(r"^\.(shard-(\d+)\.(pt|json))\..*\.tmp$")


def _remove_stale_temps(out: Path, mine: Callable[[int], bool], *, whole: bool) -> None:
    """Delete temp files a killed run left: of this run's chunks only (another machine may be writing)."""
    for path in (out / SHARD_DIR).iterdir():
        match = _TEMP.match(path.name)
        if match and mine(int(match.group(2))):
            path.unlink(missing_ok=True)
    if whole:
        for path in out.glob(".*.tmp"):
            if path.name.startswith((f".{META}.", f".{REJECTED}.")):
                path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- chunks


@dataclass
class _Chunk:
    index: int
    start: int
    items: list[ManifestRecord | _DatasetRecord]


def _chunks(items: Iterator[ManifestRecord | _DatasetRecord], chunk_size: int) -> Iterator[_Chunk]:
    buffer: list[ManifestRecord | _DatasetRecord] = []
    index = 0
    for item in items:
        buffer.append(item)
        if len(buffer) == chunk_size:
            yield _Chunk(index, index * chunk_size, buffer)
            buffer, index = [], index + 1
    if buffer:
        yield _Chunk(index, index * chunk_size, buffer)


@dataclass(frozen=True)
class _Row:
    record: int
    line: int | None
    split: str


def _pack(feats: list[FeaturizedSample], rows: list[_Row], featurizer: Featurizer, chunk: int) -> dict[str, Any]:
    """A chunk's featurized samples as one shard (the columns of a ``GraphDataset``)."""
    columns = {}
    for m in featurizer.config.modalities:
        empty = featurizer.empty(m)
        sets = [empty if fs.nodes.get(m) is None else fs.nodes[m] for fs in feats]
        columns[m] = {
            # the empty set first keeps dtype and feature shape when no sample has this modality
            "x": torch.cat([empty.x, *(s.x for s in sets)]),
            "pos": torch.cat([empty.pos, *(s.pos for s in sets)]),
            "counts": torch.tensor([len(s) for s in sets], dtype=torch.int64),
            "shapes": torch.tensor([list(s.shape) for s in sets], dtype=torch.int64).reshape(len(sets), -1),
        }
    names = sorted({n for fs in feats for n in fs.targets})
    node_target_names = sorted({(m, n) for fs in feats for m, d in fs.node_targets.items() for n in d})
    node_targets: dict[str, dict[str, torch.Tensor]] = {}
    for m, name in node_target_names:
        node_targets.setdefault(m, {})[name] = concat_node_target(feats, m, name)
    return {
        "format": SHARD_FORMAT,
        "chunk": chunk,
        "columns": columns,
        "y": label_tensor([fs.y for fs in feats]),
        "targets": {n: torch.tensor([fs.targets.get(n, math.nan) for fs in feats], dtype=torch.float32) for n in names},
        "node_targets": node_targets,
        "ids": [fs.id for fs in feats],
        "split": [r.split for r in rows],
        "record": torch.tensor([r.record for r in rows], dtype=torch.int64),
    }


_FEATURIZE_ERRORS = (ValueError, TypeError, RuntimeError)


class _ChunkConverter:
    """Decodes, featurizes and writes one chunk: the work of a worker process."""

    def __init__(self, config: dict[str, Any], out: str, plan_hash: str, node_targets: NodeTargetFn | None,
                 max_image_pixels: int) -> None:
        self.config = GraphConfig.from_dict(config)
        self.featurizer = Featurizer(self.config)
        self.out = Path(out)
        self.plan_hash = plan_hash
        self.node_targets = node_targets
        self.max_image_pixels = max_image_pixels

    def _featurize(self, samples: list[MultimodalSample]) -> list[FeaturizedSample]:
        feats = self.featurizer.batch(samples)
        if self.node_targets is not None:
            for raw, fs in zip(samples, feats):
                fs.node_targets = self.node_targets(raw, fs, self.config)
        return feats

    def __call__(self, chunk: _Chunk) -> dict[str, Any]:
        samples: list[MultimodalSample] = []
        rows: list[_Row] = []
        rejected: list[Rejection] = []
        for item in chunk.items:
            if isinstance(item, ManifestRecord):
                loaded = item.load(max_image_pixels=self.max_image_pixels)
                if isinstance(loaded, Rejection):
                    rejected.append(loaded)
                    continue
                samples.append(loaded)
                rows.append(_Row(item.index, item.line, item.split))
            else:
                samples.append(item.sample)
                rows.append(_Row(item.index, None, item.split))
        try:
            feats = self._featurize(samples)
        except _FEATURIZE_ERRORS:  # one bad sample: featurize one by one to find it, keep the others
            feats, kept = [], []
            for sample, row in zip(samples, rows):
                try:
                    feats.extend(self._featurize([sample]))
                    kept.append(row)
                except _FEATURIZE_ERRORS as exc:
                    rejected.append(Rejection(row.record, row.line, sample.id, str(exc)))
            rows = kept
        rejected.sort(key=lambda r: r.record)
        buffer = io.BytesIO()
        torch.save(_pack(feats, rows, self.featurizer, chunk.index), buffer)
        data = buffer.getvalue()
        stem = shard_stem(chunk.index)
        write_atomic(self.out / SHARD_DIR / f"{stem}.pt", data)
        stats, splits = TaskStats(), {}
        for fs, row in zip(feats, rows):
            stats.add(fs.y, fs.targets)
            splits[row.split] = splits.get(row.split, 0) + 1
        sidecar = {
            "format": SHARD_FORMAT,
            "plan_sha256": self.plan_hash,
            "chunk": chunk.index,
            "records": [chunk.start, chunk.start + len(chunk.items)],
            "file": f"{SHARD_DIR}/{stem}.pt",
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "samples": len(feats),
            "splits": dict(sorted(splits.items())),
            "rejected": [r.to_dict() for r in rejected],
            "stats": stats.to_dict(),
        }
        write_atomic(self.out / SHARD_DIR / f"{stem}.json", _dump(sidecar))
        return sidecar


_WORKER: _ChunkConverter | None = None


def _init_worker(settings: dict[str, Any]) -> None:
    global _WORKER
    torch.set_num_threads(1)  # one process per core; also keeps results independent of thread counts
    _WORKER = _ChunkConverter(**settings)


def _run_chunk(chunk: _Chunk) -> dict[str, Any]:
    if _WORKER is None:
        raise RuntimeError("worker not initialised")
    return _WORKER(chunk)


@contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _mp_context(start_method: str | None) -> mp.context.BaseContext:
    """The worker start method, started early: a forkserver imports torch while the source is read.

    forkserver (default where available): workers fork from a server that imported mmgraph once,
    where spawn would re-import torch in every worker (seconds each). Both need only picklable,
    importable code, which is all a chunk and the worker settings are; fork is not used because
    forking a process whose torch thread pools are running is unsafe.
    """
    method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    context = mp.get_context(method)
    if method == "forkserver":
        from multiprocessing import forkserver

        context.set_forkserver_preload(["mmgraph.convert"])
        forkserver.ensure_running()
    return context


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` → ``(I, N)`` with ``0 <= I < N``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise ValueError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def convert(
    source: str | os.PathLike | MultimodalDataset,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    graph_config: GraphConfig | None = None,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    root: str | None = None,
    seed: int = 0,
    allow_outside: bool = False,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    start_method: str | None = None,
) -> ConvertReport:
    """Convert a manifest or a built-in dataset into graph shards in ``out`` (resuming a killed run).

    Args:
        source: a manifest path (``.jsonl``/``.csv``), a built-in dataset name, or a ``MultimodalDataset``.
        out: output folder (created; a folder holding this same conversion is resumed).
        workers: worker processes (1: convert in this process).
        shard: ``(i, n)``: convert only chunks ``k`` with ``k % n == i`` (one of ``n`` machines).
        graph_config: how samples become graphs. Default: a built-in dataset's recommended config;
            for a manifest ``GraphConfig`` defaults over the modalities its records have. A missing
            tokenizer is fit on the text of the ``train`` split (for a manifest, of the train records
            that pass the checks needing no decoding).
        progress: show a tqdm bar (records/s).
        chunk_size: records per shard (part of the output's identity: changing it starts anew).
        root, seed: passed to a built-in dataset's loader.
        allow_outside: let manifest paths leave the manifest's folder.
        max_image_pixels: refuse larger images before decoding them.
        start_method: multiprocessing start method (default ``forkserver`` where available, else ``spawn``).
            As with any spawn/forkserver pool, a script calling ``convert(workers > 1)`` must guard its
            entry point with ``if __name__ == "__main__":`` (workers import the main module).

    Returns:
        A ``ConvertReport`` (counts, speed, whether the output is complete).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"'workers' must be a positive int (got {workers!r})")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"'chunk_size' must be a positive int (got {chunk_size!r})")
    part, parts = shard
    if not 0 <= part < parts:
        raise ValueError(f"'shard' must be (i, n) with 0 <= i < n (got {shard!r})")
    start = time.perf_counter()
    out = Path(out)
    context = _mp_context(start_method) if workers > 1 else None
    src = _source(source, graph_config, root=root, seed=seed, allow_outside=allow_outside,
                  max_image_pixels=max_image_pixels)
    plan, plan_hash = _plan(src, chunk_size)
    _open_out(out, plan, plan_hash)

    def mine(chunk: int) -> bool:
        return chunk % parts == part

    _remove_stale_temps(out, mine, whole=parts == 1)
    total = sum(min(chunk_size, src.num_records - k * chunk_size) for k in range(plan["num_chunks"]) if mine(k))
    settings = {"config": src.config.to_dict(), "out": str(out), "plan_hash": plan_hash,
                "node_targets": src.node_targets, "max_image_pixels": max_image_pixels}
    converted = rejected = written = skipped = written_records = streamed = 0
    bar = tqdm(total=total, desc=f"convert {src.name}", unit="rec", disable=not progress, dynamic_ncols=True)

    def count(sidecar: dict[str, Any]) -> None:
        nonlocal converted, rejected
        converted, rejected = converted + sidecar["samples"], rejected + len(sidecar["rejected"])

    def collect(sidecar: dict[str, Any]) -> None:
        nonlocal written, written_records
        count(sidecar)
        n = sidecar["records"][1] - sidecar["records"][0]
        written, written_records = written + 1, written_records + n
        bar.update(n)

    pool = None
    if context is not None:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings,))
    pending: set[Future] = set()
    try:
        # in this process too, featurize on one thread: the same bytes as a worker would write
        with _one_thread() if pool is None else nullcontext():
            local = _ChunkConverter(**settings) if pool is None else None
            for chunk in _chunks(src.items(), chunk_size):
                streamed += len(chunk.items)
                if not mine(chunk.index):
                    continue
                done = _done_sidecar(out, chunk.index, plan_hash)
                if done is not None:
                    count(done)
                    skipped += 1
                    bar.update(len(chunk.items))
                    continue
                if local is not None:
                    collect(local(chunk))
                    continue
                while len(pending) >= 2 * workers:  # bounded: at most 2 chunks per worker in flight
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        collect(future.result())
                pending.add(pool.submit(_run_chunk, chunk))
            for future in pending:
                collect(future.result())
            pending = set()
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if streamed != src.num_records:
        raise ValueError(f"{source}: the source changed during conversion ({src.num_records} records, then {streamed})")
    meta = _finalize(out, plan, plan_hash)
    seconds = time.perf_counter() - start
    return ConvertReport(
        out=out,
        records=src.num_records,
        converted=converted,
        rejected=rejected,
        chunks_written=written,
        chunks_skipped=skipped,
        seconds=seconds,
        records_per_second=written_records / seconds if seconds > 0 else 0.0,
        complete=meta["complete"],
    )


def verify(out: str | os.PathLike) -> VerifyReport:
    """Check every shard listed in ``meta.json`` against its SHA-256; report missing and corrupt ones."""
    out = Path(out)
    meta = read_meta(out)
    missing, corrupt = [], []
    for entry in meta["shards"]:
        path = out / entry["file"]
        if not path.is_file():
            missing.append(entry["file"])
        elif sha256_file(path) != entry["sha256"]:
            corrupt.append(entry["file"])
    missing += [f"{SHARD_DIR}/{shard_stem(k)}.pt (not converted)" for k in meta.get("missing_chunks", [])]
    return VerifyReport(out, len(meta["shards"]), missing, corrupt, bool(meta.get("complete")))


def merge(outs: Sequence[str | os.PathLike], dest: str | os.PathLike) -> ConvertReport:
    """Gather the shards of the ``--shard`` parts of one conversion into ``dest`` and write its meta.json.

    Every part must come from the same plan (source, graph config, chunk size); each shard copied is
    checked against its checksum. ``dest`` may be one of ``outs`` (or the only one: rebuild its
    ``meta.json`` from the shards present, e.g. after several machines wrote into one folder).
    """
    start = time.perf_counter()
    outs, dest = [Path(o) for o in outs], Path(dest)
    if not outs:
        raise ValueError("merge needs at least one converted folder")
    metas = [read_meta(o) for o in outs]
    plan_hash = metas[0]["plan_sha256"]
    for o, meta in zip(outs, metas):
        if meta["plan_sha256"] != plan_hash:
            raise ValueError(f"{o} and {outs[0]} are not parts of one conversion "
                             f"({_plan_difference(_plan_of(meta), _plan_of(metas[0]))})")
    plan = _plan_of(metas[0])
    _open_out(dest, plan, plan_hash)
    copied = 0
    for o in outs:
        if o.resolve() == dest.resolve():
            continue
        for sidecar_path in sorted((o / SHARD_DIR).glob("shard-*.json")):
            raw = sidecar_path.read_bytes()
            sidecar = json.loads(raw)
            if sidecar.get("plan_sha256") != plan_hash:
                raise ValueError(f"{sidecar_path} belongs to another conversion")
            existing = _read_sidecar(dest, sidecar["chunk"], plan_hash)
            if existing is not None:
                if existing["sha256"] != sidecar["sha256"]:
                    raise ValueError(f"chunk {sidecar['chunk']} differs between {o} and {dest}")
                continue
            data = (o / sidecar["file"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != sidecar["sha256"]:
                raise CorruptShardError(f"{o / sidecar['file']} does not match its checksum; convert that part again")
            write_atomic(dest / sidecar["file"], data)
            write_atomic(dest / SHARD_DIR / sidecar_path.name, raw)
            copied += 1
    meta = _finalize(dest, plan, plan_hash)
    seconds = time.perf_counter() - start
    return ConvertReport(dest, meta["num_records"], meta["counts"]["converted"], meta["counts"]["rejected"],
                         copied, 0, seconds, 0.0, meta["complete"])


__all__ = ["DEFAULT_CHUNK_SIZE", "ConvertReport", "VerifyReport", "convert", "merge", "parse_shard", "verify"]
