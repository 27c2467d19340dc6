"""The self-supervised graph model: a ``MultimodalGNN`` with pretraining objectives, and its config.

``SelfSupervisedModel`` wraps the graph model and a set of objectives (``mmgraph.models.objectives``)
with weights; it has the ``forward`` / ``loss`` / ``task_heads`` / ``prepare`` the ``Trainer`` needs,
so pretraining gets the trainer's schedule, checkpoints and resume for free (``mmgraph.train.pretrain``
runs it into a run folder). ``build_pretrain_model`` builds it from a ``ModelConfig`` and a
``PretrainConfig``. Labels are never read.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.config import ConfigMixin
from mmgraph.graph.config import GraphConfig
from mmgraph.models.build import build_model
from mmgraph.models.config import DataSpec, ModelConfig
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.models.objectives import CrossModalContrastive, MaskedNodeObjective, ObjectiveOutput
from mmgraph.nn.augment import spec_augment
from mmgraph.nn.heads import Head
from mmgraph.nn.prepare import Embed, TrainingData, fit_encoder_inputs
from mmgraph.task import Task

OBJECTIVES = ("masked", "contrastive", "both")
"""Values of ``PretrainConfig.objective``."""

AUGMENTATIONS = {
    "redraw": "every epoch after the first, each training sample's nuisance is re-drawn by its dataset "
              "(MultimodalDataset.resample_nuisance; AV-MNIST: noise clip, offset and SNR; labels unchanged); "
              "datasets without the hook: not applied",
    "specaugment": "audio log-mel frames: one block of up to spec_bands bands and one of up to spec_time of each "
                   "clip's frames set to the band mean (contrastive views only)",
    "patch_dropout": "image patches and text tokens: patch_dropout of each separate view's nodes dropped "
                     "(contrastive views only)",
}
"""Values of ``PretrainConfig.augment`` and the data each applies to (others are left as they are)."""

PATCH_DROPOUT_MODALITIES = ("image", "text")
"""The modalities ``patch_dropout`` drops nodes of (image grid patches; text tokens)."""

BACKBONE_PREFIX = "model."
"""Where the graph model's tensors sit in a ``SelfSupervisedModel`` checkpoint."""

UNUSED_TASK = Task("unused", "regression", "unused")
"""``MultimodalGNN`` always has a head; the pretraining backbone gets this one, which no loss reads
and which is not transferred to a fine-tuned model."""


# ---------------------------------------------------------------------------------------- config


