"""Graph building: ``GraphConfig``, whole-sample ``Featurizer``, sample → ``HeteroData`` (``build_graph``),
batches (``collate``), columns of many graphs (``GraphColumns``), export.

The names below are imported from their modules on first use (PEP 562): featurizing and packing
columns (``mmgraph.graph.featurizer``, ``mmgraph.graph.columns``, as the converter's workers do) never
import PyTorch Geometric or networkx, which only building ``HeteroData`` and exporting need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmgraph.graph.build import build_graph
    from mmgraph.graph.collate import NodeColumns, assemble_batch, collate, dense_edge_types, materialize_dense_edges
    from mmgraph.graph.columns import GraphColumns
    from mmgraph.graph.config import EdgeSpec, GraphConfig
    from mmgraph.graph.edges import EdgeStrategy
    from mmgraph.graph.export import counts_by_type, to_networkx, write_graphml
    from mmgraph.graph.featurizer import Featurizer

_EXPORTS = {
    "EdgeSpec": "mmgraph.graph.config",
    "EdgeStrategy": "mmgraph.graph.edges",
    "Featurizer": "mmgraph.graph.featurizer",
    "GraphColumns": "mmgraph.graph.columns",
    "GraphConfig": "mmgraph.graph.config",
    "NodeColumns": "mmgraph.graph.collate",
    "assemble_batch": "mmgraph.graph.collate",
    "build_graph": "mmgraph.graph.build",
    "collate": "mmgraph.graph.collate",
    "counts_by_type": "mmgraph.graph.export",
    "dense_edge_types": "mmgraph.graph.collate",
    "materialize_dense_edges": "mmgraph.graph.collate",
    "to_networkx": "mmgraph.graph.export",
    "write_graphml": "mmgraph.graph.export",
}
"""Public name → the module that defines it."""

__all__ = [
    "EdgeSpec",
    "EdgeStrategy",
    "Featurizer",
    "GraphColumns",
    "GraphConfig",
    "NodeColumns",
    "assemble_batch",
    "build_graph",
    "collate",
    "counts_by_type",
    "dense_edge_types",
    "materialize_dense_edges",
    "to_networkx",
    "write_graphml",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
