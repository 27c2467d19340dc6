"""Vectorised batching: many samples → one batched ``HeteroData``, without per-sample graphs.

Per node type the batch is a concatenation of the samples' node features plus a ``batch`` vector;
per edge type it is the cached edge *template* of each distinct (source layout, destination layout)
plus node offsets, built for all graphs of a group in one broadcast add. Every node and edge type of
the schema is kept, whatever modalities each sample has (unlike ``Batch.from_data_list``, which
keeps only the first sample's types: PyG issue #10801).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor

from mmgraph.featurize import FeaturizedSample
from mmgraph.graph.build import featurize_all, hub_nodes, set_graph_attributes, set_node_targets
from mmgraph.graph.config import EdgeSpec, GraphConfig
from mmgraph.graph.edges import EdgeStrategy, prefix_template
from mmgraph.graph.featurizer import Featurizer
from mmgraph.sample import MultimodalSample
from mmgraph.typing import HUB, EdgeType, NodeType

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

FullEdges = Literal["list", "dense"]
"""How a batch holds its complete blocks: ``"list"`` (the default everywhere: every edge list built, so
any PyG layer, transform or explainer can take the batch) or ``"dense"`` (the opt-in fast path of models
that declare ``supports_dense_blocks``: complete blocks left as ``dense=True`` marks without edge lists)."""


def full_edges_for(model: object) -> FullEdges:
    """The batches ``model`` reads: ``"dense"`` when it declares ``supports_dense_blocks = True`` (it
    attends over complete blocks from the ``batch`` vectors alone, as mmgraph's own models do), else
    ``"list"``. The ``Trainer`` and the benchmark runner build their loaders with it."""
    return "dense" if getattr(model, "supports_dense_blocks", False) else "list"


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads (``torch.set_num_threads``; the count is restored after).

    Batching and featurizing work on small tensors: parallel kernels gain nothing there, and on a machine
    whose cores are busy every parallel op waits at its barrier for a descheduled thread (a batch of 64
    took 116 ms instead of 4 ms with 2 threads on a loaded 2-core machine).
    """
    threads = torch.get_num_threads()
    if threads == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def one_thread(fn):
    """Decorator: ``fn`` runs on one intra-op thread (``intra_op_threads(1)``)."""

    @wraps(fn)
    def wrapped(*args, **kwargs):
        with intra_op_threads(1):
            return fn(*args, **kwargs)

    return wrapped


@dataclass(eq=False)
class NodeColumns:
    """One node type's nodes over a batch: concatenated features plus per-graph counts and layouts."""

    x: Tensor  # (N_total, *feature_shape)
    pos: Tensor  # (N_total, D)
    counts: Tensor  # (B,) int64
    shapes: list[tuple[int, ...]]  # per graph, the layout of its nodes


def batched_edges(
    strategy: EdgeStrategy,
    intra: bool,
    src_shapes: Sequence[tuple[int, ...]],
    dst_shapes: Sequence[tuple[int, ...]],
    src_ptr: Tensor,
    dst_ptr: Tensor,
) -> Tensor:
    """Edges of every graph of a batch, ``(2, E_total)``, ordered by graph.

    One template serves the whole batch when all graphs share their layouts, or when the strategy
    depends on node counts only (the largest graph's template, masked per graph); otherwise graphs
    are grouped by layout, one template each. Either way the offsets are added in one broadcast.
    """
    num_graphs = len(src_shapes)
    offsets = torch.stack([src_ptr[:-1], dst_ptr[:-1]])  # (2, B)
    uniform = src_shapes.count(src_shapes[0]) == num_graphs and dst_shapes.count(dst_shapes[0]) == num_graphs
    if uniform:
        template = strategy.local_edges(src_shapes[0], dst_shapes[0], intra)  # (2, E)
        return (template[:, None, :] + offsets[:, :, None]).reshape(2, -1)  # (2, B * E)
    if strategy.depends_on_counts_only and intra:
        counts = src_ptr.diff()
        template, cum = prefix_template(strategy, int(counts.max()))
        per_graph = cum[counts]  # (B,) edges of each graph: a prefix of the template
        total = int(per_graph.sum())
        starts = torch.cumsum(per_graph, 0) - per_graph
        local = torch.arange(total) - torch.repeat_interleave(starts, per_graph, output_size=total)
        # within one modality source and destination offsets coincide: one (E,) offset row serves both
        return template[:, local] + torch.repeat_interleave(src_ptr[:-1], per_graph, output_size=total)
    if strategy.kind == "full":
        return full_bipartite_edges(src_ptr, dst_ptr)
    if strategy.depends_on_counts_only:
        src_counts, dst_counts = src_ptr.diff(), dst_ptr.diff()
        template = strategy.local_edges((int(src_counts.max()),), (int(dst_counts.max()),), intra)
        keep = (template[0] < src_counts[:, None]) & (template[1] < dst_counts[:, None])  # (B, E)
        return (template[:, None, :] + offsets[:, :, None])[:, keep]  # (2, kept), graph-major
    groups: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    for g, key in enumerate(zip(src_shapes, dst_shapes)):
        groups.setdefault(key, []).append(g)
    parts: list[Tensor] = []
    graph_of_edge: list[Tensor] = []
    for (src_shape, dst_shape), members in groups.items():
        template = strategy.local_edges(src_shape, dst_shape, intra)
        if template.shape[1] == 0:
            continue
        index = torch.tensor(members)
        parts.append((template[:, None, :] + offsets[:, index, None]).reshape(2, -1))  # (2, G * E)
        graph_of_edge.append(index.repeat_interleave(template.shape[1]))
    if not parts:
        return torch.empty(2, 0, dtype=torch.long)
    if len(parts) == 1:
        return parts[0]
    order = torch.argsort(torch.cat(graph_of_edge), stable=True)
    return torch.cat(parts, dim=1)[:, order]


def full_bipartite_edges(src_ptr: Tensor, dst_ptr: Tensor) -> Tensor:
    """Every (source, destination) pair within each graph, ``(2, E)``: graph by graph, destination-major
    (the order of ``full`` templates), written in place without a padded template or mask.

    Each destination node's sources are one run of consecutive rows, its graph's source nodes: when every
    graph with destinations has the same number ``S`` of sources, the edges are a ``(N_dst, S)`` broadcast;
    otherwise the runs are concatenated ranges.
    """
    num_graphs = src_ptr.numel() - 1
    n_src, n_dst = src_ptr.diff(), dst_ptr.diff()
    num_dst = int(dst_ptr[-1])
    graph = torch.repeat_interleave(torch.arange(num_graphs), n_dst, output_size=num_dst)  # (N_dst,)
    runs = n_src[graph]  # (N_dst,) sources of each destination node
    if num_dst == 0 or bool((runs == runs[0]).all()):
        width = int(runs[0]) if num_dst else 0
        edges = torch.empty(2, num_dst, width, dtype=torch.long)
        torch.add(src_ptr[:-1][graph, None], torch.arange(width), out=edges[0])
        edges[1] = torch.arange(num_dst)[:, None]
        return edges.view(2, -1)
    total = int(runs.sum())
    shift = src_ptr[:-1][graph] - (torch.cumsum(runs, 0) - runs)  # first source row - first edge of each run
    edges = torch.empty(2, total, dtype=torch.long)
    torch.add(torch.repeat_interleave(shift, runs, output_size=total), torch.arange(total), out=edges[0])
    edges[1] = torch.repeat_interleave(torch.arange(num_dst), runs, output_size=total)
    return edges


def _swap_rows(edges: Tensor) -> Tensor:
    """``edges.flip(0)`` for a ``(2, E)`` edge list, as two row copies (``flip`` is ~1.5x slower here)."""
    out = torch.empty_like(edges)
    out[0].copy_(edges[1])
    out[1].copy_(edges[0])
    return out


def assemble_batch(
    config: GraphConfig,
    nodes: dict[NodeType, NodeColumns],
    *,
    full_edges: FullEdges = "list",
) -> HeteroData:
    """Build the batched graph from per-type node columns (shared by ``collate`` and datasets).

    Edge types of ``full`` blocks (and hub links) are marked ``dense=True``; with
    ``full_edges="dense"`` their edge lists are not built at all (mmgraph's layers attend over
    such blocks from the ``batch`` vectors alone), with ``"list"`` they are built too.
    """
    if full_edges not in ("list", "dense"):
        raise ValueError(f"'full_edges' must be 'list' or 'dense' (got {full_edges!r})")
    from torch_geometric.data import HeteroData  # here, not at the top: see the package docstring

    data = HeteroData()
    num_graphs = len(next(iter(nodes.values())).shapes)
    graph_index = torch.arange(num_graphs)
    ptr: dict[NodeType, Tensor] = {}
    featurizer = Featurizer(config)
    for node_type in config.node_types:
        cols = nodes[node_type]
        store = data[node_type]
        for key, value in featurizer.node_attributes(node_type, cols.x).items():
            store[key] = value  # x (float features of ids: x and token, see TextSettings.features)
        store.pos = cols.pos
        store.num_nodes = int(cols.x.shape[0])
        store.batch = torch.repeat_interleave(graph_index, cols.counts, output_size=int(cols.x.shape[0]))
        ptr[node_type] = store.ptr = torch.cat([cols.counts.new_zeros(1), torch.cumsum(cols.counts, 0)])

    forward: dict[EdgeType, Tensor] = {}
    specs: list[EdgeSpec] = config.edge_specs
    for spec in specs:
        store = data[spec.edge_type]  # created in schema order: metadata() is config.metadata(), as build_graph's
        dense = spec.strategy.is_dense
        if dense:
            store.dense = True
            if full_edges == "dense":
                continue
        if spec.reverse_of is None:
            src, _, dst = spec.edge_type
            forward[spec.edge_type] = batched_edges(
                spec.strategy, spec.intra, nodes[src].shapes, nodes[dst].shapes, ptr[src], ptr[dst]
            )
    for spec in specs:
        if spec.strategy.is_dense and full_edges == "dense":
            continue
        edges = forward[spec.edge_type] if spec.reverse_of is None else _swap_rows(forward[spec.reverse_of])
        data[spec.edge_type].edge_index = edges
    data.num_graphs = num_graphs
    return data


@one_thread
def collate(
    samples: Sequence[MultimodalSample | FeaturizedSample],
    config: GraphConfig | None = None,
    *,
    full_edges: FullEdges = "list",
) -> HeteroData:
    """Batch samples into one heterogeneous graph, vectorised (no per-sample ``HeteroData``).

    Args:
        samples: ``MultimodalSample``s (featurized here, in one batched call) or
            ``FeaturizedSample``s (e.g. from a dataset's cache); modality sets may differ.
        config: the graph schema; ``GraphConfig()`` when ``None``.
        full_edges: ``"list"`` (default) builds every edge list (any PyG layer can use the result);
            ``"dense"`` leaves the edge lists of complete blocks out (marked ``dense=True``), for
            models that declare ``supports_dense_blocks`` (``full_edges_for``): they attend over
            those blocks densely.

    Returns:
        ``HeteroData`` with, per node type, ``x``, ``pos``, ``batch``, ``ptr`` (and node targets; text
        with float ``features``: ``token``); edge types in schema order (``metadata()`` is ``config.metadata()``);
        per edge type ``edge_index``; graph-level ``y``, targets (``(B,)`` each), ``id`` (list) and
        ``num_graphs``. Equal to ``Batch.from_data_list([build_graph(s) for s in samples])`` in
        features and edge sets, for every node and edge type.
    """
    if len(samples) == 0:
        raise ValueError("collate: got an empty list of samples")
    config = config or GraphConfig()
    feats = featurize_all(samples, config)
    featurizer: Featurizer | None = None
    nodes: dict[NodeType, NodeColumns] = {}
    for node_type in config.node_types:
        if node_type == HUB:
            hub = hub_nodes(len(feats))
            nodes[HUB] = NodeColumns(hub.x, hub.pos, torch.ones(len(feats), dtype=torch.long), [(1,)] * len(feats))
            continue
        sets = [fs.nodes.get(node_type) for fs in feats]
        present = [s for s in sets if s is not None]
        if len(present) < len(sets) or not present:
            featurizer = featurizer or Featurizer(config)
            empty = featurizer.empty(node_type)
            present = present or [empty]
            sets = [empty if s is None else s for s in sets]
        x = torch.cat([s.x for s in present]) if len(present) > 1 else present[0].x
        pos = torch.cat([s.pos for s in present]) if len(present) > 1 else present[0].pos
        counts = torch.tensor([s.x.shape[0] for s in sets], dtype=torch.long)
        nodes[node_type] = NodeColumns(x, pos, counts, [s.shape for s in sets])
    data = assemble_batch(config, nodes, full_edges=full_edges)
    set_node_targets(data, feats)
    set_graph_attributes(data, feats, batched=True)
    return data


def dense_edge_types(data: HeteroData) -> list[EdgeType]:
    """Edge types of ``data`` marked as complete blocks (``dense=True``)."""
    return [et for et in data.edge_types if bool(getattr(data[et], "dense", False))]


def materialize_dense_edges(data: HeteroData) -> HeteroData:
    """A copy of a batch in which every complete block also has its edge list.

    Use before handing a ``collate(..., full_edges="dense")`` batch to plain PyG layers.
    """
    out = data.clone()
    for edge_type in dense_edge_types(data):
        store = out[edge_type]
        if "edge_index" in store:
            continue
        src, _, dst = edge_type
        src_counts = (data[src].ptr[1:] - data[src].ptr[:-1]).tolist()
        dst_counts = (data[dst].ptr[1:] - data[dst].ptr[:-1]).tolist()
        store.edge_index = batched_edges(
            EdgeStrategy("full"),
            src == dst,
            [(n,) for n in src_counts],
            [(n,) for n in dst_counts],
            data[src].ptr,
            data[dst].ptr,
        )
    return out