@dataclass
class PretrainConfig(ConfigMixin):
    """What to pretrain with. The defaults are the cross-modal recipe that learns on AV-MNIST (issue 12):
    separate-view InfoNCE at a fixed temperature 0.1 with 128-d projections, the joint-pass term at
    weight 0.5, and every augmentation (each applies where the data has what it changes).

    Args:
        objective: ``"masked"``, ``"contrastive"`` or ``"both"``.
        mask_ratio: fraction of each modality's nodes masked per sample (rounded, half up).
        masked_loss: ``"sce"`` (scaled cosine error, GraphMAE) or ``"mse"`` for continuous nodes;
            token ids always use cross-entropy.
        sce_gamma: exponent of the scaled cosine error.
        masked_weight, contrastive_weight: loss weights of the two objectives (``both``).
        temperature: InfoNCE temperature (the initial one with ``learn_temperature``).
        learn_temperature: learn the temperature (CLIP) instead of keeping it fixed.
        projection: width of the contrastive projection heads.
        views: ``"separate"``: each modality's embedding comes from a pass over that modality's
            nodes alone (the default: with cross-modal edges, one modality's pooled embedding
            already carries the other's features, and InfoNCE is solved by copying them);
            ``"joint"``: both from one pass over the whole graph (``ModelOutput.modality_embeddings``).
        modality_dropout: the backbone's modality dropout while pretraining (the objectives
            already corrupt their input; 0 by default).
        joint_weight: weight of the joint-pass alignment term (``CrossModalContrastive``): trains the
            cross-modal layers and the modality gate, which separate views never run; 0: none.
        augment: augmentations (``AUGMENTATIONS``: ``redraw``, ``specaugment``, ``patch_dropout``).
        spec_bands, spec_time: ``specaugment``'s largest band block and time block (fraction of a clip).
        patch_dropout: ``patch_dropout``'s fraction of nodes dropped.
        chance_guard: fail a contrastive run whose train InfoNCE stays within ``chance_tolerance`` of
            chance (``ln batch``) after the warm-up (``mmgraph.train.pretrain.LossAtChance``).
        chance_tolerance: the guard's margin (0.02: a loss above 0.98 ln B fails).
        guard_epochs, guard_steps: the guard's warm-up: it checks from the first epoch end at which
            both this many epochs and this many steps are done, and at the end of the run.
        heldout: validation samples on which the held-out losses are logged every epoch.
    """

    objective: str = "contrastive"
    mask_ratio: float = 0.5
    masked_loss: str = "sce"
    sce_gamma: float = 2.0
    masked_weight: float = 1.0
    contrastive_weight: float = 1.0
    temperature: float = 0.1
    learn_temperature: bool = False
    projection: int = 128
    views: str = "separate"
    modality_dropout: float = 0.0
    joint_weight: float = 0.5
    augment: list[str] = field(default_factory=lambda: list(AUGMENTATIONS))
    spec_bands: int = 8
    spec_time: float = 0.2
    patch_dropout: float = 0.2
    chance_guard: bool = True
    chance_tolerance: float = 0.02
    guard_epochs: int = 2
    guard_steps: int = 400
    heldout: int = 2560

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"'objective' must be one of {OBJECTIVES} (got {self.objective!r})")
        if not 0.0 < self.mask_ratio <= 1.0:
            raise ValueError(f"'mask_ratio' must be in (0, 1] (got {self.mask_ratio})")
        if self.masked_loss not in ("sce", "mse"):
            raise ValueError(f"'masked_loss' must be 'sce' or 'mse' (got {self.masked_loss!r})")
        if self.views not in ("separate", "joint"):
            raise ValueError(f"'views' must be 'separate' or 'joint' (got {self.views!r})")
        if self.temperature <= 0:
            raise ValueError(f"'temperature' must be > 0 (got {self.temperature})")
        unknown = sorted(set(self.augment) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"'augment': unknown augmentations {unknown} (valid: {list(AUGMENTATIONS)})")
        if self.joint_weight < 0 or (self.joint_weight > 0 and self.views != "separate"):
            raise ValueError(f"'joint_weight' must be >= 0, and 0 with views='joint' (got {self.joint_weight})")
        if not 0.0 <= self.patch_dropout < 1.0 or not 0.0 <= self.spec_time < 1.0 or self.spec_bands < 0:
            raise ValueError(f"'patch_dropout' and 'spec_time' must be in [0, 1) and 'spec_bands' >= 0 (got "
                             f"{self.patch_dropout}, {self.spec_time}, {self.spec_bands})")
        if not 0.0 < self.chance_tolerance < 1.0:
            raise ValueError(f"'chance_tolerance' must be in (0, 1) (got {self.chance_tolerance})")

    @property
    def objectives(self) -> list[str]:
        return ["contrastive", "masked"] if self.objective == "both" else [self.objective]


# --------------------------------------------------------------------------------------- wrapper


@dataclass
class PretrainOutput:
    """What ``SelfSupervisedModel`` returns: each objective's output."""

    objectives: dict[str, ObjectiveOutput]


