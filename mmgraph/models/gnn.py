"""``MultimodalGNN``: encoders → cross-modal layers → readout → heads, assembled from given parts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import Tokenizer, encoder_input
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
        unimodal_weight: weight of auxiliary losses on each modality's own pooled embedding (after
            message passing over the whole graph, so it carries the other modalities' information).
        isolated_aux_weight: weight of the task loss applied to each modality's *isolated view*: the
            same batch with every edge between two modalities removed, pooled per modality, i.e. what
            the model computes on the graph with the other modalities removed (a second forward pass
            in training; 0: off). Unlike ``unimodal_weight`` it makes every modality's pathway
            competent on its own, which is what a missing or corrupted modality leaves.
        token_unk_rate: in training, each token-id input (text) is replaced by ``<unk>`` with this
            probability, so that the model learns to read text with words it does not know.
        token_random_rate: in training, each token-id input (text) is replaced by a word drawn
            uniformly from the vocabulary with this probability (BERT's random-token corruption), so
            that text which contradicts the other modalities is something the model has seen.
        vocab_size: the number of token ids (``DataSpec.in_features["text"]``); needed by
            ``token_random_rate``.
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
        isolated_aux_weight: float = 0.0,
        token_unk_rate: float = 0.0,
        token_random_rate: float = 0.0,
        vocab_size: int | None = None,
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
        self.isolated_aux_weight = isolated_aux_weight
        self.token_unk_rate = token_unk_rate
        if token_random_rate > 0 and (vocab_size is None or vocab_size <= len(Tokenizer.SPECIALS)):
            raise ValueError(f"token_random_rate needs the vocabulary size (got vocab_size={vocab_size})")
        self.token_random_rate = token_random_rate
        self.vocab_size = vocab_size
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

    def replace_tokens(self, x: dict[NodeType, Tensor]) -> dict[NodeType, Tensor]:
        """Token-id inputs with each non-padding id replaced by ``<unk>`` with probability
        ``token_unk_rate``, else by a uniformly drawn word with probability ``token_random_rate``."""
        out = dict(x)
        for t, ids in x.items():
            if t == HUB or ids.is_floating_point() or ids.dim() != 1 or ids.numel() == 0:
                continue
            draw = torch.rand(ids.shape, device=ids.device)
            real = ids != Tokenizer.pad_id
            ids = torch.where((draw < self.token_unk_rate) & real, torch.full_like(ids, Tokenizer.unk_id), ids)
            if self.token_random_rate > 0:
                random = (draw >= self.token_unk_rate) & (draw < self.token_unk_rate + self.token_random_rate) & real
                words = torch.randint(len(Tokenizer.SPECIALS), self.vocab_size, ids.shape, device=ids.device)
                ids = torch.where(random, words, ids)
            out[t] = ids
        return out

    def forward(self, batch: HeteroData) -> ModelOutput:
        x, pos, ctx = self.prepare_inputs(batch)
        if self.training and (self.token_unk_rate > 0 or self.token_random_rate > 0):
            x = self.replace_tokens(x)
        predictions, h, r = self.core(x, pos, ctx)
        isolated = None
        if self.training and self.isolated_aux_weight > 0 and len(self.modalities) > 1:
            alone = ctx.within_types()
            alone.precompute_masks()
            _, _, isolated = self.core(x, pos, alone)
        return ModelOutput(
            predictions=predictions,
            graph_embedding=r.graph,
            modality_embeddings=r.per_type,
            modality_present=r.present,
            gate=r.gate,
            modalities=r.node_types,
            node_embeddings=h,
            node_keep=ctx.keep,
            isolated_embeddings=None if isolated is None else isolated.per_type,
            isolated_present=None if isolated is None else isolated.present,
        )

    def per_modality_loss(self, embeddings: Tensor, present: Tensor, batch: HeteroData) -> Tensor | None:
        """Mean over graph-level heads and modalities of the head's loss on each modality's pooled
        embedding ``(B, T, d)``, over the graphs where that modality is present ``(B, T)``
        (``None``: no head or no modality to score)."""
        aux = []
        for _, head in self.head:
            target = head.target(batch)
            if head.level != "graph" or target is None or not head.needs_target:
                continue
            for i in range(embeddings.shape[1]):
                rows = present[:, i]
                if rows.any():
                    aux.append(head.loss(head(embeddings[:, i]), target, rows))
        return torch.stack(aux).mean() if aux else None

    def loss(self, output: ModelOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted task losses, plus the auxiliary per-modality losses when enabled (``unimodal_aux``
        on the pooled embeddings of the whole graph, ``isolated_aux`` on the isolated views)."""
        total, parts = self.head.loss(output.predictions, batch, output.node_keep)
        if self.training and self.unimodal_weight > 0 and output.modality_embeddings is not None:
            aux = self.per_modality_loss(output.modality_embeddings, output.modality_present, batch)
            if aux is not None:
                parts["unimodal_aux"] = aux
                total = total + self.unimodal_weight * aux
        if self.training and self.isolated_aux_weight > 0 and output.isolated_embeddings is not None:
            aux = self.per_modality_loss(output.isolated_embeddings, output.isolated_present, batch)
            if aux is not None:
                parts["isolated_aux"] = aux
                total = total + self.isolated_aux_weight * aux
        return total, parts

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
