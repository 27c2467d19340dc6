"""``MultimodalGNN``: encoders → cross-modal layers → readout → heads, assembled from given parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import Head, MultiTaskHead
from mmgraph.nn.prepare import Embed, TrainingData, fit_encoder_inputs
from mmgraph.typing import HUB, EdgeType, NodeType, sorted_edge_types


class MultimodalGNN(nn.Module):
    """A graph model of multimodal samples, assembled from the parts it is given.

    Args:
        encoders: node type → encoder (``(x, pos, layout) → (N_t, d)``).
        layers: message-passing layers (``(x_dict, BatchContext) → x_dict``).
        readout: node embeddings → ``ReadoutOutput``.
        head: the task heads.
        node_types, edge_types: the schema the model reads from a batch (others are ignored).
        modality_dropout: per training sample, drop each present modality with this probability
            (never all); dropped nodes send no message and are not pooled.
        unimodal_weight: weight of auxiliary losses on each modality's own pooled embedding.
        dense_path: run edge types marked ``dense`` as dense attention (``False``: every edge type
            through its edge list, the reference path).
        dense_block_limit: edge lists whose per-graph block ``N_dst_max * N_src_max`` is at most
            this run as masked dense attention too (0: never).

    Shapes:
        - input: a batched ``HeteroData`` (``collate`` / ``GraphDataset`` / PyG batching)
        - output: ``ModelOutput`` (``graph_embedding``: ``(B, d)``)
    """

    def __init__(
        self,
        encoders: nn.ModuleDict,
        layers: Sequence[nn.Module],
        readout: nn.Module,
        head: MultiTaskHead,
        node_types: Sequence[NodeType],
        edge_types: Sequence[EdgeType],
        modality_dropout: float = 0.0,
        unimodal_weight: float = 0.0,
        dense_path: bool = True,
        dense_block_limit: int = 16384,
    ) -> None:
        super().__init__()
        self.node_types = sorted(node_types)
        self.edge_types = sorted_edge_types(edge_types)
        missing = set(self.node_types) - set(encoders.keys())
        if missing:
            raise ValueError(f"no encoder for node types {sorted(missing)}")
        self.modalities = [t for t in self.node_types if t != HUB]
        self.encoders = encoders
        self.layers = nn.ModuleList(layers)
        self.readout = readout
        self.head = head
        self.modality_dropout = modality_dropout
        self.unimodal_weight = unimodal_weight
        self.dense_path = dense_path
        self.dense_block_limit = dense_block_limit

    @property
    def supports_dense_blocks(self) -> bool:
        """Whether batches may leave complete blocks as ``dense=True`` marks (``full_edges="dense"``):
        yes, unless ``dense_path=False`` asks for every edge list."""
        return self.dense_path

    @property
    def task_heads(self) -> Mapping[str, Head]:
        """Task name → head: what the ``Trainer`` evaluates and selects on."""
        return self.head.heads

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Data-dependent set-up before training (``mmgraph.nn.prepare``): the encoders' input
        statistics, then the heads (target standardisation, cluster centroids)."""
        fit_encoder_inputs(self.encoders, data)
        self.head.prepare(data, embed, seed)

    def context(self, batch: HeteroData) -> BatchContext:
        return BatchContext.from_batch(batch, self.node_types, self.edge_types, use_dense=self.dense_path,
                                       dense_block_limit=self.dense_block_limit)

    def embed_nodes(self, x: dict[NodeType, Tensor], pos: dict[NodeType, Tensor],
                    ctx: BatchContext) -> dict[NodeType, Tensor]:
        """Encoder outputs per node type, ``(N_t, d)`` (types absent from the batch: no nodes)."""
        out = {}
        for t in self.node_types:
            if t in x:
                out[t] = self.encoders[t](x[t], pos[t], ctx.layouts[t])
            else:
                p = next(self.parameters())
                out[t] = p.new_zeros(0, self.readout.channels)
        return out

    def modality_keep(self, ctx: BatchContext) -> dict[NodeType, Tensor]:
        """Random per-graph modality dropout masks (never dropping every present modality)."""
        counts = torch.stack([ctx.layouts[t].counts for t in self.modalities], dim=1)  # (B, T)
        present = counts > 0
        drop = (torch.rand(present.shape, device=counts.device) < self.modality_dropout) & present
        none_left = present.any(dim=1) & ~(present & ~drop).any(dim=1)
        if none_left.any():
            pick = torch.rand(present.shape, device=counts.device).masked_fill(~present, -1.0).argmax(dim=1)
            rows = none_left.nonzero(as_tuple=True)[0]
            drop[rows, pick[rows]] = False
        return {t: ~drop[:, i][ctx.batch[t]] for i, t in enumerate(self.modalities)}

    def prepare_inputs(
        self, batch: HeteroData
    ) -> tuple[dict[NodeType, Tensor], dict[NodeType, Tensor], BatchContext]:
        """The data-dependent part of a forward pass, run eagerly: node inputs and the batch context
        (layouts, masks, modality dropout). ``core`` then runs on fixed shapes, so it compiles
        with ``torch.compile`` without graph breaks."""
        ctx = self.context(batch)
        if self.training and self.modality_dropout > 0 and len(self.modalities) > 1:
            ctx = ctx.drop_nodes(self.modality_keep(ctx))
        ctx.precompute_masks()
        present = [t for t in self.node_types if t in batch.node_types and "x" in batch[t]]
        return {t: encoder_input(batch[t]) for t in present}, {t: batch[t].pos for t in present}, ctx

    def core(self, x: dict[NodeType, Tensor], pos: dict[NodeType, Tensor], ctx: BatchContext):
        """Encoders → layers → readout → heads on prepared inputs (the compilable part).

        Returns ``(predictions, node embeddings, ReadoutOutput)``.
        """
        h = self.embed_nodes(x, pos, ctx)
        for layer in self.layers:
            h = layer(h, ctx)
        r = self.readout(h, ctx)
        return self.head(r.graph, h), h, r

    def encode(self, batch: HeteroData) -> tuple[dict[NodeType, Tensor], BatchContext]:
        """Node embeddings after message passing, and the batch context (with dropout masks)."""
        x, pos, ctx = self.prepare_inputs(batch)
        h = self.embed_nodes(x, pos, ctx)
        for layer in self.layers:
            h = layer(h, ctx)
        return h, ctx

    def forward(self, batch: HeteroData) -> ModelOutput:
        x, pos, ctx = self.prepare_inputs(batch)
        predictions, h, r = self.core(x, pos, ctx)
        return ModelOutput(
            predictions=predictions,
            graph_embedding=r.graph,
            modality_embeddings=r.per_type,
            modality_present=r.present,
            gate=r.gate,
            modalities=r.node_types,
            node_embeddings=h,
            node_keep=ctx.keep,
        )

    def loss(self, output: ModelOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted task losses, plus the auxiliary per-modality losses when enabled."""
        total, parts = self.head.loss(output.predictions, batch, output.node_keep)
        if self.training and self.unimodal_weight > 0 and output.modality_embeddings is not None:
            aux = []
            for _, head in self.head:
                target = head.target(batch)
                if head.level != "graph" or target is None or not head.needs_target:
                    continue
                for i in range(output.modality_embeddings.shape[1]):
                    present = output.modality_present[:, i]
                    if present.any():
                        aux.append(head.loss(head(output.modality_embeddings[:, i]), target, present))
            if aux:
                parts["unimodal_aux"] = torch.stack(aux).mean()
                total = total + self.unimodal_weight * parts["unimodal_aux"]
        return total, parts

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
