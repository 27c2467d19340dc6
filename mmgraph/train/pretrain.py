"""Self-supervised pretraining of the graph model: masked-node reconstruction and cross-modal contrast.

Two objectives, each an ``nn.Module`` that owns only its own parameters (mask tokens, decoders,
projections, temperature) and runs a given ``MultimodalGNN`` on a batch:

- ``MaskedNodeObjective`` (GraphMAE, Hou et al. 2022): a fraction of each modality's nodes per
  sample get a learned mask token *instead of their raw features, before any encoder computation*
  (so a convolution over neighbouring frames never sees a masked frame), the normal model encodes
  the corrupted graph, and a small per-modality decoder reconstructs the masked nodes' features
  (scaled cosine error or MSE; cross-entropy for token ids). Cross-modal edges let one modality
  fill in the other.
- ``CrossModalContrastive`` (CLIP, Radford et al. 2021): symmetric InfoNCE with a learnable
  temperature between the pooled embeddings of two modalities of the same sample.

``SelfSupervisedModel`` wraps the graph model and a set of objectives with weights; it has the
``forward`` / ``loss`` / ``head`` / ``encoders`` the ``Trainer`` needs, so pretraining gets the
trainer's schedule, checkpoints and resume for free. ``pretrain`` / ``pretrain_run`` write a run
folder like ``train_run`` does; ``mmgraph train --init RUN`` then fine-tunes from it: only the
graph model's encoders, layers and readout are copied (not the decoders, projections or the
unused task head; see ``init_from``). Labels are never read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.config import ConfigMixin
from mmgraph.datasets.base import GraphDataset
from mmgraph.featurize import Tokenizer
from mmgraph.graph.config import GraphConfig
from mmgraph.models import DataSpec, ModelConfig, MultimodalGNN, build_model
from mmgraph.nn.context import BatchContext
from mmgraph.nn.encoders import TokenEncoder
from mmgraph.task import Task
from mmgraph.train.checkpoint import load_checkpoint
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.runs import model_config_from
from mmgraph.train.trainer import FitResult, TrainConfig, Trainer, seed_everything
from mmgraph.typing import HUB, Modality, NodeType

log = logging.getLogger(__name__)

OBJECTIVES = ("masked", "contrastive", "both")
"""Values of ``PretrainConfig.objective``."""

BACKBONE_PREFIX = "model."
"""Where the graph model's tensors sit in a ``SelfSupervisedModel`` checkpoint."""

UNUSED_TASK = Task("unused", "regression", "unused")
"""``MultimodalGNN`` always has a head; the pretraining backbone gets this one, which no loss reads
and which is not transferred to a fine-tuned model."""


# ---------------------------------------------------------------------------------------- config


@dataclass
class PretrainConfig(ConfigMixin):
    """What to pretrain with.

    Args:
        objective: ``"masked"``, ``"contrastive"`` or ``"both"``.
        mask_ratio: fraction of each modality's nodes masked per sample (rounded, half up).
        masked_loss: ``"sce"`` (scaled cosine error, GraphMAE) or ``"mse"`` for continuous nodes;
            token ids always use cross-entropy.
        sce_gamma: exponent of the scaled cosine error.
        masked_weight, contrastive_weight: loss weights of the two objectives (``both``).
        temperature: initial InfoNCE temperature (learned; CLIP's 0.07).
        projection: width of the contrastive projection heads.
        views: ``"separate"``: each modality's embedding comes from a pass over that modality's
            nodes alone (the default: with cross-modal edges, one modality's pooled embedding
            already carries the other's features, and InfoNCE is solved by copying them);
            ``"joint"``: both from one pass over the whole graph (``ModelOutput.modality_embeddings``).
        modality_dropout: the backbone's modality dropout while pretraining (the objectives
            already corrupt their input; 0 by default).
    """

    objective: str = "both"
    mask_ratio: float = 0.5
    masked_loss: str = "sce"
    sce_gamma: float = 2.0
    masked_weight: float = 1.0
    contrastive_weight: float = 1.0
    temperature: float = 0.07
    projection: int = 64
    views: str = "separate"
    modality_dropout: float = 0.0

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

    @property
    def objectives(self) -> list[str]:
        return ["contrastive", "masked"] if self.objective == "both" else [self.objective]



