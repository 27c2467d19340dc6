"""Type aliases shared by every part of mmgraph (the graph schema's vocabulary)."""

from __future__ import annotations

Modality = str
"""A modality name, e.g. ``"image"``, ``"text"``, ``"audio"``; also the node type of its units."""

NodeType = str
"""A node type: a modality name or the hub type ``"sample"``."""

EdgeType = tuple[str, str, str]
"""``(source node type, relation, destination node type)``, as in PyG."""

BUILTIN_MODALITIES: tuple[Modality, ...] = ("audio", "image", "text")
"""The modalities mmgraph featurizes out of the box (sorted: dicts are always iterated sorted)."""

HUB: NodeType = "sample"
"""The optional hub node type: one node per graph, linked to every other node."""

INTRA, CROSS, HUB_RELATION = "intra", "cross", "hub"
"""Relation names: structure inside a modality, links between modalities, links to the hub."""

REVERSE_PREFIX = "rev_"
"""The relation prefix of reverse edge types: ``(text, "rev_cross", image)`` reverses ``(image, "cross", text)``,
as PyG's ``ToUndirected`` names a reverse type."""


def edge_type_order(edge_type: EdgeType) -> tuple[str, str, str]:
    """Sort key of edge types: ``(source, relation without its "rev_" prefix, destination)``.

    Layers create one parameter block per edge type in this order, so a reverse type keeps the place
    it had when it shared its forward type's relation name: models are initialised as before.
    """
    src, relation, dst = edge_type
    return src, relation.removeprefix(REVERSE_PREFIX), dst


def sorted_edge_types(edge_types) -> list[EdgeType]:
    """``edge_types`` as tuples, in ``edge_type_order``."""
    return sorted((tuple(et) for et in edge_types), key=edge_type_order)
