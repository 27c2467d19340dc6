"""The public converter: ``convert`` (resumable, in parallel), ``merge`` of ``--shard`` parts, ``verify``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

import mmgraph
from mmgraph.convert.layout import (
    CONTENT_MODULUS,
    META,
    REJECTED,
    SHARD_DIR,
    CorruptShardError,
    content_sum,
    done_sidecar,
    finalize,
    make_plan,
    open_out,
    plan_difference,
    plan_of,
    read_meta,
    read_shard,
    read_sidecar,
    remove_stale_temps,
    shard_stem,
)
from mmgraph.convert.local_engine import LocalEngine
from mmgraph.convert.sources import Chunk, GraphChoice, chunks, open_source, record_ranges
from mmgraph.convert.worker import ChunkJob
from mmgraph.datasets.base import MultimodalDataset
from mmgraph.files import sha256_file, write_atomic
from mmgraph.graph.config import GraphConfig
from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS

log = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 512


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
        empty: the output is complete and holds no sample (every record rejected, or none at all):
            ``mmgraph convert`` then exits with status 1 (the reasons are in ``rejected.jsonl``).
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
    empty: bool = False

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
        elif self.empty:
            why = (f"every one of the {self.records:,} records was rejected (reasons in {self.rejected_path})"
                   if self.records else "the source has no records")
            lines.append(f"nothing converted: {why}")
        return "\n".join(lines)


@dataclass
class VerifyReport:
    """Result of ``verify``: shards checked against ``meta.json``.

    Attributes:
        missing: shard files that are absent, or chunks not converted yet (incomplete conversion).
        corrupt: shard files whose SHA-256 differs from ``meta.json``.
        content_sha256: with ``content=True`` and every shard sound: a hash of the set of (id, split,
            graph) pairs, independent of their order and of the chunk size (``layout.content_sum``
            over all shards, as 64 hex digits): two folders holding the same graphs have the same.
        samples: the samples hashed.
    """

    out: Path
    checked: int
    missing: list[str]
    corrupt: list[str]
    complete: bool
    content_sha256: str | None = None
    samples: int = 0

    @property
    def ok(self) -> bool:
        return self.complete and not self.missing and not self.corrupt

    def summary(self) -> str:
        if self.ok:
            text = f"{self.out}: {self.checked} shard(s) verified, all match meta.json"
            if self.content_sha256 is not None:
                text += f"\ncontent sha256 of the {self.samples:,} (id, graph) pairs: {self.content_sha256}"
            return text
        problems = []
        if self.corrupt:
            problems.append(f"{len(self.corrupt)} corrupt ({', '.join(self.corrupt[:5])})")
        if self.missing:
            problems.append(f"{len(self.missing)} missing ({', '.join(self.missing[:5])})")
        return f"{self.out}: {self.checked} shard(s) checked: " + "; ".join(problems)


# ------------------------------------------------------------------------------------------ engines

ENGINES = ("local", "ray")
"""What runs the chunks: ``local`` (this machine's processes) or ``ray`` (a Ray cluster; the extra)."""


class Engine(Protocol):
    """Runs a conversion's chunks: converts and writes each with the ``ChunkJob``, yields the sidecars."""

    name: str

    def run(self, job: ChunkJob, chunks: Iterator[Chunk]) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


def open_engine(engine: str, *, workers: int, address: str | None, start_method: str | None) -> Engine:
    """The engine named ``engine``, started (a forkserver, or the connection to Ray)."""
    if engine not in ENGINES:
        raise ValueError(f"'engine' must be one of {list(ENGINES)} (got {engine!r})")
    if engine == "local":
        if address is not None:
            raise ValueError("an address is a Ray cluster's: it needs the Ray engine (--engine ray)")
        return LocalEngine(workers, start_method)
    from mmgraph.convert.ray_engine import RayEngine

    return RayEngine(address, workers if workers > 1 else None)


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
    graph_config: GraphChoice = None,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    root: str | None = None,
    seed: int = 0,
    allow_outside: bool = False,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    start_method: str | None = None,
    engine: str = "local",
    address: str | None = None,
) -> ConvertReport:
    """Convert a manifest or a built-in dataset into graph shards in ``out`` (resuming a killed run).

    Args:
        source: a manifest path (``.jsonl``/``.csv``), a built-in dataset name, or a ``MultimodalDataset``.
        out: output folder (created; a folder holding this same conversion is resumed).
        workers: worker processes (1: convert in this process); with ``engine="ray"`` and no
            ``address``: the CPUs of the local Ray instance (1: all of this machine's).
        shard: ``(i, n)``: convert only chunks ``k`` with ``k % n == i`` (one of ``n`` machines).
        graph_config: how samples become graphs: a ``GraphConfig``, or overrides of the default (a
            ``[graph]`` table, as ``--graph FILE.toml`` reads it; ``GraphConfig.with_overrides``). The
            default: a built-in dataset's recommended config; for a manifest ``GraphConfig`` defaults
            over the modalities its records have. A missing
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
        engine: ``"local"`` (this machine) or ``"ray"`` (Ray Data tasks; needs ``pip install
            "mmgraph[ray]"``; see ``mmgraph.convert.ray_engine``): the same output either way.
        address: with ``engine="ray"``, the cluster to join (``"auto"``, ``"ray://HOST:10001"``);
            ``None`` starts a local Ray instance (or uses this process's existing connection).

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
    runner = open_engine(engine, workers=workers, address=address, start_method=start_method)
    try:
        src = open_source(source, graph_config, root=root, seed=seed, allow_outside=allow_outside,
                          max_image_pixels=max_image_pixels)
        plan, plan_hash = make_plan(name=src.name, source=src.description, num_records=src.num_records,
                                    config=src.config, dataset_tasks=src.tasks, chunk_size=chunk_size,
                                    mmgraph_version=mmgraph.__version__)
        open_out(out, plan, plan_hash)

        def mine(chunk: int) -> bool:
            return chunk % parts == part

        remove_stale_temps(out, mine, whole=parts == 1)
        total = sum(min(chunk_size, src.num_records - k * chunk_size) for k in range(plan["num_chunks"]) if mine(k))
        # every chunk is featurized with the config as meta.json holds it (what a resumed run reads back); the
        # path is absolute because workers (Ray's above all) need not share this process's working folder. A
        # dataset of lazy splits goes with the job (once per worker), its chunks as record ranges: the workers
        # build the records, this process only schedules
        job = ChunkJob(GraphConfig.from_record(plan["graph_config"]), Path(os.path.abspath(out)), plan_hash,
                       src.node_targets, max_image_pixels, records=src.records)
        converted = rejected = written = skipped = written_records = streamed = 0
        bar = tqdm(total=total, desc=f"convert {src.name}", unit="rec", disable=not progress, dynamic_ncols=True)

        def count(sidecar: dict[str, Any]) -> None:
            nonlocal converted, rejected
            converted, rejected = converted + sidecar["samples"], rejected + len(sidecar["rejected"])

        def pending() -> Iterator[Chunk]:
            """This run's chunks not done yet (done ones are counted and skipped)."""
            nonlocal streamed, skipped
            stream = (chunks(src.items(), chunk_size) if src.records is None
                      else record_ranges(src.num_records, chunk_size))
            for chunk in stream:
                streamed += len(chunk)
                if not mine(chunk.index):
                    continue
                done = done_sidecar(out, chunk.index, plan_hash)
                if done is not None:
                    count(done)
                    skipped += 1
                    bar.update(len(chunk))
                    continue
                yield chunk

        try:
            for sidecar in runner.run(job, pending()):
                count(sidecar)
                n = sidecar["records"][1] - sidecar["records"][0]
                written, written_records = written + 1, written_records + n
                bar.update(n)
        finally:
            bar.close()
    finally:
        runner.close()
    if streamed != src.num_records:
        raise ValueError(f"{source}: the source changed during conversion ({src.num_records} records, then {streamed})")
    remove_stale_temps(out, mine, whole=False)  # what retried tasks (a killed Ray worker) left
    meta = finalize(out, plan, plan_hash)
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
        empty=meta["complete"] and meta["counts"]["converted"] == 0,
    )


