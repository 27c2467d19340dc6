"""``Head``: a task's output layer, loss and metrics."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.nn.prepare import Embed, TrainingData


class Head(nn.Module):
    """Base of every head: maps embeddings to predictions and owns the task's loss and metrics.

    Args:
        name: task name (the key of its predictions and metrics).
        target: attribute holding the target (graph level: on the batch; node level: on
            ``batch[node_type]``).
        node_type: for node-level heads, the node type whose nodes are predicted.
    """

    level: ClassVar[str] = "graph"
    headline: ClassVar[str] = "accuracy"
    """The metric used for model selection."""
    higher_is_better: ClassVar[bool] = True
    needs_target: ClassVar[bool] = True
    """False for heads trained without labels (clustering)."""

    def __init__(self, name: str, target: str = "y", node_type: str | None = None) -> None:
        super().__init__()
        self.name, self.target_attr, self.node_type = name, target, node_type

    def target(self, batch: HeteroData) -> Tensor | None:
        """The task's targets in ``batch`` (``None`` when the batch has none)."""
        store = batch[self.node_type] if self.level == "node" else batch
        return store[self.target_attr] if self.target_attr in store else None

    def target_values(self, data: TrainingData) -> Tensor | None:
        """All the task's targets in the training data (``None`` when it has none)."""
        if self.level == "node":
            return data.node_targets.get(self.node_type, {}).get(self.target_attr)
        if self.target_attr == "y":
            return data.y
        return data.targets.get(self.target_attr)

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Data-dependent set-up before training (``mmgraph.nn.prepare``); nothing by default.

        Args:
            data: the training data.
            embed: returns the model's graph embeddings ``(n, d)`` of ``data``.
            seed: the training seed (for randomised set-up).
        """

    def loss(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        """Mean loss over valid targets (``mask``: extra per-row selection, e.g. kept nodes)."""
        raise NotImplementedError

    def decode(self, pred: Tensor) -> Tensor:
        """Predictions in target units (class ids, values)."""
        return pred

    def probabilities(self, pred: Tensor) -> Tensor | None:
        """Per-class probabilities ``(rows, classes)`` of the predictions (``None``: the head predicts values)."""
        return None

    def metrics(self, pred: Tensor, target: Tensor) -> dict[str, float]:
        """Metrics over a whole split (``pred`` and ``target`` concatenated over batches)."""
        raise NotImplementedError

    @staticmethod
    def _numpy(t: Tensor) -> np.ndarray:
        return t.detach().cpu().numpy()
