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
        class_names: for classification kinds, the name of each class id (``class_names[k]`` is
            class ``k``), when the data has names; stored in ``run.json``, so a trained run's
            predictions carry them.
    """

    name: str
    kind: str
    target: str = "y"
    num_classes: int | None = None
    node_type: str | None = None
    class_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"task {self.name!r}: kind must be one of {TASK_KINDS} (got {self.kind!r})")
        if self.kind.endswith("classification") and (self.num_classes is None or self.num_classes < 2):
            raise ValueError(f"task {self.name!r}: classification needs num_classes >= 2")
        if self.kind.startswith("node_") and not self.node_type:
            raise ValueError(f"task {self.name!r}: node-level tasks need node_type")
        if self.class_names is not None:
            names = tuple(self.class_names)  # a list read back from JSON becomes the (hashable) tuple
            object.__setattr__(self, "class_names", names)
            if not self.is_classification:
                raise ValueError(f"task {self.name!r}: class_names apply to classification tasks (kind {self.kind!r})")
            if len(names) != self.num_classes or not all(isinstance(n, str) for n in names):
                raise ValueError(f"task {self.name!r}: class_names must be {self.num_classes} strings, one per class "
                                 f"(got {len(names)})")
            if len(set(names)) != len(names):
                twice = sorted({n for n in names if names.count(n) > 1})
                raise ValueError(f"task {self.name!r}: class_names must differ (given twice: {twice[:5]})")

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

    def class_name(self, class_id: int) -> str:
        """The name of a class id (its decimal string when the task has no names)."""
        return self.class_names[class_id] if self.class_names is not None else str(class_id)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if v is not None}
        if self.class_names is not None:
            out["class_names"] = list(self.class_names)
        return out


__all__ = ["TASK_KINDS", "Task"]
