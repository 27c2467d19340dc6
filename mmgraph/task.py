"""``Task``: what a model predicts from a graph (kind, target, classes); shared by data, models and training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TASK_KINDS = ("classification", "regression", "node_classification", "node_regression")


@dataclass(frozen=True)
class Task:
    """A prediction task of a dataset.

    Args:
        name: task name (``"digit"``).
        kind: ``classification`` / ``regression`` (graph level) or ``node_classification`` /
            ``node_regression`` (per node of ``node_type``).
        target: attribute holding the target: ``"y"`` or a target name on the graph, or a node
            attribute of ``node_type``.
        num_classes: for classification kinds.
        node_type: for node-level kinds.
    """

    name: str
    kind: str
    target: str = "y"
    num_classes: int | None = None
    node_type: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {TASK_KINDS} (got {self.kind!r})")
        if self.kind.endswith("classification") and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(f"task {self.name!r}: classification needs num_classes >= 2")
        if self.kind.startswith("node_") and not self.node_type:
            raise ValueError(f"task {self.name!r}: node-level tasks need node_type")

    @property
    def is_classification(self) -> bool:
        return self.kind.endswith("classification")

    @property
    def is_node_level(self) -> bool:
        return self.kind.startswith("node_")

    @property
    def metric(self) -> str:
        """The headline metric: accuracy for classification, MAE for regression."""
        return "accuracy" if self.is_classification else "mae"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


__all__ = ["TASK_KINDS", "Task"]
