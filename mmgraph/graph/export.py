"""Graphs out to networkx (and GraphML) for inspection, and the drawing layout pictures use."""

from __future__ import annotations

import os

import networkx as nx
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.graph.collate import dense_edge_types, materialize_dense_edges
from mmgraph.modality import MODALITIES, layout_of
from mmgraph.typing import HUB, NodeType

Layout = dict[tuple[str, int], tuple[float, float]]
"""Drawing position ``(x, y)`` of each node ``(node_type, index)``."""


def _graph_and_rank(store, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per node: its graph in the batch, its index within that graph, and that graph's node count."""
    graph = store.batch if "batch" in store else torch.zeros(n, dtype=torch.long)
    counts = torch.bincount(graph, minlength=int(graph.max()) + 1 if n else 0)
    rank = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[graph]
    return graph, rank, counts[graph]


def grid_node_types(data: HeteroData) -> list[NodeType]:
    """The node types of ``data`` whose modality lays its nodes on a grid (image patches)."""
    return [t for t in data.node_types if t in MODALITIES and layout_of(t) == "grid"]


def graph_layout(data: HeteroData) -> Layout:
    """Drawing positions of a graph's nodes (of each graph of a batch, side by side).

    Per graph: the patches of a grid modality (the image) on their grid at the top (several grid
    modalities side by side), every other modality on a line of its own below, in sorted order, the
    hub to the right. Graph ``g`` of a batch is shifted right by ``g`` graph widths.
    """
    grids = grid_node_types(data)
    lines = sorted(t for t in data.node_types if t not in grids and t != HUB)
    width = max(1.0, 1.1 * len(grids)) + (0.35 if HUB in data.node_types else 0.0) + 0.25
    layout: Layout = {}
    for k, t in enumerate(grids):
        store = data[t]
        n = int(store.num_nodes or 0)
        if not n:
            continue
        pos = store.pos.float()
        side = float(pos.max()) + 1.0
        graph, _, _ = _graph_and_rank(store, n)
        for i, ((r, c), g) in enumerate(zip(pos.tolist(), graph.tolist())):
            layout[(t, i)] = (g * width + 1.1 * k + (c + 0.5) / side, 1.0 - (r + 0.5) / side)
    for k, t in enumerate(lines):
        n = int(data[t].num_nodes or 0)
        graph, rank, count = _graph_and_rank(data[t], n)
        for i, (g, j, m) in enumerate(zip(graph.tolist(), rank.tolist(), count.tolist())):
            layout[(t, i)] = (g * width + (j + 0.5) / m, -0.35 - 0.3 * k)
    if HUB in data.node_types:
        for i in range(int(data[HUB].num_nodes or 0)):
            layout[(HUB, i)] = (i * width + 1.1 * max(len(grids), 1) + 0.15, 0.3)
    return layout


def to_networkx(data: HeteroData, *, layout: bool = False) -> nx.MultiDiGraph:
    """A ``networkx.MultiDiGraph`` of a (batched or single) mmgraph graph.

    Nodes are ``(node_type, index)`` tuples with attributes ``type``, ``index``, ``graph`` (the
    graph of a batch it belongs to, 0 for a single graph) and ``pos`` (a tuple); edges carry
    ``type`` (the relation, e.g. ``"cross"``) and ``edge_type`` (the full triple as
    ``"src__rel__dst"``). Complete blocks left implicit by ``collate(full_edges="dense")`` are
    materialised first, so nothing is dropped.

    With ``layout=True`` every node also gets ``xy``, its drawing position from ``graph_layout``
    (``nx.draw(g, pos=nx.get_node_attributes(g, "xy"))``; ``mmgraph.plot_graph`` draws with it).
    """
    if any("edge_index" not in data[et] for et in dense_edge_types(data)):
        data = materialize_dense_edges(data)
    graph = nx.MultiDiGraph()
    xy = graph_layout(data) if layout else {}
    for node_type in data.node_types:
        store = data[node_type]
        n = int(store.num_nodes or 0)
        batch = store.batch.tolist() if "batch" in store else [0] * n
        pos = store.pos.tolist() if "pos" in store else [[]] * n
        graph.add_nodes_from(
            ((node_type, i), {"type": node_type, "index": i, "graph": int(batch[i]), "pos": tuple(pos[i]),
                              **({"xy": xy[(node_type, i)]} if layout else {})})
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


