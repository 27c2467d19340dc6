"""``ModelOutput``: what every mmgraph model returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

from mmgraph.typing import NodeType


@dataclass
class ModelOutput:
    """Predictions plus the embeddings behind them (for inspection, explanation, pretraining).

    Attributes:
        predictions: task name → head output (logits, standardised values, soft assignments).
        graph_embedding: ``(B, d)``.
        modality_embeddings: ``(B, T, d)`` per-modality pooled embeddings (``None`` for models
            without them).
        modality_present: ``(B, T)`` bool.
        gate: ``(B, T)`` modality gate weights, or ``None``.
        modalities: the ``T`` modality names, in order.
        node_embeddings: node type → ``(N_t, d)`` (empty for models without node embeddings).
        node_keep: node type → ``(N_t,)`` bool after modality dropout (``None``: all kept).
        isolated_embeddings: ``(B, T, d)`` per-modality pooled embeddings of the isolated views (every
            edge between two modalities removed), computed in training when the graph model's
            ``isolated_aux_weight`` > 0; else ``None``.
        isolated_present: ``(B, T)`` bool, beside ``isolated_embeddings``.
    """

    predictions: dict[str, Tensor]
    graph_embedding: Tensor
    modality_embeddings: Tensor | None = None
    modality_present: Tensor | None = None
    gate: Tensor | None = None
    modalities: list[str] = field(default_factory=list)
    node_embeddings: dict[NodeType, Tensor] = field(default_factory=dict)
    node_keep: dict[NodeType, Tensor] | None = None
    isolated_embeddings: Tensor | None = None
    isolated_present: Tensor | None = None
