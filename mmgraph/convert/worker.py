"""Converting one chunk: decode its records, featurize them, pack the survivors into a ``Shard``.

``convert_chunk`` is a plain function of the chunk and the conversion's settings, with no state and
no dependence on how chunks are scheduled. It writes nothing; ``ChunkJob`` (what every engine runs
per chunk: the local process pool and the Ray engine alike) converts a chunk and writes its shard
and sidecar with ``layout.write_shard``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mmgraph.convert.layout import Shard, write_shard
from mmgraph.convert.sources import Chunk, DatasetRecords
from mmgraph.datasets.base import NodeTargetFn
from mmgraph.datasets.manifest import ManifestRecord, Rejection, TaskStats
from mmgraph.featurize import FeaturizedSample
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.media import DEFAULT_MAX_IMAGE_PIXELS
from mmgraph.sample import MultimodalSample


@dataclass
class ConvertedChunk:
    """What converting one chunk produced.

    Attributes:
        shard: the samples that converted (with their splits and record numbers).
        rejected: the records refused, in record order, each with its reason.
        stats: what the converted samples' labels and targets imply for the tasks.
        records: ``(start, end)``: the records of the input order this chunk covers.
    """

    shard: Shard
    rejected: list[Rejection]
    stats: TaskStats
    records: tuple[int, int]


@dataclass(frozen=True)
class _Row:
    record: int
    line: int | None
    split: str


_FEATURIZE_ERRORS = (ValueError, TypeError, RuntimeError)


def _featurize(
    samples: list[MultimodalSample], featurizer: Featurizer, node_targets: NodeTargetFn | None
) -> list[FeaturizedSample]:
    feats = featurizer.batch(samples)
    if node_targets is not None:
        for raw, fs in zip(samples, feats):
            fs.node_targets = node_targets(raw, fs, featurizer.config)
    return feats


def convert_chunk(
    chunk: Chunk,
    config: GraphConfig,
    *,
    node_targets: NodeTargetFn | None = None,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> ConvertedChunk:
    """Decode, validate and featurize the records of ``chunk``; a record that fails is rejected, not fatal.

    Args:
        chunk: the records (manifest records are decoded here; dataset records are samples already).
        config: the conversion's graph config (as its plan holds it).
        node_targets: a dataset's function adding per-node targets.
        max_image_pixels: refuse larger images before decoding them.

    The result depends on these arguments only (featurize on one thread for results independent of
    the machine's thread count).
    """
    if chunk.items is None:
        raise ValueError(f"chunk {chunk.index} carries no records (a record range: ChunkJob reads them)")
    featurizer = Featurizer(config)
    samples: list[MultimodalSample] = []
    rows: list[_Row] = []
    rejected: list[Rejection] = []
    for item in chunk.items:
        if isinstance(item, ManifestRecord):
            loaded = item.load(max_image_pixels=max_image_pixels)
            if isinstance(loaded, Rejection):
                rejected.append(loaded)
                continue
            samples.append(loaded)
            rows.append(_Row(item.index, item.line, item.split))
        else:
            samples.append(item.sample)
            rows.append(_Row(item.index, None, item.split))
    try:
        feats = _featurize(samples, featurizer, node_targets)
    except _FEATURIZE_ERRORS:  # one bad sample: featurize one by one to find it, keep the others
        feats, kept = [], []
        for sample, row in zip(samples, rows):
            try:
                feats.extend(_featurize([sample], featurizer, node_targets))
                kept.append(row)
            except _FEATURIZE_ERRORS as exc:
                rejected.append(Rejection(row.record, row.line, sample.id, str(exc)))
        rows = kept
    rejected.sort(key=lambda r: r.record)
    stats = TaskStats()
    for fs in feats:
        stats.add(fs.y, fs.targets)
    shard = Shard(
        chunk=chunk.index,
        columns=GraphColumns.from_featurized(feats, config),
        split=[r.split for r in rows],
        record=torch.tensor([r.record for r in rows], dtype=torch.int64),
    )
    return ConvertedChunk(shard, rejected, stats, (chunk.start, chunk.start + len(chunk.items)))


@dataclass(frozen=True)
class ChunkJob:
    """Everything needed to convert and write any chunk of one conversion (picklable: sent to workers).

    Attributes:
        config: the graph config as the plan holds it (what a resumed run reads back).
        out: the output folder (must be reachable at this path wherever the job runs).
        plan_hash: the conversion's ``plan_sha256``, written into each sidecar.
        node_targets: a dataset's function adding per-node targets, or ``None``.
        max_image_pixels: refuse larger images before decoding them.
        records: the source's records by range, where its chunks are record ranges
            (``Source.records``): each chunk's records are read here, where it is converted.
    """

    config: GraphConfig
    out: Path
    plan_hash: str
    node_targets: NodeTargetFn | None
    max_image_pixels: int
    records: DatasetRecords | None = None

    def __call__(self, chunk: Chunk) -> dict[str, Any]:
        """Convert ``chunk`` (reading its records first if it is a range), write its shard then its sidecar;
        returns the sidecar."""
        if chunk.items is None:
            if self.records is None:
                raise ValueError(f"chunk {chunk.index} is a record range, but this job holds no records to read")
            chunk = Chunk(chunk.index, chunk.start, self.records.read(chunk.start, chunk.stop))
        done = convert_chunk(chunk, self.config, node_targets=self.node_targets,
                             max_image_pixels=self.max_image_pixels)
        return write_shard(self.out, done.shard, plan_hash=self.plan_hash, records=done.records,
                           rejected=done.rejected, stats=done.stats)


__all__ = ["ChunkJob", "ConvertedChunk", "convert_chunk"]
