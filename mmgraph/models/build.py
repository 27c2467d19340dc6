"""``build_model(config, spec)``: one function builds any registered model from a config."""

from __future__ import annotations

from typing import Any

from torch import nn

from mmgraph.modality import MODALITIES
from mmgraph.models.baselines.branch import ModalityBranch
from mmgraph.models.baselines.early_fusion import EarlyFusion
from mmgraph.models.baselines.late_fusion import LateFusion
from mmgraph.models.baselines.low_rank_fusion import LowRankTensorFusion
from mmgraph.models.baselines.mult import MulT
from mmgraph.models.baselines.tensor_fusion import TensorFusion
from mmgraph.models.baselines.transformer import EarlyFusionTransformer
from mmgraph.models.baselines.unimodal import UnimodalModel
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.nn.conv import CONVS
from mmgraph.nn.encoders import DEFAULT_ENCODERS, ENCODERS, default_text_encoder
from mmgraph.nn.heads import HEADS, ClusterHead, Head, MultiTaskHead
from mmgraph.nn.readout import READOUTS
from mmgraph.registry import Registry
from mmgraph.task import Task

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
    """The head ``HEADS`` registers for the task's kind."""
    if task.kind not in HEADS:
        raise ValueError(f"no head for task kind {task.kind!r} of task {task.name!r}; registered: {HEADS.list()}")
    return HEADS.create(task.kind, task, channels, dropout)


def build_heads(config: ModelConfig, spec: DataSpec, channels: int | None = None) -> MultiTaskHead:
    """One head per selected task (plus a ``cluster`` head when ``num_clusters`` is set)."""
    channels = channels or config.hidden
    tasks = selected_tasks(config, spec)
    heads: dict[str, Head] = {name: build_head_for_task(t, channels, config.dropout) for name, t in tasks.items()}
    if config.num_clusters:
        label = next((t.target for t in spec.tasks.values() if t.kind == "classification"), "y")
        heads["cluster"] = ClusterHead("cluster", channels, config.num_clusters, target=label)
    return MultiTaskHead(heads, config.task_weights)


def with_default_text_encoder(config: ModelConfig, modalities) -> ModelConfig:
    """``config`` for a new run on data with ``modalities``: where it names no text encoder and the
    environment's default (``default_text_encoder``) is not ``DEFAULT_ENCODERS``' one, that default
    written in, so the run records what it trains (and loads back the same anywhere)."""
    uses = config.modalities if config.modalities is not None else modalities
    if "text" not in uses or "text" not in modalities or "text" in config.encoders:
        return config
    name = default_text_encoder()
    if name == DEFAULT_ENCODERS["text"]:
        return config
    return config.replace(encoders={**config.encoders, "text": name})


def build_encoder(node_type: str, config: ModelConfig, spec: DataSpec) -> nn.Module:
    """The encoder ``config.encoders`` names for ``node_type`` (else its default), built by ``ENCODERS``."""
    name = config.encoders.get(node_type) or DEFAULT_ENCODERS.get(node_type)
    if name is None and node_type in MODALITIES:  # a registered modality may name its default encoder
        name = MODALITIES.get(node_type).default_encoder
    if name is None:
        raise ValueError(f"no default encoder for node type {node_type!r}; name one in ModelConfig.encoders")
    if name not in ENCODERS:
        raise ValueError(f"ModelConfig.encoders[{node_type!r}]: unknown encoder {name!r}; "
                         f"registered: {', '.join(ENCODERS.list())}")
    try:
        return ENCODERS.create(name, node_type, config, spec)
    except ValueError as exc:  # the encoder names its own arguments ('channels'): say which setting it got
        raise ValueError(f"the {node_type} encoder {name!r} with 'hidden' = {config.hidden}: {exc}") from None


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
        isolated_aux_weight=config.isolated_aux_weight, token_unk_rate=config.token_unk_rate,
        token_random_rate=config.token_random_rate, vocab_size=spec.in_features.get("text"),
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


# ----------------------------------------------------------------------------------- fusion baselines


