"""``HubEncoder``: one learned embedding for every ``sample`` hub node."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from mmgraph.nn.dense import DenseLayout
from mmgraph.typing import NodeType


class HubEncoder(nn.Module):
    """Gives each hub node the same learned vector (the hub carries no input feature).

    Shapes:
        - input: ``x``: ``(B, 1)``
        - output: ``(B, d)``
    """

    def __init__(self, in_features: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.embedding = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    @classmethod
    def from_config(cls, node_type: NodeType, config: Any, spec: Any) -> HubEncoder:
        """``ENCODERS["hub"]``: width ``config.hidden``."""
        return cls(spec.in_features[node_type], config.hidden)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding, std=0.02)

    def forward(self, x: Tensor, pos: Tensor, layout: DenseLayout | None = None) -> Tensor:
        return self.embedding.expand(x.shape[0], -1)

    def __repr__(self) -> str:
        return f"HubEncoder({self.channels})"
