"""``mmgraph info``: a dataset's sizes, tasks and graph statistics, as text."""

from __future__ import annotations

import time
from collections import Counter

import torch

from mmgraph.datasets import load_dataset


def _row(name: str, values: torch.Tensor) -> str:
    v = values.double()
    return f"  {name:<34} {v.mean():>9.1f} {v.min():>7.0f} {v.max():>7.0f}"


def dataset_report(name: str, *, root: str | None = None, seed: int = 0, progress: bool = False) -> str:
    """A multi-line report: splits, tasks, graph config, per-graph node/edge counts, speeds."""
    t0 = time.perf_counter()
    dataset = load_dataset(name, root=root, seed=seed)
    load_s = time.perf_counter() - t0
    config = dataset.fit_graph_config()
    t0 = time.perf_counter()
    train = dataset.featurize("train", config, progress=progress)
    featurize_s = time.perf_counter() - t0

    sizes = {k: len(v) for k, v in dataset.splits.items()}
    lines = [
        f"{dataset.name}: {sum(sizes.values()):,} samples ("
        + " / ".join(f"{k} {n:,}" for k, n in sizes.items())
        + f"); modalities: {', '.join(dataset.modalities)}",
    ]
    for key, value in dataset.info.items():
        lines.append(f"  {key}: {value}")
    lines.append("tasks:")
    for task in dataset.tasks.values():
        extra = f", {task.num_classes} classes" if task.num_classes else ""
        where = f"{task.node_type}.{task.target}" if task.node_type else task.target
        lines.append(f"  {task.name}: {task.kind}{extra} (target {where})")
    if train.y is not None and not train.y.is_floating_point():
        counts = Counter(train.y.tolist())
        majority = max(counts.values()) / len(train)
        lines.append(f"  train label counts: {dict(sorted(counts.items()))} (majority rate {majority:.3f})")

    lines.append("graph config:")
    lines.append(f"  {config!r}")
    lines.append("node features:")
    for m, cols in train.columns.items():
        shape = tuple(cols.x.shape[1:])
        tokenizer = config.settings["text"].tokenizer if m == "text" else None
        extra = f", vocabulary {len(tokenizer)}" if tokenizer else ""
        lines.append(f"  {m}: x per node {shape or '(token id)'} {str(cols.x.dtype).replace('torch.', '')}{extra}")

    batch = train.collate_indices(range(len(train)), full_edges="list")
    lines.append(f"per graph (train split, {len(train):,} graphs):      mean     min     max")
    for node_type in batch.node_types:
        counts = batch[node_type].ptr.diff()
        lines.append(_row(f"nodes {node_type}", counts))
    for edge_type in batch.edge_types:
        src = edge_type[0]
        index = batch[edge_type].edge_index
        per_graph = torch.bincount(batch[src].batch[index[0]], minlength=len(train))
        mark = " (dense block)" if getattr(batch[edge_type], "dense", False) else ""
        lines.append(_row(f"edges {'-'.join(edge_type)}{mark}", per_graph))

    t0 = time.perf_counter()
    loader = train.loader(64, shuffle=True, full_edges="dense")
    n = sum(b.num_graphs for b in loader)
    collate_s = time.perf_counter() - t0
    lines.append("speed:")
    lines.append(f"  load raw samples       {load_s:8.2f} s")
    lines.append(f"  featurize train        {len(train) / featurize_s:8.0f} samples/s")
    lines.append(f"  batch (B=64, dense)    {n / collate_s:8.0f} samples/s")
    return "\n".join(lines)
