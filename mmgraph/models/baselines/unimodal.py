"""``UnimodalModel``: one modality alone (encoder, intra-modal self-attention, attention pooling, heads)."""

from __future__ import annotations

from torch_geometric.data import HeteroData

from mmgraph.models.baselines.branch import ModalityBranch
from mmgraph.models.baselines.common import BaselineModel, require_graph_level
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.nn.heads import MultiTaskHead


class UnimodalModel(BaselineModel):
    """The single-modality baseline: one ``ModalityBranch`` and the task heads, nothing cross-modal.

    The branch is the graph model's encoder for the modality, ``layers`` self-attention layers
    inside the modality and attention pooling; the heads read the pooled embedding. (The graph model
    itself restricted to one modality is ``ModelConfig(name="mmgnn", modalities=[m])``: it passes
    messages along the modality's graph edges instead.) It is also the per-modality model of
    ``LateFusion``.

    Missing modality: a sample without the modality gets a zero embedding, so the heads give their
    learned prior (the output layer's bias) for it.

    Args:
        branch: the modality's branch (width ``d``).
        head: graph-level task heads of width ``d``.

    Shapes:
        - input: a batched ``HeteroData`` (other modalities are ignored)
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, d)``, ``modality_embeddings``
          ``(B, 1, d)``, ``modality_present`` ``(B, 1)``
    """

    def __init__(self, branch: ModalityBranch, head: MultiTaskHead) -> None:
        super().__init__(head, [branch.modality])
        require_graph_level(head, type(self).__name__)
        self.channels = branch.channels
        self.branch = branch

    def forward(self, batch: HeteroData) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        out = self.branch(batch, ctx)
        return ModelOutput(self.head(out.pooled, {}), out.pooled, modality_embeddings=out.pooled[:, None],
                           modality_present=out.present[:, None], modalities=list(self.modalities))

    def extra_repr(self) -> str:
        return f"modality={self.modalities[0]!r}, channels={self.channels}"
