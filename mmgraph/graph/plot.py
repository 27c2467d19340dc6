"""Pictures of graphs: nodes where ``graph_layout`` puts them, coloured by node type or by a value per node
(matplotlib's Agg canvas; no display needed)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
from torch import Tensor
from torch_geometric.data import HeteroData

from mmgraph.graph.export import graph_layout, grid_node_types, to_networkx
from mmgraph.typing import HUB, INTRA, NodeType

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PathCollection
    from matplotlib.figure import Figure


def draw_graph(ax: Axes, data: HeteroData, node_values: dict[NodeType, Tensor] | None = None,
               cmap: str = "inferno") -> PathCollection:
    """Draw ``data`` on ``ax``: intra-modal edges grey, the others faint blue, each line of nodes labelled.

    Nodes are coloured by ``node_values`` (per node type, one value per node; relative to the largest,
    in ``cmap``) when given, else by node type. Returns the drawn nodes (for a colour bar).
    """
    import networkx as nx
    from matplotlib import colormaps

    g = to_networkx(data)
    layout = graph_layout(data)
    intra, other = set(), set()
    for u, v, attrs in g.edges(data=True):
        (intra if attrs["type"] == INTRA else other).add((min(u, v), max(u, v)))
    undirected = g.to_undirected(as_view=True)
    nx.draw_networkx_edges(undirected, layout, edgelist=sorted(other), ax=ax, alpha=0.04, edge_color="tab:blue",
                           arrows=False)
    nx.draw_networkx_edges(undirected, layout, edgelist=sorted(intra), ax=ax, alpha=0.5, edge_color="grey",
                           arrows=False)
    nodes = list(g.nodes)
    size = max(8.0, 250.0 / np.sqrt(max(len(nodes), 1)))
    if node_values is not None:
        values = {(t, i): float(v) for t, vs in node_values.items() for i, v in enumerate(vs.tolist())}
        top = max(values.values(), default=0.0) or 1.0
        colours = [values.get(n, 0.0) / top for n in nodes]
        kwargs = {"cmap": cmap, "vmin": 0, "vmax": 1}
    else:
        types = sorted(data.node_types)
        palette = colormaps["tab10"]
        colours = [palette(types.index(t) % 10) for t, _ in nodes]
        kwargs = {}
    drawn = nx.draw_networkx_nodes(g, layout, nodelist=nodes, node_color=colours, node_size=size, ax=ax,
                                   edgecolors="black", linewidths=0.3, **kwargs)
    grids = grid_node_types(data)
    for t in data.node_types:
        if t not in grids and t != HUB and (t, 0) in layout:  # a line of nodes: named at its left
            ax.text(-0.05, layout[(t, 0)][1], t, ha="right", va="center", fontsize=9)
    ax.set_axis_off()
    return drawn


def plot_graph(data: HeteroData, path: str | os.PathLike | None = None, *,
               node_values: dict[NodeType, Tensor] | None = None, title: str | None = None) -> Figure:
    """A figure of a graph or batch (written to ``path`` as PNG when given): ``draw_graph`` on one axis,
    sized to the number of graphs.

    Args:
        data: a graph (``build_graph``) or a batch (``collate``, a loader); complete blocks left implicit
            (``full_edges="dense"``) are drawn too.
        path: PNG to write.
        node_values: per node type, a value per node to colour by (e.g. an explanation's importances).
        title: the figure's title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    num_graphs = int(data.num_graphs) if "num_graphs" in data else 1
    fig = Figure(figsize=(min(4.0 + 3.0 * num_graphs, 24.0), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    drawn = draw_graph(ax, data, node_values)
    if node_values is not None:
        fig.colorbar(drawn, ax=ax, shrink=0.7, label="value / max")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(os.fspath(path), dpi=100)
    return fig
