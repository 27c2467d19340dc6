"""``DenseLayout``: one node type's flat nodes (grouped by graph) as a padded ``(B, N_max)`` block."""

from __future__ import annotations

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
        if self.uniform:
            self.flat_index = None
            self.mask = torch.ones(self.num_graphs, self.max_nodes, dtype=torch.bool, device=ptr.device)
        else:
            graph = torch.repeat_interleave(torch.arange(self.num_graphs, device=ptr.device), counts)
            local = torch.arange(self.num_nodes, device=ptr.device) - ptr[:-1][graph]
            self.flat_index = graph * self.max_nodes + local  # (N,)
            mask = torch.zeros(self.num_graphs * self.max_nodes, dtype=torch.bool, device=ptr.device)
            mask[self.flat_index] = True
            self.mask = mask.view(self.num_graphs, self.max_nodes)  # (B, N_max)

    def to_dense(self, x: Tensor, fill: float = 0.0) -> Tensor:
        """``(N, *F)`` → ``(B, N_max, *F)``, padding with ``fill``."""
        if self.uniform:
            return x.reshape(self.num_graphs, self.max_nodes, *x.shape[1:])
        out = x.new_full((self.num_graphs * self.max_nodes, *x.shape[1:]), fill)
        out = out.index_copy(0, self.flat_index, x)
        return out.view(self.num_graphs, self.max_nodes, *x.shape[1:])

    def from_dense(self, x: Tensor) -> Tensor:
        """``(B, N_max, *F)`` → ``(N, *F)`` (padding dropped)."""
        flat = x.reshape(self.num_graphs * self.max_nodes, *x.shape[2:])
        if self.uniform:
            return flat
        return flat.index_select(0, self.flat_index)

    def __repr__(self) -> str:
        return f"DenseLayout(graphs={self.num_graphs}, nodes={self.num_nodes}, max_nodes={self.max_nodes})"
