"""``MulT``: the Multimodal Transformer's directional cross-modal attention (Tsai et al. 2019)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import encoder_input
from mmgraph.models.baselines.common import BaselineModel, key_padding_mask, masked_mean, require_graph_level
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import MultiTaskHead


class _CrossModalBlock(nn.Module):
    r"""One crossmodal transformer layer: the target sequence queries the source sequence.

    .. math::
        x \leftarrow x + \mathrm{MHA}(\mathrm{LN}_q(x), \mathrm{LN}_k(y), \mathrm{LN}_k(y)), \qquad
        x \leftarrow x + \mathrm{FF}(\mathrm{LN}(x))

    A sample without source nodes gets no attention update (its attention term is zero).

    Shapes:
        - input: ``x`` ``(B, N_t, d)``, ``y`` ``(B, N_s, d)``, ``source_mask`` ``(B, N_s)`` bool
        - output: ``(B, N_t, d)``
    """

    def __init__(self, channels: int, heads: int, ff_channels: int, dropout: float, attn_dropout: float) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(channels), nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.attention = nn.MultiheadAttention(channels, heads, dropout=attn_dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(channels, ff_channels), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(ff_channels, channels))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, y: Tensor, source_mask: Tensor) -> Tensor:
        kv = self.norm_kv(y)
        h, _ = self.attention(self.norm_q(x), kv, kv, key_padding_mask=key_padding_mask(source_mask),
                              need_weights=False)  # (B, N_t, d)
        has_source = source_mask.any(dim=1).to(h.dtype)[:, None, None]  # (B, 1, 1)
        x = x + self.dropout(h) * has_source
        return x + self.dropout(self.ff(self.norm_ff(x)))


class MulT(BaselineModel):
    r"""MulT-style cross-modal transformer (Tsai et al., ACL 2019), on the graph model's encoders.

    For every ordered pair of modalities (target ``t`` ← source ``s``), ``layers`` crossmodal
    blocks let the target's sequence attend to the source's (target queries, source keys and
    values; pre-norm, residual, feed-forward). Each target then concatenates its ``T - 1`` incoming
    streams channel-wise and runs one self-attention layer (``nn.TransformerEncoderLayer``) over
    them; a masked mean over its nodes pools it, and the targets' pooled vectors are concatenated:

    .. math::
        Z_{t \leftarrow s} = \mathrm{CM}^{L}_{t \leftarrow s}(X_t, X_s), \quad
        H_t = \mathrm{SelfAttn}([Z_{t \leftarrow s}]_{s \neq t}), \quad
        g = [\operatorname{mean}(H_1); \dots; \operatorname{mean}(H_T)]

    so the graph embedding has ``T (T - 1) d`` channels. Inputs are the per-modality encoders of
    the graph model (patches, tokens and frames with their position embeddings).

    Missing modality: a missing source gives its targets no cross-modal update (the stream keeps
    the target's own encoding, key padding masks everywhere else); a missing target contributes a
    zero pooled vector.

    Args:
        encoders: modality → encoder of width ``d`` (at least two modalities).
        head: graph-level task heads of width ``T (T - 1) d``.
        channels: ``d``.
        layers: crossmodal blocks per ordered pair.
        heads: attention heads.
        ff_channels: feed-forward width of the crossmodal blocks (``d`` multiple for the
            self-attention layers: the same ``ff_channels / d`` ratio).
        dropout, attn_dropout: dropout rates.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, T (T - 1) d)``, ``modality_present``
          ``(B, T)``
    """

    def __init__(self, encoders: nn.ModuleDict, head: MultiTaskHead, channels: int, layers: int = 2,
                 heads: int = 4, ff_channels: int | None = None, dropout: float = 0.0,
                 attn_dropout: float = 0.0) -> None:
        super().__init__(head, list(encoders.keys()))
        require_graph_level(head, type(self).__name__)
        if len(self.modalities) < 2:
            raise ValueError(f"MulT needs at least two modalities (got {self.modalities})")
        if channels % heads:
            raise ValueError(f"'channels' (got {channels}) must be divisible by heads (got {heads})")
        self.channels, self.num_layers, self.heads = channels, layers, heads
        ff_channels = ff_channels or 2 * channels
        self.encoders = nn.ModuleDict({m: encoders[m] for m in self.modalities})
        self.pairs = [(t, s) for t in self.modalities for s in self.modalities if s != t]
        self.cross = nn.ModuleDict({
            f"{t}_from_{s}": nn.ModuleList(
                [_CrossModalBlock(channels, heads, ff_channels, dropout, attn_dropout) for _ in range(layers)]
            )
            for t, s in self.pairs
        })
        width = (len(self.modalities) - 1) * channels
        self.self_attention = nn.ModuleDict({
            t: nn.TransformerEncoderLayer(width, heads, ff_channels * width // channels, dropout,
                                          activation="gelu", batch_first=True, norm_first=True)
            for t in self.modalities
        })
        self.norm = nn.ModuleDict({t: nn.LayerNorm(width) for t in self.modalities})
        self.out_channels = len(self.modalities) * width

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        seqs, masks = {}, {}
        for m in self.modalities:
            layout = ctx.layouts[m]
            if layout.max_nodes == 0:
                # one padding slot, so that a batch without the modality takes the per-sample path
                seqs[m] = self.norm[m].weight.new_zeros(ctx.num_graphs, 1, self.channels)
                masks[m] = torch.zeros(ctx.num_graphs, 1, dtype=torch.bool, device=seqs[m].device)
            else:
                h = self.encoders[m](encoder_input(batch[m]), batch[m].pos, layout)  # (N_m, d)
                seqs[m], masks[m] = layout.to_dense(h), layout.mask  # (B, N_m, d), (B, N_m)
        pooled = []
        for t in self.modalities:
            streams = []
            for s in self.modalities:
                if s == t:
                    continue
                z = seqs[t]
                for block in self.cross[f"{t}_from_{s}"]:
                    z = block(z, seqs[s], masks[s])
                streams.append(z)
            h = torch.cat(streams, dim=-1)  # (B, N_t, (T - 1) d)
            h = self.norm[t](self.self_attention[t](h, src_key_padding_mask=key_padding_mask(masks[t])))
            pooled.append(masked_mean(h, masks[t]))  # (B, (T - 1) d), zeros where the target is missing
        graph = torch.cat(pooled, dim=1)  # (B, T (T - 1) d)
        present = torch.stack([masks[m].any(dim=1) for m in self.modalities], dim=1)  # (B, T)
        return ModelOutput(self.head(graph, {}), graph, modality_present=present, modalities=list(self.modalities))

    def extra_repr(self) -> str:
        pairs = ", ".join(f"{t}<-{s}" for t, s in self.pairs)
        return (f"modalities={self.modalities}, channels={self.channels}, layers={self.num_layers}, "
                f"heads={self.heads}, pairs=[{pairs}], out_channels={self.out_channels}")
