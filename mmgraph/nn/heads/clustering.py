"""``ClusterHead``: deep embedded clustering (DEC, Xie et al. 2016)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mmgraph.nn.heads.base import Head
from mmgraph.nn.heads.metrics import clustering_metrics
from mmgraph.nn.prepare import Embed, TrainingData


class ClusterHead(Head):
    r"""Soft assignment of graph embeddings to ``k`` learned centroids, trained without labels.

    .. math::
        q_{ij} = \frac{(1 + \lVert z_i - \mu_j \rVert^2 / \alpha)^{-\frac{\alpha+1}{2}}}
                      {\sum_{j'} (1 + \lVert z_i - \mu_{j'} \rVert^2 / \alpha)^{-\frac{\alpha+1}{2}}},
        \qquad
        p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}}, \; f_j = \sum_i q_{ij}

    and the loss is :math:`\mathrm{KL}(P \,\Vert\, Q)` with the sharpened target :math:`P` held
    fixed. Centroids are initialised by k-means on embeddings (``init_centroids``). Labels, when
    the batch has them, are used for metrics only (NMI, ARI, Hungarian-matched accuracy).

    Shapes:
        - input: ``(B, d)``
        - output: ``(B, k)`` soft assignments (rows sum to 1)
    """

    headline = "nmi"
    needs_target = False

    def __init__(self, name: str, channels: int, num_clusters: int, target: str = "y", alpha: float = 1.0,
                 projection: int | None = None) -> None:
        super().__init__(name, target)
        if num_clusters < 2:
            raise ValueError(f"'num_clusters' must be >= 2 (got {num_clusters})")
        self.channels, self.num_clusters, self.alpha = channels, num_clusters, alpha
        dim = projection or channels
        self.project = nn.Identity() if projection is None else nn.Linear(channels, projection)
        self.centroids = nn.Parameter(torch.randn(num_clusters, dim) * 0.1)

    def embed(self, h: Tensor) -> Tensor:
        return self.project(h)

    @torch.no_grad()
    def init_centroids(self, embeddings: Tensor, seed: int = 0) -> None:
        """k-means (scikit-learn, 10 restarts) on embeddings ``(n, d)`` of the head's input."""
        from sklearn.cluster import KMeans

        z = self.embed(embeddings).detach().cpu().double().numpy()
        km = KMeans(self.num_clusters, n_init=10, random_state=seed).fit(z)
        self.centroids.copy_(torch.from_numpy(km.cluster_centers_).to(self.centroids))

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Initialise the centroids by k-means on the model's graph embeddings of the training data."""
        self.init_centroids(embed().to(self.centroids.device), seed=seed)

    def forward(self, h: Tensor) -> Tensor:
        z = self.embed(h)
        dist2 = torch.cdist(z, self.centroids).square()  # (B, k)
        q = (1.0 + dist2 / self.alpha).pow(-(self.alpha + 1.0) / 2.0)
        return q / q.sum(dim=1, keepdim=True)

    @staticmethod
    def target_distribution(q: Tensor) -> Tensor:
        weight = q.square() / q.sum(dim=0)
        return weight / weight.sum(dim=1, keepdim=True)

    def loss(self, pred: Tensor, target: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        p = self.target_distribution(pred).detach()
        return torch.sum(p * (torch.log(p.clamp_min(1e-12)) - torch.log(pred.clamp_min(1e-12)))) / pred.shape[0]

    def decode(self, pred: Tensor) -> Tensor:
        return pred.argmax(dim=-1)

    def probabilities(self, pred: Tensor) -> Tensor:
        """The soft assignments themselves ``(B, k)``."""
        return pred

    def metrics(self, pred: Tensor, target: Tensor | None) -> dict[str, float]:
        if target is None:
            return {}
        return clustering_metrics(self._numpy(self.decode(pred)), np.asarray(self._numpy(target.long())))

    def __repr__(self) -> str:
        return f"ClusterHead({self.name!r}, {self.channels}, num_clusters={self.num_clusters}, alpha={self.alpha})"
