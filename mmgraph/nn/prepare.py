"""The ``prepare`` hook: a model's data-dependent set-up from its training data, before the first step.

The ``Trainer`` calls ``model.prepare(train, embed=..., seed=...)`` once before training (not when
resuming: what it fits is saved in the checkpoints). Every mmgraph model has it and does, in order:

1. ``fit_encoder_inputs``: encoders with a ``fit_inputs`` method (the frame encoder's per-band
   standardisation) read their node type's training features;
2. ``MultiTaskHead.prepare``: each task head's ``Head.prepare`` — regression heads fit their target
   standardisation, cluster heads initialise their centroids by k-means on the graph embeddings
   (``embed()``, computed once for all of them, and only when a head asks).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from torch import Tensor, nn

from mmgraph.typing import NodeType

Embed = Callable[[], Tensor]
"""Graph embeddings ``(n, d)`` of the training data, from the model being prepared (eval mode)."""


class TrainingData(Protocol):
    """What ``prepare`` reads of the training data (a ``GraphDataset`` has it)."""

    columns: Mapping[NodeType, Any]
    """Node type → its packed nodes; ``.x``: ``(N_t, F_t)`` raw features of every training node."""
    y: Tensor
    """``(n,)`` graph labels."""
    targets: Mapping[str, Tensor]
    """Graph-level target name → ``(n,)`` values."""
    node_targets: Mapping[NodeType, Mapping[str, Tensor]]
    """Node type → node-level target name → ``(N_t,)`` values."""


def fit_encoder_inputs(encoders: Mapping[NodeType, nn.Module], data: TrainingData) -> None:
    """Let every encoder with a ``fit_inputs`` method read its node type's training features (on its device)."""
    for node_type, encoder in encoders.items():
        if hasattr(encoder, "fit_inputs") and node_type in data.columns:
            device = next(itertools.chain(encoder.parameters(), encoder.buffers())).device
            encoder.fit_inputs(data.columns[node_type].x.to(device))


__all__ = ["Embed", "TrainingData", "fit_encoder_inputs"]
