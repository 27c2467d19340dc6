"""Self-supervised objectives over a ``MultimodalGNN``: masked-node reconstruction and cross-modal contrast.

Each objective is an ``nn.Module`` that owns only its own parameters (mask tokens, decoders,
projections, temperature) and runs a given ``MultimodalGNN`` on a batch:

- ``MaskedNodeObjective`` (GraphMAE, Hou et al. 2022): a fraction of each modality's nodes per
  sample get a learned mask token *instead of their raw features, before any encoder computation*
  (so a convolution over neighbouring frames never sees a masked frame), the normal model encodes
  the corrupted graph, and a small per-modality decoder reconstructs the masked nodes' features
  (scaled cosine error or MSE; cross-entropy for token ids). Cross-modal edges let one modality
  fill in the other.
- ``CrossModalContrastive`` (CLIP, Radford et al. 2021): symmetric InfoNCE between the pooled
  embeddings of two modalities of the same sample (fixed or learned temperature), optionally with
  node dropout on each view and a joint-pass alignment term that trains the cross-modal layers
  and the modality gate too.

``SelfSupervisedModel`` (``mmgraph.models.self_supervised``) runs them together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.featurize import Tokenizer
from mmgraph.models.gnn import MultimodalGNN
from mmgraph.nn.augment import node_dropout
from mmgraph.nn.encoders import TokenEncoder
from mmgraph.nn.losses import scaled_cosine_error, symmetric_info_nce
from mmgraph.nn.masking import mask_nodes
from mmgraph.typing import HUB, Modality, NodeType


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


def _projector(channels: int, projection: int) -> nn.Sequential:
    # batch normalisation (as SimCLR's) centres each batch: without it the pooled embeddings share a
    # large common direction and InfoNCE collapses to equal similarities
    return nn.Sequential(nn.Linear(channels, channels), nn.BatchNorm1d(channels), nn.GELU(),
                         nn.Linear(channels, projection))


class CrossModalContrastive(nn.Module):
    r"""Symmetric InfoNCE between the pooled embeddings of two modalities of the same sample.

    Each modality's pooled embedding (``ModelOutput.modality_embeddings``) goes through its own
    projection head (``Linear → BatchNorm → GELU → Linear``, as SimCLR); every pair of modalities present in
    at least two samples of the batch contributes ``symmetric_info_nce`` over those samples, and
    the InfoNCE term (part ``contrastive/infonce``; chance level: ``ln B``) is the mean over pairs.

    With ``joint_weight > 0`` a second term trains what separate views never run (the cross-modal
    layers, the modality gate): the graph embedding of one pass over the whole graph goes through its
    own projector, and must identify its sample among the batch's separate-view projections of
    every modality (symmetric InfoNCE against each, averaged; the targets are detached, so this term
    cannot bend the unimodal views):

    .. math::
        \mathcal{L} = \mathcal{L}_\text{InfoNCE} + w \cdot \frac{1}{|M|} \sum_{m \in M}
            \mathrm{InfoNCE}\bigl(p_\text{joint}, \operatorname{sg}(p_m)\bigr)

    Args:
        modalities: the modalities to contrast (at least two).
        channels: pooled embedding width ``d``.
        projection: projection width.
        temperature: temperature (the initial one when learned).
        views: ``"separate"`` (each modality's embedding from a pass over its own nodes; see
            ``PretrainConfig``) or ``"joint"`` (one pass over the whole graph).
        learn_temperature: learn the temperature (``logit_scale``, clamped at 100) or keep it fixed.
        node_dropout: node type → fraction of its nodes dropped from each separate view while
            training (patch / token / frame dropout; ``mmgraph.nn.augment.node_dropout``).
        joint_weight: weight ``w`` of the joint-pass alignment term (0: none; separate views only).

    Shapes:
        - input: a batched ``HeteroData`` and the ``MultimodalGNN`` to run
        - output: ``ObjectiveOutput`` with ``embeddings`` ``(B, T, d)`` and ``present`` ``(B, T)``
    """

    MAX_LOGIT_SCALE = math.log(100.0)

    def __init__(self, modalities: Sequence[Modality], channels: int, projection: int = 64,
                 temperature: float = 0.07, views: str = "separate", learn_temperature: bool = True,
                 node_dropout: Mapping[NodeType, float] | None = None, joint_weight: float = 0.0) -> None:
        super().__init__()
        if len(set(modalities)) < 2:
            raise ValueError(f"contrastive pretraining needs at least two modalities (got {list(modalities)})")
        if views not in ("separate", "joint"):
            raise ValueError(f"'views' must be 'separate' or 'joint' (got {views!r})")
        if joint_weight < 0 or (joint_weight > 0 and views != "separate"):
            raise ValueError(f"'joint_weight' must be >= 0, and > 0 only with views='separate' (got {joint_weight} "
                             f"with views={views!r})")
        bad = {t: p for t, p in (node_dropout or {}).items() if not 0.0 <= p < 1.0}
        if bad:
            raise ValueError(f"'node_dropout' rates must be in [0, 1) (got {bad})")
        self.modalities = sorted(set(modalities))
        self.channels, self.projection_dim, self.views = channels, projection, views
        self.node_dropout = {t: float(p) for t, p in sorted((node_dropout or {}).items()) if p > 0}
        self.joint_weight = float(joint_weight)
        self.project = nn.ModuleDict({m: _projector(channels, projection) for m in self.modalities})
        self.project_joint = _projector(channels, projection) if self.joint_weight > 0 else None
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)), requires_grad=learn_temperature)

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
            x, pos, ctx = model.prepare_inputs(batch.node_type_subgraph([m, *hub]))
            if self.training and self.node_dropout:
                ctx = node_dropout(ctx, self.node_dropout)
            _, _, r = model.core(x, pos, ctx)
            i = r.node_types.index(m)
            z.append(r.per_type[:, i])
            present.append(r.present[:, i])
        ref = next(t for t in z if t is not None)
        z = [ref.new_zeros(ref.shape) if t is None else t for t in z]
        present = [torch.zeros(ref.shape[0], dtype=torch.bool, device=ref.device) if p is None else p
                   for p in present]
        return torch.stack(z, dim=1), torch.stack(present, dim=1)

    def forward(self, model: MultimodalGNN, batch: HeteroData) -> ObjectiveOutput:
        z, present = self.embeddings(model, batch)  # (B, T, d), (B, T)
        scale = self.logit_scale.clamp(max=self.MAX_LOGIT_SCALE)
        parts = {}
        projected = {}  # modality → (rows, projections) of its samples in some pair
        for i, a in enumerate(self.modalities):
            for j in range(i + 1, len(self.modalities)):
                b = self.modalities[j]
                rows = present[:, i] & present[:, j]
                if int(rows.sum()) < 2:
                    continue
                za, zb = self.project[a](z[rows, i]), self.project[b](z[rows, j])
                parts[f"contrastive/{a}-{b}"] = symmetric_info_nce(za, zb, scale)
                projected.setdefault(a, (rows, za))
                projected.setdefault(b, (rows, zb))
        if parts:
            loss = torch.stack(list(parts.values())).mean()
            parts["contrastive/infonce"] = loss.detach()
        else:  # no pair in this batch: a zero that keeps every parameter in the graph
            loss = z.sum() * 0.0 + sum(p.sum() for p in self.parameters()) * 0.0
        if self.project_joint is not None and projected:
            joint = self.project_joint(model(batch).graph_embedding)  # (B, P): one pass over the whole graph
            terms = [symmetric_info_nce(joint[rows], target.detach(), scale) for rows, target in projected.values()]
            parts["contrastive/joint"] = torch.stack(terms).mean()
            loss = loss + self.joint_weight * parts["contrastive/joint"]
        parts["contrastive/temperature"] = (1.0 / scale.exp()).detach()
        return ObjectiveOutput(loss, parts, embeddings=z, present=present)

    def __repr__(self) -> str:
        return (f"CrossModalContrastive({self.modalities}, {self.channels}, projection={self.projection_dim}, "
                f"views={self.views!r}, joint_weight={self.joint_weight:g})")


__all__ = ["CrossModalContrastive", "MaskedNodeObjective", "ObjectiveOutput"]
