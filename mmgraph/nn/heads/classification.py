"""Classification heads (graph level and node level)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.heads.base import Head
from mmgraph.nn.heads.metrics import classification_metrics
from mmgraph.task import Task


class ClassificationHead(Head):
    """Graph classification: LayerNorm → dropout → linear to class logits; cross-entropy loss.

    Targets below 0 (unlabelled samples) are ignored by loss and metrics.

    Shapes:
        - input: ``(B, d)``
        - output: ``(B, num_classes)`` logits
    """

    headline = "accuracy"

    def __init__(self, name: str, channels: int, num_classes: int, target: str = "y", dropout: float = 0.1,
                 node_type: str | None = None) -> None:
        super().__init__(name, target, node_type)
        if num_classes < 2:
            raise ValueError(f"'num_classes' must be >= 2 (got {num_classes})")
        self.channels, self.num_classes = channels, num_classes
        self.net = nn.Sequential(nn.LayerNorm(channels), nn.Dropout(dropout), nn.Linear(channels, num_classes))

    @classmethod
    def from_task(cls, task: Task, channels: int, dropout: float = 0.1) -> ClassificationHead:
        """The head of a ``classification`` task (``HEADS``)."""
        return cls(task.name, channels, task.num_classes, task.target, dropout)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)

    @staticmethod
    def class_ids(target: Tensor) -> Tensor:
        """Targets as int64 class ids, -1 where missing (graph targets arrive as floats, NaN = missing)."""
        if target.is_floating_point():
            return torch.where(torch.isfinite(target), target, torch.full_like(target, -1.0)).long()
        return target.long()

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        target = self.class_ids(target)
        if mask is not None:
            target = target.masked_fill(~mask, -1)
        if not (target >= 0).any():
            return pred.sum() * 0.0
        return F.cross_entropy(pred, target, ignore_index=-1)

    def decode(self, pred: Tensor) -> Tensor:
        return pred.argmax(dim=-1)

    def probabilities(self, pred: Tensor) -> Tensor:
        """Softmax of the logits ``(rows, num_classes)``."""
        return torch.softmax(pred.float(), dim=-1)

    def metrics(self, pred: Tensor, target: Tensor) -> dict[str, float]:
        return classification_metrics(self._numpy(self.decode(pred)), self._numpy(self.class_ids(target)))

    def __repr__(self) -> str:
        where = f", node_type={self.node_type!r}" if self.node_type else ""
        return f"{self.__class__.__name__}({self.name!r}, {self.channels}, num_classes={self.num_classes}{where})"


class NodeClassificationHead(ClassificationHead):
    """Node classification for the nodes of one type (e.g. voice activity per audio frame).

    Shapes:
        - input: ``(N_type, d)``
        - output: ``(N_type, num_classes)`` logits
    """

    level = "node"

    def __init__(self, name: str, channels: int, num_classes: int, node_type: str, target: str = "y",
                 dropout: float = 0.1) -> None:
        super().__init__(name, channels, num_classes, target, dropout, node_type=node_type)

    @classmethod
    def from_task(cls, task: Task, channels: int, dropout: float = 0.1) -> NodeClassificationHead:
        """The head of a ``node_classification`` task (``HEADS``)."""
        return cls(task.name, channels, task.num_classes, task.node_type, task.target, dropout)