class SelfSupervisedModel(nn.Module):
    """A graph model plus pretraining objectives, trainable by the ``Trainer`` (no labels read).

    ``forward`` runs every objective on the batch; ``loss`` is their weighted sum (with every
    objective's parts). The graph model is ``self.model``: its tensors are saved under ``model.``,
    which is what ``init_from`` copies into a model to fine-tune.

    Args:
        model: the ``MultimodalGNN`` to pretrain.
        objectives: name → objective module (``objective(model, batch) → ObjectiveOutput``).
        weights: name → loss weight (default 1).
        spec_augment: ``(max_bands, max_time)`` of SpecAugment on the ``audio`` frames the contrastive
            objective sees while training (``None``: none; ``mmgraph.nn.augment.spec_augment``).
    """

    def __init__(self, model: MultimodalGNN, objectives: Mapping[str, nn.Module],
                 weights: Mapping[str, float] | None = None,
                 spec_augment: tuple[int, float] | None = None) -> None:
        super().__init__()
        if not objectives:
            raise ValueError("SelfSupervisedModel needs at least one objective")
        self.model = model
        self.objectives = nn.ModuleDict({k: objectives[k] for k in sorted(objectives)})
        weights = dict(weights or {})
        unknown = set(weights) - set(objectives)
        if unknown:
            raise ValueError(f"weights for unknown objectives {sorted(unknown)} (objectives: {sorted(objectives)})")
        self.weights = {k: float(weights.get(k, 1.0)) for k in self.objectives}
        self.spec_augment = spec_augment

    @property
    def supports_dense_blocks(self) -> bool:
        """The graph model's (the objectives read the batch through it)."""
        return bool(getattr(self.model, "supports_dense_blocks", False))

    @property
    def task_heads(self) -> Mapping[str, Head]:
        """No task heads: the ``Trainer`` evaluates only the loss (and selects on it)."""
        return MappingProxyType({})

    def prepare(self, data: TrainingData, embed: Embed, seed: int = 0) -> None:
        """Data-dependent set-up before training: the graph model's encoder input statistics (its
        unused task head is left as built)."""
        fit_encoder_inputs(self.model.encoders, data)

    def augmented(self, batch: HeteroData) -> HeteroData:
        """The batch the contrastive objective reads while training: the audio frames SpecAugment-masked
        (a shallow copy; ``batch`` is unchanged). The fill is the frame encoder's per-band input mean."""
        encoder = self.model.encoders["audio"] if "audio" in self.model.encoders else None
        if (self.spec_augment is None or not self.training or encoder is None or not hasattr(encoder, "input_mean")
                or "audio" not in batch.node_types or not batch["audio"].x.is_floating_point()):
            return batch
        out = copy.copy(batch)
        out["audio"].x = spec_augment(batch["audio"].x, batch["audio"].batch, batch.num_graphs, encoder.input_mean,
                                      max_bands=self.spec_augment[0], max_time=self.spec_augment[1])
        return out

    def forward(self, batch: HeteroData) -> PretrainOutput:
        outputs = {}
        for name, objective in self.objectives.items():
            outputs[name] = objective(self.model, self.augmented(batch) if name == "contrastive" else batch)
        return PretrainOutput(outputs)

    def loss(self, output: PretrainOutput, batch: HeteroData) -> tuple[Tensor, dict[str, Tensor]]:
        total = None
        parts: dict[str, Tensor] = {}
        for name, out in output.objectives.items():
            parts[name] = out.loss
            parts.update(out.parts)
            term = self.weights[name] * out.loss
            total = term if total is None else total + term
        return total, parts

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {v!r} (w={self.weights[k]:g})" for k, v in self.objectives.items())
        return f"SelfSupervisedModel({self.model.__class__.__name__}, {inner})"


def backbone_config(model_config: ModelConfig, pretrain_config: PretrainConfig) -> ModelConfig:
    """The config the pretraining backbone is built from: the model's, with the unused task and
    the pretraining modality dropout (no supervised auxiliary losses, no token replacement: the
    objectives define the training signal)."""
    if model_config.name != "mmgnn":
        raise ValueError(f"pretraining needs the graph model 'mmgnn' (got model {model_config.name!r})")
    return model_config.replace(tasks=[UNUSED_TASK.name], task_weights={}, num_clusters=None,
                                modality_dropout=pretrain_config.modality_dropout, unimodal_weight=0.0,
                                isolated_aux_weight=0.0, token_unk_rate=0.0)


def build_pretrain_model(model_config: ModelConfig, graph_config: GraphConfig,
                         pretrain_config: PretrainConfig | None = None) -> SelfSupervisedModel:
    """The graph model of ``model_config`` for data of ``graph_config``, with the configured objectives."""
    pc = pretrain_config or PretrainConfig()
    spec = DataSpec.from_graph_config(graph_config, {UNUSED_TASK.name: UNUSED_TASK})
    model = build_model(backbone_config(model_config, pc), spec)
    objectives: dict[str, nn.Module] = {}
    weights: dict[str, float] = {}
    if "masked" in pc.objectives:
        objectives["masked"] = MaskedNodeObjective.for_model(model, mask_ratio=pc.mask_ratio, loss=pc.masked_loss,
                                                             gamma=pc.sce_gamma)
        weights["masked"] = pc.masked_weight
    if "contrastive" in pc.objectives:
        drop = {m: pc.patch_dropout for m in PATCH_DROPOUT_MODALITIES
                if "patch_dropout" in pc.augment and m in model.modalities}
        objectives["contrastive"] = CrossModalContrastive.for_model(
            model, projection=pc.projection, temperature=pc.temperature, views=pc.views,
            learn_temperature=pc.learn_temperature, node_dropout=drop, joint_weight=pc.joint_weight)
        weights["contrastive"] = pc.contrastive_weight
    spec = (pc.spec_bands, pc.spec_time) if "specaugment" in pc.augment and "contrastive" in pc.objectives else None
    return SelfSupervisedModel(model, objectives, weights, spec)


__all__ = [
    "AUGMENTATIONS",
    "BACKBONE_PREFIX",
    "OBJECTIVES",
    "UNUSED_TASK",
    "PretrainConfig",
    "PretrainOutput",
    "SelfSupervisedModel",
    "backbone_config",
    "build_pretrain_model",
]