def verify(out: str | os.PathLike, *, content: bool = False) -> VerifyReport:
    """Check every shard listed in ``meta.json`` against its SHA-256; report missing and corrupt ones.

    With ``content=True`` also load each sound shard (one at a time) and hash its (id, graph) pairs
    into ``content_sha256``: what to compare between conversions whose shard files may differ (another
    chunk size, another order of the input), where comparing shard checksums says nothing.
    """
    out = Path(out)
    meta = read_meta(out)
    missing, corrupt = [], []
    total = samples = 0
    for entry in meta["shards"]:
        path = out / entry["file"]
        if not path.is_file():
            missing.append(entry["file"])
            continue
        if not content:
            if sha256_file(path) != entry["sha256"]:
                corrupt.append(entry["file"])
            continue
        try:
            shard = read_shard(path, entry["sha256"])
        except CorruptShardError:
            corrupt.append(entry["file"])
            continue
        total = (total + content_sum(shard)) % CONTENT_MODULUS
        samples += len(shard.columns)
    missing += [f"{SHARD_DIR}/{shard_stem(k)}.pt (not converted)" for k in meta.get("missing_chunks", [])]
    report = VerifyReport(out, len(meta["shards"]), missing, corrupt, bool(meta.get("complete")))
    if content and report.ok:
        report.content_sha256, report.samples = f"{total:064x}", samples
    return report


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
                             f"({plan_difference(plan_of(meta), plan_of(metas[0]))})")
    plan = plan_of(metas[0])
    open_out(dest, plan, plan_hash)
    copied = 0
    for o in outs:
        if o.resolve() == dest.resolve():
            continue
        for sidecar_path in sorted((o / SHARD_DIR).glob("shard-*.json")):
            raw = sidecar_path.read_bytes()
            sidecar = json.loads(raw)
            if sidecar.get("plan_sha256") != plan_hash:
                raise ValueError(f"{sidecar_path} belongs to another conversion")
            existing = read_sidecar(dest, sidecar["chunk"], plan_hash)
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
    meta = finalize(dest, plan, plan_hash)
    seconds = time.perf_counter() - start
    return ConvertReport(dest, meta["num_records"], meta["counts"]["converted"], meta["counts"]["rejected"],
                         copied, 0, seconds, 0.0, meta["complete"],
                         empty=meta["complete"] and meta["counts"]["converted"] == 0)


__all__ = ["DEFAULT_CHUNK_SIZE", "ENGINES", "ConvertReport", "VerifyReport", "convert", "merge", "parse_shard",
           "verify"]
