"""``GraphConfig``: how samples become graphs (featurizer settings + edge strategies)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from mmgraph.config import check_fields
from mmgraph.featurize import FEATURIZERS, Tokenizer
from mmgraph.graph.edges import EdgeStrategy
from mmgraph.typing import CROSS, HUB, HUB_RELATION, INTRA, EdgeType, Modality, NodeType


class EdgeSpec(NamedTuple):
    """One edge type of the schema and how its edges are made."""

    edge_type: EdgeType
    strategy: EdgeStrategy
    intra: bool
    reverse_of: EdgeType | None = None
    """For a reverse type, the forward type it flips."""


def _default_strategy(src: Modality, dst: Modality) -> str:
    if src == dst:
        return "grid" if FEATURIZERS.get(src).layout == "grid" else "window:2"
    return "full"


@dataclass
class GraphConfig:
    """Featurizer settings and edge strategies: everything that turns a sample into a graph.

    Edge strategies are keyed ``"image"`` (within a modality) or ``"audio-image"`` (between two,
    either order); keys left out take the defaults: ``grid`` within grid modalities, ``window:2``
    within sequences, ``full`` between modalities. See ``mmgraph.graph.edges`` for the strategies.

    Args:
        modalities: the node types every graph has (a missing modality is zero nodes).
        image_patch_size, image_channels, image_size: see ``ImageFeaturizer``.
        tokenizer, text_max_tokens: see ``TextFeaturizer``.
        audio_*: see ``AudioFeaturizer``.
        edges: strategy per modality or modality pair.
        hub: add a ``sample`` hub node linked (both ways) to every node.
        reverse: add the reverse of every cross-modal edge type so that every type receives.
    """

    modalities: tuple[Modality, ...] = ("audio", "image", "text")
    image_patch_size: int = 4
    image_channels: int = 1
    image_size: tuple[int, int] | None = None
    tokenizer: Tokenizer | None = None
    text_max_tokens: int = 64
    audio_sample_rate: int = 8000
    audio_n_fft: int = 256
    audio_win_length: int = 200
    audio_hop_length: int = 80
    audio_n_mels: int = 40
    audio_f_min: float = 0.0
    audio_f_max: float | None = None
    audio_max_frames: int | None = None
    edges: dict[str, str] = field(default_factory=dict)
    hub: bool = False
    reverse: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.modalities, str):
            raise TypeError(f"'modalities' must be a sequence of names (got the string {self.modalities!r})")
        mods = tuple(sorted(dict.fromkeys(m.lower() for m in self.modalities)))
        if not mods:
            raise ValueError("'modalities' must name at least one modality")
        for m in mods:
            if m not in FEATURIZERS:
                raise ValueError(f"modality {m!r} has no registered featurizer (registered: {FEATURIZERS.list()})")
            if m == HUB:
                raise ValueError(f"{HUB!r} is the hub node type, not a modality")
        self.modalities = mods
        if self.image_size is not None:
            self.image_size = (int(self.image_size[0]), int(self.image_size[1]))
        if isinstance(self.tokenizer, dict):
            self.tokenizer = Tokenizer.from_dict(self.tokenizer)
        self.edges = self._normalise_edges(self.edges)
        self._specs = self._build_specs()

    # ------------------------------------------------------------------------------------ edges

    def _normalise_edges(self, edges: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, spec in edges.items():
            names = key.lower().split("-")
            if len(names) not in (1, 2) or any(n not in self.modalities for n in names):
                raise ValueError(
                    f"edges key {key!r} must be 'modality' or 'modality-modality' over {list(self.modalities)}"
                )
            canon = "-".join(sorted(names)) if len(names) == 2 and names[0] != names[1] else names[0]
            if canon in out:
                raise ValueError(f"edges: {key!r} given twice")
            strategy = EdgeStrategy.parse(spec)
            src, dst = canon.split("-")[0], canon.split("-")[-1]
            strategy.check(FEATURIZERS.get(src).layout, FEATURIZERS.get(dst).layout, src == dst)
            out[canon] = str(strategy)
        for i, a in enumerate(self.modalities):
            out.setdefault(a, _default_strategy(a, a))
            for b in self.modalities[i + 1 :]:
                out.setdefault(f"{a}-{b}", _default_strategy(a, b))
        return dict(sorted(out.items()))

    def _build_specs(self) -> list[EdgeSpec]:
        specs: list[EdgeSpec] = []
        for key, spec in self.edges.items():
            strategy = EdgeStrategy.parse(spec)
            if strategy.kind == "none":
                continue
            if "-" not in key:
                specs.append(EdgeSpec((key, INTRA, key), strategy, True))
                continue
            a, b = key.split("-")
            forward = (a, CROSS, b)
            specs.append(EdgeSpec(forward, strategy, False))
            if self.reverse:
                specs.append(EdgeSpec((b, CROSS, a), strategy, False, reverse_of=forward))
        if self.hub:
            full = EdgeStrategy("full")
            for m in self.modalities:
                specs.append(EdgeSpec((m, HUB_RELATION, HUB), full, False))
                specs.append(EdgeSpec((HUB, HUB_RELATION, m), full, False, reverse_of=(m, HUB_RELATION, HUB)))
        return sorted(specs, key=lambda s: s.edge_type)

    @property
    def node_types(self) -> list[NodeType]:
        """Every node type of the schema, sorted (modalities, plus ``sample`` with a hub)."""
        return sorted([*self.modalities, *([HUB] if self.hub else [])])

    @property
    def edge_specs(self) -> list[EdgeSpec]:
        """Every edge type of the schema with its strategy, sorted by edge type."""
        return list(self._specs)

    @property
    def edge_types(self) -> list[EdgeType]:
        return [s.edge_type for s in self._specs]

    @property
    def dense_edge_types(self) -> list[EdgeType]:
        """Edge types built as complete blocks (``full`` and hub links)."""
        return [s.edge_type for s in self._specs if s.strategy.is_dense]

    def metadata(self) -> tuple[list[NodeType], list[EdgeType]]:
        """``(node_types, edge_types)``, as PyG's ``HeteroData.metadata()``."""
        return self.node_types, self.edge_types

    # ------------------------------------------------------------------------------ (de)serialise

    def replace(self, **changes: Any) -> GraphConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["modalities"] = list(self.modalities)
        d["image_size"] = None if self.image_size is None else list(self.image_size)
        d["tokenizer"] = None if self.tokenizer is None else self.tokenizer.to_dict()
        d["edges"] = dict(self.edges)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphConfig:
        check_fields(cls, d)
        d = dict(d)
        if "modalities" in d:
            d["modalities"] = tuple(d["modalities"])
        if d.get("image_size") is not None:
            d["image_size"] = tuple(d["image_size"])
        if isinstance(d.get("tokenizer"), dict):
            d["tokenizer"] = Tokenizer.from_dict(d["tokenizer"])
        return cls(**d)

    @classmethod
    def from_toml(cls, path: str | Path) -> GraphConfig:
        """Read a TOML file: top-level fields, or a ``[graph]`` table (and ``[graph.edges]``)."""
        from mmgraph.files import load_toml

        data = load_toml(path)
        return cls.from_dict(data.get("graph", data))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def __repr__(self) -> str:
        tok = "None" if self.tokenizer is None else f"Tokenizer(size={len(self.tokenizer)})"
        return (
            f"GraphConfig(modalities={list(self.modalities)}, image_patch_size={self.image_patch_size}, "
            f"tokenizer={tok}, audio_n_mels={self.audio_n_mels}, edges={self.edges}, hub={self.hub})"
        )
