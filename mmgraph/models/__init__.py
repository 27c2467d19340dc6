"""Models assembled from ``mmgraph.nn`` parts: the graph model, the fusion baselines, and ``PyGModel`` around a
user's PyG GNN."""

from mmgraph.models.build import MODELS, build_heads, build_model, selected_tasks
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.models.outputs import ModelOutput
from mmgraph.models.pyg_model import PyGModel
from mmgraph.models.self_supervised import PretrainConfig, SelfSupervisedModel, build_pretrain_model

__all__ = [
    "MODELS",
    "DataSpec",
    "ModelConfig",
    "ModelOutput",
    "MultimodalGNN",
    "PretrainConfig",
    "PyGModel",
    "SelfSupervisedModel",
    "build_heads",
    "build_model",
    "build_pretrain_model",
    "selected_tasks",
]
