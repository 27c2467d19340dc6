"""The size of one sample's graph, known before it is built, and the per-sample budget.

``graph_size`` counts a featurized sample's nodes per node type, edges per edge type (by formula,
see ``EdgeStrategy.num_edges``: a graph of millions of edges is sized without allocating it) and the
bytes its tensors take. ``Featurizer`` checks every sample against ``GraphConfig.max_nodes`` and
``max_edges`` with ``check_budget``.

Over budget is a warning, not a refusal: the sample is the user's data and is valid, and settings
exist that make it fit, so the warning names the sample, its size, the modality that makes it large
and the setting to change (``[graph.image] max_grid``, ``[graph.audio] max_frames``, ...) before any
batch of it is allocated. Turning the check off is ``max_nodes = None`` / ``max_edges = None``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from mmgraph.featurize import FEATURIZERS, FeaturizedSample
from mmgraph.graph.config import GraphConfig
from mmgraph.typing import HUB, EdgeType, NodeType

log = logging.getLogger(__name__)

EDGE_BYTES = 16
"""Bytes per edge in an ``edge_index``: two int64 indices."""

MAX_NAMED = 5
"""Over-budget samples a featurizer names one by one; the rest are counted (``check_budget``)."""


@dataclass(frozen=True)
class GraphSize:
    """What one sample's graph holds, per node type and edge type.

    Attributes:
        nodes: node type → nodes (every node type of the schema; the hub's one node included).
        edges: edge type → edges (every edge type of the schema, complete blocks included: what
            ``build_graph`` and a list-mode batch materialise).
        feature_bytes: node type → bytes of its ``x`` and ``pos``.
    """

    nodes: dict[NodeType, int]
    edges: dict[EdgeType, int]
    feature_bytes: dict[NodeType, int]

    @property
    def num_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def num_edges(self) -> int:
        return sum(self.edges.values())

    @property
    def edge_bytes(self) -> int:
        """Bytes of every edge list (``EDGE_BYTES`` per edge)."""
        return EDGE_BYTES * self.num_edges

    @property
    def total_bytes(self) -> int:
        """Node features, positions and edge lists: the graph as ``build_graph`` returns it."""
        return sum(self.feature_bytes.values()) + self.edge_bytes


def graph_size(sample: FeaturizedSample, config: GraphConfig) -> GraphSize:
    """The size of ``sample``'s graph under ``config``, computed from its node layouts (no edge is built)."""
    shapes: dict[NodeType, tuple[int, ...]] = {}
    nodes: dict[NodeType, int] = {}
    feature_bytes: dict[NodeType, int] = {}
    for node_type in config.node_types:
        node_set = sample.nodes.get(node_type)
        if node_type == HUB:
            shapes[node_type], nodes[node_type], feature_bytes[node_type] = (1,), 1, 8  # one feature, one position
        elif node_set is None:
            shapes[node_type], nodes[node_type], feature_bytes[node_type] = (0,), 0, 0
        else:
            shapes[node_type], nodes[node_type] = node_set.shape, len(node_set)
            feature_bytes[node_type] = (node_set.x.numel() * node_set.x.element_size()
                                        + node_set.pos.numel() * node_set.pos.element_size())
    edges: dict[EdgeType, int] = {}
    for spec in config.edge_specs:
        src, _, dst = spec.edge_type
        edges[spec.edge_type] = spec.strategy.num_edges(shapes[src], shapes[dst], spec.intra)
    return GraphSize(nodes, edges, feature_bytes)


def over_budget(size: GraphSize, config: GraphConfig) -> bool:
    """Whether a graph of ``size`` exceeds ``config.max_nodes`` or ``config.max_edges``."""
    return ((config.max_nodes is not None and size.num_nodes > config.max_nodes)
            or (config.max_edges is not None and size.num_edges > config.max_edges))


def shrink_hint(modality: str) -> str:
    """The settings that make ``modality``'s part of a graph smaller, as a user would write them."""
    settings = FEATURIZERS.get(modality).size_settings if modality in FEATURIZERS else ()
    if not settings:
        return f"give smaller {modality} values"
    return f"change [graph.{modality}] " + " or ".join(settings)


def budget_warning(sample_id: str | None, size: GraphSize, config: GraphConfig) -> str:
    """The one-line warning for a sample over budget: who, how large, what makes it large, what to change."""
    largest = max((t for t in size.nodes if t != HUB), key=lambda t: size.nodes[t], default=None)
    biggest_edges = max(size.edges, key=lambda t: size.edges[t], default=None)
    parts = [
        f"sample {sample_id!r}: its graph has {size.num_nodes:,} nodes and {size.num_edges:,} edges "
        f"({size.edge_bytes / 1e6:,.0f} MB of edge lists), over the per-sample budget "
        f"(GraphConfig max_nodes={config.max_nodes}, max_edges={config.max_edges})"
    ]
    if largest is not None:
        parts.append(f"most nodes are {largest} ({size.nodes[largest]:,}): {shrink_hint(largest)}")
    if biggest_edges is not None and config.max_edges is not None and size.num_edges > config.max_edges:
        src, relation, dst = biggest_edges
        key = src if src == dst else "-".join(sorted((src, dst)))
        strategy = config.edges.get(key, "full" if HUB in (src, dst) else "?")
        parts.append(f"the largest edge type is ({src}, {relation}, {dst}), {size.edges[biggest_edges]:,} edges "
                     f"by [graph.edges] {key} = {strategy!r}")
    parts.append("or raise [graph] max_nodes / max_edges (None turns the check off)")
    return "; ".join(parts)


def check_budget(samples: Sequence[FeaturizedSample], config: GraphConfig, seen: int = 0) -> int:
    """Log a warning for the samples whose graph exceeds the budget; return how many do.

    ``seen``: how many samples earlier batches of the same featurizer had over budget. The first
    ``MAX_NAMED`` of all are named one per line (``budget_warning``); after that a count is logged
    each time the total passes a power of ten, so a large dataset gives a few lines, not one per sample.
    """
    if config.max_nodes is None and config.max_edges is None:
        return 0
    over = 0
    for sample in samples:
        size = graph_size(sample, config)
        if not over_budget(size, config):
            continue
        over += 1
        if seen + over <= MAX_NAMED:
            log.warning(budget_warning(sample.id, size, config))
    total = seen + over
    if total > MAX_NAMED and len(str(total)) > len(str(max(seen, MAX_NAMED))):  # passed 10, 100, 1000, ...
        log.warning("%d samples so far are over the per-sample graph budget (GraphConfig max_nodes=%s, "
                    "max_edges=%s); the first %d were named above", total, config.max_nodes, config.max_edges,
                    MAX_NAMED)
    return over


__all__ = ["EDGE_BYTES", "GraphSize", "budget_warning", "check_budget", "graph_size", "over_budget", "shrink_hint"]
