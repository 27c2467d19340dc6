"""``build_model(config, spec)``: one function builds any registered model from a config."""

from __future__ import annotations

from torch import nn

from mmgraph.datasets.base import Task
from mmgraph.models.baselines.transformer import EarlyFusionTransformer
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.nn.conv import CONVS
from mmgraph.nn.encoders import DEFAULT_ENCODERS, ENCODERS
from mmgraph.nn.heads import (
    ClassificationHead,
    ClusterHead,
    Head,
    MultiTaskHead,
    NodeClassificationHead,
    NodeRegressionHead,
    RegressionHead,
)
from mmgraph.nn.readout import READOUTS
from mmgraph.registry import Registry

MODELS: Registry = Registry("model")
"""Model name → ``builder(config: ModelConfig, spec: DataSpec) -> nn.Module``."""


def selected_tasks(config: ModelConfig, spec: DataSpec) -> dict[str, Task]:
    """The tasks a config trains (default: the dataset's first task)."""
    names = config.tasks if config.tasks is not None else list(spec.tasks)[:1]
    unknown = [n for n in names if n not in spec.tasks]
    if unknown:
        raise ValueError(f"unknown tasks {unknown}; the dataset has {list(spec.tasks)}")
    return {n: spec.tasks[n] for n in names}


def build_head_for_task(task: Task, channels: int, dropout: float) -> Head:
    if task.kind == "classification":
        return ClassificationHead(task.name, channels, task.num_classes, task.target, dropout)
    if task.kind == "regression":
        return RegressionHead(task.name, channels, task.target, dropout)
    if task.kind == "node_classification":
        return NodeClassificationHead(task.name, channels, task.num_classes, task.node_type, task.target, dropout)
    if task.kind == "node_regression":
        return NodeRegressionHead(task.name, channels, task.node_type, task.target, dropout)
    raise ValueError(f"no head for task kind {task.kind!r}")


def build_heads(config: ModelConfig, spec: DataSpec, channels: int | None = None) -> MultiTaskHead:
    """One head per selected task (plus a ``cluster`` head when ``num_clusters`` is set)."""
    channels = channels or config.hidden
    tasks = selected_tasks(config, spec)
    heads: dict[str, Head] = {name: build_head_for_task(t, channels, config.dropout) for name, t in tasks.items()}
    if config.num_clusters:
        label = next((t.target for t in spec.tasks.values() if t.kind == "classification"), "y")
        heads["cluster"] = ClusterHead("cluster", channels, config.num_clusters, target=label)
    return MultiTaskHead(heads, config.task_weights)


def build_encoder(node_type: str, config: ModelConfig, spec: DataSpec) -> nn.Module:
    name = config.encoders.get(node_type) or DEFAULT_ENCODERS.get(node_type)
    if name is None:
        raise ValueError(f"no default encoder for node type {node_type!r}; name one in ModelConfig.encoders")
    options: dict = {}
    if name == "patch":
        options = {"patch_size": spec.patch_size, "stem": config.image_stem}
    elif name == "token":
        options = {"context": config.text_context}
    elif name == "frame":
        options = {"kernel_size": config.audio_kernel}
    return ENCODERS.create(name, spec.in_features[node_type], config.hidden, **options)


@MODELS.register("mmgnn")
def build_mmgnn(config: ModelConfig, spec: DataSpec) -> MultimodalGNN:
    """The graph model: per-modality encoders, ``layers`` × ``conv``, readout, task heads."""
    if config.modalities is not None:
        spec = spec.restrict(config.modalities)
    encoders = nn.ModuleDict({t: build_encoder(t, config, spec) for t in spec.node_types})
    layers = [
        CONVS.create(
            config.conv, config.hidden, spec.node_types, spec.edge_types, heads=config.heads,
            dropout=config.dropout, ff_channels=config.ff_mult * config.hidden,
            **({"attn_dropout": config.attn_dropout} if config.conv == "cross_attention" else {}),
        )
        for _ in range(config.layers)
    ]
    readout = READOUTS.create(config.readout, config.hidden, spec.node_types)
    return MultimodalGNN(
        encoders, layers, readout, build_heads(config, spec), spec.node_types, spec.edge_types,
        modality_dropout=config.modality_dropout, unimodal_weight=config.unimodal_weight,
        dense_path=config.dense_path, dense_block_limit=config.dense_block_limit,
    )


@MODELS.register("transformer")
def build_transformer(config: ModelConfig, spec: DataSpec) -> EarlyFusionTransformer:
    """Early-fusion transformer: the same encoders, one ``TransformerEncoder`` over all nodes."""
    if config.modalities is not None:
        spec = spec.restrict(config.modalities)
    encoders = nn.ModuleDict({m: build_encoder(m, config, spec) for m in spec.modalities})
    return EarlyFusionTransformer(encoders, build_heads(config, spec), list(spec.modalities), config.hidden,
                                  config.layers, config.heads, config.ff_mult * config.hidden, config.dropout)


def build_model(config: ModelConfig, spec: DataSpec) -> nn.Module:
    """Build the model ``config.name`` names (``MODELS.list()``) for data described by ``spec``."""
    return MODELS.create(config.name, config, spec)
