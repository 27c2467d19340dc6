"""``BatchContext``: what every layer needs to know about a batch, computed once per forward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Batch, HeteroData

from mmgraph.nn.dense import DenseLayout, GraphGroups
from mmgraph.typing import EdgeType, NodeType


def _ptr_of(store, num_graphs: int) -> Tensor:
    if "ptr" in store:
        return store.ptr
    batch = store.batch if "batch" in store else torch.zeros(store.num_nodes or 0, dtype=torch.long)
    counts = torch.bincount(batch, minlength=num_graphs)
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


@dataclass
class BatchContext:
    """Per batch: node layouts, which edge types run dense, the sparse edge lists, and masks.

    Attributes:
        num_graphs: ``B``.
        layouts: node type → ``DenseLayout``.
        batch: node type → graph index of each node ``(N_t,)``.
        sparse_edges: edge type → ``edge_index`` for the edge types run by message passing
            (edges from masked-out nodes already removed).
        dense_edge_types: edge types run as dense attention: complete blocks, plus the edge
            types in ``block_masks``.
        block_masks: edge type → ``(B, N_dst, N_src)`` adjacency of an edge list over small
            per-graph blocks, run densely under this mask (faster than scatter on CPU).
        keep: node type → ``(N_t,)`` bool, the nodes still present after modality dropout
            (``None``: all present).
        max_groups: dense attention runs over up to this many groups of graphs of similar size, each
            padded to its own largest graph (``GraphGroups``; 1: one block padded to the largest graph).
    """

    num_graphs: int
    layouts: dict[NodeType, DenseLayout]
    batch: dict[NodeType, Tensor]
    sparse_edges: dict[EdgeType, Tensor]
    dense_edge_types: list[EdgeType]
    keep: dict[NodeType, Tensor] | None = None
    block_masks: dict[EdgeType, Tensor] = field(default_factory=dict)
    max_groups: int = 3
    _groups: GraphGroups | None = field(default=None, repr=False)
    _group_masks: dict[tuple, Tensor | None] = field(default_factory=dict, repr=False)
    _dense_keep: dict[NodeType, Tensor] = field(default_factory=dict, repr=False)
    _attn_masks: dict[EdgeType, Tensor | None] = field(default_factory=dict, repr=False)
    _full_edges: dict[EdgeType, Tensor] | None = field(default=None, repr=False)

    @classmethod
    def from_batch(
        cls,
        data: HeteroData,
        node_types: Sequence[NodeType],
        edge_types: Sequence[EdgeType],
        *,
        use_dense: bool = True,
        dense_block_limit: int = 0,
        max_groups: int = 3,
    ) -> BatchContext:
        """Read a batched graph (from ``collate``, a ``GraphDataset`` or plain PyG batching).

        Edge types marked ``dense=True`` run dense when ``use_dense``; otherwise (or when not
        marked) their edge lists are used. An edge list whose per-graph block is small
        (``N_dst_max * N_src_max <= dense_block_limit``) also runs dense, under its adjacency as
        mask; the rest run sparse. Types absent from ``data`` have no edges. ``max_groups``: see the
        class docstring.
        """
        # a PyG Batch (Batch.from_data_list of single graphs) knows its size; collate stores num_graphs
        num_graphs = int(data.num_graphs) if isinstance(data, Batch) or "num_graphs" in data else 1
        layouts, batch = {}, {}
        for t in node_types:
            if t in data.node_types:
                store = data[t]
                layouts[t] = DenseLayout(_ptr_of(store, num_graphs))
                n = layouts[t].num_nodes
                batch[t] = store.batch if "batch" in store else torch.zeros(n, dtype=torch.long)
            else:
                layouts[t] = DenseLayout(torch.zeros(num_graphs + 1, dtype=torch.long))
                batch[t] = torch.zeros(0, dtype=torch.long)
        sparse, dense, blocks = {}, [], {}
        present = set(data.edge_types)
        for et in edge_types:
            if et not in present:
                continue
            store = data[et]
            if use_dense and bool(getattr(store, "dense", False)):
                dense.append(et)
            elif "edge_index" in store:
                src, _, dst = et
                block = layouts[src].max_nodes * layouts[dst].max_nodes
                if use_dense and 0 < block <= dense_block_limit:
                    blocks[et] = _adjacency(store.edge_index, batch[dst], layouts[src], layouts[dst])
                    dense.append(et)
                else:
                    sparse[et] = store.edge_index
            elif bool(getattr(store, "dense", False)):
                raise ValueError(
                    f"edge type {et} is a complete block without its edge list (a batch made with "
                    f"full_edges='dense'), but this model reads edge lists (dense_path=False): make the "
                    f"batch with full_edges='list' (or mmgraph.graph.materialize_dense_edges)"
                )
            else:
                raise ValueError(f"edge type {et} has neither an edge list nor a dense marker")
        return cls(num_graphs, layouts, batch, sparse, dense, block_masks=blocks, max_groups=max_groups)

    def drop_nodes(self, keep: dict[NodeType, Tensor]) -> BatchContext:
        """A context in which the nodes with ``keep == False`` are absent as message sources."""
        sparse = {}
        for et, edges in self.sparse_edges.items():
            src_keep = keep.get(et[0])
            sparse[et] = edges if src_keep is None else edges[:, src_keep[edges[0]]]
        return BatchContext(self.num_graphs, self.layouts, self.batch, sparse, list(self.dense_edge_types), keep,
                            self.block_masks, self.max_groups, self._groups)

    def within_types(self) -> BatchContext:
        """This context without any edge between two different node types: each node type's nodes
        exchange messages only among themselves, so every modality is seen as if it were alone in the
        graph (the isolated views of ``MultimodalGNN``'s ``isolated_aux_weight``). Dropout masks are kept."""
        same = [et for et in self.dense_edge_types if et[0] == et[2]]
        return BatchContext(self.num_graphs, self.layouts, self.batch,
                            {et: e for et, e in self.sparse_edges.items() if et[0] == et[2]}, same, self.keep,
                            {et: m for et, m in self.block_masks.items() if et[0] == et[2]})

    def key_mask(self, node_type: NodeType) -> Tensor:
        """``(B, N_max)`` bool: real (not padding) and kept nodes of ``node_type``."""
        layout = self.layouts[node_type]
        if self.keep is None or node_type not in self.keep:
            return layout.mask
        if node_type not in self._dense_keep:
            self._dense_keep[node_type] = layout.to_dense(self.keep[node_type], fill=False) & layout.mask
        return self._dense_keep[node_type]

    def attention_mask(self, edge_type: EdgeType) -> Tensor | None:
        """Mask of a dense edge type, broadcastable to ``(B, H, N_dst, N_src)``; ``None``: attend to all.

        Combines padding, dropped nodes (modality dropout), the adjacency of masked blocks and the
        missing diagonal of a complete graph within one modality. Cached per context.
        """
        if edge_type not in self._attn_masks:
            src, _, dst = edge_type
            key = self.key_mask(src)  # (B, N_src)
            if edge_type in self.block_masks:
                mask = (self.block_masks[edge_type] & key[:, None, :])[:, None]  # (B, 1, N_dst, N_src)
            elif src == dst:
                eye = torch.eye(key.shape[1], dtype=torch.bool, device=key.device)
                mask = (key[:, None, :] & ~eye[None])[:, None]
            elif bool(key.all()):
                mask = None
            else:
                mask = key[:, None, None, :]  # (B, 1, 1, N_src)
            self._attn_masks[edge_type] = mask
        return self._attn_masks[edge_type]

    @property
    def groups(self) -> GraphGroups:
        """The graphs in groups of similar size for dense attention (``GraphGroups``); cached."""
        if self._groups is None:
            self._groups = GraphGroups(self.layouts, self.max_groups)
        return self._groups

    def dense_sources(self, node_type: NodeType, edge_types: Sequence[EdgeType]) -> list[EdgeType]:
        """The edge types among ``edge_types`` that run dense into ``node_type`` and have source nodes."""
        dense = set(self.dense_edge_types)
        return [et for et in edge_types if et[2] == node_type and et in dense and self.layouts[et[0]].max_nodes]

    def group_attention_mask(self, node_type: NodeType, edge_types: Sequence[EdgeType], group: int) -> Tensor | None:
        """Joint mask of dense relations into ``node_type`` in one group of ``groups``, cached.

        The relations' keys sit side by side in ``edge_types`` order, each source type cut to its padded
        length in the group (source types without nodes in the group are left out). Returns a mask
        broadcastable to ``(B_g, H, N_t,g, S_g)`` (``None``: attend to every key).
        """
        cache_key = (node_type, tuple(edge_types), group)
        if cache_key not in self._group_masks:
            groups = self.groups
            sizes = groups.max_nodes[group]
            parts = [(et, sizes[et[0]]) for et in edge_types if sizes[et[0]]]
            masks = [self.attention_mask(et) for et, _ in parts]
            mask = None
            if any(m is not None for m in masks):
                n_graphs, n_t = groups.graphs[group].numel(), sizes[node_type]
                full = []
                for (et, n_s), m in zip(parts, masks):
                    if m is None:
                        full.append(torch.ones(n_graphs, 1, n_t, n_s, dtype=torch.bool, device=self.device))
                    else:
                        full.append(groups.select(group, m, (None, node_type, et[0])).expand(n_graphs, 1, n_t, n_s))
                mask = torch.cat(full, dim=-1)  # (B_g, 1, N_t,g, S_g)
            self._group_masks[cache_key] = mask
        return self._group_masks[cache_key]

    @property
    def device(self) -> torch.device:
        return next(iter(self.batch.values())).device if self.batch else torch.device("cpu")

    def precompute_masks(self) -> None:
        """Compute every dense edge type's mask, every key mask, the graph groups and each node type's
        joint group masks now (eagerly), so that layers only read them: no data-dependent branch is
        left for ``torch.compile`` to break on."""
        for et in self.dense_edge_types:
            self.attention_mask(et)
        for t in self.layouts:
            self.key_mask(t)
        if self.dense_edge_types:
            for t in self.layouts:
                sources = self.dense_sources(t, sorted(self.dense_edge_types))
                for g in range(self.groups.num_groups if sources else 0):
                    self.group_attention_mask(t, sources, g)

    def node_keep(self, node_type: NodeType) -> Tensor | None:
        return None if self.keep is None else self.keep.get(node_type)

    def all_edges(self) -> dict[EdgeType, Tensor]:
        """Every edge list, complete blocks materialised (for wrapped PyG layers); cached."""
        if self._full_edges is None:
            full = dict(self.sparse_edges)
            for et, adjacency in self.block_masks.items():
                src, _, dst = et
                adjacency = adjacency & self.key_mask(src)[:, None, :]
                full[et] = _edges_of_blocks(adjacency, self.layouts[src], self.layouts[dst])
            for et in self.dense_edge_types:
                if et in self.block_masks:
                    continue  # already an edge list
                src, _, dst = et
                ls, ld = self.layouts[src], self.layouts[dst]
                ms, md = self.key_mask(src), ld.mask  # sources respect dropout; targets all real
                pair = ms[:, None, :] & md[:, :, None]  # (B, N_dst, N_src)
                if src == dst:
                    pair = pair & ~torch.eye(ls.max_nodes, dtype=torch.bool, device=pair.device)
                full[et] = _edges_of_blocks(pair, ls, ld)
            self._full_edges = full
        return self._full_edges


def _adjacency(edges: Tensor, dst_batch: Tensor, src_layout: DenseLayout, dst_layout: DenseLayout) -> Tensor:
    """``(B, N_dst_max, N_src_max)`` bool adjacency of a batched edge list."""
    src_ptr = torch.cat([src_layout.counts.new_zeros(1), src_layout.counts.cumsum(0)])
    dst_ptr = torch.cat([dst_layout.counts.new_zeros(1), dst_layout.counts.cumsum(0)])
    graph = dst_batch[edges[1]]
    mask = torch.zeros(dst_layout.num_graphs, dst_layout.max_nodes, src_layout.max_nodes, dtype=torch.bool,
                       device=edges.device)
    mask[graph, edges[1] - dst_ptr[graph], edges[0] - src_ptr[graph]] = True
    return mask


def _edges_of_blocks(pair: Tensor, src_layout: DenseLayout, dst_layout: DenseLayout) -> Tensor:
    """Edge list ``(2, E)`` of a ``(B, N_dst_max, N_src_max)`` bool block adjacency."""
    g, j, i = pair.nonzero(as_tuple=True)
    src_ptr = torch.cat([src_layout.counts.new_zeros(1), src_layout.counts.cumsum(0)])
    dst_ptr = torch.cat([dst_layout.counts.new_zeros(1), dst_layout.counts.cumsum(0)])
    return torch.stack([src_ptr[g] + i, dst_ptr[g] + j])
