"""The on-disk format of a conversion: the contract between whoever writes it and whoever reads it.

Writers (``mmgraph.convert``'s engines) and readers (``mmgraph.datasets.on_disk`` for training)
both use this module, so it imports nothing from the rest of ``mmgraph.convert``.

Layout of ``OUT``::

    meta.json                  format, source, chunk size, graph config (with its tokenizer), schema,
                               tasks, counts per split, every shard's file, records, SHA-256
    rejected.jsonl             one line per refused record: {"record", "line", "id", "reason"}
    shards/shard-000000.pt     chunk 0: records [0, chunk_size) of the input order, featurized
    shards/shard-000000.json   its sidecar: checksum, counts, rejections (written after the shard)

**Shard format.** A shard is ``torch.save`` of plain tensors, lists, strings and dicts, read back
with ``torch.load(weights_only=True)`` (which unpickles no code)::

    {"format": "mmgraph-shard-v3", "chunk": k,
     "columns": {"format": "mmgraph-columns-v1",
                 "nodes": {modality: {"x": (N_m, *F), "pos": (N_m, D), "counts": (B,), "shapes": (B, rank)}},
                 "y": (B,) or None, "targets": {name: (B,)}, "node_targets": {modality: {name: (N_m, ...)}},
                 "ids": {"utf8": (total bytes,) uint8, "lengths": (B,) int64, -1 for no id}},
     "split": {"names": [split names], "index": (B,) uint8 into names}, "record": (B,) record numbers}

``columns`` is ``GraphColumns.state()``, the payload a ``GraphDataset`` file holds too (all nodes of
a modality concatenated plus per-sample counts and layouts), so loading is a few concatenations,
not per-sample work; ``split`` and ``record`` say where each sample came from. The ids and splits
are packed into tensors (v3) rather than stored as lists of ``B`` strings (v2): the
``weights_only`` unpickler is pure Python, and a list of 4,096 short strings took it 0.2 s, eight
times the rest of the shard; training from a stream reads every shard each epoch. ``torch.save`` was
chosen over safetensors because a shard also holds strings (ids, splits), optional entries and nested
dicts, which safetensors (flat dict of tensors, string metadata only) would need a second encoding
for; safetensors is also not a dependency of the project, while ``torch.load(weights_only=True)``
already guards checkpoints and ``GraphDataset.save``. Every shard's SHA-256 is checked before it is
unpickled.

**Plan.** The ``meta.json`` fields in ``PLAN_KEYS`` (format, source and its checksum, chunk size,
graph config, schema, a built-in dataset's tasks) define a conversion; ``plan_sha256`` is their hash
and every sidecar carries it, so a folder never mixes the shards of two conversions.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmgraph.datasets.manifest import Rejection, TaskStats
from mmgraph.files import atomic_file, sha256_file, write_atomic
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer

log = logging.getLogger(__name__)

FORMAT = "mmgraph-graphs-v3"
"""``format`` of ``meta.json``."""
SHARD_FORMAT = "mmgraph-shard-v3"
"""``format`` of a shard file and of its sidecar."""
META = "meta.json"
REJECTED = "rejected.jsonl"
SHARD_DIR = "shards"
PLAN_KEYS = ("format", "mmgraph_version", "name", "source", "chunk_size", "num_records", "num_chunks",
             "graph_config", "schema", "dataset_tasks")
"""The ``meta.json`` fields that define a conversion; ``plan_sha256`` is their hash."""


class CorruptShardError(ValueError):
    """A shard file is missing, truncated, altered, or not a shard."""


def shard_stem(chunk: int) -> str:
    """File name (without suffix) of chunk ``chunk``'s shard: ``shard-000003``."""
    return f"shard-{chunk:06d}"


