"""What every baseline shares: heads, loss, parameter count, and the masks of missing nodes."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import Head, MultiTaskHead
from mmgraph.nn.prepare import Embed, TrainingData, fit_encoder_inputs


class BaselineModel(nn.Module):
    """Base of the fusion baselines: same heads and losses as the graph model."""

    supports_dense_blocks = True
    """Baselines read nodes only, never an edge list: their batches skip the complete blocks' lists."""

    def __init__(self, head: MultiTaskHead, modalities: list[str]) -> None:
        super().__init__()
        self.head = head
        self.modalities = sorted(modalities)

    @property
    def task_heads(self) -> Mapping[str, Head]:
        """Task name → head: what the ``Trainer`` evaluates and selects on."""
        return self.head.heads

    def fitted_encoders(self) -> Mapping[str, nn.Module]:
        """The encoders whose input statistics ``prepare`` fits: the model's ``encoders`` where it has
        them (MulT, the early-fusion transformer). The branch models (unimodal, late, tensor and
        low-rank fusion) keep their encoders inside ``ModalityBranch``es, which have never been
        fitted; the committed benchmark numbers were measured so."""
        return getattr(self, "encoders", {})

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Data-dependent set-up before training (``mmgraph.nn.prepare``): encoder input statistics
        (``fitted_encoders``), then the heads (target standardisation, cluster centroids)."""
        fit_encoder_inputs(self.fitted_encoders(), data)
        self.head.prepare(data, embed, seed)

    def loss(self, output: ModelOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        return self.head.loss(output.predictions, batch, output.node_keep)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class ProjectedFusion(BaselineModel):
    """Base of the product fusions (tensor, low-rank): each modality's pooled branch embedding
    projected to ``fusion_dim`` (zero where the modality is missing), then ``fuse`` → ``(B, c)``."""

    def __init__(self, branches: nn.ModuleDict, head: MultiTaskHead, fusion_dim: int) -> None:
        super().__init__(head, list(branches.keys()))
        require_graph_level(head, type(self).__name__)
        if not isinstance(fusion_dim, int) or fusion_dim < 1:
            raise ValueError(f"'fusion_dim' must be a positive int (got {fusion_dim!r})")
        self.fusion_dim = fusion_dim
        self.branches = nn.ModuleDict({m: branches[m] for m in self.modalities})
        self.project = nn.ModuleDict({m: nn.Linear(b.channels, fusion_dim) for m, b in self.branches.items()})

    def fuse(self, embeddings: list[Tensor]) -> Tensor:
        """``T`` embeddings ``(B, f)`` (in ``self.modalities`` order) → the graph embedding ``(B, c)``."""
        raise NotImplementedError

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        embeddings, present = [], []
        for m in self.modalities:
            out = self.branches[m](batch, ctx)
            embeddings.append(self.project[m](out.pooled) * out.present[:, None])  # (B, f), zero where missing
            present.append(out.present)
        graph = self.fuse(embeddings)  # (B, c)
        return ModelOutput(self.head(graph, {}), graph, modality_embeddings=torch.stack(embeddings, dim=1),
                           modality_present=torch.stack(present, dim=1), modalities=list(self.modalities))


def require_graph_level(head: MultiTaskHead, model: str) -> None:
    """Refuse node-level tasks: the fusion baselines predict one output per sample."""
    node_tasks = [f"{name!r} ({h.node_type} nodes)" for name, h in head.heads.items() if h.level == "node"]
    if node_tasks:
        raise ValueError(
            f"{model} predicts graph-level tasks only (got node-level tasks {', '.join(node_tasks)}); "
            f"train node-level tasks with the graph model ('mmgnn')"
        )


def key_padding_mask(mask: Tensor) -> Tensor:
    """``nn.MultiheadAttention``'s ``key_padding_mask`` (True = ignore) for a ``(B, N)`` real-node mask.

    Rows without any real key keep their first (padding) slot visible: a fully masked row gives NaN in
    the attention's fast path, and NaN would leak into gradients even where the row is discarded.
    Callers drop or zero those rows' outputs.
    """
    padding = ~mask
    if padding.shape[1] > 0:
        padding[:, 0] &= mask.any(dim=1)
    return padding


def masked_mean(dense: Tensor, mask: Tensor) -> Tensor:
    """Mean over the real rows of ``(B, N, F)`` under a ``(B, N)`` mask; ``(B, F)``, zeros where none."""
    weights = mask.to(dense.dtype) / mask.sum(dim=1, keepdim=True).clamp_min(1)  # (B, N)
    return torch.bmm(weights[:, None, :], dense).squeeze(1)
