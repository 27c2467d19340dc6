"""``CrossModalAttention``: relation-typed attention over a heterogeneous graph, dense and sparse."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.nn.context import BatchContext
from mmgraph.typing import EdgeType, NodeType, sorted_edge_types


def edge_key(edge_type: EdgeType) -> str:
    """A ``ModuleDict``/``ParameterDict``-safe name of an edge type."""
    return "__".join(edge_type)


class CrossModalAttention(nn.Module):
    r"""Relation-typed multi-head attention over typed edges, then a feed-forward block
    (pre-norm residual).

    For a node :math:`i` of type :math:`t` with incoming edges :math:`j \to i` of relations
    :math:`r = (s, \cdot, t)`, per head (as in HGT, Hu et al. 2020: per node type
    :math:`W^Q, W^K, W^V`, per relation :math:`W^{att}_r, W^{msg}_r` and prior :math:`\mu_r`):

    .. math::
        q_i = W^Q_t \mathrm{LN}_t(x_i), \quad
        k_j^r = W^{att}_r W^K_s \mathrm{LN}_s(x_j), \quad
        v_j^r = W^{msg}_r W^V_s \mathrm{LN}_s(x_j)

        \alpha_{ij} = \operatorname{softmax}_{(j, r) \in \mathcal{N}(i)}
            \Big(\mu_r \frac{q_i^\top k_j^r}{\sqrt{d_h}}\Big), \qquad
        m_i = \sum_{r} \sum_{j \in \mathcal{N}_r(i)} \alpha_{ij} v_j^r

        x_i' = x_i + W^O_t m_i, \qquad x_i'' = x_i' + \mathrm{FF}_t(\mathrm{LN}'_t(x_i'))

    The softmax runs jointly over all incoming edges of all relations (as in HGT and in a
    transformer), so the message is the sum over incoming edge types of their attention-weighted
    values, and a node whose neighbours of one type are missing still gets a normalised message.

    Two execution paths, chosen per edge type, give the same numbers: edge types the batch marks
    as complete blocks (``full`` edges, hub links) run as padded, masked dense attention per graph
    (no edge list touched); the others run as sparse message passing over ``edge_index`` (scores,
    scatter-max, scatter-sum), except edge lists over small per-graph blocks, which
    ``BatchContext`` turns into adjacency masks for the dense path (fused attention beats scatter
    on CPU there). When every incoming relation of a node type runs dense, its whole attention is
    one fused ``scaled_dot_product_attention`` call over the relations' keys side by side per group
    of graphs of similar size (``GraphGroups``: each group padded to its own largest graph, which
    halves the padded work on AV-MNIST); with a sparse relation in the mix, dense scores and edge
    scores share one max and one denominator.

    All projections of one node type (its query and the keys/values of every relation it is the
    source of) run as one matrix product: the relation matrices are folded into the type's
    key/value weights first.

    Args:
        channels: node width :math:`d` (every node type).
        node_types: node types of the graphs.
        edge_types: edge types of the graphs.
        heads: attention heads (``channels`` must be divisible by ``heads``).
        ff_channels: feed-forward hidden width (default ``4 * channels``).
        dropout: dropout after the attention output and inside the feed-forward block.
        attn_dropout: dropout on attention weights.

    Shapes:
        - input: ``x_dict[t]``: ``(N_t, d)``; a ``BatchContext``.
        - output: ``x_dict[t]``: ``(N_t, d)``.
    """

    splits_channels_across_heads: ClassVar[bool] = True
    """``channels`` must be divisible by ``heads`` (``ModelConfig`` checks it)."""

    def __init__(
        self,
        channels: int,
        node_types: Sequence[NodeType],
        edge_types: Sequence[EdgeType],
        heads: int = 4,
        ff_channels: int | None = None,
        dropout: float = 0.0,
        attn_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"'channels' (got {channels}) must be divisible by 'heads' (got {heads})")
        self.channels = channels
        self.heads = heads
        self.head_dim = channels // heads
        self.ff_channels = ff_channels or 4 * channels
        self.dropout = dropout
        self.attn_dropout = attn_dropout
        self.node_types = sorted(node_types)
        self.edge_types = sorted_edge_types(edge_types)
        unknown = {t for et in self.edge_types for t in (et[0], et[2])} - set(self.node_types)
        if unknown:
            raise ValueError(f"edge types use node types {sorted(unknown)} missing from node_types")
        self.qkv = nn.ModuleDict({t: nn.Linear(channels, 3 * channels) for t in self.node_types})
        self.out = nn.ModuleDict({t: nn.Linear(channels, channels) for t in self.node_types})
        self.norm_attn = nn.ModuleDict({t: nn.LayerNorm(channels) for t in self.node_types})
        self.norm_ff = nn.ModuleDict({t: nn.LayerNorm(channels) for t in self.node_types})
        self.ff = nn.ModuleDict(
            {
                t: nn.Sequential(
                    nn.Linear(channels, self.ff_channels),
                    nn.GELU(),
                    nn.Dropout(dropout),
                    nn.Linear(self.ff_channels, channels),
                )
                for t in self.node_types
            }
        )
        num_rel = len(self.edge_types)
        self.rel_att = nn.Parameter(torch.empty(num_rel, heads, self.head_dim, self.head_dim))
        self.rel_msg = nn.Parameter(torch.empty(num_rel, heads, self.head_dim, self.head_dim))
        self.rel_prior = nn.Parameter(torch.empty(num_rel, heads))
        self._rel_index = {et: i for i, et in enumerate(self.edge_types)}
        self._outgoing = {t: [et for et in self.edge_types if et[0] == t] for t in self.node_types}
        self._incoming = {t: [et for et in self.edge_types if et[2] == t] for t in self.node_types}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for t in self.node_types:
            self.qkv[t].reset_parameters()
            self.out[t].reset_parameters()
            self.norm_attn[t].reset_parameters()
            self.norm_ff[t].reset_parameters()
            for m in self.ff[t]:
                if isinstance(m, nn.Linear):
                    m.reset_parameters()
        # relation transforms start near the identity, so that every relation starts as plain
        # dot-product attention and learns its own geometry from there
        eye = torch.eye(self.head_dim).expand_as(self.rel_att[0])
        with torch.no_grad():
            for p in (self.rel_att, self.rel_msg):
                p.copy_(eye + 0.02 * torch.randn_like(p))
        nn.init.ones_(self.rel_prior)

    # ------------------------------------------------------------------------------------ forward

    def _project(self, t: NodeType, h: Tensor) -> Tensor:
        """Query of type ``t`` and key/value of each relation leaving ``t``, in one matmul.

        Returns ``(N_t, (1 + 2R) d)``: columns ``[q, k_1, v_1, k_2, v_2, ...]`` for the relations
        leaving ``t`` in sorted order (``_columns``); the relation prior is folded into the keys.
        """
        d, H, dh = self.channels, self.heads, self.head_dim
        outgoing = self._outgoing[t]
        w_q, w_k, w_v = self.qkv[t].weight.split(d)  # (d, d) each, rows = outputs
        b_q, b_k, b_v = self.qkv[t].bias.split(d)
        weights, biases = [w_q], [b_q]
        if outgoing:
            rel = torch.tensor([self._rel_index[et] for et in outgoing], device=h.device)
            att, msg = self.rel_att[rel], self.rel_msg[rel]  # (R, H, dh, dh): k_r = k @ att per head
            scale = (self.rel_prior[rel] / math.sqrt(dh))[:, :, None, None]  # (R, H, 1, 1)
            w_k_rel = torch.einsum("rhde,hdf->rhef", att, w_k.view(H, dh, d)) * scale  # (R, H, dh, d)
            w_v_rel = torch.einsum("rhde,hdf->rhef", msg, w_v.view(H, dh, d))
            b_k_rel = torch.einsum("rhde,hd->rhe", att, b_k.view(H, dh)) * scale[..., 0]  # (R, H, dh)
            b_v_rel = torch.einsum("rhde,hd->rhe", msg, b_v.view(H, dh))
            # interleave (k_r, v_r) per relation: rows [k_1, v_1, k_2, v_2, ...]
            weights.append(torch.stack([w_k_rel, w_v_rel], dim=1).reshape(-1, d))
            biases.append(torch.stack([b_k_rel, b_v_rel], dim=1).reshape(-1))
        return F.linear(h, torch.cat(weights), torch.cat(biases))  # (N_t, (1 + 2R) d)

    def _split(self, t: NodeType, proj: Tensor) -> tuple[Tensor, dict[EdgeType, tuple[Tensor, Tensor]]]:
        """Flat views of a projection: ``q (N_t, H, dh)`` and ``{relation: (k, v)}``, each ``(N_t, H, dh)``."""
        H, dh = self.heads, self.head_dim
        outgoing = self._outgoing[t]
        parts = proj.view(-1, 1 + 2 * len(outgoing), H, dh).unbind(1)
        return parts[0], {et: (parts[1 + 2 * j], parts[2 + 2 * j]) for j, et in enumerate(outgoing)}

    def _blocks(self, t: NodeType, proj: Tensor, ctx: BatchContext) -> list[tuple[Tensor, ...]]:
        """A projection in padded group blocks (``ctx.groups``), split into its parts: per group
        ``(q, k_1, v_1, k_2, v_2, ...)``, each ``(B_g, N_t,g, d)`` (one ``unbind``: its backward is one
        ``stack``, where column slices would each add a zero-filled copy of the whole block)."""
        parts = 1 + 2 * len(self._outgoing[t])
        return [block.unflatten(-1, (parts, self.channels)).unbind(-2) for block in ctx.groups.to_blocks(t, proj)]

    def forward(self, x_dict: dict[NodeType, Tensor], ctx: BatchContext) -> dict[NodeType, Tensor]:
        proj = {t: self._project(t, self.norm_attn[t](x_dict[t])) for t in self.node_types}
        blocks: dict[NodeType, list[tuple[Tensor, ...]]] = {}  # type → its projection in group blocks (``_blocks``)
        out = {}
        for t in self.node_types:
            dense_in = ctx.dense_sources(t, self._incoming[t])
            sparse_in = [et for et in self._incoming[t] if et in ctx.sparse_edges and ctx.sparse_edges[et].numel()]
            h = x_dict[t]
            if h.shape[0] and (dense_in or sparse_in):
                if sparse_in:
                    q_t = self._split(t, proj[t])[0]
                    kv = {et: self._split(et[0], proj[et[0]])[1][et] for et in dense_in + sparse_in}
                    message = self._attend_mixed(t, q_t, kv, dense_in, sparse_in, ctx)
                else:
                    for s in {t, *(et[0] for et in dense_in)} - blocks.keys():
                        blocks[s] = self._blocks(s, proj[s], ctx)
                    message = self._attend_dense(t, blocks, dense_in, ctx)
                h = h + F.dropout(self.out[t](message.reshape(-1, self.channels)), self.dropout, self.training)
            out[t] = h + F.dropout(self.ff[t](self.norm_ff[t](h)), self.dropout, self.training)
        return out

    def _dense_keys(self, t: NodeType, kv: dict, dense_in: list[EdgeType], ctx: BatchContext
                    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Keys and values of all dense relations into ``t`` side by side, and their joint mask, over one
        block of the whole batch (the mixed path's frame).

        Returns ``key, value (B, H, S, dh)`` with ``S = sum of N_s`` and a mask broadcastable to
        ``(B, H, N_t, S)`` (``None``: attend to every key).
        """
        n_t = ctx.layouts[t].max_nodes
        keys, values, masks = [], [], []
        for et in dense_in:
            ls = ctx.layouts[et[0]]
            keys.append(ls.to_dense(kv[et][0]))  # (B, N_s, H, dh)
            values.append(ls.to_dense(kv[et][1]))
            masks.append(ctx.attention_mask(et))
        key = torch.cat(keys, dim=1).transpose(1, 2)  # (B, H, S, dh)
        value = torch.cat(values, dim=1).transpose(1, 2)
        if all(m is None for m in masks):
            return key, value, None
        full = []
        for et, m in zip(dense_in, masks):
            n_s = ctx.layouts[et[0]].max_nodes
            if m is None:
                m = torch.ones(1, 1, 1, n_s, dtype=torch.bool, device=key.device)
            full.append(m.expand(ctx.num_graphs, 1, n_t, n_s))
        return key, value, torch.cat(full, dim=-1)  # (B, 1, N_t, S)

    def _attend_dense(self, t: NodeType, blocks: dict[NodeType, list[tuple[Tensor, ...]]],
                      dense_in: list[EdgeType], ctx: BatchContext) -> Tensor:
        """All incoming relations dense: per group of graphs (``ctx.groups``) one fused attention call over
        the relations' keys side by side; messages ``(N_t, d)``."""
        d, H, dh = self.channels, self.heads, self.head_dim
        groups = ctx.groups
        messages = []
        for g in range(groups.num_groups):
            sizes = groups.max_nodes[g]
            query = blocks[t][g][0]  # (B_g, N_t,g, d)
            b_g, n_t = query.shape[:2]
            keys, values = [], []
            for et in dense_in:
                if sizes[et[0]]:
                    j = 1 + 2 * self._outgoing[et[0]].index(et)
                    keys.append(blocks[et[0]][g][j])  # (B_g, N_s,g, d)
                    values.append(blocks[et[0]][g][j + 1])
            if not n_t or not keys:  # no queries, or no keys: a zero message, as for a node without neighbours
                messages.append(query.new_zeros(b_g, n_t, d))
                continue
            key = (torch.cat(keys, dim=1) if len(keys) > 1 else keys[0]).unflatten(-1, (H, dh)).transpose(1, 2)
            value = (torch.cat(values, dim=1) if len(values) > 1 else values[0]).unflatten(-1, (H, dh)).transpose(1, 2)
            query = query.unflatten(-1, (H, dh)).transpose(1, 2)  # (B_g, H, N_t,g, dh)
            # the relation prior and 1/sqrt(dh) are folded into the keys: scale=1
            attended = F.scaled_dot_product_attention(
                query, key, value, attn_mask=ctx.group_attention_mask(t, dense_in, g),
                dropout_p=self.attn_dropout if self.training else 0.0, scale=1.0,
            )  # (B_g, H, N_t,g, dh); rows without any key come out as 0
            messages.append(attended.transpose(1, 2).reshape(b_g, n_t, d))
        return groups.from_blocks(t, messages)

    def _attend_mixed(self, t: NodeType, q_t: Tensor, kv: dict, dense_in: list[EdgeType],
                      sparse_in: list[EdgeType], ctx: BatchContext) -> Tensor:
        """Dense scores and edge scores under one softmax (shared max and denominator)."""
        H, dh = self.heads, self.head_dim
        n_t = q_t.shape[0]
        layout = ctx.layouts[t]
        edge_scores, edge_values, edge_dst = [], [], []
        for et in sparse_in:
            src, dst = ctx.sparse_edges[et]
            k, v = kv[et]
            edge_scores.append((q_t[dst] * k[src]).sum(-1))  # (E, H)
            edge_values.append(v[src])  # (E, H, dh)
            edge_dst.append(dst)
        e_score, e_value, e_dst = torch.cat(edge_scores), torch.cat(edge_values), torch.cat(edge_dst)
        row_max = q_t.new_full((n_t, H), float("-inf")).scatter_reduce(
            0, e_dst[:, None].expand(-1, H), e_score, reduce="amax", include_self=True
        )
        if dense_in:
            key, value, mask = self._dense_keys(t, kv, dense_in, ctx)
            query = layout.to_dense(q_t).transpose(1, 2)  # (B, H, N_t, dh)
            scores = torch.matmul(query, key.transpose(-1, -2))  # (B, H, N_t, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            row_max = torch.maximum(row_max, layout.from_dense(scores.amax(-1).transpose(1, 2)))
        # a stabiliser only (it cancels): no gradient, and 0 for nodes without any neighbour
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max)).detach()
        e_weight = torch.exp(e_score - row_max[e_dst])  # (E, H)
        denom = q_t.new_zeros(n_t, H).index_add(0, e_dst, e_weight)
        e_weight = F.dropout(e_weight, self.attn_dropout, self.training) if self.attn_dropout else e_weight
        numer = q_t.new_zeros(n_t, H, dh).index_add(0, e_dst, e_weight[..., None] * e_value)
        if dense_in:
            weights = torch.exp(scores - layout.to_dense(row_max).transpose(1, 2)[..., None])  # masked → 0
            denom = denom + layout.from_dense(weights.sum(-1).transpose(1, 2))
            weights = F.dropout(weights, self.attn_dropout, self.training) if self.attn_dropout else weights
            numer = numer + layout.from_dense(torch.matmul(weights, value).transpose(1, 2))
        return numer / denom.clamp_min(torch.finfo(denom.dtype).tiny)[..., None]

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.channels}, heads={self.heads}, "
            f"node_types={len(self.node_types)}, edge_types={len(self.edge_types)})"
        )