def model_options(config: ModelConfig, defaults: dict[str, Any]) -> dict[str, Any]:
    """``config.options`` over a model's defaults; options the model does not know are an error."""
    unknown = sorted(set(config.options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown options {unknown} for model {config.name!r}; valid: {sorted(defaults) or 'none'}")
    return {**defaults, **config.options}


def baseline_spec(config: ModelConfig, spec: DataSpec) -> DataSpec:
    """The spec restricted to ``config.modalities`` (all of the data's when ``None``)."""
    return spec.restrict(config.modalities) if config.modalities is not None else spec


def build_branch(modality: str, config: ModelConfig, spec: DataSpec) -> ModalityBranch:
    """A modality's own pathway: the graph model's encoder, ``layers`` self-attention layers, pooling."""
    return ModalityBranch(modality, build_encoder(modality, config, spec), config.hidden, config.layers,
                          config.heads, config.ff_mult * config.hidden, config.dropout)


@MODELS.register("unimodal")
def build_unimodal(config: ModelConfig, spec: DataSpec) -> UnimodalModel:
    """One modality (``config.modalities``, exactly one): its branch and the task heads."""
    if config.modalities is None or len(config.modalities) != 1:
        raise ValueError(f"the unimodal baseline needs exactly one modality in ModelConfig.modalities "
                         f"(got {config.modalities})")
    model_options(config, {})
    spec = spec.restrict(config.modalities)
    return UnimodalModel(build_branch(spec.modalities[0], config, spec), build_heads(config, spec))


@MODELS.register("early_fusion")
def build_early_fusion(config: ModelConfig, spec: DataSpec) -> EarlyFusion:
    """The source document's example: Conv2D / LSTM / Conv1d branches, concatenated, Dense(``hidden``).

    Options (defaults): ``conv_channels`` (64), ``embed_dim`` (64), ``lstm_hidden`` (64),
    ``audio_channels`` (64), ``image_size`` ([28, 28] pixels); the Conv1d spans ``config.audio_kernel`` frames.
    """
    spec = baseline_spec(config, spec)
    options = model_options(config, {"conv_channels": 64, "embed_dim": 64, "lstm_hidden": 64,
                                     "audio_channels": 64, "image_size": [28, 28]})
    return EarlyFusion(
        {m: spec.in_features[m] for m in spec.modalities}, build_heads(config, spec), config.hidden,
        patch_size=spec.patch_size, image_size=options["image_size"],
        conv_channels=options["conv_channels"], embed_dim=options["embed_dim"], lstm_hidden=options["lstm_hidden"],
        audio_channels=options["audio_channels"], audio_kernel=config.audio_kernel,
    )


@MODELS.register("late_fusion")
def build_late_fusion(config: ModelConfig, spec: DataSpec) -> LateFusion:
    """One branch per modality; ``options["late_fusion"]``: ``"mean"`` of logits or ``"concat"`` → linear."""
    spec = baseline_spec(config, spec)
    combine = model_options(config, {"late_fusion": "mean"})["late_fusion"]
    modalities = sorted(spec.modalities)
    branches = nn.ModuleDict({m: build_branch(m, config, spec) for m in modalities})
    modality_heads = None
    if combine == "mean":
        # only the first modality's heads own losses, standardisation and clustering (see LateFusion)
        plain = config.replace(num_clusters=None, task_weights={})
        modality_heads = nn.ModuleDict({m: build_heads(plain, spec) for m in modalities[1:]})
    return LateFusion(branches, build_heads(config, spec), modality_heads, combine)


@MODELS.register("tensor_fusion")
def build_tensor_fusion(config: ModelConfig, spec: DataSpec) -> TensorFusion:
    """Outer product of per-modality embeddings of width ``options["fusion_dim"]`` (default 16), MLP."""
    spec = baseline_spec(config, spec)
    options = model_options(config, {"fusion_dim": 16})
    branches = nn.ModuleDict({m: build_branch(m, config, spec) for m in spec.modalities})
    return TensorFusion(branches, build_heads(config, spec), config.hidden, options["fusion_dim"], config.dropout)


@MODELS.register("low_rank_fusion")
def build_low_rank_fusion(config: ModelConfig, spec: DataSpec) -> LowRankTensorFusion:
    """Tensor fusion with rank ``options["rank"]`` (default 4) factors of width ``options["fusion_dim"]`` (16)."""
    spec = baseline_spec(config, spec)
    options = model_options(config, {"fusion_dim": 16, "rank": 4})
    branches = nn.ModuleDict({m: build_branch(m, config, spec) for m in spec.modalities})
    return LowRankTensorFusion(branches, build_heads(config, spec), config.hidden, options["fusion_dim"],
                               options["rank"])


@MODELS.register("mult")
def build_mult(config: ModelConfig, spec: DataSpec) -> MulT:
    """MulT-style crossmodal transformer over the graph model's encoders (needs two modalities or more)."""
    spec = baseline_spec(config, spec)
    model_options(config, {})
    if len(spec.modalities) < 2:
        raise ValueError(f"the MulT baseline needs at least two modalities (got {list(spec.modalities)})")
    encoders = nn.ModuleDict({m: build_encoder(m, config, spec) for m in spec.modalities})
    num = len(spec.modalities)
    head = build_heads(config, spec, channels=num * (num - 1) * config.hidden)
    return MulT(encoders, head, config.hidden, config.layers, config.heads, config.ff_mult * config.hidden,
                config.dropout, config.attn_dropout)


def build_model(config: ModelConfig, spec: DataSpec) -> nn.Module:
    """Build the model ``config.name`` names (``MODELS.list()``) for data described by ``spec``."""
    return MODELS.create(config.name, config, spec)
