"""The featurized form of a sample (``NodeSet``, ``FeaturizedSample``) and the featurizer base class and registry."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from mmgraph.config import ConfigMixin
from mmgraph.modality import MODALITIES, layout_of
from mmgraph.registry import Registry
from mmgraph.typing import Modality

TOKEN = "token"
"""The node attribute holding the ids of a graph whose ``x`` holds float features made from them (text
with ``TextSettings(features="embedding")``): mmgraph's encoders read it (``encoder_input``)."""


def encoder_input(store: Mapping[str, Any]) -> Tensor:
    """What mmgraph's encoders read from a node store: ``token`` (the ids) where it has one, else ``x``."""
    return store[TOKEN] if TOKEN in store else store["x"]


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


@dataclass(frozen=True)
class NoSettings(ConfigMixin):
    """The settings table of a featurizer that has no settings."""


class ModalityFeaturizer(ABC):
    """Turns one modality's validated value into a ``NodeSet``.

    A subclass names its ``modality`` (registered with ``mmgraph.modality.register_modality``,
    which also fixes the node layout) and its ``settings_class``: a dataclass with ``ConfigMixin``
    holding the modality's settings, which ``GraphConfig`` keeps as that modality's table
    (``GraphConfig(image={"patch_size": 4})``, ``[graph.image]`` in TOML). Registered with
    ``register_featurizer``, the modality is then usable in graph configs, conversion and models.
    """

    modality: ClassVar[Modality]
    """The registered modality this featurizer is for."""

    settings_class: ClassVar[type[ConfigMixin]] = NoSettings
    """The dataclass of this featurizer's settings (its table in ``GraphConfig``)."""

    size_settings: ClassVar[tuple[str, ...]] = ()
    """The settings that bound how many nodes a value becomes (``max_frames``, ``max_tokens``): the
    ones a warning about an over-budget graph tells the user to change."""

    @classmethod
    def from_settings(cls, settings: Any) -> ModalityFeaturizer:
        """Build from a ``settings_class`` instance: by default ``cls(**settings' fields)``."""
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)})

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
    def in_features(self) -> int:
        """An encoder's input width per node: ``feature_shape[0]`` (1 for scalar features).

        Featurizers whose ``x`` holds ids into a vocabulary return the vocabulary's size.
        """
        shape = self.feature_shape
        return int(shape[0]) if shape else 1

    @property
    def layout(self) -> str:
        """``"grid"`` (``pos`` = (row, col), ``shape`` = (rows, cols)) or ``"sequence"`` (``pos`` = (t,))."""
        return layout_of(self.modality)

    @property
    def pos_dim(self) -> int:
        return 2 if self.layout == "grid" else 1

    def node_attributes(self, x: Tensor) -> dict[str, Tensor]:
        """The node attributes a graph carries for the stored features ``x``: ``{"x": x}``.

        A featurizer whose ``x`` holds ids may give float features as ``x`` for PyG layers, with the
        ids as ``token`` (``TOKEN``), which mmgraph's encoders read; ``build_graph`` and batching call it.
        """
        return {"x": x}

    def empty(self) -> NodeSet:
        """A zero-node ``NodeSet`` with the right feature shape and dtype."""
        shape = (0, 0) if self.layout == "grid" else (0,)
        return NodeSet(
            torch.empty((0, *self.feature_shape), dtype=self.feature_dtype),
            torch.empty((0, self.pos_dim), dtype=torch.float32),
            shape,
        )


FEATURIZERS: Registry[type[ModalityFeaturizer]] = Registry("featurizer")
"""Modality name -> featurizer class (filled by ``register_featurizer``)."""

F = TypeVar("F", bound=type[ModalityFeaturizer])


def register_featurizer(cls: F, *, overwrite: bool = False) -> F:
    """Register a featurizer class under its ``modality`` (usable as a class decorator).

    Raises:
        ValueError: the modality is not registered (``register_modality`` comes first) or already
            has a featurizer (unless ``overwrite``).
        TypeError: ``modality`` is missing or ``settings_class`` is not a ``ConfigMixin`` dataclass.
    """
    modality = getattr(cls, "modality", None)
    if not isinstance(modality, str):
        raise TypeError(f"{cls.__name__}: set the class attribute 'modality' to the modality it featurizes")
    if modality not in MODALITIES:
        raise ValueError(
            f"{cls.__name__} featurizes {modality!r}, which is not a registered modality; call "
            f"mmgraph.modality.register_modality({modality!r}, ...) first (registered: {MODALITIES.list()})"
        )
    settings = cls.settings_class
    if not (isinstance(settings, type) and dataclasses.is_dataclass(settings) and issubclass(settings, ConfigMixin)):
        raise TypeError(
            f"{cls.__name__}.settings_class must be a dataclass with mmgraph.config.ConfigMixin (got {settings!r})"
        )
    FEATURIZERS.register(modality, cls, overwrite=overwrite)
    return cls
