"""Graph building: ``GraphConfig``, whole-sample ``Featurizer``, sample → ``HeteroData`` (``build_graph``),
batches (``collate``), columns of many graphs (``GraphColumns``), export and pictures."""

from mmgraph.graph.build import build_graph
from mmgraph.graph.collate import (
    NodeColumns,
    assemble_batch,
    collate,
    dense_edge_types,
    materialize_dense_edges,
)
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import EdgeSpec, GraphConfig
from mmgraph.graph.edges import EdgeStrategy
from mmgraph.graph.export import counts_by_type, graph_layout, to_networkx, write_graphml
from mmgraph.graph.featurizer import Featurizer
from mmgraph.graph.plot import plot_graph
from mmgraph.graph.transforms import RemoveEmptyEdgeTypes

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