def is_converted(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``meta.json``."""
    return Path(path).is_dir() and (Path(path) / META).is_file()


def read_meta(out: str | os.PathLike) -> dict[str, Any]:
    """``meta.json`` of a converted folder (checked to be one, of this format)."""
    path = Path(out) / META
    if not path.is_file():
        raise ValueError(f"{out} is not a converted folder (no {META})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        if isinstance(found, str) and found.startswith("mmgraph-graphs-"):
            raise ValueError(f"{path}: written by another version of mmgraph (format {found!r}, this one reads "
                             f"{FORMAT!r}); convert the source again into a new folder")
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {found!r}")
    return meta


# ------------------------------------------------------------------------------------------ shards


@dataclass(eq=False)
class Shard:
    """One chunk's converted samples: their columns and, per sample, its split and record number.

    Attributes:
        chunk: the chunk number ``k`` (records ``[k * chunk_size, (k + 1) * chunk_size)``).
        columns: the samples that converted, in record order.
        split: each sample's split.
        record: each sample's record number in the input order, ``(B,)`` int64.
    """

    chunk: int
    columns: GraphColumns
    split: list[str]
    record: Tensor

    def state(self) -> dict[str, Any]:
        """The shard as ``torch.save``-able plain data (see the module docstring)."""
        names = sorted(set(self.split), key=self.split.index)
        index = torch.tensor([names.index(s) for s in self.split] if len(names) > 1 else [0] * len(self.split),
                             dtype=torch.uint8)
        return {"format": SHARD_FORMAT, "chunk": self.chunk,
                "columns": {**self.columns.state(), "ids": pack_strings(self.columns.ids)},
                "split": {"names": names, "index": index}, "record": self.record}

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.state(), buffer)
        return buffer.getvalue()

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Shard:
        columns = GraphColumns.from_state({**state["columns"], "ids": []})
        columns.ids = unpack_strings(state["columns"]["ids"])
        names = state["split"]["names"]
        split = [names[i] for i in state["split"]["index"].tolist()]
        return cls(state["chunk"], columns, split, state["record"])

    def by_split(self) -> dict[str, GraphColumns]:
        """Split → the shard's samples of that split (splits in order of first appearance)."""
        if len(set(self.split)) == 1:
            return {self.split[0]: self.columns}
        return {split: self.columns.take(torch.tensor([s == split for s in self.split], dtype=torch.bool))
                for split in sorted(set(self.split), key=self.split.index)}


def pack_strings(values: Sequence[str | None]) -> dict[str, Tensor]:
    """Strings (or ``None``) as two tensors: their UTF-8 bytes end to end, and each one's length (-1: ``None``)."""
    encoded = [b"" if v is None else v.encode("utf-8", "surrogatepass") for v in values]
    joined = b"".join(encoded)
    utf8 = torch.frombuffer(bytearray(joined), dtype=torch.uint8) if joined else torch.zeros(0, dtype=torch.uint8)
    lengths = torch.tensor([-1 if v is None else len(e) for v, e in zip(values, encoded)], dtype=torch.int64)
    return {"utf8": utf8, "lengths": lengths}


def unpack_strings(packed: dict[str, Tensor]) -> list[str | None]:
    """The strings ``pack_strings`` packed."""
    raw = packed["utf8"].numpy().tobytes()
    out: list[str | None] = []
    at = 0
    for n in packed["lengths"].tolist():
        if n < 0:
            out.append(None)
            continue
        out.append(raw[at : at + n].decode("utf-8", "surrogatepass"))
        at += n
    return out


CONTENT_MODULUS = 2**256


def _tensor_bytes(t: Tensor) -> bytes:
    """A tensor's dtype, shape and values as bytes (what makes two tensors equal)."""
    return f"{t.dtype}{tuple(t.shape)}".encode() + t.contiguous().numpy().tobytes()


def sample_digests(shard: Shard) -> list[bytes]:
    """One SHA-256 per sample of ``shard`` over its id, split and graph: nodes, layouts, labels, targets.

    The record number is left out: it says where a sample was in the input, not what it is. Two
    samples get the same digest exactly when their ids, splits and every tensor are equal.
    """
    cols = shard.columns
    hashes = [hashlib.sha256(f"{cols.ids[i]!r}|{shard.split[i]}".encode()) for i in range(len(cols))]
    for m in sorted(cols.nodes):
        nodes, starts = cols.nodes[m], cols.offsets[m].tolist()
        named = sorted(cols.node_targets.get(m, {}).items())
        for i, h in enumerate(hashes):
            a, b = starts[i], starts[i + 1]
            h.update(f"|{m}{nodes.shapes[i]}".encode())
            h.update(_tensor_bytes(nodes.x[a:b]))
            h.update(_tensor_bytes(nodes.pos[a:b]))
            for name, values in named:
                h.update(name.encode() + _tensor_bytes(values[a:b]))
    for i, h in enumerate(hashes):
        if cols.y is not None:
            h.update(b"|y" + _tensor_bytes(cols.y[i]))
        for name, values in sorted(cols.targets.items()):
            h.update(f"|{name}".encode() + _tensor_bytes(values[i]))
    return [h.digest() for h in hashes]


def content_sum(shard: Shard) -> int:
    """The shard's part of a folder's content hash: its samples' digests summed modulo 2**256.

    A sum does not depend on the order of the samples nor on how they are cut into shards, so
    conversions that hold the same (id, graph) pairs in any order or chunking have the same total.
    It detects changes, not tampering: it is not a cryptographic hash of the set.
    """
    return sum(int.from_bytes(d, "big") for d in sample_digests(shard)) % CONTENT_MODULUS


def read_shard(path: str | os.PathLike, sha256: str | None = None) -> Shard:
    """A shard, after checking its bytes against ``sha256`` (when given).

    Loaded with ``torch.load(weights_only=True)``: tensors and plain containers only.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorruptShardError(f"missing shard {path}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CorruptShardError(
            f"{path} does not match its checksum in {META} (corrupt or changed); run the same "
            f"'mmgraph convert' again on this folder to rewrite it"
        )
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to unpickle means the file is not a readable shard
        raise CorruptShardError(f"{path} is not a readable shard: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != SHARD_FORMAT:
        raise CorruptShardError(f"{path} is not a shard (format {SHARD_FORMAT!r} expected)")
    return Shard.from_state(state)


def write_shard(
    out: Path,
    shard: Shard,
    *,
    plan_hash: str,
    records: tuple[int, int],
    rejected: Sequence[Rejection],
    stats: TaskStats,
) -> dict[str, Any]:
    """Write a chunk's shard, then its sidecar (each atomically); returns the sidecar.

    The sidecar is what marks the chunk done: ``done_sidecar`` trusts a shard only through it.
    """
    data = shard.to_bytes()
    stem = shard_stem(shard.chunk)
    write_atomic(out / SHARD_DIR / f"{stem}.pt", data)
    splits: dict[str, int] = {}
    for split in shard.split:
        splits[split] = splits.get(split, 0) + 1
    sidecar = {
        "format": SHARD_FORMAT,
        "plan_sha256": plan_hash,
        "chunk": shard.chunk,
        "records": list(records),
        "file": f"{SHARD_DIR}/{stem}.pt",
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "samples": len(shard.columns),
        "splits": dict(sorted(splits.items())),
        "rejected": [r.to_dict() for r in rejected],
        "stats": stats.to_dict(),
    }
    write_atomic(out / SHARD_DIR / f"{stem}.json", dump_json(sidecar))
    return sidecar


def read_sidecar(out: Path, chunk: int, plan_hash: str) -> dict[str, Any] | None:
    """The sidecar of ``chunk`` when it exists and belongs to the plan ``plan_hash``."""
    path = out / SHARD_DIR / f"{shard_stem(chunk)}.json"
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(sidecar, dict) or sidecar.get("plan_sha256") != plan_hash or sidecar.get("chunk") != chunk:
        return None
    return sidecar


def done_sidecar(out: Path, chunk: int, plan_hash: str) -> dict[str, Any] | None:
    """The sidecar of ``chunk`` when the chunk is complete and its shard matches its checksum."""
    sidecar = read_sidecar(out, chunk, plan_hash)
    if sidecar is None:
        return None
    shard = out / sidecar["file"]
    if not shard.is_file() or sha256_file(shard) != sidecar["sha256"]:
        log.warning("%s is missing or does not match its checksum: converting chunk %d again", shard, chunk)
        return None
    return sidecar


_TEMP = re.compile(r"^\.(shard-(\d+)\.(pt|json))\..*\.tmp$")


def remove_stale_temps(out: Path, mine: Callable[[int], bool], *, whole: bool) -> None:
    """Delete temp files a killed run left: of this run's chunks only (another machine may be writing)."""
    for path in (out / SHARD_DIR).iterdir():
        match = _TEMP.match(path.name)
        if match and mine(int(match.group(2))):
            path.unlink(missing_ok=True)
    if whole:
        for path in out.glob(".*.tmp"):
            if path.name.startswith((f".{META}.", f".{REJECTED}.")):
                path.unlink(missing_ok=True)


# -------------------------------------------------------------------------------------- plan, meta


def schema(config: GraphConfig) -> dict[str, Any]:
    """Node and edge types and each modality's feature layout, shape and dtype (``meta.json``'s ``schema``)."""
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


def make_plan(
    *,
    name: str,
    source: dict[str, Any],
    num_records: int,
    config: GraphConfig,
    dataset_tasks: dict[str, Any] | None,
    chunk_size: int,
    mmgraph_version: str,
) -> tuple[dict[str, Any], str]:
    """The plan of a conversion (the ``PLAN_KEYS`` of its ``meta.json``) and its ``plan_sha256``."""
    plan = {
        "format": FORMAT,
        "mmgraph_version": mmgraph_version,
        "name": name,
        "source": source,
        "chunk_size": chunk_size,
        "num_records": num_records,
        "num_chunks": math.ceil(num_records / chunk_size),
        "graph_config": config.to_dict(),
        "schema": schema(config),
        "dataset_tasks": dataset_tasks,
    }
    return plan, plan_sha256(plan)


def plan_sha256(plan: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(plan, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def plan_of(meta: dict[str, Any]) -> dict[str, Any]:
    """The plan part of a ``meta.json``."""
    return {k: meta[k] for k in PLAN_KEYS}


def plan_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Which plan fields differ, for error messages."""
    differ = [k for k in PLAN_KEYS if a.get(k) != b.get(k)]
    return "differ in " + ", ".join(differ) if differ else "different plans"


def dump_json(obj: Any) -> bytes:
    """The JSON bytes of ``meta.json`` and sidecars (indented, UTF-8, trailing newline)."""
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def open_out(out: Path, plan: dict[str, Any], plan_hash: str) -> None:
    """Create ``out`` (or check that it holds this very conversion) and write the initial meta.json."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {out} exists and is not a folder")
    if (out / META).is_file():
        meta = read_meta(out)
        if meta.get("plan_sha256") != plan_hash:
            raise ValueError(
                f"{out} holds a conversion with other settings ({plan_difference(plan_of(meta), plan)}); "
                f"choose another output folder or delete it"
            )
    else:
        if out.is_dir():
            foreign = sorted(p.name for p in out.iterdir() if p.name not in (SHARD_DIR, REJECTED)
                             and not p.name.startswith("."))
            if foreign:
                raise ValueError(f"output {out} is not empty and holds no conversion (it has {foreign[:3]}); "
                                 f"choose a new or empty folder")
        write_atomic(out / META, dump_json(build_meta(plan, plan_hash, [], TaskStats())))
    (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)


def _shard_entry(sidecar: dict[str, Any]) -> dict[str, Any]:
    """A shard's line in ``meta.json``: its sidecar with the rejections counted, not listed."""
    keys = ("file", "chunk", "records", "samples", "rejected", "splits", "sha256", "bytes")
    return {k: len(sidecar[k]) if k == "rejected" else sidecar[k] for k in keys}


def build_meta(plan: dict[str, Any], plan_hash: str, shards: list[dict[str, Any]], stats: TaskStats) -> dict[str, Any]:
    """``meta.json`` from the plan and the shard entries present (``complete`` when none is missing)."""
    present = {sc["chunk"] for sc in shards}
    splits: dict[str, int] = {}
    for sc in shards:
        for split, n in sc["splits"].items():
            splits[split] = splits.get(split, 0) + n
    given = plan["dataset_tasks"]
    class_names = plan["source"].get("class_names")  # a manifest's, decided before conversion (convert.sources)
    tasks = given if given is not None else {k: t.to_dict() for k, t in stats.tasks(class_names).items()}
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


def finalize(out: Path, plan: dict[str, Any], plan_hash: str) -> dict[str, Any]:
    """Write ``rejected.jsonl`` and ``meta.json`` from the sidecars present (streamed, atomic)."""
    shards, stats = [], TaskStats()
    with atomic_file(out / REJECTED, "w", encoding="utf-8") as f:
        for chunk in range(plan["num_chunks"]):
            sidecar = read_sidecar(out, chunk, plan_hash)
            if sidecar is None:
                continue
            for rejection in sidecar["rejected"]:
                f.write(json.dumps(rejection, ensure_ascii=False) + "\n")
            stats = stats.merge(TaskStats.from_dict(sidecar["stats"]))
            shards.append(_shard_entry(sidecar))  # without the rejections: memory stays bounded
    meta = build_meta(plan, plan_hash, shards, stats)
    write_atomic(out / META, dump_json(meta))
    return meta


__all__ = [
    "FORMAT",
    "META",
    "PLAN_KEYS",
    "REJECTED",
    "SHARD_DIR",
    "SHARD_FORMAT",
    "CorruptShardError",
    "Shard",
    "build_meta",
    "content_sum",
    "done_sidecar",
    "finalize",
    "is_converted",
    "make_plan",
    "open_out",
    "pack_strings",
    "plan_sha256",
    "read_meta",
    "read_shard",
    "read_sidecar",
    "remove_stale_temps",
    "sample_digests",
    "unpack_strings",
    "write_shard",
]
