"""``DenseLayout``: one node type's flat nodes (grouped by graph) as a padded ``(B, N_max)`` block."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class DenseLayout:
    """Maps between flat node rows ``(N, ...)`` and a padded per-graph block ``(B, N_max, ...)``.

    Built once per batch and node type from ``ptr`` and shared by every layer. When all graphs
    have the same number of nodes the mapping is a plain reshape (no copy, no index).

    Args:
        ptr: ``(B + 1,)`` node offsets of each graph (nodes must be grouped by graph, as
            ``collate`` and PyG batching produce them).
    """

    def __init__(self, ptr: Tensor) -> None:
        counts = ptr[1:] - ptr[:-1]
        self.num_graphs = int(counts.numel())
        self.num_nodes = int(ptr[-1]) if self.num_graphs else 0
        self.max_nodes = int(counts.max()) if self.num_graphs else 0
        self.counts = counts
        self.uniform = self.num_nodes == self.num_graphs * self.max_nodes
        self._graph_local: tuple[Tensor, Tensor] | None = None
        if self.uniform:
            self.flat_index = None
            self.mask = torch.ones(self.num_graphs, self.max_nodes, dtype=torch.bool, device=ptr.device)
        else:
            graph, local = self.graph_and_local()
            self.flat_index = graph * self.max_nodes + local  # (N,)
            mask = torch.zeros(self.num_graphs * self.max_nodes, dtype=torch.bool, device=ptr.device)
            mask[self.flat_index] = True
            self.mask = mask.view(self.num_graphs, self.max_nodes)  # (B, N_max)

    def to_dense(self, x: Tensor, fill: float = 0.0) -> Tensor:
        """``(N, *F)`` → ``(B, N_max, *F)``, padding with ``fill``."""
        if self.uniform:
            return x.reshape(self.num_graphs, self.max_nodes, *x.shape[1:])
        out = x.new_full((self.num_graphs * self.max_nodes, *x.shape[1:]), fill)
        out.index_copy_(0, self.flat_index, x)  # in place: the out-of-place form copies ``out`` once more
        return out.view(self.num_graphs, self.max_nodes, *x.shape[1:])

    def graph_and_local(self) -> tuple[Tensor, Tensor]:
        """``(N,)`` each: the graph of every node and its position within the graph; cached."""
        if self._graph_local is None:
            ptr = torch.cumsum(self.counts, 0) - self.counts
            graph = torch.repeat_interleave(torch.arange(self.num_graphs, device=self.counts.device), self.counts,
                                            output_size=self.num_nodes)
            self._graph_local = graph, torch.arange(self.num_nodes, device=self.counts.device) - ptr[graph]
        return self._graph_local

    def from_dense(self, x: Tensor) -> Tensor:
        """``(B, N_max, *F)`` → ``(N, *F)`` (padding dropped)."""
        flat = x.reshape(self.num_graphs * self.max_nodes, *x.shape[2:])
        if self.uniform:
            return flat
        return flat.index_select(0, self.flat_index)

    def __repr__(self) -> str:
        return f"DenseLayout(graphs={self.num_graphs}, nodes={self.num_nodes}, max_nodes={self.max_nodes})"


GROUP_COST = 4096
"""What one more group costs, in units of the dense attention work (one query-key pair of one graph):
the fixed cost of the extra attention calls, concatenations and index arithmetic (~0.5 ms on one CPU core)."""


def _segment_costs(counts: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Cost of padding each segment ``[start, end)`` of ``counts`` (``(B, T)``, rows sorted) to its maxima:
    graphs × (sum over types of the segment's largest count)², the query-key pairs of all-to-all attention."""
    size = counts.shape[0]
    # sparse table: level k holds the maxima of the 2**k rows starting at each row
    levels = [counts]
    while 2 ** len(levels) <= size:
        prev, step = levels[-1], 2 ** (len(levels) - 1)
        levels.append(np.maximum(prev[:-step], prev[step:]))
    table = np.zeros((len(levels), size, counts.shape[1]), dtype=counts.dtype)
    for k, level in enumerate(levels):
        table[k, : level.shape[0]] = level
    length = ends - starts
    k = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
    maxima = np.maximum(table[k, starts], table[k, ends - 2**k])  # (S, T)
    return length * maxima.sum(axis=1).astype(np.float64) ** 2


