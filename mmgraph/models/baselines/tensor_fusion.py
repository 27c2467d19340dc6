"""``TensorFusion``: the Tensor Fusion Network's outer product of modality embeddings (Zadeh et al. 2017)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.models.baselines.common import ProjectedFusion
from mmgraph.nn.heads import MultiTaskHead


class TensorFusion(ProjectedFusion):
    r"""Tensor fusion: every product of one feature per modality, then an MLP (Zadeh et al., EMNLP 2017).

    Each modality's pooled branch embedding is projected to a small width ``f`` and extended by a
    constant 1; the fused representation is their outer product, flattened, so that it holds the
    unimodal terms, every bimodal product and every trimodal product at once:

    .. math::
        Z = \begin{bmatrix} z_1 \\ 1 \end{bmatrix} \otimes \begin{bmatrix} z_2 \\ 1 \end{bmatrix}
            \otimes \cdots, \qquad
        h = \mathrm{ReLU}(W_2\, \mathrm{ReLU}(W_1 \operatorname{vec}(Z) + b_1) + b_2)

    ``vec(Z)`` has ``(f + 1)^T`` entries (4,913 for three modalities at ``f = 16``).

    Missing modality: its ``z_m`` is zero while its constant 1 stays, so the product keeps exactly
    the terms of the present modalities (the role the 1 has in the paper).

    Args:
        branches: modality → ``ModalityBranch`` (width ``d``).
        head: graph-level task heads of width ``channels``.
        channels: width of the post-fusion MLP.
        fusion_dim: ``f``, the width of each modality's embedding in the product.
        dropout: dropout after the first MLP layer.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, channels)``, ``modality_embeddings``
          ``(B, T, f)``, ``modality_present`` ``(B, T)``
    """

    def __init__(self, branches: nn.ModuleDict, head: MultiTaskHead, channels: int, fusion_dim: int = 16,
                 dropout: float = 0.0) -> None:
        super().__init__(branches, head, fusion_dim)
        self.channels = channels
        self.fused_features = (fusion_dim + 1) ** len(self.modalities)
        self.mlp = nn.Sequential(
            nn.Linear(self.fused_features, channels), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(channels, channels), nn.ReLU(),
        )

    def fuse(self, embeddings: list[Tensor]) -> Tensor:
        fused = None
        for z in embeddings:
            z1 = F.pad(z, (0, 1), value=1.0)  # (B, f + 1)
            fused = z1 if fused is None else (fused[:, :, None] * z1[:, None, :]).flatten(1)  # (B, prod (f + 1))
        return self.mlp(fused)  # (B, channels)

    def extra_repr(self) -> str:
        return (f"modalities={self.modalities}, fusion_dim={self.fusion_dim}, "
                f"fused_features={self.fused_features}, channels={self.channels}")

