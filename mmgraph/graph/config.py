"""``GraphConfig``: how samples become graphs (each modality's featurizer settings + edge strategies)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from mmgraph.config import ConfigMixin, check_types
from mmgraph.errors import InvalidType
from mmgraph.featurize import FEATURIZERS
from mmgraph.files import load_toml
from mmgraph.graph.edges import EdgeStrategy
from mmgraph.modality import MODALITIES, layout_of
from mmgraph.typing import (
    CROSS,
    HUB,
    HUB_RELATION,
    INTRA,
    REVERSE_PREFIX,
    EdgeType,
    Modality,
    NodeType,
    edge_type_order,
)


def edge_key(key: str) -> str:
    """The canonical ``edges`` key: lower case, the two names of a pair sorted (``"text-audio"`` → ``"audio-text"``)."""
    names = str(key).lower().split("-")
    return "-".join(sorted(names)) if len(names) == 2 and names[0] != names[1] else names[0]


def read_graph_overrides(path: str | os.PathLike) -> dict[str, Any]:
    """A TOML file's ``[graph]`` table (or its top level when it has none), checked, for ``GraphConfig.with_overrides``.

    Keys must be ``GraphConfig`` fields or registered modalities; each modality's table is checked
    against its settings class now, so a typo is reported with the file's name before any data is read.
    """
    data = load_toml(path)
    table = data.get("graph", data)
    if not isinstance(table, dict):
        raise TypeError(f"{path}: [graph] must be a table of settings (got {type(table).__name__})")
    names = {f.name for f in dataclasses.fields(GraphConfig)} - {"settings"}
    unknown = [k for k in table if k not in names and k not in MODALITIES]
    if unknown:
        raise ValueError(f"{path}: unknown [graph] keys {sorted(unknown)}; valid: {sorted(names)} and a table per "
                         f"registered modality {MODALITIES.list()}")
    for m in (k for k in table if k in MODALITIES):
        if not isinstance(table[m], dict):
            raise TypeError(f"{path}: [graph.{m}] must be a table of settings (got {type(table[m]).__name__})")
        try:
            FEATURIZERS.get(m).settings_class().replace(**table[m])  # checked against the settings class
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: [graph.{m}]: {exc}") from None
    try:
        check_types(GraphConfig, {k: v for k, v in table.items() if k in names})
    except TypeError as exc:
        raise TypeError(f"{path}: {exc}") from None
    return table


def merge_graph_overrides(first: Mapping[str, Any], then: Mapping[str, Any]) -> dict[str, Any]:
    """Two ``[graph]`` override tables as one: ``then``'s values win; modality tables and ``edges`` merge by key."""
    out: dict[str, Any] = {k: dict(v) if isinstance(v, Mapping) else v for k, v in first.items()}
    if "edges" in out:
        out["edges"] = {edge_key(k): v for k, v in out["edges"].items()}
    for key, value in then.items():
        if key == "edges" and isinstance(value, Mapping):
            out["edges"] = {**out.get("edges", {}), **{edge_key(k): v for k, v in value.items()}}
        elif isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class EdgeSpec(NamedTuple):
    """One edge type of the schema and how its edges are made."""

    edge_type: EdgeType
    strategy: EdgeStrategy
    intra: bool
    reverse_of: EdgeType | None = None
    """For a reverse type, the forward type it flips."""


def _default_strategy(src: Modality, dst: Modality) -> str:
    """``grid`` within a grid modality, ``window:2`` within a sequence, ``full`` between two (canonical names)."""
    if src == dst:
        name = "grid" if layout_of(src) == "grid" else "window:2"
    else:
        name = "full"
    return str(EdgeStrategy.parse(name))  # "grid:4": the name a given "grid" normalises to, so configs round-trip


DEFAULT_MODALITIES: tuple[Modality, ...] = ("audio", "image", "text")

DEFAULT_MAX_NODES = 1024
"""The default node budget of one sample's graph (the default settings make at most 388: 196 image
patches, 128 audio frames, 64 text tokens)."""

