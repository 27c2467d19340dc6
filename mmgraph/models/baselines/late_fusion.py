"""``LateFusion``: one model per modality, decisions combined (mean of logits) or embeddings concatenated."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.data import HeteroData

from mmgraph.models.baselines.common import BaselineModel, require_graph_level
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import MultiTaskHead

COMBINE_MODES = ("mean", "concat")


class LateFusion(BaselineModel):
    r"""Late fusion: every modality has its own model (a ``ModalityBranch``), fused at the very end.

    ``combine="mean"`` (decision-level): each modality has its own task heads, and a task's
    prediction is the mean of the per-modality outputs over the modalities present in the sample
    (logits for classification, standardised values for regression: the mean of the decoded
    values too):

    .. math::
        \hat y = \frac{1}{|M_b|} \sum_{m \in M_b} \mathrm{head}_m(p_m)

    ``combine="concat"`` (feature-level, the TorchMultimodal ``LateFusion``): the per-modality
    embeddings are concatenated and projected, ``z = W [p_1; \dots; p_T] + b``, then one set of heads.

    Loss and metrics (mean mode): ``head`` is the first modality's heads *and* the owner of the
    losses, metrics, decoding and target standardisation for the combined predictions (that is what
    the trainer fits and evaluates); ``modality_heads`` holds the other modalities' heads, of which
    only the output layers are used. A ``cluster`` head, having no per-modality meaning, reads the
    graph embedding, the mean of the present modalities' embeddings.

    Missing modality (mean): the mean runs over the present modalities only; a sample with none
    gets zero logits (uniform) / the training mean. (concat): the missing modality's embedding is zero.

    Args:
        branches: modality → ``ModalityBranch`` of width ``d``.
        head: graph-level task heads (width ``d``).
        modality_heads: (mean) modality → heads for every modality but the first (sorted); the
            same tasks as ``head``, without a cluster head.
        combine: ``"mean"`` or ``"concat"``.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, d)``, ``modality_embeddings``
          ``(B, T, d)``, ``modality_present`` ``(B, T)``
    """

    def __init__(self, branches: nn.ModuleDict, head: MultiTaskHead, modality_heads: nn.ModuleDict | None = None,
                 combine: str = "mean") -> None:
        super().__init__(head, list(branches.keys()))
        require_graph_level(head, type(self).__name__)
        if combine not in COMBINE_MODES:
            raise ValueError(f"'late_fusion' must be one of {COMBINE_MODES} (got {combine!r})")
        self.combine = combine
        self.branches = nn.ModuleDict({m: branches[m] for m in self.modalities})
        self.channels = self.branches[self.modalities[0]].channels
        if combine == "mean":
            expected = set(self.modalities[1:])
            got = set(modality_heads.keys()) if modality_heads is not None else set()
            if got != expected:
                raise ValueError(f"mean late fusion needs heads for modalities {sorted(expected)} (got {sorted(got)})")
            supervised = {n for n, h in head.heads.items() if h.needs_target}
            for m, heads in modality_heads.items():
                if set(heads.heads.keys()) != supervised:
                    raise ValueError(f"the heads of {m!r} are for tasks {sorted(heads.heads.keys())}; "
                                     f"expected {sorted(supervised)}")
            self.modality_heads = nn.ModuleDict({m: modality_heads[m] for m in self.modalities[1:]})
        else:
            if modality_heads:
                raise ValueError("concat late fusion takes no per-modality heads")
            self.modality_heads = None
            self.project = nn.Linear(len(self.modalities) * self.channels, self.channels)

    def heads_of(self, modality: str) -> MultiTaskHead:
        """The task heads applied to one modality's embedding (mean mode)."""
        return self.head if modality == self.modalities[0] else self.modality_heads[modality]

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        outs = [self.branches[m](batch, ctx) for m in self.modalities]
        per_type = torch.stack([o.pooled for o in outs], dim=1)  # (B, T, d)
        present = torch.stack([o.present for o in outs], dim=1)  # (B, T)
        weights = present.to(per_type.dtype) / present.sum(dim=1, keepdim=True).clamp_min(1)  # (B, T)
        if self.combine == "concat":
            graph = self.project(per_type.flatten(1))  # (B, d)
            predictions = self.head(graph, {})
        else:
            graph = torch.bmm(weights[:, None, :], per_type).squeeze(1)  # (B, d) mean of present modalities
            predictions = {}
            for name, head in self.head.heads.items():
                if not head.needs_target:  # clustering: one assignment of the fused embedding
                    predictions[name] = head(graph)
                    continue
                outputs = torch.stack([self.heads_of(m).heads[name](per_type[:, i])
                                       for i, m in enumerate(self.modalities)], dim=1)  # (B, T, *out)
                w = weights.view(*weights.shape, *([1] * (outputs.dim() - 2)))
                predictions[name] = (w * outputs).sum(dim=1)  # (B, *out)
        return ModelOutput(predictions, graph, modality_embeddings=per_type, modality_present=present,
                           gate=weights if self.combine == "mean" else None, modalities=list(self.modalities))

    def extra_repr(self) -> str:
        return f"modalities={self.modalities}, channels={self.channels}, combine={self.combine!r}"
