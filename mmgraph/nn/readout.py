"""Readouts: node embeddings → one graph embedding (per-type attention pooling + modality gate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from mmgraph.nn.context import BatchContext
from mmgraph.registry import Registry
from mmgraph.typing import HUB, NodeType


@dataclass
class ReadoutOutput:
    """What a readout returns.

    Attributes:
        graph: ``(B, d)`` graph embeddings.
        per_type: ``(B, T, d)`` pooled embedding of each modality (zeros where absent).
        present: ``(B, T)`` bool, the modality has (kept) nodes in the graph.
        gate: ``(B, T)`` modality gate weights (rows sum to 1 over present types), or ``None``.
        node_types: the ``T`` types, in order.
        pool_weights: node type → ``(N_t,)`` attention pooling weight of each node (summing to 1
            over a graph's kept nodes of the type; 0 for dropped nodes), when asked for
            (``return_pool_weights=True``), else ``None``.
    """

    graph: Tensor
    per_type: Tensor
    present: Tensor
    gate: Tensor | None
    node_types: list[NodeType]
    pool_weights: dict[NodeType, Tensor] | None = None


def pool_weights(x: Tensor, scores: Tensor | None, ctx: BatchContext, node_type: NodeType) -> tuple[Tensor, Tensor]:
    """Attention pooling weights of one type per graph (uniform when ``scores`` is ``None``).

    Returns ``(weights (B, N_max), present (B,))``: each row sums to 1 over the graph's kept nodes
    of the type; padding, dropped nodes and graphs without (kept) nodes of the type get 0.
    """
    mask = ctx.key_mask(node_type)  # (B, N_max)
    present = mask.any(dim=1)
    if scores is None:
        logits = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
    else:
        logits = ctx.layouts[node_type].to_dense(scores.squeeze(-1))
    logits = logits.masked_fill(~mask, float("-inf"))
    logits = torch.where(present[:, None], logits, torch.zeros_like(logits))  # avoid NaN on empty rows
    return torch.softmax(logits, dim=1) * present[:, None], present  # (B, N_max)


def pool_per_type(x: Tensor, scores: Tensor | None, ctx: BatchContext, node_type: NodeType) -> tuple[Tensor, Tensor]:
    """Attention-weighted (or mean, when ``scores`` is ``None``) pooling of one type per graph.

    Returns ``(pooled (B, d), present (B,))``; graphs without (kept) nodes of the type get zeros.
    """
    layout = ctx.layouts[node_type]
    if layout.max_nodes == 0:
        return x.new_zeros(ctx.num_graphs, x.shape[-1]), ctx.key_mask(node_type).any(dim=1)
    weights, present = pool_weights(x, scores, ctx, node_type)  # (B, N_max)
    return torch.bmm(weights[:, None, :], layout.to_dense(x)).squeeze(1), present  # (B, d)


class GatedReadout(nn.Module):
    r"""Per node type attention pooling, then a learned modality gate.

    .. math::
        p_t = \sum_{i \in V_t} \operatorname{softmax}_i(w_t^\top h_i)\, h_i, \qquad
        g = \operatorname{softmax}_{t \in \text{present}}(u_t^\top p_t), \qquad
        z = \sum_t g_t p_t

    Args:
        channels: node width ``d``.
        node_types: the types to pool (the hub type, if any, is skipped).

    Shapes:
        - input: ``x_dict[t]``: ``(N_t, d)``
        - output: ``ReadoutOutput`` with ``graph (B, d)`` and ``gate (B, T)`` (and, with
          ``return_pool_weights=True``, ``pool_weights[t]``: ``(N_t,)``, for explanations)
    """

    def __init__(self, channels: int, node_types: Sequence[NodeType]) -> None:
        super().__init__()
        self.channels = channels
        self.node_types = sorted(t for t in node_types if t != HUB)
        self.score = nn.ModuleDict({t: nn.Linear(channels, 1) for t in self.node_types})
        self.gate = nn.ModuleDict({t: nn.Linear(channels, 1) for t in self.node_types})

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext, *,
                return_pool_weights: bool = False) -> ReadoutOutput:
        pooled, present, gate_logits = [], [], []
        for t in self.node_types:
            p, has = pool_per_type(x_dict[t], self.score[t](x_dict[t]), ctx, t)
            pooled.append(p)
            present.append(has)
            gate_logits.append(self.gate[t](p).squeeze(-1))
        per_type = torch.stack(pooled, dim=1)  # (B, T, d)
        present_t = torch.stack(present, dim=1)  # (B, T)
        logits = torch.stack(gate_logits, dim=1).masked_fill(~present_t, float("-inf"))
        any_present = present_t.any(dim=1, keepdim=True)
        gate = torch.softmax(torch.where(any_present, logits, torch.zeros_like(logits)), dim=1) * any_present
        graph = torch.bmm(gate[:, None, :], per_type).squeeze(1)  # (B, d)
        weights = None
        if return_pool_weights:
            weights = {t: ctx.layouts[t].from_dense(pool_weights(x_dict[t], self.score[t](x_dict[t]), ctx, t)[0])
                       for t in self.node_types}
        return ReadoutOutput(graph, per_type, present_t, gate, list(self.node_types), weights)

    def __repr__(self) -> str:
        return f"GatedReadout({self.channels}, node_types={self.node_types})"


class MeanReadout(nn.Module):
    """Mean over each type's nodes, then the mean over present types (no learned weights)."""

    def __init__(self, channels: int, node_types: Sequence[NodeType]) -> None:
        super().__init__()
        self.channels = channels
        self.node_types = sorted(t for t in node_types if t != HUB)

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext) -> ReadoutOutput:
        results = [pool_per_type(x_dict[t], None, ctx, t) for t in self.node_types]
        per_type = torch.stack([p for p, _ in results], dim=1)
        present = torch.stack([h for _, h in results], dim=1)
        weights = present.to(per_type.dtype) / present.sum(1, keepdim=True).clamp_min(1)
        return ReadoutOutput(torch.bmm(weights[:, None], per_type).squeeze(1), per_type, present, weights,
                             list(self.node_types))


class HubReadout(GatedReadout):
    """The ``sample`` hub node's embedding is the graph embedding (per-type pooling still reported)."""

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext, *,
                return_pool_weights: bool = False) -> ReadoutOutput:
        if HUB not in x_dict:
            raise ValueError("HubReadout needs the 'sample' hub node type (GraphConfig(hub=True))")
        out = super().forward(x_dict, ctx, return_pool_weights=return_pool_weights)
        return ReadoutOutput(x_dict[HUB], out.per_type, out.present, None, out.node_types, out.pool_weights)


READOUTS: Registry = Registry("readout")
READOUTS.register("gate", GatedReadout)
READOUTS.register("mean", MeanReadout)
READOUTS.register("hub", HubReadout)