DEFAULT_MAX_EDGES = 250_000
"""The default edge budget of one sample's graph: 4 MB of ``edge_index`` (the default settings make at
most about 96,000 edges, most of them the complete blocks between modalities)."""

REVERSE_PREFIXES = (REVERSE_PREFIX, "")
"""Valid ``GraphConfig.reverse_prefix`` values: ``""`` is the naming of configs stored before (``from_record``)."""

LEGACY_KEYS: dict[str, tuple[Modality, str]] = {
    "image_patch_size": ("image", "patch_size"),
    "image_channels": ("image", "channels"),
    "image_size": ("image", "size"),
    "tokenizer": ("text", "tokenizer"),
    "text_max_tokens": ("text", "max_tokens"),
    **{f"audio_{name}": ("audio", name) for name in (
        "sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max", "max_frames")},
}
"""The flat fields of ``GraphConfig`` before per-modality tables, as ``(modality, setting)``: ``from_dict``
reads them, so ``run.json`` and ``meta.json`` files written by mmgraph 0.1 still load."""


def _normalise_modalities(modalities: Any) -> tuple[Modality, ...]:
    if isinstance(modalities, str):
        raise InvalidType(f"'modalities' must be a sequence of names (got the string {modalities!r})")
    mods = tuple(sorted(dict.fromkeys(m.lower() for m in modalities)))
    if not mods:
        raise ValueError("'modalities' must name at least one modality")
    for m in mods:
        if m == HUB:
            raise ValueError(f"{HUB!r} is the hub node type, not a modality")
        if m not in MODALITIES:
            raise ValueError(
                f"modality {m!r} is not registered (registered: {MODALITIES.list()}); register it with "
                f"mmgraph.modality.register_modality"
            )
        if m not in FEATURIZERS:
            raise ValueError(f"modality {m!r} has no registered featurizer (registered: {FEATURIZERS.list()})")
    return mods


def _unknown_fields(keys: Iterable[str]) -> ValueError:
    names = sorted(f.name for f in dataclasses.fields(GraphConfig))
    return ValueError(
        f"unknown GraphConfig fields {sorted(keys)}; valid: {names} and a table per registered modality "
        f"{MODALITIES.list()}"
    )


def _moved(key: str) -> str:
    modality, name = LEGACY_KEYS[key]
    return (f"GraphConfig: {key!r} is now the {modality!r} setting {name!r}: "
            f"GraphConfig({modality}={{{name!r}: ...}}), or [graph.{modality}] {name} = ... in TOML")


