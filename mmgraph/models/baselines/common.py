"""What every baseline shares: heads, loss, parameter count."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.heads import MultiTaskHead


class BaselineModel(nn.Module):
    """Base of the fusion baselines: same heads and losses as the graph model."""

    def __init__(self, head: MultiTaskHead, modalities: list[str]) -> None:
        super().__init__()
        self.head = head
        self.modalities = sorted(modalities)

    def loss(self, output: ModelOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        return self.head.loss(output.predictions, batch, output.node_keep)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
