"""``CrossModalConv``: ``CrossModalAttention`` with PyG's heterogeneous-layer call, for users' own PyG models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.nn.context import BatchContext
from mmgraph.nn.conv.cross_modal_attention import CrossModalAttention
from mmgraph.typing import EdgeType, NodeType


class CrossModalConv(CrossModalAttention):
    """``CrossModalAttention`` called the PyG way: ``conv(x_dict, edge_index_dict, batch_dict=None)``.

    The same layer, parameters and numbers as ``CrossModalAttention`` (whose docstring has the math);
    it builds the ``BatchContext`` itself from the edge lists, so it drops into any PyG model in place
    of ``HGTConv`` or a ``HeteroConv``. With ``batch_dict`` (node type → graph of each node, nodes
    grouped by graph as PyG batches them) an edge list over small per-graph blocks runs as masked
    dense attention; without it the input is one graph. Edge types missing from ``edge_index_dict``
    (or empty) send no messages; node types missing from ``x_dict`` have no nodes.

    Args:
        channels, node_types, edge_types, heads, ff_channels, dropout, attn_dropout: as
            ``CrossModalAttention``; ``(node_types, edge_types)`` is a graph's ``metadata()``.
        dense_block_limit: edge lists whose per-graph block ``N_dst_max * N_src_max`` is at most this
            run as masked dense attention (0: always scatter).

    Shapes:
        - input: ``x_dict[t]``: ``(N_t, d)``; ``edge_index_dict[et]``: ``(2, E)``; ``batch_dict[t]``:
          ``(N_t,)`` (optional)
        - output: ``x_dict[t]``: ``(N_t, d)`` for each node type of ``x_dict``
    """

    def __init__(self, channels: int, node_types: Sequence[NodeType], edge_types: Sequence[EdgeType],
                 heads: int = 4, ff_channels: int | None = None, dropout: float = 0.0, attn_dropout: float = 0.0,
                 dense_block_limit: int = 16384) -> None:
        super().__init__(channels, node_types, edge_types, heads=heads, ff_channels=ff_channels, dropout=dropout,
                         attn_dropout=attn_dropout)
        self.dense_block_limit = dense_block_limit

    def context(self, x_dict: Mapping[NodeType, Tensor], edge_index_dict: Mapping[EdgeType, Tensor],
                batch_dict: Mapping[NodeType, Tensor] | None = None) -> BatchContext:
        """The ``BatchContext`` of PyG-style inputs (read as ``BatchContext.from_batch`` reads a batch)."""
        data = HeteroData()
        num_graphs = 1
        device = next(iter(x_dict.values())).device
        for t in self.node_types:
            x = x_dict.get(t)
            n = 0 if x is None else int(x.shape[0])
            data[t].num_nodes = n
            if batch_dict is not None and t in batch_dict:
                data[t].batch = batch_dict[t]
                num_graphs = max(num_graphs, int(batch_dict[t].max()) + 1 if n else 1)
            else:  # one graph (on the inputs' device)
                data[t].batch = torch.zeros(n, dtype=torch.long, device=device)
        for et in self.edge_types:
            if et in edge_index_dict:
                data[et].edge_index = edge_index_dict[et]
        data.num_graphs = num_graphs
        return BatchContext.from_batch(data, self.node_types, self.edge_types, dense_block_limit=self.dense_block_limit)

    def forward(self, x_dict: dict[NodeType, Tensor], edge_index_dict: Mapping[EdgeType, Tensor] | BatchContext,
                batch_dict: Mapping[NodeType, Tensor] | None = None) -> dict[NodeType, Tensor]:
        if isinstance(edge_index_dict, BatchContext):  # called as mmgraph's layers are
            return super().forward(x_dict, edge_index_dict)
        unknown = sorted(set(x_dict) - set(self.node_types))
        if unknown:
            raise ValueError(f"x_dict has node types {unknown} this layer was not built for ({self.node_types})")
        ctx = self.context(x_dict, edge_index_dict, batch_dict)
        like = next(iter(x_dict.values()))
        full = {t: x_dict[t] if t in x_dict else like.new_zeros(0, self.channels) for t in self.node_types}
        out = super().forward(full, ctx)
        return {t: out[t] for t in x_dict}
