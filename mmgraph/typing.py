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
