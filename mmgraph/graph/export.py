"""Graphs out to networkx (and GraphML) for inspection and pictures."""

from __future__ import annotations

import os

import networkx as nx
from torch_geometric.data import HeteroData

from mmgraph.graph.collate import dense_edge_types, materialize_dense_edges


def to_networkx(data: HeteroData) -> nx.MultiDiGraph:
    """A ``networkx.MultiDiGraph`` of a (batched or single) mmgraph graph.

    Nodes are ``(node_type, index)`` tuples with attributes ``type``, ``index``, ``graph`` (the
    graph of a batch it belongs to, 0 for a single graph) and ``pos`` (a tuple); edges carry
    ``type`` (the relation, e.g. ``"cross"``) and ``edge_type`` (the full triple as
    ``"src__rel__dst"``). Complete blocks left implicit by ``collate(full_edges="dense")`` are
    materialised first, so nothing is dropped.
    """
    if any("edge_index" not in data[et] for et in dense_edge_types(data)):
        data = materialize_dense_edges(data)
    graph = nx.MultiDiGraph()
    for node_type in data.node_types:
        store = data[node_type]
        n = int(store.num_nodes or 0)
        batch = store.batch.tolist() if "batch" in store else [0] * n
        pos = store.pos.tolist() if "pos" in store else [[]] * n
        graph.add_nodes_from(
            ((node_type, i), {"type": node_type, "index": i, "graph": int(batch[i]), "pos": tuple(pos[i])})
            for i in range(n)
        )
    for edge_type in data.edge_types:
        if "edge_index" not in data[edge_type]:
            continue
        src_type, relation, dst_type = edge_type
        src, dst = data[edge_type].edge_index.tolist()
        label = "__".join(edge_type)
        graph.add_edges_from(
            ((src_type, s), (dst_type, d), {"type": relation, "edge_type": label}) for s, d in zip(src, dst)
        )
    return graph


def write_graphml(data: HeteroData, path: str | os.PathLike) -> None:
    """Write ``data`` as GraphML (node ids ``"type:index"``; ``pos`` split into ``pos0``, ``pos1``, ...)."""
    graph = to_networkx(data)
    flat = nx.MultiDiGraph()
    for (node_type, i), attrs in graph.nodes(data=True):
        extra = {f"pos{k}": float(v) for k, v in enumerate(attrs["pos"])}
        flat.add_node(f"{node_type}:{i}", type=node_type, index=i, graph=attrs["graph"], **extra)
    for (st, s), (dt, d), attrs in graph.edges(data=True):
        flat.add_edge(f"{st}:{s}", f"{dt}:{d}", **attrs)
    nx.write_graphml(flat, os.fspath(path))


def counts_by_type(graph: nx.MultiDiGraph) -> tuple[dict[str, int], dict[str, int]]:
    """Node counts per node type and edge counts per edge type (``"src__rel__dst"``) of a networkx graph."""
    nodes: dict[str, int] = {}
    for _, attrs in graph.nodes(data=True):
        nodes[attrs["type"]] = nodes.get(attrs["type"], 0) + 1
    edges: dict[str, int] = {}
    for _, _, attrs in graph.edges(data=True):
        edges[attrs["edge_type"]] = edges.get(attrs["edge_type"], 0) + 1
    return nodes, edges


