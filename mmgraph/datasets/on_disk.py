"""Converted graphs on disk (the output of ``mmgraph convert``), loaded back as ``GraphDataset`` splits.

A converted folder holds ``meta.json``, ``rejected.jsonl`` and ``shards/shard-NNNNNN.pt`` (see
``mmgraph.convert`` for the layout and the shard format). ``load_converted`` reads every shard,
checks it against the SHA-256 recorded in ``meta.json`` before unpickling anything, and packs the
samples of each split into one in-memory ``GraphDataset``: a corrupt or missing shard is an error
naming the file, never silently loaded or skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mmgraph.datasets.base import GraphDataset, MultimodalDataset
from mmgraph.graph.config import GraphConfig
from mmgraph.task import Task

FORMAT = "mmgraph-graphs-v1"
"""``format`` of ``meta.json``."""
SHARD_FORMAT = "mmgraph-shard-v1"
"""``format`` of a shard file and of its sidecar."""
META = "meta.json"
REJECTED = "rejected.jsonl"
SHARD_DIR = "shards"


class CorruptShardError(ValueError):
    """A shard file is missing, truncated, altered, or not a shard."""


def shard_stem(chunk: int) -> str:
    """File name (without suffix) of chunk ``chunk``'s shard: ``shard-000003``."""
    return f"shard-{chunk:06d}"


def is_converted(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``meta.json``."""
    return Path(path).is_dir() and (Path(path) / META).is_file()


def read_meta(out: str | os.PathLike) -> dict[str, Any]:
    """``meta.json`` of a converted folder (checked to be one)."""
    path = Path(out) / META
    if not path.is_file():
        raise ValueError(f"{out} is not a converted folder (no {META})")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {found!r}")
    return meta


def read_shard(path: str | os.PathLike, sha256: str | None = None) -> dict[str, Any]:
    """A shard's contents, after checking its bytes against ``sha256`` (when given).

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
    return state


def _take(state: dict[str, Any], keep: Tensor) -> dict[str, Any]:
    """The samples of a shard where ``keep`` (bool, per sample) is set, with their nodes."""
    if bool(keep.all()):
        return state
    index = keep.nonzero().flatten()
    out: dict[str, Any] = {"columns": {}, "node_targets": {}}
    for m, c in state["columns"].items():
        node_keep = torch.repeat_interleave(keep, c["counts"])
        out["columns"][m] = {"x": c["x"][node_keep], "pos": c["pos"][node_keep], "counts": c["counts"][keep],
                             "shapes": c["shapes"][keep]}
        if m in state["node_targets"]:
            out["node_targets"][m] = {n: v[node_keep] for n, v in state["node_targets"][m].items()}
    out["y"] = None if state["y"] is None else state["y"][keep]
    out["targets"] = {n: t[keep] for n, t in state["targets"].items()}
    out["ids"] = [state["ids"][i] for i in index.tolist()]
    return out


def _filled(values: Tensor | None, n: int, like: Tensor | None, kind: str | None) -> Tensor:
    if values is not None:
        return values
    if like is not None:
        fill = math.nan if like.is_floating_point() else -1
        return torch.full((n, *like.shape[1:]), fill, dtype=like.dtype)
    return torch.full((n,), -1, dtype=torch.int64) if kind == "int" else torch.full((n,), math.nan)


def _concat(parts: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """One ``GraphDataset.state()`` from shard parts (labels/targets a part lacks become -1 / NaN)."""
    sizes = [len(p["ids"]) for p in parts]
    columns = {}
    for m in parts[0]["columns"]:
        cols = [p["columns"][m] for p in parts]
        columns[m] = {
            "x": torch.cat([c["x"] for c in cols]),
            "pos": torch.cat([c["pos"] for c in cols]),
            "counts": torch.cat([c["counts"] for c in cols]),
            "shapes": torch.cat([c["shapes"] for c in cols]).tolist(),
        }
    kind = meta.get("label_kind")
    y = None if kind is None else torch.cat([_filled(p["y"], n, None, kind) for p, n in zip(parts, sizes)])
    names = sorted(set(meta.get("target_names", [])) | {n for p in parts for n in p["targets"]})
    targets = {name: torch.cat([_filled(p["targets"].get(name), n, None, "float") for p, n in zip(parts, sizes)])
               for name in names}
    node_targets: dict[str, dict[str, Tensor]] = {}
    for m, name in sorted({(m, n) for p in parts for m, d in p["node_targets"].items() for n in d}):
        like = next(p["node_targets"][m][name] for p in parts if name in p["node_targets"].get(m, {}))
        node_targets.setdefault(m, {})[name] = torch.cat([
            _filled(p["node_targets"].get(m, {}).get(name), int(p["columns"][m]["counts"].sum()), like, None)
            for p in parts
        ])
    return {
        "format": "mmgraph-graphdataset-v1",
        "config": meta["graph_config"],
        "columns": columns,
        "y": y,
        "targets": targets,
        "node_targets": node_targets,
        "ids": [i for p in parts for i in p["ids"]],
    }


def load_graphs(out: str | os.PathLike, *, verify: bool = True) -> tuple[dict[str, GraphDataset], dict[str, Any]]:
    """Every split of a converted folder as one ``GraphDataset`` each, and its ``meta.json``.

    Args:
        out: the converted folder.
        verify: check each shard's SHA-256 before loading it (``CorruptShardError`` on mismatch).

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
    parts: dict[str, list[dict[str, Any]]] = {}
    for entry in meta["shards"]:
        if entry["samples"] == 0:
            continue
        state = read_shard(out / entry["file"], entry["sha256"] if verify else None)
        splits = state["split"]
        for split in sorted(set(splits), key=splits.index):
            keep = torch.tensor([s == split for s in splits], dtype=torch.bool)
            parts.setdefault(split, []).append(_take(state, keep))
    graphs = {split: GraphDataset.from_state(_concat(p, meta)) for split, p in parts.items()}
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


def load_converted(out: str | os.PathLike, *, verify: bool = True) -> ConvertedDataset:
    """A converted folder as a ``ConvertedDataset`` (what ``load_dataset(folder)`` returns)."""
    graphs, meta = load_graphs(out, verify=verify)
    order = [s for s in ("train", "val", "test") if s in graphs] + sorted(s for s in graphs if s not in
                                                                           ("train", "val", "test"))
    return ConvertedDataset(
        name=meta.get("name") or Path(out).name,
        splits={s: graphs[s] for s in order},
        tasks={k: Task(**v) for k, v in meta["tasks"].items()},
        graph_config=GraphConfig.from_dict(meta["graph_config"]),
        info={"source": meta["source"], "converted": str(out), "counts": meta["counts"]},
        meta=meta,
    )


__all__ = [
    "ConvertedDataset",
    "CorruptShardError",
    "is_converted",
    "load_converted",
    "load_graphs",
    "read_meta",
    "read_shard",
]
