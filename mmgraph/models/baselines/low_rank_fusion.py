"""``LowRankTensorFusion``: tensor fusion with rank-``r`` modality factors (LMF, Liu et al. 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmgraph.models.baselines.common import ProjectedFusion
from mmgraph.nn.heads import MultiTaskHead


class LowRankTensorFusion(ProjectedFusion):
    r"""Low-rank multimodal fusion (Liu et al., ACL 2018): ``TensorFusion``'s linear map of the outer
    product, with the weight tensor constrained to rank ``r``, computed without forming the product.

    .. math::
        h = \sum_{i=1}^{r} w_i \bigodot_{m=1}^{T} W_m^{(i)\top} \begin{bmatrix} z_m \\ 1 \end{bmatrix} + b,
        \qquad W_m^{(i)} \in \mathbb{R}^{(f+1) \times c}

    equal to ``W vec(Z) + b`` with ``W = \sum_i w_i \, W_1^{(i)} \otimes \cdots \otimes W_T^{(i)}``.
    Factors and rank weights start Xavier-normal, as in the paper's code.

    Missing modality: its ``z_m`` is zero while the constant 1 stays (as in ``TensorFusion``), so the
    modality's factor contributes only its bias row ``W_m^{(i)}[f]``.

    Args:
        branches: modality → ``ModalityBranch`` (width ``d``).
        head: graph-level task heads of width ``channels``.
        channels: ``c``, the fused width (the graph embedding).
        fusion_dim: ``f``, each modality's embedding width in the product.
        rank: ``r``.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, channels)``, ``modality_embeddings``
          ``(B, T, f)``, ``modality_present`` ``(B, T)``
    """

    def __init__(self, branches: nn.ModuleDict, head: MultiTaskHead, channels: int, fusion_dim: int = 16,
                 rank: int = 4) -> None:
        super().__init__(branches, head, fusion_dim)
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"'rank' must be a positive int (got {rank!r})")
        self.channels, self.rank = channels, rank
        self.factors = nn.ParameterDict({m: nn.Parameter(torch.empty(rank, fusion_dim + 1, channels))
                                         for m in self.modalities})
        self.rank_weights = nn.Parameter(torch.empty(1, rank))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for factor in self.factors.values():
            nn.init.xavier_normal_(factor)
        nn.init.xavier_normal_(self.rank_weights)
        nn.init.zeros_(self.bias)

    def fuse(self, embeddings: list[Tensor]) -> Tensor:
        """``T`` embeddings ``(B, f)`` → ``(B, c)``."""
        product = None
        for m, z in zip(self.modalities, embeddings):
            z1 = F.pad(z, (0, 1), value=1.0)  # (B, f + 1)
            h = torch.einsum("bf,rfc->rbc", z1, self.factors[m])  # (r, B, c)
            product = h if product is None else product * h
        return torch.einsum("r,rbc->bc", self.rank_weights[0], product) + self.bias  # (B, c)

    def extra_repr(self) -> str:
        return (f"modalities={self.modalities}, fusion_dim={self.fusion_dim}, rank={self.rank}, "
                f"channels={self.channels}")