def _best_cuts(counts: np.ndarray, max_groups: int) -> list[int]:
    """Cut positions splitting sorted ``counts`` into at most 3 contiguous groups at the least padded cost."""
    size = counts.shape[0]
    best_cost = _segment_costs(counts, np.array([0]), np.array([size]))[0]
    best: list[int] = []
    if max_groups >= 2 and size >= 2:
        cut = np.arange(1, size)
        cost = (_segment_costs(counts, np.zeros_like(cut), cut) + _segment_costs(counts, cut, np.full_like(cut, size))
                + GROUP_COST)
        if cost.min() < best_cost:
            best_cost, best = cost.min(), [int(cut[cost.argmin()])]
    if max_groups >= 3 and size >= 3:
        i, j = np.triu_indices(size - 1, k=1)
        i, j = i + 1, j + 1  # 1 <= i < j <= size - 1
        cost = (_segment_costs(counts, np.zeros_like(i), i) + _segment_costs(counts, i, j)
                + _segment_costs(counts, j, np.full_like(j, size)) + 2 * GROUP_COST)
        if cost.min() < best_cost:
            best = [int(i[cost.argmin()]), int(j[cost.argmin()])]
    return best


class GraphGroups:
    """The graphs of a batch in up to three groups of similar size, each padded to its own largest graph.

    Dense attention over padded per-graph blocks costs in proportion to padded queries × padded keys. When graph
    sizes differ (AV-MNIST audio: 9 to 115 frames, median 21), padding every graph of a batch to the largest
    one does two to three times the work of the real pairs. Sorting the graphs by size and cutting that order
    into groups, each padded to its own largest graph, removes most of the padding for one attention call per
    group; the cuts minimise the padded work plus ``GROUP_COST`` per extra group. Every graph keeps its own
    nodes: only where its rows sit in the padded blocks changes, so per-graph results are those of one block.

    Args:
        layouts: node type → ``DenseLayout`` of the same batch.
        max_groups: at most this many groups (1, 2 or 3; 1: one block, exactly ``DenseLayout.to_dense``).

    Attributes:
        graphs: per group, the indices of its graphs ``(B_g,)``.
        max_nodes: per group, node type → its padded length ``N_t,g``.
    """

    def __init__(self, layouts: dict[str, DenseLayout], max_groups: int = 3) -> None:
        if max_groups not in (1, 2, 3):
            raise ValueError(f"'max_groups' must be 1, 2 or 3 (got {max_groups})")
        self.layouts = layouts
        self.node_types = sorted(layouts)
        first = layouts[self.node_types[0]] if self.node_types else None
        num_graphs = first.num_graphs if first is not None else 0
        cuts: list[int] = []
        order = None
        if max_groups > 1 and num_graphs > 1 and not all(lay.uniform for lay in layouts.values()):
            counts = torch.stack([layouts[t].counts for t in self.node_types], dim=1).cpu()  # (B, T)
            order = torch.argsort(counts.sum(dim=1), stable=True)
            cuts = _best_cuts(counts[order].numpy(), max_groups)
        self.single = not cuts
        if self.single:
            device = first.counts.device if first is not None else None
            self.graphs = [torch.arange(num_graphs, device=device)]
            self.max_nodes = [{t: layouts[t].max_nodes for t in self.node_types}]
            return
        device = first.counts.device
        bounds = [0, *cuts, num_graphs]
        self.graphs = [order[a:b].to(device) for a, b in zip(bounds[:-1], bounds[1:])]
        self.max_nodes = [{t: int(layouts[t].counts[g].max()) for t in self.node_types} for g in self.graphs]
        group_of = torch.empty(num_graphs, dtype=torch.long, device=device)
        rank = torch.empty(num_graphs, dtype=torch.long, device=device)
        for i, g in enumerate(self.graphs):
            group_of[g] = i
            rank[g] = torch.arange(g.numel(), device=device)
        self._flat_index: dict[str, Tensor] = {}
        self._rows: dict[str, list[int]] = {}
        self._gather_index: dict[str, Tensor] = {}  # types without padding: block row → node row
        for t in self.node_types:
            layout = layouts[t]
            padded = torch.tensor([m[t] for m in self.max_nodes], device=device)  # (G,)
            rows = torch.tensor([g.numel() for g in self.graphs], device=device) * padded  # (G,)
            start = torch.cumsum(rows, 0) - rows  # (G,) first row of each group's block
            base = start[group_of] + rank * padded[group_of]  # (B,) first row of each graph
            graph = torch.repeat_interleave(torch.arange(num_graphs, device=device), layout.counts,
                                            output_size=layout.num_nodes)
            ptr = torch.cumsum(layout.counts, 0) - layout.counts
            self._flat_index[t] = base[graph] + torch.arange(layout.num_nodes, device=device) - ptr[graph]  # (N_t,)
            self._rows[t] = rows.tolist()
            if sum(self._rows[t]) == layout.num_nodes:
                self._gather_index[t] = torch.empty_like(self._flat_index[t])
                self._gather_index[t][self._flat_index[t]] = torch.arange(layout.num_nodes, device=device)

    @property
    def num_groups(self) -> int:
        return len(self.graphs)

    def to_blocks(self, node_type: str, x: Tensor) -> list[Tensor]:
        """``(N_t, *F)`` → one zero-padded block ``(B_g, N_t,g, *F)`` per group."""
        if self.single:
            return [self.layouts[node_type].to_dense(x)]
        rows = self._rows[node_type]
        if node_type in self._gather_index:  # no padding: the blocks are the rows reordered
            flat = x.index_select(0, self._gather_index[node_type])
        else:
            flat = x.new_zeros((sum(rows), *x.shape[1:]))
            flat.index_copy_(0, self._flat_index[node_type], x)
        blocks = flat.split(rows)
        return [b.view(g.numel(), m[node_type], *x.shape[1:]) for b, g, m in zip(blocks, self.graphs, self.max_nodes)]

    def from_blocks(self, node_type: str, blocks: list[Tensor]) -> Tensor:
        """One block ``(B_g, N_t,g, *F)`` per group → ``(N_t, *F)`` (padding dropped)."""
        if self.single:
            return self.layouts[node_type].from_dense(blocks[0])
        flat = torch.cat([b.reshape(-1, *b.shape[2:]) for b in blocks])
        return flat.index_select(0, self._flat_index[node_type])

    def select(self, group: int, dense: Tensor, dims: tuple[int | None, ...]) -> Tensor:
        """Group ``group``'s part of a per-batch padded tensor ``(B, ...)``: its graphs, and each dimension ``i``
        with ``dims[i]`` a node type cut to that type's padded length in the group (``None``: kept whole)."""
        if self.single:
            return dense
        out = dense[self.graphs[group]]
        for i, node_type in enumerate(dims):
            # a dimension of size 1 below the type's padded length broadcasts: kept as it is
            if node_type is not None and out.shape[i + 1] == self.layouts[node_type].max_nodes:
                out = out.narrow(i + 1, 0, self.max_nodes[group][node_type])
        return out

    def __repr__(self) -> str:
        sizes = ", ".join(f"{g.numel()}×{m}" for g, m in zip(self.graphs, self.max_nodes))
        return f"GraphGroups({sizes})"
