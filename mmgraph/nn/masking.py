"""Node masking for masked-node pretraining: which nodes of each graph are hidden from the model."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from mmgraph.nn.context import BatchContext
from mmgraph.typing import NodeType


def mask_nodes(ctx: BatchContext, node_types: Sequence[NodeType], ratio: float,
               generator: torch.Generator | None = None) -> dict[NodeType, Tensor]:
    """Random node masks: in every graph, ``round(ratio * n)`` of the ``n`` nodes of each type.

    Returns node type → ``(N_t,)`` bool (``True``: masked). ``generator`` (CPU) makes it repeatable.
    """
    out = {}
    for t in node_types:
        layout = ctx.layouts[t]
        device = layout.counts.device
        if layout.num_nodes == 0:
            out[t] = torch.zeros(0, dtype=torch.bool, device=device)
            continue
        scores = torch.rand(layout.num_nodes, generator=generator).to(device)
        dense = layout.to_dense(scores, fill=2.0)  # (B, N_max); padding sorts after every real node
        rank = dense.argsort(dim=1).argsort(dim=1)  # (B, N_max): rank of each node within its graph
        k = torch.floor(ratio * layout.counts.to(torch.float64) + 0.5).long()  # (B,)
        out[t] = layout.from_dense(rank < k[:, None])
    return out


__all__ = ["mask_nodes"]
