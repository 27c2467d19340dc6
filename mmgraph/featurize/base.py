"""The featurized form of a sample: per modality, its nodes' raw unit features and positions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from mmgraph.registry import Registry
from mmgraph.typing import Modality


@dataclass(eq=False)
class NodeSet:
    """The nodes one modality contributes to one sample's graph.

    Attributes:
        x: raw unit features, ``(N, *feature_shape)`` (patch pixels, token ids, mel frames).
        pos: positions, ``(N, D)`` float32 (``D=2`` row/col for grids, ``D=1`` for sequences).
        shape: the node layout, ``(rows, cols)`` for a grid or ``(N,)`` for a sequence; edge
            strategies are functions of it, which is what lets batches reuse edge templates.
    """

    x: Tensor
    pos: Tensor
    shape: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(eq=False)
class FeaturizedSample:
    """A sample after featurization: what graph building and batching consume.

    Attributes:
        nodes: modality -> its ``NodeSet`` (only the modalities present).
        y: graph-level label (int class or float value), or ``None``.
        targets: further graph-level targets by name.
        node_targets: modality -> target name -> per-node values ``(N_modality, ...)``.
        id: the sample's identifier.
    """

    nodes: dict[Modality, NodeSet]
    y: int | float | None = None
    targets: dict[str, float] = field(default_factory=dict)
    node_targets: dict[Modality, dict[str, Tensor]] = field(default_factory=dict)
    id: str | None = None

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(sorted(self.nodes))

    def num_nodes(self, modality: Modality) -> int:
        node_set = self.nodes.get(modality)
        return 0 if node_set is None else len(node_set)


class ModalityFeaturizer(ABC):
    """Turns one modality's validated value into a ``NodeSet``.

    Subclasses are registered in ``FEATURIZERS`` under their modality name; registering a new one
    (say ``"tabular"``) makes that modality usable in ``MultimodalSample(extra=...)``, graph configs
    and models.
    """

    layout: ClassVar[str] = "sequence"
    """``"grid"`` (nodes on rows × cols, ``pos`` = (row, col)) or ``"sequence"`` (``pos`` = (t,))."""

    @staticmethod
    def validate(value: Any) -> Any:
        """Check a raw value at sample construction (raise ``TypeError``/``ValueError``)."""
        return value

    @classmethod
    @abstractmethod
    def from_config(cls, config: Any) -> ModalityFeaturizer:
        """Build from a ``GraphConfig``."""

    @abstractmethod
    def __call__(self, value: Any) -> NodeSet:
        """Featurize one validated value."""

    @property
    @abstractmethod
    def feature_shape(self) -> tuple[int, ...]:
        """Trailing shape of ``x`` per node (``()`` for token ids)."""

    @property
    def feature_dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def pos_dim(self) -> int:
        return 2 if self.layout == "grid" else 1

    def empty(self) -> NodeSet:
        """A zero-node ``NodeSet`` with the right feature shape and dtype."""
        shape = (0, 0) if self.layout == "grid" else (0,)
        return NodeSet(
            torch.empty((0, *self.feature_shape), dtype=self.feature_dtype),
            torch.empty((0, self.pos_dim), dtype=torch.float32),
            shape,
        )


FEATURIZERS: Registry[type[ModalityFeaturizer]] = Registry("featurizer")
"""Modality name -> featurizer class."""
