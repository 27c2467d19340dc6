"""``EarlyFusionTransformer``: one Transformer over all nodes of all modalities (the dense reference)."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.baselines.common import BaselineModel, key_padding_mask, masked_mean
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext


class EarlyFusionTransformer(BaselineModel):
    """Per-modality encoders (shared with the graph model), a learned modality embedding, then one
    ``nn.TransformerEncoder`` over every node of a sample concatenated, masked mean pooling, heads.

    Missing modalities: their nodes are simply absent from the sequence (key padding mask).

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, d)``
    """

    def __init__(self, encoders: nn.ModuleDict, head, modalities: list[str], channels: int, layers: int = 2,
                 heads: int = 4, ff_channels: int | None = None, dropout: float = 0.0) -> None:
        super().__init__(head, modalities)
        self.channels = channels
        self.encoders = encoders
        self.modality_embedding = nn.Parameter(torch.zeros(len(self.modalities), channels))
        nn.init.normal_(self.modality_embedding, std=0.02)
        layer = nn.TransformerEncoderLayer(channels, heads, ff_channels or 4 * channels, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(channels)

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        blocks, masks = [], []
        for i, m in enumerate(self.modalities):
            layout = ctx.layouts[m]
            if layout.max_nodes == 0:
                continue
            h = self.encoders[m](encoder_input(batch[m]), batch[m].pos, layout) + self.modality_embedding[i]
            blocks.append(layout.to_dense(h))  # (B, N_m, d)
            masks.append(layout.mask)
        seq = torch.cat(blocks, dim=1)  # (B, S, d)
        mask = torch.cat(masks, dim=1)  # (B, S)
        h = self.norm(self.transformer(seq, src_key_padding_mask=key_padding_mask(mask)))
        graph = masked_mean(h, mask)  # (B, d); a sample without any node gets zeros
        return ModelOutput(self.head(graph, {}), graph)