# --------------------------------------------------------------------------------------- masking


def mask_nodes(ctx: BatchContext, node_types: Sequence[NodeType], ratio: float,
               generator: torch.Generator | None = None) -> dict[NodeType, Tensor]:
    """Random node masks: in every graph, ``round(ratio * n)`` of the ``n`` nodes of each type.

    Returns node type → ``(N_t,)`` bool (``True``: masked). ``generator`` (CPU) makes it repeatable.
    """
    out = {}
    for t in node_types:
        layout = ctx.layouts[t]
        device = layout.counts.device
        if layout.num_nodes == 0:
            out[t] = torch.zeros(0, dtype=torch.bool, device=device)
            continue
        scores = torch.rand(layout.num_nodes, generator=generator).to(device)
        dense = layout.to_dense(scores, fill=2.0)  # (B, N_max); padding sorts after every real node
        rank = dense.argsort(dim=1).argsort(dim=1)  # (B, N_max): rank of each node within its graph
        k = torch.floor(ratio * layout.counts.to(torch.float64) + 0.5).long()  # (B,)
        out[t] = layout.from_dense(rank < k[:, None])
    return out


def scaled_cosine_error(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    r"""GraphMAE's loss, :math:`\operatorname{mean}_i (1 - \cos(\hat x_i, x_i))^\gamma`, over rows.

    Rows whose target is the zero vector (a blank patch) have no direction and are left out.
    """
    keep = target.norm(dim=-1) > 1e-8
    if not keep.any():
        return pred.sum() * 0.0
    cos = F.cosine_similarity(pred[keep], target[keep], dim=-1)
    return (1.0 - cos).clamp_min(0.0).pow(gamma).mean()


@dataclass
class ObjectiveOutput:
    """What an objective returns: its loss, named parts, and what it computed (for inspection).

    Attributes:
        loss: scalar.
        parts: name → scalar (per modality or modality pair, temperature).
        masks: node type → ``(N_t,)`` bool, masked nodes (masked objective).
        inputs: node type → the model's (corrupted) raw inputs (masked objective).
        node_embeddings: node type → ``(N_t, d)`` after message passing (masked objective).
        reconstructions, targets: node type → ``(M_t, F_t)`` decoder outputs and targets of the
            masked nodes (token types: logits and ids).
        embeddings: ``(B, T, d)`` pooled modality embeddings and ``present`` ``(B, T)`` (contrastive).
    """

    loss: Tensor
    parts: dict[str, Tensor] = field(default_factory=dict)
    masks: dict[NodeType, Tensor] = field(default_factory=dict)
    inputs: dict[NodeType, Tensor] = field(default_factory=dict)
    node_embeddings: dict[NodeType, Tensor] = field(default_factory=dict)
    reconstructions: dict[NodeType, Tensor] = field(default_factory=dict)
    targets: dict[NodeType, Tensor] = field(default_factory=dict)
    embeddings: Tensor | None = None
    present: Tensor | None = None


class MaskedNodeObjective(nn.Module):
    r"""Masked-node reconstruction (a graph autoencoder, as GraphMAE) over every modality.

    For each sample and modality, ``mask_ratio`` of the nodes are masked: continuous inputs (patch
    pixels, mel frames) are replaced by a learned mask token, token ids by ``<mask>``, *before*
    the encoder. The model encodes the corrupted graph; a per-modality decoder
    (``Linear → GELU → Linear``) maps each masked node's embedding back to its features:

    .. math::
        \mathcal{L}_t = \frac{1}{|M_t|} \sum_{i \in M_t} \bigl(1 - \cos(\mathrm{dec}_t(h_i), x_i)\bigr)^{\gamma}

    (or the MSE; cross-entropy for token ids), and the loss is the mean of :math:`\mathcal{L}_t`
    over the types with masked nodes. Targets are the raw features in the units the encoder
    reads them in: standardised with the encoder's input statistics where it has them (the
    frame encoder's per-band mean and std), raw otherwise; the mask token lives in the same units.

    Args:
        in_features: node type → feature width (vocabulary size for token types).
        channels: node embedding width ``d``.
        categorical: node types whose ``x`` are token ids.
        mask_ratio: fraction masked per sample and type.
        loss: ``"sce"`` or ``"mse"`` for continuous types.
        gamma: scaled-cosine exponent.
        mask_id: the ``<mask>`` token id.
        eval_seed: in eval mode the masks come from a generator seeded with this (repeatable
            validation losses).

    Shapes:
        - input: a batched ``HeteroData`` and the ``MultimodalGNN`` to run
        - output: ``ObjectiveOutput``; ``reconstructions[t]``: ``(M_t, F_t)``
    """

    def __init__(self, in_features: Mapping[NodeType, int], channels: int, categorical: Sequence[NodeType] = (),
                 mask_ratio: float = 0.5, loss: str = "sce", gamma: float = 2.0,
                 mask_id: int = Tokenizer.mask_id, eval_seed: int = 0) -> None:
        super().__init__()
        if not 0.0 < mask_ratio <= 1.0:
            raise ValueError(f"'mask_ratio' must be in (0, 1] (got {mask_ratio})")
        if loss not in ("sce", "mse"):
            raise ValueError(f"'loss' must be 'sce' or 'mse' (got {loss!r})")
        unknown = set(categorical) - set(in_features)
        if unknown:
            raise ValueError(f"categorical types {sorted(unknown)} are not in in_features ({sorted(in_features)})")
        self.node_types = sorted(in_features)
        self.categorical = sorted(categorical)
        self.in_features, self.channels = dict(in_features), channels
        self.mask_ratio, self.loss_kind, self.gamma, self.mask_id = mask_ratio, loss, gamma, mask_id
        self.eval_seed = eval_seed
        self.mask_tokens = nn.ParameterDict(
            {t: nn.Parameter(torch.zeros(in_features[t])) for t in self.node_types if t not in self.categorical}
        )
        self.decoders = nn.ModuleDict({
            t: nn.Sequential(nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, in_features[t]))
            for t in self.node_types
        })

    @classmethod
    def for_model(cls, model: MultimodalGNN, **kwargs: Any) -> MaskedNodeObjective:
        """The objective for every modality of ``model`` (widths read from its encoders)."""
        in_features, categorical = {}, []
        for t in model.modalities:
            encoder = model.encoders[t]
            if isinstance(encoder, TokenEncoder):
                in_features[t] = encoder.vocab_size
                categorical.append(t)
            elif hasattr(encoder, "in_features"):
                in_features[t] = int(encoder.in_features)
            else:
                raise ValueError(f"cannot mask {t!r} nodes: its encoder {encoder!r} has no 'in_features'")
        return cls(in_features, model.readout.channels, categorical, **kwargs)

    @staticmethod
    def _input_stats(model: MultimodalGNN, node_type: NodeType) -> tuple[Tensor, Tensor] | None:
        encoder = model.encoders[node_type]
        if hasattr(encoder, "input_mean") and hasattr(encoder, "input_std"):
            return encoder.input_mean, encoder.input_std
        return None

    def targets_of(self, model: MultimodalGNN, node_type: NodeType, x: Tensor) -> Tensor:
        """Raw features ``x`` of ``node_type`` in reconstruction units (token ids unchanged)."""
        stats = None if node_type in self.categorical else self._input_stats(model, node_type)
        return x if stats is None else (x - stats[0]) / stats[1]

    def corrupt(self, model: MultimodalGNN, x: Mapping[NodeType, Tensor],
                masks: Mapping[NodeType, Tensor]) -> dict[NodeType, Tensor]:
        """The inputs with every masked node's features replaced (a new dict; ``x`` is not changed)."""
        out = dict(x)
        for t, m in masks.items():
            if t in self.categorical:
                out[t] = x[t].masked_fill(m, self.mask_id)
                continue
            token = self.mask_tokens[t]
            stats = self._input_stats(model, t)
            if stats is not None:  # the token is learned in standardised units
                token = token * stats[1] + stats[0]
            out[t] = torch.where(m[:, None], token.to(x[t].dtype).expand_as(x[t]), x[t])
        return out

    def forward(self, model: MultimodalGNN, batch: HeteroData,
                masks: Mapping[NodeType, Tensor] | None = None) -> ObjectiveOutput:
        x, pos, ctx = model.prepare_inputs(batch)
        types = [t for t in self.node_types if t in x]
        if masks is None:
            generator = None if self.training else torch.Generator().manual_seed(self.eval_seed)
            masks = mask_nodes(ctx, types, self.mask_ratio, generator)
        masks = {t: masks[t] for t in types if t in masks}
        corrupted = self.corrupt(model, x, masks)
        _, h, _ = model.core(corrupted, pos, ctx)
        parts, recs, targets = {}, {}, {}
        for t, m in masks.items():
            if not m.any():
                continue
            recs[t] = self.decoders[t](h[t][m])  # (M_t, F_t)
            targets[t] = self.targets_of(model, t, x[t][m])
            if t in self.categorical:
                parts[f"masked/{t}"] = F.cross_entropy(recs[t], targets[t].long())
            elif self.loss_kind == "sce":
                parts[f"masked/{t}"] = scaled_cosine_error(recs[t], targets[t], self.gamma)
            else:
                parts[f"masked/{t}"] = F.mse_loss(recs[t], targets[t])
        if parts:
            loss = torch.stack(list(parts.values())).mean()
        else:
            loss = sum(p.sum() for p in self.parameters()) * 0.0
        return ObjectiveOutput(loss, parts, masks, corrupted, h, recs, targets)

    def __repr__(self) -> str:
        return (f"MaskedNodeObjective({self.in_features}, {self.channels}, mask_ratio={self.mask_ratio}, "
                f"loss={self.loss_kind!r})")


