"""PyG transforms for mmgraph graphs (``torch_geometric.transforms.BaseTransform``: copy in, graph out)."""

from __future__ import annotations

from torch_geometric.data import HeteroData
from torch_geometric.transforms import BaseTransform


class RemoveEmptyEdgeTypes(BaseTransform):
    """Drops the edge types that have no edges (node types stay, zero-node ones too).

    mmgraph's graphs and batches keep every edge type of the schema, so that ``metadata()`` is the
    same for every graph and batch whatever modalities its samples have: PyG's own batching of single
    graphs, ``to_hetero`` models (which look up every edge type they were built for) and mmgraph's
    models need that. PyG's ``GNNExplainer`` needs the opposite: it cannot take an empty edge list
    (``max()`` of an empty tensor). Give it ``RemoveEmptyEdgeTypes()(data)``, with a model that skips
    absent edge types (``HeteroConv``, ``HGTConv``, ``HANConv``, mmgraph's ``CrossModalConv``), not a
    ``to_hetero`` one. (``CaptumExplainer`` with node masks takes either.)

    Complete blocks left implicit by ``full_edges="dense"`` (``dense=True`` without an edge list) are
    kept: they have edges.
    """

    def forward(self, data: HeteroData) -> HeteroData:
        for edge_type in data.edge_types:
            store = data[edge_type]
            if "edge_index" in store and store.edge_index.shape[1] == 0:
                del data[edge_type]
        return data
