"""Datasets: raw splits of samples with their tasks, and the featurized in-memory ``GraphDataset``."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from mmgraph.featurize import FeaturizedSample
from mmgraph.files import write_atomic
from mmgraph.graph.collate import FullEdges, NodeColumns, one_thread
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.sample import MultimodalSample
from mmgraph.task import Task
from mmgraph.typing import Modality

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

log = logging.getLogger(__name__)

DATASET_FORMAT = "mmgraph-graphdataset-v2"
"""``format`` of a ``GraphDataset`` file: ``{"format", "config", "columns": GraphColumns.state()}``."""
_DATASET_FORMAT_V1 = "mmgraph-graphdataset-v1"
"""The format before v2 (columns inline, layouts as lists): still read."""

NodeTargetFn = Callable[[MultimodalSample, FeaturizedSample, GraphConfig], dict[Modality, dict[str, Tensor]]]
NuisanceFn = Callable[[str, np.ndarray, np.random.Generator], Sequence[MultimodalSample]]
"""``(split, rows, rng) → samples``: the samples at ``rows`` of ``split`` with their label-independent nuisance
re-drawn from ``rng`` (see ``MultimodalDataset.resample_nuisance``)."""


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
        nuisance: for data that knows how a sample was made, the function that re-draws what was drawn
            independently of the labels (``resample_nuisance``); ``None``: the data cannot.
        nuisance_modalities: the modalities ``nuisance`` changes (the others come back as they were).
    """

    name: str
    splits: dict[str, Sequence[MultimodalSample]]
    tasks: dict[str, Task]
    graph_config: GraphConfig
    node_targets: NodeTargetFn | None = None
    info: dict[str, Any] = field(default_factory=dict)
    nuisance: NuisanceFn | None = None
    nuisance_modalities: tuple[Modality, ...] = ()

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return self.graph_config.modalities

    def fit_graph_config(
        self, config: GraphConfig | None = None, *, tokenizer_kwargs: dict | None = None
    ) -> GraphConfig:
        """``config`` (default: the recommended one) with a tokenizer fit on the training text.

        ``tokenizer_kwargs`` go to ``Tokenizer.fit`` (a suite's ``[tokenizer]`` table). The default keeps
        every training word (``min_freq=1``): ``min_freq=2`` helped the emoji graph model without
        ``<unk>`` replacement (subcategory 55.7 → 58.3, R16 study, one seed) but not with it (59.4 either
        way), and cost the digits graph model 5.2 points (88.5 → 83.3, one seed), whose test words
        are often seen once in training.
        """
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

    def resample_nuisance(self, split: str, rows: np.ndarray, rng: np.random.Generator) -> Sequence[MultimodalSample]:
        """The samples at ``rows`` of ``split`` with their nuisance re-drawn: a label-free augmentation.

        What the dataset drew independently of every label (AV-MNIST: the noise clip, its offset and the
        SNR mixed into each spoken digit) is drawn afresh from ``rng``; what the labels depend on (the
        digit's image and clip, hence digit and speaker) is the sample's own. Only
        ``nuisance_modalities`` change; their node counts stay the same.

        Raises:
            ValueError: the dataset has no ``nuisance`` function, or no such split.
        """
        if self.nuisance is None:
            raise ValueError(f"{self.name} cannot re-draw its samples' nuisance (it has no 'nuisance' function)")
        if split not in self.splits:
            raise ValueError(f"{self.name} has no split {split!r} (splits: {list(self.splits)})")
        return self.nuisance(split, np.asarray(rows, dtype=np.int64), rng)

    def hold_out_val(self, fraction: float = 0.1, seed: int = 0) -> tuple[MultimodalDataset, dict[str, Any]]:
        """This dataset with a ``val`` split carved from ``train`` (for data that has none), and what was done.

        ``round(fraction * len(train))`` samples (at least 1; ``train`` keeps at least 1) are chosen by a
        permutation seeded with ``seed``, so the same data and seed give the same split; both splits
        keep the input order. Returns the new dataset and ``{"from": "train", "fraction", "seed",
        "samples"}`` (what a run records).

        Raises:
            ValueError: the dataset already has a ``val`` split, or ``train`` has fewer than 2 samples.
        """
        if "val" in self.splits:
            raise ValueError(f"{self.name} already has a val split")
        train = self.splits.get("train")
        n = 0 if train is None else len(train)
        if n < 2:
            raise ValueError(f"{self.name}: cannot hold out a val split from {n} training sample(s)")
        count = min(n - 1, max(1, round(fraction * n)))
        chosen = np.zeros(n, dtype=bool)
        chosen[np.random.default_rng(seed).permutation(n)[:count]] = True
        val_index, train_index = np.flatnonzero(chosen), np.flatnonzero(~chosen)

        def take(index: np.ndarray) -> Sequence[MultimodalSample] | GraphDataset:
            if isinstance(train, GraphDataset):
                return train.subset(torch.as_tensor(index))
            return [train[int(i)] for i in index]

        splits = {"train": take(train_index), "val": take(val_index),
                  **{k: v for k, v in self.splits.items() if k != "train"}}
        held = {"from": "train", "fraction": fraction, "seed": seed, "samples": int(count)}
        return replace(self, splits=splits), held

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (
            f"MultimodalDataset({self.name!r}, {sizes}, tasks={list(self.tasks)}, "
            f"modalities={list(self.modalities)})"
        )


