"""Datasets: raw splits of samples with their tasks, and the featurized in-memory ``GraphDataset``."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch_geometric.data import HeteroData
from tqdm.auto import tqdm

from mmgraph.featurize import FeaturizedSample, NodeSet
from mmgraph.graph.build import concat_node_target, hub_nodes, label_tensor
from mmgraph.graph.collate import FullEdges, NodeColumns, assemble_batch
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task
from mmgraph.typing import HUB, Modality

log = logging.getLogger(__name__)

NodeTargetFn = Callable[[MultimodalSample, FeaturizedSample, GraphConfig], dict[Modality, dict[str, Tensor]]]


@dataclass
class MultimodalDataset:
    """A dataset of raw samples in named splits, with its tasks and recommended graph config.

    Attributes:
        name: registry name.
        splits: ``"train"``, ``"val"``, ``"test"`` → samples.
        tasks: task name → ``Task``.
        graph_config: the recommended ``GraphConfig`` (its tokenizer is fit on ``train`` text by
            ``fit_graph_config``).
        node_targets: optional function adding per-node targets after featurization.
        info: free-form facts (recipe parameters, checksums) reported by ``mmgraph info``.
    """

    name: str
    splits: dict[str, Sequence[MultimodalSample]]
    tasks: dict[str, Task]
    graph_config: GraphConfig
    node_targets: NodeTargetFn | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return self.graph_config.modalities

    def fit_graph_config(
        self, config: GraphConfig | None = None, *, tokenizer_kwargs: dict | None = None
    ) -> GraphConfig:
        """``config`` (default: the recommended one) with a tokenizer fit on the training text."""
        from mmgraph.featurize import Tokenizer

        config = config or self.graph_config
        if "text" in config.modalities and config.settings["text"].tokenizer is None:
            texts = [s.text for s in self.splits["train"] if s.text is not None]
            config = config.replace(text={"tokenizer": Tokenizer.fit(texts, **(tokenizer_kwargs or {}))})
        return config

    def featurize(
        self, split: str, config: GraphConfig, *, progress: bool = False, chunk_size: int = 512
    ) -> GraphDataset:
        """Featurize one split into a ``GraphDataset`` (node targets added if the dataset has any)."""
        return GraphDataset.from_samples(
            self.splits[split], config, node_targets=self.node_targets, progress=progress,
            chunk_size=chunk_size, description=f"{self.name}/{split}",
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (
            f"MultimodalDataset({self.name!r}, {sizes}, tasks={list(self.tasks)}, "
            f"modalities={list(self.modalities)})"
        )


class GraphDataset(torch.utils.data.Dataset):
    """Featurized samples in columns (one tensor per node type), batched by index, vectorised.

    Holds, per modality, all nodes' features concatenated plus per-sample counts and layouts, so a
    batch is one gather per attribute plus cached edge templates (``collate_indices``); nothing is
    re-featurized per epoch.
    """

    def __init__(self, samples: Sequence[FeaturizedSample], config: GraphConfig) -> None:
        if len(samples) == 0:
            raise ValueError("GraphDataset needs at least one sample")
        self.config = config
        featurizer = Featurizer(config)
        self.columns: dict[Modality, NodeColumns] = {}
        self.offsets: dict[Modality, Tensor] = {}
        for m in config.modalities:
            sets = [fs.nodes.get(m) for fs in samples]
            empty = featurizer.empty(m)
            sets = [empty if s is None else s for s in sets]
            counts = torch.tensor([len(s) for s in sets], dtype=torch.long)
            self.columns[m] = NodeColumns(
                torch.cat([s.x for s in sets]), torch.cat([s.pos for s in sets]), counts, [s.shape for s in sets]
            )
            self.offsets[m] = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
        self.y = label_tensor([fs.y for fs in samples])
        names = sorted({n for fs in samples for n in fs.targets})
        self.targets = {
            n: torch.tensor([fs.targets.get(n, math.nan) for fs in samples], dtype=torch.float32) for n in names
        }
        self.node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, name in sorted({(m, n) for fs in samples for m, d in fs.node_targets.items() for n in d}):
            self.node_targets.setdefault(m, {})[name] = concat_node_target(samples, m, name)
        self.ids = [fs.id for fs in samples]

    @classmethod
    def from_samples(
        cls,
        samples: Sequence[MultimodalSample],
        config: GraphConfig,
        *,
        node_targets: NodeTargetFn | None = None,
        progress: bool = False,
        chunk_size: int = 512,
        description: str = "featurize",
    ) -> GraphDataset:
        """Featurize ``samples`` (in chunks, batched per modality) and pack them."""
        featurizer = Featurizer(config)
        feats: list[FeaturizedSample] = []
        bar = tqdm(total=len(samples), desc=description, unit="sample", disable=not progress, leave=False)
        for start in range(0, len(samples), chunk_size):
            chunk = list(samples[start : start + chunk_size])
            done = featurizer.batch(chunk)
            if node_targets is not None:
                for raw, fs in zip(chunk, done):
                    fs.node_targets = node_targets(raw, fs, config)
            feats.extend(done)
            bar.update(len(chunk))
        bar.close()
        return cls(feats, config)

    def __len__(self) -> int:
        return len(self.ids)

    def _rows(self, modality: Modality, index: Tensor) -> tuple[Tensor, Tensor]:
        """Node rows of the samples in ``index`` (in order) and their counts."""
        counts = self.columns[modality].counts[index]
        starts = self.offsets[modality][index]
        total = int(counts.sum())
        # rows = start of each node's sample + its rank within the sample
        shift = starts - (torch.cumsum(counts, 0) - counts)
        rows = torch.repeat_interleave(shift, counts, output_size=total) + torch.arange(total)
        return rows, counts

    def __getitem__(self, i: int) -> FeaturizedSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        i = i % len(self)
        index = torch.tensor([i])
        nodes: dict[Modality, NodeSet] = {}
        node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, cols in self.columns.items():
            rows, counts = self._rows(m, index)
            if int(counts[0]) == 0:
                continue
            nodes[m] = NodeSet(cols.x[rows], cols.pos[rows], cols.shapes[i])
            for name, values in self.node_targets.get(m, {}).items():
                node_targets.setdefault(m, {})[name] = values[rows]
        y = None
        if self.y is not None:
            value = self.y[i].item()
            y = None if (value == -1 and not self.y.is_floating_point()) or value != value else value
        targets = {n: float(t[i]) for n, t in self.targets.items() if not math.isnan(float(t[i]))}
        return FeaturizedSample(nodes, y, targets, node_targets, self.ids[i])

    def collate_indices(self, indices: Sequence[int] | Tensor, *, full_edges: FullEdges = "dense") -> HeteroData:
        """The batch of the samples at ``indices``, gathered column-wise (no per-sample work)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        nodes: dict[str, NodeColumns] = {}
        rows_of: dict[Modality, Tensor] = {}
        for m, cols in self.columns.items():
            rows, counts = self._rows(m, index)
            rows_of[m] = rows
            shapes = [cols.shapes[i] for i in index.tolist()]
            nodes[m] = NodeColumns(cols.x[rows], cols.pos[rows], counts, shapes)
        if self.config.hub:
            hub = hub_nodes(len(index))
            nodes[HUB] = NodeColumns(hub.x, hub.pos, torch.ones(len(index), dtype=torch.long), [(1,)] * len(index))
        data = assemble_batch(self.config, nodes, full_edges=full_edges)
        for m, named in self.node_targets.items():
            for name, values in named.items():
                data[m][name] = values[rows_of[m]]
        if self.y is not None:
            data.y = self.y[index]
        for name, values in self.targets.items():
            data[name] = values[index]
        data.id = [self.ids[i] for i in index.tolist()]
        return data

    def without_modalities(self, modalities: Sequence[Modality]) -> GraphDataset:
        """The same samples with ``modalities`` removed (zero nodes), as if never recorded.

        Equivalent to featurizing ``sample.without(*modalities)``; used for missing-modality tests.
        """
        unknown = set(modalities) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)} (dataset has {sorted(self.columns)})")
        out = object.__new__(GraphDataset)
        out.__dict__.update(self.__dict__)
        out.columns, out.offsets = dict(self.columns), dict(self.offsets)
        out.node_targets = {m: v for m, v in self.node_targets.items() if m not in modalities}
        featurizer = Featurizer(self.config)
        n = len(self)
        for m in modalities:
            e = featurizer.empty(m)
            out.columns[m] = NodeColumns(e.x, e.pos, torch.zeros(n, dtype=torch.long), [e.shape] * n)
            out.offsets[m] = torch.zeros(n + 1, dtype=torch.long)
        return out

    def state(self) -> dict[str, Any]:
        """The dataset as plain tensors, lists and dicts (``torch.save``-able, loads with ``weights_only``)."""
        return {
            "format": "mmgraph-graphdataset-v1",
            "config": self.config.to_dict(),
            "columns": {m: {"x": c.x, "pos": c.pos, "counts": c.counts, "shapes": [list(s) for s in c.shapes]}
                        for m, c in self.columns.items()},
            "y": self.y,
            "targets": self.targets,
            "node_targets": self.node_targets,
            "ids": self.ids,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GraphDataset:
        """Rebuild a dataset saved with ``state()``."""
        if state.get("format") != "mmgraph-graphdataset-v1":
            raise ValueError(f"not a GraphDataset state (format {state.get('format')!r})")
        out = object.__new__(cls)
        out.config = GraphConfig.from_dict(state["config"])
        out.columns, out.offsets = {}, {}
        for m, c in state["columns"].items():
            out.columns[m] = NodeColumns(c["x"], c["pos"], c["counts"], [tuple(s) for s in c["shapes"]])
            out.offsets[m] = torch.cat([c["counts"].new_zeros(1), c["counts"].cumsum(0)])
        out.y = state["y"]
        out.targets = dict(state["targets"])
        out.node_targets = {m: dict(v) for m, v in state["node_targets"].items()}
        out.ids = list(state["ids"])
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the dataset to one file (atomically)."""
        import io

        from mmgraph.files import write_atomic

        buf = io.BytesIO()
        torch.save(self.state(), buf)
        write_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> GraphDataset:
        """Read a dataset written by ``save`` (no code is unpickled)."""
        return cls.from_state(torch.load(path, map_location="cpu", weights_only=True))

    def subset(self, indices: Sequence[int] | Tensor) -> GraphDataset:
        """A new dataset holding the samples at ``indices``."""
        return GraphDataset([self[int(i)] for i in torch.as_tensor(indices).tolist()], self.config)

    def loader(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        sampler: torch.utils.data.Sampler | None = None,
        full_edges: FullEdges = "dense",
    ) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` yielding batched graphs (deterministic shuffling from ``seed``)."""
        generator = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(
            _Indices(len(self)),
            batch_size=batch_size,
            shuffle=shuffle if sampler is None else False,
            sampler=sampler,
            drop_last=drop_last,
            generator=generator,
            collate_fn=lambda idx: self.collate_indices(idx, full_edges=full_edges),
        )

    def __iter__(self) -> Iterator[FeaturizedSample]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        counts = {m: int(c.counts.sum()) for m, c in self.columns.items()}
        return f"GraphDataset({len(self)} samples, nodes={counts})"


class _Indices(torch.utils.data.Dataset):
    """``range(n)`` as a dataset, so DataLoader samplers hand index lists to ``collate_indices``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i
