"""``ModalityBranch``: one modality's own pathway (encoder, intra-modal context, attention pooling)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.baselines.common import key_padding_mask
from mmgraph.nn.context import BatchContext
from mmgraph.nn.readout import pool_per_type
from mmgraph.typing import Modality


@dataclass
class BranchOutput:
    """What a ``ModalityBranch`` returns.

    Attributes:
        pooled: ``(B, d)`` embedding of each sample's modality (zeros where it has no nodes).
        present: ``(B,)`` bool, the sample has nodes of the modality.
    """

    pooled: Tensor
    present: Tensor


class ModalityBranch(nn.Module):
    r"""Embeds one modality of each sample on its own, with no cross-modal interaction.

    The graph model's encoder for the modality, ``layers`` pre-norm self-attention layers over the
    modality's nodes (its intra-modal context: a complete graph inside the modality), then attention
    pooling as in the graph model's readout:

    .. math::
        H = \mathrm{SelfAttn}^{L}(\mathrm{enc}(X)), \qquad
        p = \sum_{i} \operatorname{softmax}_i(w^\top h_i)\, h_i

    The unimodal baseline and the late, tensor and low-rank fusion baselines build one branch per
    modality, so that they differ only in how the pooled embeddings are fused.

    Args:
        modality: the node type read from a batch.
        encoder: ``(x, pos, layout) → (N, d)``, e.g. ``build_encoder(modality, config, spec)``.
        channels: ``d`` (the encoder's output width).
        layers: self-attention layers (0: encoder and pooling only).
        heads: attention heads.
        ff_channels: feed-forward width (default ``2 * d``).
        dropout: dropout in the self-attention layers.

    Missing modality: a sample without nodes of the modality gets a zero embedding and
    ``present = False``; a batch in which no sample has it skips the encoder.

    Shapes:
        - input: a batched ``HeteroData`` and its ``BatchContext``
        - output: ``BranchOutput`` with ``pooled`` ``(B, d)``, ``present`` ``(B,)``
    """

    def __init__(self, modality: Modality, encoder: nn.Module, channels: int, layers: int = 0, heads: int = 4,
                 ff_channels: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        if layers < 0:
            raise ValueError(f"'layers' must be >= 0 (got {layers})")
        if layers and channels % heads:
            raise ValueError(f"'channels' (got {channels}) must be divisible by heads (got {heads})")
        self.modality, self.channels, self.num_layers, self.heads = modality, channels, layers, heads
        self.encoder = encoder
        if layers:
            layer = nn.TransformerEncoderLayer(channels, heads, ff_channels or 2 * channels, dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.context = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(channels),
                                                 enable_nested_tensor=False)
        else:
            self.context = None
        self.score = nn.Linear(channels, 1)

    def forward(self, batch: HeteroData, ctx: BatchContext) -> BranchOutput:
        layout = ctx.layouts[self.modality]
        if layout.max_nodes == 0:
            p = self.score.weight
            return BranchOutput(p.new_zeros(ctx.num_graphs, self.channels),
                                layout.counts.new_zeros(ctx.num_graphs, dtype=bool))
        store = batch[self.modality]
        h = self.encoder(encoder_input(store), store.pos, layout)  # (N, d)
        if self.context is not None:
            dense = layout.to_dense(h)  # (B, N_max, d)
            h = layout.from_dense(self.context(dense, src_key_padding_mask=key_padding_mask(layout.mask)))
        pooled, present = pool_per_type(h, self.score(h), ctx, self.modality)
        return BranchOutput(pooled, present)

    def __repr__(self) -> str:
        return f"ModalityBranch({self.modality!r}, {self.encoder!r}, layers={self.num_layers}, heads={self.heads})"
