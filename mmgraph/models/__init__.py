"""Models assembled from ``mmgraph.nn`` parts: the graph model and the fusion baselines."""

from mmgraph.models.build import MODELS, build_heads, build_model, selected_tasks
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.models.outputs import ModelOutput
from mmgraph.models.self_supervised import PretrainConfig, SelfSupervisedModel, build_pretrain_model

__all__ = [
    "MODELS",
    "DataSpec",
    "ModelConfig",
    "ModelOutput",
    "MultimodalGNN",
    "PretrainConfig",
    "SelfSupervisedModel",
    "build_heads",
    "build_model",
    "build_pretrain_model",
    "selected_tasks",
]
