"""Regression heads (graph level and node level), with target standardisation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.heads.base import Head
from mmgraph.nn.heads.metrics import regression_metrics
from mmgraph.nn.prepare import Embed, TrainingData
from mmgraph.task import Task


class RegressionHead(Head):
    """Graph regression: LayerNorm → linear to one value; MSE on standardised targets.

    The targets' training mean and std (``fit_target``) standardise them, so that losses of
    targets in any unit (dB, seconds) are comparable in multi-task training; ``decode`` maps back.

    Shapes:
        - input: ``(B, d)``
        - output: ``(B,)`` standardised predictions
    """

    headline = "mae"
    higher_is_better = False

    def __init__(self, name: str, channels: int, target: str = "y", dropout: float = 0.1,
                 node_type: str | None = None) -> None:
        super().__init__(name, target, node_type)
        self.channels = channels
        self.net = nn.Sequential(nn.LayerNorm(channels), nn.Dropout(dropout), nn.Linear(channels, 1))
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    @classmethod
    def from_task(cls, task: Task, channels: int, dropout: float = 0.1) -> RegressionHead:
        """The head of a ``regression`` task (``HEADS``)."""
        return cls(task.name, channels, task.target, dropout)

    def fit_target(self, values: Tensor) -> None:
        """Set the standardisation from training targets (NaNs ignored)."""
        values = values[torch.isfinite(values)].double()
        if values.numel():
            self.mean.fill_(values.mean().item())
            self.std.fill_(max(values.std(unbiased=False).item(), 1e-6))

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Fit the target standardisation on the training targets (when the data has them)."""
        values = self.target_values(data)
        if values is not None:
            self.fit_target(values)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h).squeeze(-1)

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        valid = torch.isfinite(target)
        if mask is not None:
            valid = valid & mask
        if not valid.any():
            return pred.sum() * 0.0
        z = (target[valid].to(pred.dtype) - self.mean) / self.std
        return F.mse_loss(pred[valid], z)

    def decode(self, pred: Tensor) -> Tensor:
        return pred * self.std + self.mean

    def metrics(self, pred: Tensor, target: Tensor) -> dict[str, float]:
        return regression_metrics(self._numpy(self.decode(pred)), self._numpy(target.float()))

    def __repr__(self) -> str:
        where = f", node_type={self.node_type!r}" if self.node_type else ""
        return f"{self.__class__.__name__}({self.name!r}, {self.channels}{where})"


class NodeRegressionHead(RegressionHead):
    """Node regression for the nodes of one type.

    Shapes:
        - input: ``(N_type, d)``
        - output: ``(N_type,)``
    """

    level = "node"

    def __init__(self, name: str, channels: int, node_type: str, target: str = "y", dropout: float = 0.1) -> None:
        super().__init__(name, channels, target, dropout, node_type=node_type)

    @classmethod
    def from_task(cls, task: Task, channels: int, dropout: float = 0.1) -> NodeRegressionHead:
        """The head of a ``node_regression`` task (``HEADS``)."""
        return cls(task.name, channels, task.node_type, task.target, dropout)
