"""Thin wrappers of PyG's heterogeneous convolutions, for comparison with ``CrossModalAttention``.

Each wraps a PyG layer in the same pre-norm residual block (LayerNorm → conv → residual, then a
feed-forward block) so that only the message passing differs. They consume every edge list,
complete blocks materialised (``BatchContext.all_edges``): this is the stock, edge-list way.

Every edge type the layer was built for is passed to the PyG convolution, an empty edge list where
the batch has no such edge: a convolution's root term (SAGE's ``lin_r``, HGT's skip mix) then reaches
every node whatever the rest of the batch holds, so that a sample gets the same output alone as in
any batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, HeteroConv, HGTConv, SAGEConv

from mmgraph.nn.context import BatchContext
from mmgraph.typing import EdgeType, NodeType, sorted_edge_types


class PyGHeteroLayer(nn.Module):
    """Pre-norm residual block around a PyG heterogeneous convolution.

    Shapes:
        - input: ``x_dict[t]``: ``(N_t, d)``
        - output: ``x_dict[t]``: ``(N_t, d)``
    """

    def __init__(
        self, conv: nn.Module, channels: int, node_types: Sequence[NodeType], dropout: float = 0.1,
        ff_channels: int | None = None, edge_types: Sequence[EdgeType] = (),
    ) -> None:
        super().__init__()
        self.conv = conv
        self.channels = channels
        self.dropout = dropout
        self.node_types = sorted(node_types)
        self.edge_types = sorted_edge_types(edge_types)
        ff = ff_channels or 4 * channels
        self.norm_attn = nn.ModuleDict({t: nn.LayerNorm(channels) for t in self.node_types})
        self.norm_ff = nn.ModuleDict({t: nn.LayerNorm(channels) for t in self.node_types})
        self.ff = nn.ModuleDict(
            {t: nn.Sequential(nn.Linear(channels, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, channels))
             for t in self.node_types}
        )

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext) -> dict[NodeType, Tensor]:
        normed = {t: self.norm_attn[t](x_dict[t]) for t in self.node_types}
        given = ctx.all_edges()
        if self.edge_types:  # every type, empty where this batch has none: outputs independent of the batch
            empty = next(iter(normed.values())).new_zeros(2, 0, dtype=torch.long)
            edges = {et: given.get(et, empty) for et in self.edge_types}
        else:
            edges = {et: e for et, e in given.items() if e.numel()}
        messages = self.conv(normed, edges) if edges else {}
        out = {}
        for t in self.node_types:
            h = x_dict[t]
            if t in messages and messages[t] is not None:
                h = h + F.dropout(messages[t], self.dropout, self.training)
            out[t] = h + F.dropout(self.ff[t](self.norm_ff[t](h)), self.dropout, self.training)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.conv.__class__.__name__}, {self.channels})"


class HGTLayer(PyGHeteroLayer):
    """PyG ``HGTConv`` (Hu et al. 2020) in the shared residual block."""

    splits_channels_across_heads: ClassVar[bool] = True
    """``channels`` must be divisible by ``heads`` (``ModelConfig`` checks it)."""

    def __init__(self, channels: int, node_types: Sequence[NodeType], edge_types: Sequence[EdgeType],
                 heads: int = 4, dropout: float = 0.1, ff_channels: int | None = None) -> None:
        conv = HGTConv(channels, channels, (sorted(node_types), sorted_edge_types(edge_types)), heads=heads)
        super().__init__(conv, channels, node_types, dropout, ff_channels, edge_types)


class HeteroGATv2Layer(PyGHeteroLayer):
    """``HeteroConv`` over one PyG ``GATv2Conv`` per edge type (summed), in the shared block."""

    splits_channels_across_heads: ClassVar[bool] = True
    """``channels`` must be divisible by ``heads`` (``ModelConfig`` checks it)."""

    def __init__(self, channels: int, node_types: Sequence[NodeType], edge_types: Sequence[EdgeType],
                 heads: int = 4, dropout: float = 0.1, ff_channels: int | None = None) -> None:
        if channels % heads:
            raise ValueError(f"'channels' (got {channels}) must be divisible by 'heads' (got {heads})")
        conv = HeteroConv(
            {tuple(et): GATv2Conv((channels, channels), channels // heads, heads=heads, add_self_loops=False)
             for et in sorted_edge_types(edge_types)},
            aggr="sum",
        )
        super().__init__(conv, channels, node_types, dropout, ff_channels, edge_types)


class HeteroSAGELayer(PyGHeteroLayer):
    """``HeteroConv`` over one PyG ``SAGEConv`` per edge type (summed), in the shared block."""

    def __init__(self, channels: int, node_types: Sequence[NodeType], edge_types: Sequence[EdgeType],
                 heads: int = 4, dropout: float = 0.1, ff_channels: int | None = None) -> None:
        conv = HeteroConv({tuple(et): SAGEConv((channels, channels), channels) for et in sorted_edge_types(edge_types)},
                          aggr="sum")
        super().__init__(conv, channels, node_types, dropout, ff_channels, edge_types)