# ----------------------------------------------------------------------------------- contrastive


def symmetric_info_nce(a: Tensor, b: Tensor, logit_scale: Tensor) -> Tensor:
    r"""CLIP's symmetric InfoNCE: row ``i`` of ``a`` and row ``i`` of ``b`` are the positive pair.

    .. math::
        \mathcal{L} = \tfrac12 \bigl(\mathrm{CE}(s\, \hat A \hat B^\top, I)
                                   + \mathrm{CE}(s\, \hat B \hat A^\top, I)\bigr),
        \qquad \hat A = A / \lVert A \rVert, \; s = e^{\text{logit\_scale}}

    Shapes:
        - input: ``a``, ``b``: ``(n, p)``; ``logit_scale``: scalar
        - output: scalar
    """
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = logit_scale.exp() * a @ b.T  # (n, n)
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class CrossModalContrastive(nn.Module):
    """Symmetric InfoNCE between the pooled embeddings of two modalities of the same sample.

    Each modality's pooled embedding (``ModelOutput.modality_embeddings``) goes through its own
    projection head (``Linear → BatchNorm → GELU → Linear``, as SimCLR); every pair of modalities present in
    at least two samples of the batch contributes ``symmetric_info_nce`` over those samples, and
    the loss is the mean over pairs. The temperature is learned (``logit_scale``, clamped at 100).

    Args:
        modalities: the modalities to contrast (at least two).
        channels: pooled embedding width ``d``.
        projection: projection width.
        temperature: initial temperature.
        views: ``"separate"`` (each modality's embedding from a pass over its own nodes; see
            ``PretrainConfig``) or ``"joint"`` (one pass over the whole graph).

    Shapes:
        - input: a batched ``HeteroData`` and the ``MultimodalGNN`` to run
        - output: ``ObjectiveOutput`` with ``embeddings`` ``(B, T, d)`` and ``present`` ``(B, T)``
    """

    MAX_LOGIT_SCALE = math.log(100.0)

    def __init__(self, modalities: Sequence[Modality], channels: int, projection: int = 64,
                 temperature: float = 0.07, views: str = "separate") -> None:
        super().__init__()
        if len(set(modalities)) < 2:
            raise ValueError(f"contrastive pretraining needs at least two modalities (got {list(modalities)})")
        if views not in ("separate", "joint"):
            raise ValueError(f"'views' must be 'separate' or 'joint' (got {views!r})")
        self.modalities = sorted(set(modalities))
        self.channels, self.projection_dim, self.views = channels, projection, views
        # batch normalisation in the projection heads (as SimCLR's) centres each batch: without it the
        # pooled embeddings share a large common direction and InfoNCE collapses to equal similarities
        self.project = nn.ModuleDict({
            m: nn.Sequential(nn.Linear(channels, channels), nn.BatchNorm1d(channels), nn.GELU(),
                             nn.Linear(channels, projection))
            for m in self.modalities
        })
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    @classmethod
    def for_model(cls, model: MultimodalGNN, **kwargs: Any) -> CrossModalContrastive:
        return cls(model.modalities, model.readout.channels, **kwargs)

    def embeddings(self, model: MultimodalGNN, batch: HeteroData) -> tuple[Tensor, Tensor]:
        """Pooled embeddings ``(B, T, d)`` of ``self.modalities`` and their presence ``(B, T)``."""
        if self.views == "joint":
            out = model(batch)
            index = [out.modalities.index(m) for m in self.modalities]
            return out.modality_embeddings[:, index], out.modality_present[:, index]
        hub = [HUB] if HUB in model.node_types and HUB in batch.node_types else []
        z, present = [], []
        for m in self.modalities:
            if m not in batch.node_types:
                z.append(None)
                present.append(None)
                continue
            out = model(batch.node_type_subgraph([m, *hub]))
            i = out.modalities.index(m)
            z.append(out.modality_embeddings[:, i])
            present.append(out.modality_present[:, i])
        ref = next(t for t in z if t is not None)
        z = [ref.new_zeros(ref.shape) if t is None else t for t in z]
        present = [torch.zeros(ref.shape[0], dtype=torch.bool, device=ref.device) if p is None else p
                   for p in present]
        return torch.stack(z, dim=1), torch.stack(present, dim=1)

    def forward(self, model: MultimodalGNN, batch: HeteroData) -> ObjectiveOutput:
        z, present = self.embeddings(model, batch)  # (B, T, d), (B, T)
        scale = self.logit_scale.clamp(max=self.MAX_LOGIT_SCALE)
        parts = {}
        for i, a in enumerate(self.modalities):
            for j in range(i + 1, len(self.modalities)):
                b = self.modalities[j]
                rows = present[:, i] & present[:, j]
                if int(rows.sum()) < 2:
                    continue
                za, zb = self.project[a](z[rows, i]), self.project[b](z[rows, j])
                parts[f"contrastive/{a}-{b}"] = symmetric_info_nce(za, zb, scale)
        if parts:
            loss = torch.stack(list(parts.values())).mean()
        else:  # no pair in this batch: a zero that keeps every parameter in the graph
            loss = z.sum() * 0.0 + sum(p.sum() for p in self.parameters()) * 0.0
        parts["contrastive/temperature"] = (1.0 / scale.exp()).detach()
        return ObjectiveOutput(loss, parts, embeddings=z, present=present)

    def __repr__(self) -> str:
        return (f"CrossModalContrastive({self.modalities}, {self.channels}, projection={self.projection_dim}, "
                f"views={self.views!r})")


