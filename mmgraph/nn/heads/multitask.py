"""``MultiTaskHead``: named heads with weighted losses, one dict of predictions."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.nn.heads.base import Head
from mmgraph.nn.prepare import Embed, TrainingData


class MultiTaskHead(nn.Module):
    """Several task heads over the same embeddings.

    Graph-level heads read the graph embedding; node-level heads read their node type's node
    embeddings. The loss is ``sum_k weight_k * loss_k`` (weights default to 1).

    Args:
        heads: task name → ``Head``.
        weights: task name → loss weight.
    """

    def __init__(self, heads: Mapping[str, Head], weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not heads:
            raise ValueError("MultiTaskHead needs at least one head")
        for name, head in heads.items():
            if head.name != name:
                raise ValueError(f"head registered as {name!r} is named {head.name!r}")
        self.heads = nn.ModuleDict({k: heads[k] for k in sorted(heads)})
        weights = dict(weights or {})
        unknown = set(weights) - set(heads)
        if unknown:
            raise ValueError(f"weights for unknown tasks {sorted(unknown)} (tasks: {sorted(heads)})")
        self.weights = {k: float(weights.get(k, 1.0)) for k in self.heads}

    def forward(self, graph: Tensor, nodes: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {
            name: head(nodes[head.node_type] if head.level == "node" else graph) for name, head in self.heads.items()
        }

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Every head's ``Head.prepare``, in name order; the graph embeddings are computed once, when
        the first head asks for them."""
        cache: list[Tensor] = []

        def embed_once() -> Tensor:
            if not cache:
                cache.append(embed())
            return cache[0]

        for head in self.heads.values():
            head.prepare(data, embed_once, seed)

    def loss(
        self, preds: Mapping[str, Tensor], batch: HeteroData, node_keep: Mapping[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted total loss and the per-task losses (tasks without targets in the batch: 0)."""
        total = None
        parts: dict[str, Tensor] = {}
        for name, head in self.heads.items():
            target = head.target(batch)
            if target is None and head.needs_target:
                continue
            mask = node_keep.get(head.node_type) if (node_keep and head.level == "node") else None
            parts[name] = head.loss(preds[name], target, mask)
            term = self.weights[name] * parts[name]
            total = term if total is None else total + term
        if total is None:
            total = sum(p.sum() * 0.0 for p in preds.values())
            total = total if isinstance(total, Tensor) else torch.zeros(())
        return total, parts

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]

    def __iter__(self):
        return iter(self.heads.items())

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v!r} (w={self.weights[k]:g})" for k, v in self.heads.items())
        return f"MultiTaskHead({inner})"