@dataclass(init=False, repr=False)
class GraphConfig(ConfigMixin):
    """Each modality's featurizer settings and the edge strategies: everything that turns a sample into a graph.

    Every modality has a settings table, the settings dataclass its featurizer declares
    (``ImageSettings``, ``TextSettings``, ``AudioSettings``, or a registered modality's own), given
    as an object or as a dict of its fields; modalities left out get the defaults.
    ``config.settings["image"].patch_size`` reads one. In TOML each is a table::

        [graph]
        modalities = ["audio", "image", "text"]
        [graph.image]
        patch_size = 7
        [graph.audio]
        hop_length = 160
        [graph.edges]
        "audio-text" = "aligned:0.1"

    Edge strategies are keyed ``"image"`` (within a modality) or ``"audio-image"`` (between two,
    either order); keys left out take the defaults: ``grid`` within grid modalities, ``window:2``
    within sequences, ``full`` between modalities (layouts come from ``mmgraph.modality``). See
    ``mmgraph.graph.edges`` for the strategies.

    Args:
        modalities: the node types every graph has (a missing modality is zero nodes).
        settings: modality → its settings (object or dict of fields); the same as passing each
            table by keyword: ``GraphConfig(image={"patch_size": 7}, text=TextSettings(tokenizer=tok))``.
        edges: strategy per modality or modality pair.
        max_nodes, max_edges: the budget of one sample's graph (``None``: unchecked). A sample whose
            graph would be larger is featurized all the same, with a warning that names it and the
            settings that shrink it (see ``mmgraph.graph.budget``).
        hub: add a ``sample`` hub node linked to every node (``(m, "hub", "sample")``, and its
            reverse with ``reverse``).
        reverse: add the reverse of every cross-modal (and hub) edge type so that every type
            receives. ``False`` gives the forward types only, the way PyG datasets ship graphs:
            ``torch_geometric.transforms.ToUndirected`` then adds exactly the reverse types.
        reverse_prefix: the reverse of ``(a, "cross", b)`` is ``(b, reverse_prefix + "cross", a)``.
            ``"rev_"`` (the default) is the name ``ToUndirected`` gives a reverse type; ``""`` (the
            same relation both ways) is the naming of graphs stored before, which ``from_record``
            keeps for their ``run.json`` / ``meta.json`` so that their models and shards still match.
        **tables: settings tables by modality name.

    Example::

        config = GraphConfig(text={"tokenizer": Tokenizer.fit(texts)}, image={"patch_size": 7})
        config.replace(audio={"n_mels": 64})   # merges into the audio table, keeps the others
    """

    modalities: tuple[Modality, ...]
    settings: dict[Modality, Any]
    edges: dict[str, str]
    hub: bool
    reverse: bool
    max_nodes: int | None
    max_edges: int | None
    reverse_prefix: str

    toml_table: ClassVar[str] = "graph"

    def __init__(
        self,
        modalities: Sequence[Modality] = DEFAULT_MODALITIES,
        *,
        settings: Mapping[Modality, Any] | None = None,
        edges: Mapping[str, str] | None = None,
        hub: bool = False,
        reverse: bool = True,
        max_nodes: int | None = DEFAULT_MAX_NODES,
        max_edges: int | None = DEFAULT_MAX_EDGES,
        reverse_prefix: str = REVERSE_PREFIX,
        **tables: Any,
    ) -> None:
        given = {str(k).lower(): v for k, v in (settings or {}).items()}
        for key, value in tables.items():
            if key in LEGACY_KEYS:
                raise TypeError(_moved(key))
            if key not in MODALITIES:
                raise TypeError(
                    f"GraphConfig got an unexpected argument {key!r}; it takes modalities, settings, edges, hub, "
                    f"reverse, reverse_prefix and a settings table per registered modality ({MODALITIES.list()})"
                )
            if key.lower() in given:
                raise ValueError(f"GraphConfig: settings of {key!r} given twice (as settings= and as {key}=)")
            given[key.lower()] = value
        self.modalities = _normalise_modalities(modalities)
        self.settings = self._build_settings(given)
        self.edges = self._normalise_edges(dict(edges or {}))
        self.hub = hub
        self.reverse = reverse
        for name, value in (("max_nodes", max_nodes), ("max_edges", max_edges)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"GraphConfig.{name} must be a positive int or None (got {value!r})")
        self.max_nodes = max_nodes
        self.max_edges = max_edges
        if reverse_prefix not in REVERSE_PREFIXES:
            raise ValueError(f"'reverse_prefix' must be one of {list(REVERSE_PREFIXES)} (got {reverse_prefix!r})")
        self.reverse_prefix = reverse_prefix
        self._specs = self._build_specs()

    def _build_settings(self, given: dict[Modality, Any]) -> dict[Modality, Any]:
        unlisted = sorted(set(given) - set(self.modalities))
        if unlisted:
            raise ValueError(
                f"GraphConfig: settings for {unlisted}, which 'modalities' does not list ({list(self.modalities)})"
            )
        out: dict[Modality, Any] = {}
        for m in self.modalities:
            cls = FEATURIZERS.get(m).settings_class
            value = given.get(m)
            if value is None:
                out[m] = cls()
            elif isinstance(value, cls):
                out[m] = value
            elif isinstance(value, Mapping):
                try:
                    out[m] = cls.from_dict(dict(value))
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"GraphConfig.{m}: {exc}") from None
            else:
                raise InvalidType(
                    f"GraphConfig.{m}: expected {cls.__name__} or a table of its fields, got {type(value).__name__}"
                )
        return out

    # ------------------------------------------------------------------------------------ edges

    def _normalise_edges(self, edges: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, spec in edges.items():
            names = key.lower().split("-")
            if len(names) not in (1, 2) or any(n not in self.modalities for n in names):
                raise ValueError(
                    f"edges key {key!r} must be 'modality' or 'modality-modality' over {list(self.modalities)}"
                )
            canon = edge_key(key)
            if canon in out:
                raise ValueError(f"edges: {key!r} given twice")
            strategy = EdgeStrategy.parse(spec)
            src, dst = canon.split("-")[0], canon.split("-")[-1]
            strategy.check(layout_of(src), layout_of(dst), src == dst)
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
                specs.append(EdgeSpec((b, self.reverse_prefix + CROSS, a), strategy, False, reverse_of=forward))
        if self.hub:
            full = EdgeStrategy("full")
            for m in self.modalities:
                forward = (m, HUB_RELATION, HUB)
                specs.append(EdgeSpec(forward, full, False))
                # graphs stored before reverse_prefix always linked the hub both ways
                if self.reverse or not self.reverse_prefix:
                    reverse = (HUB, self.reverse_prefix + HUB_RELATION, m)
                    specs.append(EdgeSpec(reverse, full, False, reverse_of=forward))
        return sorted(specs, key=lambda s: edge_type_order(s.edge_type))

    @property
    def node_types(self) -> list[NodeType]:
        """Every node type of the schema, sorted (modalities, plus ``sample`` with a hub)."""
        return sorted([*self.modalities, *([HUB] if self.hub else [])])

    @property
    def edge_specs(self) -> list[EdgeSpec]:
        """Every edge type of the schema with its strategy, in ``edge_type_order``."""
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
        """A copy with some fields changed; a settings table given as a dict is merged into the current one.

        ``config.replace(text={"tokenizer": tok})`` changes the text tokenizer and keeps every other
        setting; a settings object replaces its table whole. Modalities added by ``modalities=`` get
        default settings.
        """
        modalities = _normalise_modalities(changes.pop("modalities", self.modalities))
        given = {str(k).lower(): v for k, v in (changes.pop("settings", None) or {}).items()}
        plain = {k: changes.pop(k) for k in ("edges", "hub", "reverse", "reverse_prefix", "max_nodes", "max_edges")
                 if k in changes}
        for key in list(changes):
            if key in LEGACY_KEYS:
                raise TypeError(_moved(key))
            if key in MODALITIES:
                if key.lower() in given:
                    raise ValueError(f"GraphConfig: settings of {key!r} given twice (as settings= and as {key}=)")
                given[key.lower()] = changes.pop(key)
        if changes:
            raise _unknown_fields(changes)
        check_types(type(self), plain)
        settings: dict[Modality, Any] = {}
        for m in modalities:
            base, change = self.settings.get(m), given.pop(m, None)
            if isinstance(change, Mapping) and base is not None:
                try:
                    settings[m] = base.replace(**change)
                except (TypeError, ValueError) as exc:
                    raise type(exc)(f"GraphConfig.{m}: {exc}") from None
            elif change is not None or base is not None:
                settings[m] = change if change is not None else base
        settings.update(given)  # tables of modalities not listed: refused by __init__, naming them
        return GraphConfig(
            modalities, settings=settings, edges=plain.get("edges", self.edges), hub=plain.get("hub", self.hub),
            reverse=plain.get("reverse", self.reverse), reverse_prefix=plain.get("reverse_prefix", self.reverse_prefix),
            max_nodes=plain.get("max_nodes", self.max_nodes), max_edges=plain.get("max_edges", self.max_edges),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, one table per modality (the layout of a TOML ``[graph]`` table)."""
        return {
            "modalities": list(self.modalities),
            **{m: self.settings[m].to_dict() for m in self.modalities},
            "edges": dict(self.edges),
            "hub": self.hub,
            "reverse": self.reverse,
            "max_nodes": self.max_nodes,
            "max_edges": self.max_edges,
            "reverse_prefix": self.reverse_prefix,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GraphConfig:
        """Build from ``to_dict()`` output or a TOML ``[graph]`` table; also reads the flat keys of
        mmgraph 0.1 (``image_patch_size``, ``tokenizer``, ``audio_n_mels``, ...: see ``LEGACY_KEYS``),
        with no ``max_grid`` cap on images (0.1 had none)."""
        if not isinstance(d, Mapping):
            raise InvalidType(f"GraphConfig: expected a table of settings, got {type(d).__name__}")
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        legacy = {k: d.pop(k) for k in list(d) if k in LEGACY_KEYS}
        unknown = [k for k in d if k not in names and k not in MODALITIES]
        if unknown:
            raise _unknown_fields(unknown)
        plain = {k: d.pop(k) for k in list(d) if k in names}
        check_types(cls, plain)
        settings = {str(k).lower(): v for k, v in (plain.pop("settings", None) or {}).items()}
        for key, value in d.items():
            if key.lower() in settings:
                raise ValueError(f"GraphConfig: settings of {key!r} given twice (as settings and as a table)")
            settings[key.lower()] = value
        modalities = _normalise_modalities(plain.pop("modalities", DEFAULT_MODALITIES))
        for key, value in legacy.items():
            modality, name = LEGACY_KEYS[key]
            if modality not in modalities:
                continue  # mmgraph 0.1 wrote every field, also those of modalities the config did not list
            table = settings.setdefault(modality, {})
            if not isinstance(table, dict) or name in table:
                raise ValueError(f"GraphConfig: {key!r} and the {modality!r} table's {name!r} both given")
            table[name] = value
        if legacy and isinstance(settings.get("image"), dict):
            settings["image"].setdefault("max_grid", None)  # 0.1 had no cap: its configs featurize as they did
        return cls(modalities, settings=settings, **plain)

    def with_overrides(self, overrides: Mapping[str, Any]) -> GraphConfig:
        """This config with a ``[graph]`` table of overrides applied (``--graph FILE.toml``, a suite's ``[graph]``).

        Like ``replace``, each modality's table is merged into its settings and other fields are
        replaced; unlike ``replace``, ``edges`` is merged too: an override names only the edge types it
        changes, the others keep this config's strategies (those of modalities ``modalities``
        drops go with them).
        """
        if not isinstance(overrides, Mapping):
            raise TypeError(f"graph overrides must be a table of settings (got {type(overrides).__name__})")
        table = dict(overrides)
        if "edges" in table or "modalities" in table:
            given = table.pop("edges", {})
            if not isinstance(given, Mapping):
                raise TypeError(f"GraphConfig.edges must be a table of strategies (got {type(given).__name__})")
            kept = set(_normalise_modalities(table.get("modalities", self.modalities)))
            edges = {k: v for k, v in self.edges.items() if set(k.split("-")) <= kept}
            edges.update({edge_key(k): v for k, v in given.items()})
            table["edges"] = edges
        return self.replace(**table)


    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> GraphConfig:
        """A config mmgraph stored (``run.json``, ``meta.json``, a ``GraphDataset`` file): as ``from_dict``,
        except that one stored before ``reverse_prefix`` existed keeps the reverse names its models and
        shards were made with (``reverse_prefix=""``)."""
        if isinstance(d, Mapping) and "reverse_prefix" not in d:
            d = {**d, "reverse_prefix": ""}
        return cls.from_dict(d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    def __repr__(self) -> str:
        tables = "".join(f"{m}={self.settings[m]!r}, " for m in self.modalities)
        return (f"GraphConfig(modalities={list(self.modalities)}, {tables}edges={self.edges}, hub={self.hub}, "
                f"max_nodes={self.max_nodes}, max_edges={self.max_edges})")
