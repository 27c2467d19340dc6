"""Models assembled from ``mmgraph.nn`` parts: the graph model and the fusion baselines."""

from mmgraph.models.build import MODELS, build_heads, build_model, selected_tasks
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.models.outputs import ModelOutput

__all__ = [
    "MODELS",
    "DataSpec",
    "ModelConfig",
    "ModelOutput",
    "MultimodalGNN",
    "build_heads",
    "build_model",
    "selected_tasks",
]
