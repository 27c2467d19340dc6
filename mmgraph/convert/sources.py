"""What ``convert`` reads: a manifest or a dataset as a stream of records, cut into numbered chunks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgraph.convert.layout import META, is_converted
from mmgraph.datasets.base import MultimodalDataset, NodeTargetFn
from mmgraph.datasets.manifest import ManifestDataset, ManifestRecord, is_manifest_path
from mmgraph.featurize import Tokenizer
from mmgraph.files import sha256_file
from mmgraph.graph.config import GraphConfig
from mmgraph.modality import MODALITIES
from mmgraph.sample import MultimodalSample


@dataclass(frozen=True)
class DatasetRecord:
    """A record of an in-memory dataset (already a validated sample)."""

    index: int
    split: str
    sample: MultimodalSample


Record = ManifestRecord | DatasetRecord
"""One input record: a manifest line checked without decoding, or a dataset's sample."""


@dataclass(frozen=True)
class DatasetRecords:
    """A dataset's splits, one after the other, read by record range where a chunk is converted.

    What a worker builds its chunks' records from: the splits cross the pipe once per worker (with
    the ``ChunkJob``) and each chunk as its record range alone, so that records built on access (AV-MNIST
    mixes each record's audio from compact tables) are built by the workers, in parallel, rather than
    built and pickled by the parent. For splits of lazy sequences only (``lazy_records``): samples held
    in lists are sent with their chunks, each once, not to every worker.

    Attributes:
        splits: ``(split name, its samples)`` pairs in input order.
    """

    splits: tuple[tuple[str, Sequence[MultimodalSample]], ...]

    def __len__(self) -> int:
        return sum(len(samples) for _, samples in self.splits)

    def read(self, start: int, stop: int) -> list[DatasetRecord]:
        """The records ``[start, stop)`` of the input order, as ``Source.items`` yields them."""
        if not 0 <= start <= stop <= len(self):
            raise ValueError(f"records [{start}, {stop}) outside the {len(self)} records of the dataset")
        out: list[DatasetRecord] = []
        offset = 0
        for split, samples in self.splits:
            lo, hi = max(start, offset), min(stop, offset + len(samples))
            out += [DatasetRecord(index, split, samples[index - offset]) for index in range(lo, hi)]
            offset += len(samples)
        return out


def lazy_records(splits: Mapping[str, Sequence[MultimodalSample]]) -> DatasetRecords | None:
    """The splits as ``DatasetRecords`` when none is a list or tuple (all build their samples on access)."""
    if not splits or any(isinstance(samples, (list, tuple)) for samples in splits.values()):
        return None
    return DatasetRecords(tuple(splits.items()))


@dataclass
class Source:
    """A source opened for conversion: its description (for the plan), config and records.

    Attributes:
        name: the dataset's name.
        description: what the source is (kind, file and checksum, or dataset name and seed); part
            of the plan.
        num_records: records in input order, rejected ones included.
        config: the graph config (with a tokenizer fit on the train split's text).
        tasks: a dataset's tasks (``Task.to_dict()`` each); ``None`` for a manifest, whose tasks
            follow from its labels.
        node_targets: a dataset's function adding per-node targets, or ``None``.
        items: a fresh iterator over the records, in input order, each call.
        records: the records readable by range (``DatasetRecords``), for a dataset of lazy splits:
            chunks then carry their record range only; ``None``: chunks carry their records.
    """

    name: str
    description: dict[str, Any]
    num_records: int
    config: GraphConfig
    tasks: dict[str, Any] | None
    node_targets: NodeTargetFn | None
    items: Callable[[], Iterator[Record]]
    records: DatasetRecords | None = None


GraphChoice = GraphConfig | Mapping[str, Any] | None
"""A conversion's graph config: a whole ``GraphConfig``, overrides of the source's default (a ``[graph]``
table, see ``GraphConfig.with_overrides``), or ``None`` for the default."""


def manifest_source(
    path: Path, graph_config: GraphChoice, *, allow_outside: bool, max_image_pixels: int
) -> Source:
    """A manifest, read once here (counts, modalities present, train text for the tokenizer, class names).

    That one pass is the manifest's label pass: it decides the class names of string labels
    (``ManifestDataset.class_names``), recorded in the plan (``source["class_names"]``, so ``--shard``
    parts that read other names cannot be merged) and in ``meta.json``'s tasks. The records handed to
    the workers carry the class ids already: every worker and every part maps names to ids alike.
    """
    manifest = ManifestDataset(path, allow_outside=allow_outside, max_image_pixels=max_image_pixels)
    digest = sha256_file(path)
    num_records, present = 0, set()

    def train_texts() -> Iterator[str]:  # the one streaming pass: counts, modalities present, train text, names
        nonlocal num_records
        for record in manifest.label_pass():
            num_records += 1
            if record.ok:
                present.update(m for m in record.fields if m in MODALITIES)
                if record.split == "train" and "text" in record.fields:
                    yield record.fields["text"]

    tokenizer = Tokenizer.fit(train_texts())
    if isinstance(graph_config, GraphConfig):
        config = graph_config
    else:
        # modalities no usable record has are left out; an all-bad manifest still gets a report
        config = GraphConfig(modalities=tuple(sorted(present))) if present else GraphConfig()
        config = config.with_overrides(graph_config) if graph_config else config
    if "text" in config.modalities and config.settings["text"].tokenizer is None:
        config = config.replace(text={"tokenizer": tokenizer})
    description = {"kind": "manifest", "file": path.name, "format": manifest.format, "sha256": digest,
                   "allow_outside": allow_outside, "max_image_pixels": max_image_pixels}
    class_names = manifest.class_names()
    if class_names:  # only then: the plans (and plan_sha256) of manifests with numeric labels stay as they were
        description["class_names"] = {task: list(names) for task, names in class_names.items()}
    return Source(
        name=manifest.name,
        description=description,
        num_records=num_records,
        config=config,
        tasks=None,
        node_targets=None,
        items=manifest.records,
    )