# --------------------------------------------------------------------------------------- wrapper


class _NoTaskHeads:
    """Stands where the ``Trainer`` looks for task heads (``model.head.heads``): pretraining has none."""

    heads: Mapping[str, nn.Module] = MappingProxyType({})


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
    """

    def __init__(self, model: MultimodalGNN, objectives: Mapping[str, nn.Module],
                 weights: Mapping[str, float] | None = None) -> None:
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
        self.head = _NoTaskHeads()

    @property
    def encoders(self) -> nn.ModuleDict:
        """The graph model's encoders (the ``Trainer`` fits their input statistics)."""
        return self.model.encoders

    def forward(self, batch: HeteroData) -> PretrainOutput:
        return PretrainOutput({name: objective(self.model, batch) for name, objective in self.objectives.items()})

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
    the pretraining modality dropout."""
    if model_config.name != "mmgnn":
        raise ValueError(f"pretraining needs the graph model 'mmgnn' (got model {model_config.name!r})")
    return model_config.replace(tasks=[UNUSED_TASK.name], task_weights={}, num_clusters=None,
                                modality_dropout=pretrain_config.modality_dropout, unimodal_weight=0.0)


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
        objectives["contrastive"] = CrossModalContrastive.for_model(model, projection=pc.projection,
                                                                    temperature=pc.temperature, views=pc.views)
        weights["contrastive"] = pc.contrastive_weight
    return SelfSupervisedModel(model, objectives, weights)


# ------------------------------------------------------------------------------------------ runs


def pretrain(
    train: GraphDataset,
    out: str | Path | None,
    *,
    model_config: ModelConfig | None = None,
    pretrain_config: PretrainConfig | None = None,
    train_config: TrainConfig | None = None,
    val: GraphDataset | None = None,
    resume: bool = False,
    info: dict[str, Any] | None = None,
) -> tuple[SelfSupervisedModel, FitResult]:
    """Pretrain on featurized data into a run folder (``out``; ``None``: nothing on disk).

    The run folder (``RunFolder``) holds ``run.json`` (``"kind": "pretrain"``, graph, model, train
    and pretrain configs), ``checkpoints/``, ``metrics.json`` and ``pretrain_metrics.json``; with
    ``val``, the checkpoint of the lowest validation loss is kept as ``best.pt`` (else the last
    epoch's). ``info``: facts for ``run.json`` (``data``, ``root``, ``data_seed``, ``dataset``, and
    any others, stored as they are).
    """
    model_config = model_config or ModelConfig()
    pretrain_config = pretrain_config or PretrainConfig()
    train_config = train_config or TrainConfig()
    folder = None if out is None else RunFolder(out)
    has_checkpoint = folder is not None and folder.has_checkpoint()
    if folder is not None and not resume and has_checkpoint:
        raise ValueError(f"{out} already holds a run; pass resume=True (--resume) or choose another folder")
    train_config = dataclasses.replace(train_config, monitor="loss" if val is not None else None)
    if folder is not None and not (resume and folder.has_info()):
        facts = dict(info or {})
        source = {k: facts.pop(k) for k in ("data", "root", "data_seed", "dataset") if k in facts}
        folder.write_info(RunInfo(train.config, model_config, train_config, {}, kind="pretrain",
                                  pretrain_config=pretrain_config.to_dict(), extra=facts, **source))
    seed_everything(train_config.seed)
    net = build_pretrain_model(model_config, train.config, pretrain_config)
    # what init_from copies from this run's checkpoints: the graph model, without its unused head
    run_info = {"kind": "pretrain", "backbone_prefix": BACKBONE_PREFIX, "backbone_exclude": ["head."]}
    trainer = Trainer(net, train_config, out_dir=out, run_info=run_info)
    result = trainer.fit(train, val, resume=resume and has_checkpoint)
    if folder is not None:
        summary = {"best_epoch": result.best_epoch, "best_val_loss": result.best_score,
                   "train_seconds": result.train_seconds, "final_train_loss": result.history[-1]["train_loss"]
                   if result.history else None}
        folder.write_json(folder.pretrain_metrics, summary)
    return net, result


def pretrain_run(
    data: str,
    out: str | Path,
    *,
    model: str | ModelConfig = "mmgnn",
    pretrain_config: PretrainConfig | None = None,
    train_config: TrainConfig | None = None,
    root: str | None = None,
    data_seed: int = 0,
    resume: bool = False,
) -> dict[str, Any]:
    """Pretrain the graph model on a dataset's training split (its labels unread) into a run folder.

    Args:
        data: built-in dataset name, manifest path or converted-graphs folder.
        out: run folder; ``mmgraph train --init OUT`` fine-tunes from it.
        model: model config (TOML path, ``"mmgnn"`` or ``ModelConfig``): the architecture to
            pretrain, which the fine-tuned model should share.
        pretrain_config: objectives and their settings.
        train_config: optimisation settings.
        root, data_seed: as for ``train_run``.
        resume: continue the run in ``out`` from its last checkpoint (its stored settings).

    Returns the run's summary (best epoch, validation loss, seconds).
    """
    from mmgraph.datasets import load_dataset

    folder = RunFolder(out)
    dataset = load_dataset(data, root=root, seed=data_seed)
    train_config = train_config or TrainConfig()
    if resume:
        stored = folder.read_info_for_resume()
        graph_config, model_config = stored.graph_config, stored.model_config
        pretrain_config = PretrainConfig.from_dict(stored.pretrain_config or {})
        train_config = stored.train_config.replace(progress=train_config.progress)
    else:
        model_config = model_config_from(model)
        graph_config = dataset.fit_graph_config()
    splits = {s: dataset.featurize(s, graph_config, progress=train_config.progress)
              for s in ("train", "val") if s in dataset.splits}
    info = {"data": data, "root": root, "data_seed": data_seed, "dataset": dataset.name}
    pretrain(splits["train"], out, model_config=model_config, pretrain_config=pretrain_config,
             train_config=train_config, val=splits.get("val"), resume=resume, info=info)
    return json.loads(folder.pretrain_metrics.read_text())


@dataclass
class LoadedPretrainRun:
    """A pretraining run: the ``SelfSupervisedModel`` (its graph model is ``.model.model``) and settings."""

    model: SelfSupervisedModel
    folder: RunFolder
    record: RunInfo

    @property
    def graph_config(self) -> GraphConfig:
        return self.record.graph_config

    @property
    def info(self) -> dict[str, Any]:
        """``run.json`` as a dict."""
        return self.record.to_dict()

    @property
    def backbone(self) -> MultimodalGNN:
        return self.model.model


def load_pretrain_run(run_dir: str | Path, checkpoint: str = "best") -> LoadedPretrainRun:
    """Rebuild a pretraining run's model from its folder (``checkpoint``: ``best`` or ``last``)."""
    folder = RunFolder(run_dir)
    info = folder.read_info()
    if info.kind != "pretrain":
        raise ValueError(f"{run_dir} is not a pretraining run (use mmgraph.train.runs.load_run)")
    model = build_pretrain_model(info.model_config, info.graph_config,
                                 PretrainConfig.from_dict(info.pretrain_config or {}))
    load_checkpoint(folder.checkpoint(checkpoint), model)
    model.eval()
    return LoadedPretrainRun(model, folder, info)


__all__ = [
    "OBJECTIVES",
    "CrossModalContrastive",
    "LoadedPretrainRun",
    "MaskedNodeObjective",
    "ObjectiveOutput",
    "PretrainConfig",
    "PretrainOutput",
    "SelfSupervisedModel",
    "build_pretrain_model",
    "load_pretrain_run",
    "mask_nodes",
    "pretrain",
    "pretrain_run",
    "scaled_cosine_error",
    "symmetric_info_nce",
]
