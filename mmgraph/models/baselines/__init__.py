"""Fusion baselines in the same harness as the graph model (same data, heads, trainer)."""

from mmgraph.models.baselines.common import BaselineModel
from mmgraph.models.baselines.transformer import EarlyFusionTransformer

__all__ = ["BaselineModel", "EarlyFusionTransformer"]
