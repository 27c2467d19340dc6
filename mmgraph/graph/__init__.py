"""Graph building: ``GraphConfig``, whole-sample ``Featurizer``, sample → ``HeteroData`` (``build_graph``),
batches (``collate``), columns of many graphs (``GraphColumns``), export and pictures.

The names below are imported from their modules on first use (PEP 562): featurizing and packing
columns (``mmgraph.graph.featurizer``, ``mmgraph.graph.columns``, as the converter's workers do) never
import PyTorch Geometric, networkx or matplotlib, which only building ``HeteroData``, exporting and drawing need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# ``collate`` is imported now, not on first use: it shares its name with its module, and importing the module
# mmgraph.graph.collate (which columns and datasets do) binds the *module* to this package's ``collate``
# attribute, where ``__getattr__`` below would never be asked for it. The module needs neither PyG nor networkx.
from mmgraph.graph.collate import collate

if TYPE_CHECKING:
    from mmgraph.graph.build import build_graph
    from mmgraph.graph.collate import NodeColumns, assemble_batch, dense_edge_types, materialize_dense_edges
    from mmgraph.graph.columns import GraphColumns
    from mmgraph.graph.config import EdgeSpec, GraphConfig
    from mmgraph.graph.edges import EdgeStrategy
    from mmgraph.graph.export import counts_by_type, graph_layout, to_networkx, write_graphml
    from mmgraph.graph.featurizer import Featurizer
    from mmgraph.graph.plot import plot_graph
    from mmgraph.graph.transforms import RemoveEmptyEdgeTypes

_EXPORTS = {
    "EdgeSpec": "mmgraph.graph.config",
    "EdgeStrategy": "mmgraph.graph.edges",
    "Featurizer": "mmgraph.graph.featurizer",
    "GraphColumns": "mmgraph.graph.columns",
    "GraphConfig": "mmgraph.graph.config",
    "NodeColumns": "mmgraph.graph.collate",
    "RemoveEmptyEdgeTypes": "mmgraph.graph.transforms",
    "assemble_batch": "mmgraph.graph.collate",
    "build_graph": "mmgraph.graph.build",
    "counts_by_type": "mmgraph.graph.export",
    "dense_edge_types": "mmgraph.graph.collate",
    "graph_layout": "mmgraph.graph.export",
    "materialize_dense_edges": "mmgraph.graph.collate",
    "plot_graph": "mmgraph.graph.plot",
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
    "RemoveEmptyEdgeTypes",
    "assemble_batch",
    "build_graph",
    "collate",
    "counts_by_type",
    "dense_edge_types",
    "graph_layout",
    "materialize_dense_edges",
    "plot_graph",
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