def dataset_source(dataset: MultimodalDataset, graph_config: GraphChoice, description: dict) -> Source:
    """An in-memory dataset: its splits one after the other, in their order."""
    if graph_config is not None and not isinstance(graph_config, GraphConfig):
        graph_config = dataset.graph_config.with_overrides(graph_config) if graph_config else None
    config = dataset.fit_graph_config(graph_config)
    splits = dict(dataset.splits)

    def items() -> Iterator[DatasetRecord]:
        index = 0
        for split, samples in splits.items():
            for sample in samples:
                yield DatasetRecord(index, split, sample)
                index += 1

    return Source(
        name=dataset.name,
        description=description,
        num_records=sum(len(v) for v in splits.values()),
        config=config,
        tasks={k: t.to_dict() for k, t in dataset.tasks.items()},
        node_targets=dataset.node_targets,
        items=items,
        records=lazy_records(splits),
    )


def open_source(
    source: str | os.PathLike | MultimodalDataset,
    graph_config: GraphChoice,
    *,
    root: str | None,
    seed: int,
    allow_outside: bool,
    max_image_pixels: int,
) -> Source:
    """A manifest path, a built-in dataset name or a ``MultimodalDataset``, opened as a ``Source``."""
    if isinstance(source, MultimodalDataset):
        info = json.loads(json.dumps(source.info, sort_keys=True, default=str))
        return dataset_source(source, graph_config, {"kind": "dataset", "name": source.name, "info": info})
    if is_manifest_path(source):
        return manifest_source(Path(source), graph_config, allow_outside=allow_outside,
                               max_image_pixels=max_image_pixels)
    if is_converted(source):
        raise ValueError(f"{source} is already converted (it holds {META}); pass a manifest or a dataset name")
    from mmgraph.datasets import DATASETS

    if str(source) not in DATASETS and Path(source).exists():
        raise ValueError(f"{source}: not a manifest (.jsonl or .csv) nor a built-in dataset ({DATASETS.list()})")
    dataset = DATASETS.create(str(source), seed=seed, root=root)
    return dataset_source(dataset, graph_config, {"kind": "builtin", "name": dataset.name, "seed": seed})


@dataclass
class Chunk:
    """Chunk ``index``: the records ``[start, stop)`` of the input order.

    Attributes:
        index, start: the chunk's number and its first record.
        items: its records; ``None``: read where the chunk is converted, from the job's
            ``DatasetRecords`` (``record_ranges``).
        stop: one past its last record (``start + len(items)`` when ``items`` are given).
    """

    index: int
    start: int
    items: list[Record] | None
    stop: int = -1

    def __post_init__(self) -> None:
        if self.items is not None:
            self.stop = self.start + len(self.items)
        elif self.stop < self.start:
            raise ValueError(f"chunk {self.index}: a chunk without items needs stop >= start (got {self.stop})")

    def __len__(self) -> int:
        return self.stop - self.start


def chunks(items: Iterator[Record], chunk_size: int) -> Iterator[Chunk]:
    """``items`` cut into chunks of ``chunk_size`` records (the last one shorter)."""
    buffer: list[Record] = []
    index = 0
    for item in items:
        buffer.append(item)
        if len(buffer) == chunk_size:
            yield Chunk(index, index * chunk_size, buffer)
            buffer, index = [], index + 1
    if buffer:
        yield Chunk(index, index * chunk_size, buffer)


def record_ranges(num_records: int, chunk_size: int) -> Iterator[Chunk]:
    """The chunks ``chunks`` cuts ``num_records`` records into, as record ranges without their records."""
    for index, start in enumerate(range(0, num_records, chunk_size)):
        yield Chunk(index, start, None, min(start + chunk_size, num_records))


__all__ = ["Chunk", "DatasetRecord", "DatasetRecords", "GraphChoice", "Record", "Source", "chunks", "dataset_source",
           "lazy_records", "manifest_source", "open_source", "record_ranges"]
