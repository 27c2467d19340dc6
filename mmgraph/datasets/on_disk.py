"""Converted graphs on disk (the output of ``mmgraph convert``), loaded back as ``GraphDataset`` splits.

A converted folder holds ``meta.json``, ``rejected.jsonl`` and ``shards/shard-NNNNNN.pt`` (see
``mmgraph.convert.layout`` for the layout and the shard format, which this module reads through
it). ``load_converted`` reads every shard, checks it against the SHA-256 recorded in ``meta.json``
before unpickling anything, and concatenates the samples of each split into one in-memory
``GraphDataset``: a corrupt or missing shard is an error naming the file, never silently loaded or
skipped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmgraph.convert.layout import is_converted, read_meta, read_shard
from mmgraph.datasets.base import GraphDataset, MultimodalDataset
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.task import Task


def load_graphs(
    out: str | os.PathLike, *, verify: bool = True, skip: Sequence[str] = ()
) -> tuple[dict[str, GraphDataset], dict[str, Any]]:
    """Every split of a converted folder as one ``GraphDataset`` each, and its ``meta.json``.

    Args:
        out: the converted folder.
        verify: check each shard's SHA-256 before loading it (``CorruptShardError`` on mismatch).
        skip: splits not to load (one streamed instead: ``mmgraph.datasets.streaming``); shards
            holding only those are not read.

    Raises:
        ValueError: the folder is not a conversion, or the conversion is incomplete.
        CorruptShardError: a shard is missing or does not match its checksum.
    """
    out = Path(out)
    meta = read_meta(out)
    if not meta.get("complete"):
        missing = meta.get("missing_chunks", [])
        raise ValueError(
            f"{out}: the conversion is incomplete ({len(missing)} of {meta['num_chunks']} chunks missing, "
            f"first: {missing[:5]}); run 'mmgraph convert' again, or merge the --shard parts with "
            f"'mmgraph convert --merge'"
        )
    counts = meta.get("counts", {})
    if counts.get("converted") == 0:
        why = (f"all {counts['records']:,} records were rejected (reasons in {out / 'rejected.jsonl'})"
               if counts.get("records") else "its source has no records")
        raise ValueError(f"{out}: the conversion holds no sample: {why}")
    parts: dict[str, list[GraphColumns]] = {}
    for entry in meta["shards"]:
        if not set(entry["splits"]) - set(skip):
            continue
        shard = read_shard(out / entry["file"], entry["sha256"] if verify else None)
        for split, columns in shard.by_split().items():
            if split not in skip:
                parts.setdefault(split, []).append(columns)
    config = GraphConfig.from_record(meta["graph_config"])
    graphs = {
        split: GraphDataset(GraphColumns.concat(p, label_kind=meta.get("label_kind"),
                                                target_names=meta.get("target_names", [])), config)
        for split, p in parts.items()
    }
    return graphs, meta


@dataclass(repr=False)
class ConvertedDataset(MultimodalDataset):
    """Graphs made by ``mmgraph convert``, loaded back: ``splits`` maps split → ``GraphDataset``.

    Used like a ``MultimodalDataset`` by the trainer: ``fit_graph_config()`` returns the config the
    graphs were built with and ``featurize(split, config)`` returns the stored ``GraphDataset``.
    The raw samples are not kept, so another graph config needs a new conversion.
    """

    meta: dict[str, Any] = field(default_factory=dict)

    def fit_graph_config(
        self, config: GraphConfig | None = None, *, tokenizer_kwargs: dict | None = None
    ) -> GraphConfig:
        if config is not None and config != self.graph_config:
            raise ValueError(
                f"{self.name}: these graphs were converted with another graph config; convert the source "
                f"again with that config (mmgraph convert --graph CONFIG.toml)"
            )
        return self.graph_config

    def featurize(
        self, split: str, config: GraphConfig, *, progress: bool = False, chunk_size: int = 512
    ) -> GraphDataset:
        """The stored graphs of ``split`` (``config`` must be the one they were built with)."""
        self.fit_graph_config(config)
        return self.splits[split]  # type: ignore[return-value]


def load_converted(out: str | os.PathLike, *, verify: bool = True, skip: Sequence[str] = ()) -> ConvertedDataset:
    """A converted folder as a ``ConvertedDataset`` (what ``load_dataset(folder)`` returns), less ``skip`` splits."""
    graphs, meta = load_graphs(out, verify=verify, skip=skip)
    order = [s for s in ("train", "val", "test") if s in graphs] + sorted(s for s in graphs if s not in
                                                                           ("train", "val", "test"))
    return ConvertedDataset(
        name=meta.get("name") or Path(out).name,
        splits={s: graphs[s] for s in order},
        tasks={k: Task(**v) for k, v in meta["tasks"].items()},
        graph_config=GraphConfig.from_record(meta["graph_config"]),
        info={"source": meta["source"], "converted": str(out), "counts": meta["counts"]},
        meta=meta,
    )


__all__ = ["ConvertedDataset", "is_converted", "load_converted", "load_graphs"]