class GraphDataset(torch.utils.data.Dataset):
    """Featurized samples in columns (a ``GraphColumns``), batched by index, vectorised.

    Holds, per modality, all nodes' features concatenated plus per-sample counts and layouts, so a
    batch is one gather per attribute plus cached edge templates (``collate_indices``); nothing is
    re-featurized per epoch.

    Args:
        data: the samples' columns (at least one sample).
        config: the graph config they were featurized with (it defines the batches' edges).
    """

    def __init__(self, data: GraphColumns, config: GraphConfig) -> None:
        if len(data) == 0:
            raise ValueError("GraphDataset needs at least one sample")
        self.data = data
        self.config = config

    @classmethod
    def from_featurized(cls, samples: Sequence[FeaturizedSample], config: GraphConfig) -> GraphDataset:
        """Pack already featurized samples."""
        return cls(GraphColumns.from_featurized(samples, config), config)

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
        return cls.from_featurized(feats, config)

    @property
    def columns(self) -> dict[Modality, NodeColumns]:
        """Modality → its nodes over all samples (``x``, ``pos``, ``counts``, ``shapes``)."""
        return self.data.nodes

    @property
    def y(self) -> Tensor | None:
        return self.data.y

    @property
    def targets(self) -> dict[str, Tensor]:
        return self.data.targets

    @property
    def node_targets(self) -> dict[Modality, dict[str, Tensor]]:
        return self.data.node_targets

    @property
    def ids(self) -> list[str | None]:
        return self.data.ids

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> FeaturizedSample:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        return self.data.sample(i % len(self))

    @one_thread
    def collate_indices(self, indices: Sequence[int] | Tensor, *, full_edges: FullEdges = "list") -> HeteroData:
        """The batch of the samples at ``indices``, gathered column-wise (no per-sample work).

        ``full_edges="list"`` (default) builds every edge list, so any PyG layer can take the batch;
        ``"dense"`` leaves complete blocks as ``dense=True`` marks, for models that declare
        ``supports_dense_blocks`` (``mmgraph.graph.collate.full_edges_for``)."""
        return self.data.take(torch.as_tensor(indices, dtype=torch.long)).to_batch(self.config, full_edges=full_edges)

    def replace_nodes(self, samples: Sequence[MultimodalSample], modalities: Sequence[Modality], *,
                      chunk_size: int = 512) -> None:
        """Featurize ``modalities`` of ``samples`` (one per graph, in order) and put their nodes in place of
        those graphs' nodes, in place (e.g. re-drawn augmentations between epochs).

        Raises:
            ValueError: a sample count, or a graph's node count of a modality, differs from the stored one.
        """
        if len(samples) != len(self):
            raise ValueError(f"replace_nodes: {len(samples)} samples for a dataset of {len(self)}")
        featurizer = Featurizer(self.config)
        for m in modalities:
            column = self.columns[m]
            xs = []
            for start in range(0, len(samples), chunk_size):
                chunk = [samples[i].without(*[o for o in samples[i].modalities if o != m])
                         for i in range(start, min(len(samples), start + chunk_size))]
                xs.extend(f.nodes[m].x for f in featurizer.batch(chunk))
            counts = torch.tensor([x.shape[0] for x in xs], dtype=column.counts.dtype)
            if not torch.equal(counts, column.counts):
                bad = int((counts != column.counts).nonzero()[0, 0])
                raise ValueError(f"replace_nodes: graph {bad} ({self.ids[bad]}) gets {int(counts[bad])} {m} nodes "
                                 f"instead of its {int(column.counts[bad])}")
            self.data.nodes[m] = replace(column, x=torch.cat(xs).to(column.x.dtype))

    def without_modalities(self, modalities: Sequence[Modality]) -> GraphDataset:
        """The same samples with ``modalities`` removed (zero nodes), as if never recorded.

        Equivalent to featurizing ``sample.without(*modalities)``; used for missing-modality tests.
        """
        unknown = set(modalities) - set(self.columns)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)} (dataset has {sorted(self.columns)})")
        return GraphDataset(self.data.without(modalities, self.config), self.config)

    def state(self) -> dict[str, Any]:
        """The dataset as plain tensors, lists and dicts (``torch.save``-able, loads with ``weights_only``)."""
        return {"format": DATASET_FORMAT, "config": self.config.to_dict(), "columns": self.data.state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GraphDataset:
        """Rebuild a dataset saved with ``state()`` (or by an older mmgraph, format ``mmgraph-graphdataset-v1``)."""
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        if found == DATASET_FORMAT:
            data = GraphColumns.from_state(state["columns"])
        elif found == _DATASET_FORMAT_V1:
            data = _columns_v1(state)
        else:
            raise ValueError(f"not a GraphDataset state (format {found!r}, expected {DATASET_FORMAT!r})")
        return cls(data, GraphConfig.from_record(state["config"]))

    def save(self, path: str | os.PathLike) -> None:
        """Write the dataset to one file (atomically)."""
        buf = io.BytesIO()
        torch.save(self.state(), buf)
        write_atomic(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> GraphDataset:
        """Read a dataset written by ``save`` (no code is unpickled)."""
        return cls.from_state(torch.load(path, map_location="cpu", weights_only=True))

    def subset(self, indices: Sequence[int] | Tensor) -> GraphDataset:
        """A new dataset holding the samples at ``indices``."""
        return GraphDataset(self.data.take(torch.as_tensor(indices, dtype=torch.long)), self.config)

    def loader(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        sampler: torch.utils.data.Sampler | None = None,
        full_edges: FullEdges = "list",
    ) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` yielding batched graphs (deterministic shuffling from ``seed``).

        ``full_edges`` as in ``collate_indices``: ``"list"`` for any PyG model, ``"dense"`` for a model
        that declares ``supports_dense_blocks`` (the ``Trainer`` picks it with ``full_edges_for``)."""
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


def _columns_v1(state: dict[str, Any]) -> GraphColumns:
    """The columns of a ``GraphDataset`` file of format v1 (as benchmark caches made before v2 hold)."""
    nodes = {m: NodeColumns(c["x"], c["pos"], c["counts"], [tuple(s) for s in c["shapes"]])
             for m, c in state["columns"].items()}
    return GraphColumns(nodes, state["y"], dict(state["targets"]),
                        {m: dict(v) for m, v in state["node_targets"].items()}, list(state["ids"]))


class _Indices(torch.utils.data.Dataset):
    """``range(n)`` as a dataset, so DataLoader samplers hand index lists to ``collate_indices``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i
