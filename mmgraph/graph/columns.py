"""``GraphColumns``: many featurized graphs stored column-wise, the form datasets and shards keep.

Per node type, all graphs' nodes are concatenated (``x``, ``pos``) with per-graph ``counts`` and
layouts (``NodeColumns``); graph-level labels ``y``, named ``targets``, per-node targets and ``ids``
sit beside them. A subset is one gather per column (``take``), parts join with ``concat``, and a
batch is a subset plus cached edge templates (``to_batch``): nothing is re-featurized or rebuilt per
sample. ``GraphDataset`` is a dataset over one ``GraphColumns``; a converted shard stores one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mmgraph.featurize import FeaturizedSample, NodeSet
from mmgraph.graph.build import concat_node_target, hub_nodes, label_tensor
from mmgraph.graph.collate import FullEdges, NodeColumns, assemble_batch
from mmgraph.graph.config import GraphConfig
from mmgraph.graph.featurizer import Featurizer
from mmgraph.typing import HUB, Modality

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

COLUMNS_FORMAT = "mmgraph-columns-v1"
"""``format`` of ``GraphColumns.state()``: the payload of a shard and of a ``GraphDataset`` file."""


def _empty_nodes(config: GraphConfig, modalities: Sequence[Modality]) -> dict[Modality, NodeSet]:
    """The zero-node ``NodeSet`` of each modality: its featurizer knows its dtype, feature shape and layout."""
    featurizer = Featurizer(config)
    return {m: featurizer.empty(m) for m in modalities}


def _missing(n: int, like: Tensor | None, kind: str | None) -> Tensor:
    """``n`` missing values: -1 for integers (the losses' ignore index), NaN for floats.

    ``like`` gives dtype and trailing shape; without it ``kind`` (``"int"`` or ``"float"``) decides.
    """
    if like is not None:
        fill = math.nan if like.is_floating_point() else -1
        return torch.full((n, *like.shape[1:]), fill, dtype=like.dtype)
    return torch.full((n,), -1, dtype=torch.int64) if kind == "int" else torch.full((n,), math.nan)


@dataclass(eq=False)
class GraphColumns:
    """Featurized graphs in columns: one ``NodeColumns`` per modality plus graph- and node-level labels.

    Attributes:
        nodes: modality → its nodes over all graphs (``x`` ``(N_m, *F)``, ``pos`` ``(N_m, D)``,
            ``counts`` ``(B,)``, one layout per graph); every modality of the graph config is present
            (a graph without it has count 0).
        y: graph-level labels ``(B,)`` (int64 with -1 where missing, or float32 with NaN), or ``None``.
        targets: further graph-level targets by name, ``(B,)`` float32 each (NaN where missing).
        node_targets: modality → name → per-node values ``(N_m, ...)`` (-1 / NaN where missing).
        ids: one identifier per graph.
    """

    nodes: dict[Modality, NodeColumns]
    y: Tensor | None
    targets: dict[str, Tensor]
    node_targets: dict[Modality, dict[str, Tensor]]
    ids: list[str | None]

    @classmethod
    def from_featurized(cls, samples: Sequence[FeaturizedSample], config: GraphConfig) -> GraphColumns:
        """Pack featurized samples; a modality a sample lacks contributes zero nodes to it."""
        nodes: dict[Modality, NodeColumns] = {}
        for m, empty in _empty_nodes(config, config.modalities).items():
            sets = [fs.nodes.get(m, empty) for fs in samples]
            nodes[m] = NodeColumns(
                # the empty set first keeps dtype and feature shape when no sample has this modality
                torch.cat([empty.x, *(s.x for s in sets)]),
                torch.cat([empty.pos, *(s.pos for s in sets)]),
                torch.tensor([len(s) for s in sets], dtype=torch.int64),
                [s.shape for s in sets],
            )
        names = sorted({n for fs in samples for n in fs.targets})
        node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, name in sorted({(m, n) for fs in samples for m, d in fs.node_targets.items() for n in d}):
            node_targets.setdefault(m, {})[name] = concat_node_target(samples, m, name)
        return cls(
            nodes=nodes,
            y=label_tensor([fs.y for fs in samples]),
            targets={n: torch.tensor([fs.targets.get(n, math.nan) for fs in samples], dtype=torch.float32)
                     for n in names},
            node_targets=node_targets,
            ids=[fs.id for fs in samples],
        )

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def offsets(self) -> dict[Modality, Tensor]:
        """Per modality, the first node row of each graph, and the total: ``(B + 1,)``."""
        return {m: torch.cat([c.counts.new_zeros(1), c.counts.cumsum(0)]) for m, c in self.nodes.items()}

    def rows(self, modality: Modality, index: Tensor) -> tuple[Tensor, Tensor]:
        """Node rows of ``modality`` belonging to the graphs in ``index`` (in order), and their counts."""
        counts = self.nodes[modality].counts[index]
        starts = self.offsets[modality][index]
        total = int(counts.sum())
        # rows = start of each node's graph + its rank within the graph
        shift = starts - (torch.cumsum(counts, 0) - counts)
        rows = torch.repeat_interleave(shift, counts, output_size=total) + torch.arange(total)
        return rows, counts

    def take(self, index: Sequence[int] | Tensor) -> GraphColumns:
        """The graphs at ``index`` (indices, repeats allowed, or a ``(B,)`` bool mask), in that order."""
        index = torch.as_tensor(index)
        if index.dtype == torch.bool:
            if index.shape != (len(self),):
                raise ValueError(f"a bool mask must have one entry per graph ({len(self)}), got shape "
                                 f"{tuple(index.shape)}")
            index = index.nonzero().flatten()
        index = index.long()
        positions = index.tolist()
        nodes: dict[Modality, NodeColumns] = {}
        node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, cols in self.nodes.items():
            rows, counts = self.rows(m, index)
            nodes[m] = NodeColumns(cols.x[rows], cols.pos[rows], counts, [cols.shapes[i] for i in positions])
            if m in self.node_targets:
                node_targets[m] = {name: values[rows] for name, values in self.node_targets[m].items()}
        return GraphColumns(
            nodes=nodes,
            y=None if self.y is None else self.y[index],
            targets={name: values[index] for name, values in self.targets.items()},
            node_targets=node_targets,
            ids=[self.ids[i] for i in positions],
        )

    @classmethod
    def concat(
        cls, parts: Sequence[GraphColumns], *, label_kind: str | None = None, target_names: Sequence[str] = ()
    ) -> GraphColumns:
        """The graphs of ``parts`` one after the other.

        Labels, targets and node targets some parts lack are filled with -1 / NaN in those parts.

        Args:
            parts: columns with the same modalities (those of one graph config).
            label_kind: ``"int"`` or ``"float"``: the graphs have labels even if no part does (a split
                without labels of a labelled dataset); default: whatever the parts hold.
            target_names: graph-level targets to have even if no part has them.
        """
        if not parts:
            raise ValueError("concat needs at least one GraphColumns")
        nodes = {
            m: NodeColumns(
                torch.cat([p.nodes[m].x for p in parts]),
                torch.cat([p.nodes[m].pos for p in parts]),
                torch.cat([p.nodes[m].counts for p in parts]),
                [shape for p in parts for shape in p.nodes[m].shapes],
            )
            for m in parts[0].nodes
        }
        like = next((p.y for p in parts if p.y is not None), None)
        if label_kind is None and like is not None:
            label_kind = "float" if like.is_floating_point() else "int"
        y = None
        if label_kind is not None:
            y = torch.cat([_missing(len(p), None, label_kind) if p.y is None else p.y for p in parts])
        names = sorted(set(target_names) | {n for p in parts for n in p.targets})
        targets = {n: torch.cat([p.targets[n] if n in p.targets else _missing(len(p), None, "float") for p in parts])
                   for n in names}
        node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, name in sorted({(m, n) for p in parts for m, d in p.node_targets.items() for n in d}):
            ref = next(p.node_targets[m][name] for p in parts if name in p.node_targets.get(m, {}))
            node_targets.setdefault(m, {})[name] = torch.cat([
                p.node_targets[m][name] if name in p.node_targets.get(m, {})
                else _missing(int(p.nodes[m].counts.sum()), ref, None)
                for p in parts
            ])
        return cls(nodes, y, targets, node_targets, [i for p in parts for i in p.ids])

    def without(self, modalities: Sequence[Modality], config: GraphConfig) -> GraphColumns:
        """The same graphs with ``modalities`` emptied (zero nodes each), as if never recorded."""
        nodes = dict(self.nodes)
        n = len(self)
        for m, empty in _empty_nodes(config, modalities).items():
            nodes[m] = NodeColumns(empty.x, empty.pos, torch.zeros(n, dtype=torch.int64), [empty.shape] * n)
        node_targets = {m: v for m, v in self.node_targets.items() if m not in modalities}
        return GraphColumns(nodes, self.y, self.targets, node_targets, self.ids)

    def sample(self, i: int) -> FeaturizedSample:
        """Graph ``i`` as a ``FeaturizedSample`` (the modalities it has nodes of; -1 / NaN labels as absent)."""
        index = torch.tensor([i])
        nodes: dict[Modality, NodeSet] = {}
        node_targets: dict[Modality, dict[str, Tensor]] = {}
        for m, cols in self.nodes.items():
            rows, counts = self.rows(m, index)
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

    def to_batch(self, config: GraphConfig, *, full_edges: FullEdges = "list") -> HeteroData:
        """All these graphs as one batched ``HeteroData`` (as ``collate`` makes it; see ``assemble_batch``)."""
        nodes = dict(self.nodes)
        if config.hub:
            n = len(self)
            hub = hub_nodes(n)
            nodes[HUB] = NodeColumns(hub.x, hub.pos, torch.ones(n, dtype=torch.int64), [(1,)] * n)
        data = assemble_batch(config, nodes, full_edges=full_edges)
        for m, named in self.node_targets.items():
            for name, values in named.items():
                data[m][name] = values
        if self.y is not None:
            data.y = self.y
        for name, values in self.targets.items():
            data[name] = values
        data.id = list(self.ids)
        return data

    def state(self) -> dict[str, Any]:
        """The columns as plain tensors, lists and dicts (``torch.save``-able; loads with ``weights_only=True``)."""
        return {
            "format": COLUMNS_FORMAT,
            "nodes": {m: {"x": c.x, "pos": c.pos, "counts": c.counts,
                          "shapes": torch.tensor(c.shapes, dtype=torch.int64)}  # (B, layout rank)
                      for m, c in self.nodes.items()},
            "y": self.y,
            "targets": self.targets,
            "node_targets": self.node_targets,
            "ids": self.ids,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> GraphColumns:
        """Columns saved with ``state()``."""
        if not isinstance(state, dict) or state.get("format") != COLUMNS_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"not graph columns: format {found!r}, expected {COLUMNS_FORMAT!r}")
        return cls(
            nodes={m: NodeColumns(c["x"], c["pos"], c["counts"], [tuple(s) for s in c["shapes"].tolist()])
                   for m, c in state["nodes"].items()},
            y=state["y"],
            targets=dict(state["targets"]),
            node_targets={m: dict(v) for m, v in state["node_targets"].items()},
            ids=list(state["ids"]),
        )

    def __repr__(self) -> str:
        counts = {m: int(c.counts.sum()) for m, c in self.nodes.items()}
        return f"GraphColumns({len(self)} graphs, nodes={counts})"


__all__ = ["COLUMNS_FORMAT", "GraphColumns"]
