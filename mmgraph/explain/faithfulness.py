"""Faithfulness of explanations: does removing what they call important change the prediction?

- ``deletion_curves``: remove each graph's nodes most important first, in steps (0, 10, ..., 100 %
  of its modality nodes), and record the explained class's probability; the same with a random
  order. A faithful explanation makes the probability fall faster than the random order: the area
  between the curves (random AUC minus importance AUC) is positive.
- ``modality_agreement``: for graphs with two modalities or more, is the modality ranked most
  important the one whose removal lowers the explained class's probability most?

Nodes are removed as ``MultimodalGNN``'s modality dropout removes them: masked out as message
sources and from pooling (``BatchContext.drop_nodes``), every graph of a batch at once. The
encoders run on the full input (a removed frame still reaches its neighbours' embeddings through
the audio encoder's convolution; a removed token through a text context model), so a whole
modality removed this way gives exactly the prediction without that modality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData

from mmgraph.explain.attribution import Explanation, check_graph_model, eval_mode, logits_from_embeddings
from mmgraph.typing import NodeType

DEFAULT_FRACTIONS = tuple(i / 10 for i in range(11))


@dataclass
class DeletionCurves:
    """Explained-class probability while removing nodes, by importance and in random order.

    Attributes:
        fractions: ``(S,)`` fraction of each graph's modality nodes removed at each step.
        importance: ``(G, S)`` probability per graph, removing the most important nodes first.
        random: ``(G, S)`` the same in a random order (seeded).
    """

    fractions: Tensor
    importance: Tensor
    random: Tensor

    @property
    def mean_importance(self) -> Tensor:
        """``(S,)`` mean over graphs."""
        return self.importance.mean(0)

    @property
    def mean_random(self) -> Tensor:
        return self.random.mean(0)

    @property
    def auc_importance(self) -> float:
        """Area under the mean importance-order curve (trapezoids over ``fractions``)."""
        return float(torch.trapezoid(self.mean_importance, self.fractions))

    @property
    def auc_random(self) -> float:
        return float(torch.trapezoid(self.mean_random, self.fractions))

    @property
    def area_between(self) -> float:
        """Random AUC minus importance AUC: positive when the importance order is faithful."""
        return self.auc_random - self.auc_importance

    @classmethod
    def concat(cls, parts: Sequence[DeletionCurves]) -> DeletionCurves:
        """The curves of several batches as one set (same fractions)."""
        if not parts:
            raise ValueError("DeletionCurves.concat: nothing to concatenate")
        if any(not torch.equal(p.fractions, parts[0].fractions) for p in parts):
            raise ValueError("DeletionCurves.concat: the parts were measured at different fractions")
        return cls(parts[0].fractions, torch.cat([p.importance for p in parts]), torch.cat([p.random for p in parts]))

    def to_dict(self) -> dict[str, Any]:
        """Mean curves, AUCs and the area between (JSON-able)."""
        return {
            "fractions": self.fractions.tolist(), "graphs": int(self.importance.shape[0]),
            "importance": self.mean_importance.tolist(), "random": self.mean_random.tolist(),
            "auc_importance": self.auc_importance, "auc_random": self.auc_random, "area_between": self.area_between,
        }


@dataclass
class ModalityAgreement:
    """Top modality by importance vs. the modality whose removal hurts the explained class most.

    Attributes:
        modalities: the ``T`` modalities.
        importance: ``(G, T)`` modality importance (0 where absent).
        probability_drop: ``(G, T)`` explained-class probability with all nodes minus without the
            modality (NaN where absent).
        eligible: ``(G,)`` graphs with two modalities or more (the others cannot disagree).
    """

    modalities: list[NodeType]
    importance: Tensor
    probability_drop: Tensor
    eligible: Tensor

    @property
    def top_by_importance(self) -> Tensor:
        return self.importance.argmax(1)

    @property
    def top_by_deletion(self) -> Tensor:
        return torch.nan_to_num(self.probability_drop, nan=-torch.inf).argmax(1)

    @property
    def agreement(self) -> Tensor:
        """``(G,)`` bool: both rankings name the same modality."""
        return self.top_by_importance == self.top_by_deletion

    @property
    def rate(self) -> float:
        """Agreement rate over the eligible graphs (NaN when none is)."""
        n = int(self.eligible.sum())
        return float(self.agreement[self.eligible].sum()) / n if n else float("nan")

    @classmethod
    def concat(cls, parts: Sequence[ModalityAgreement]) -> ModalityAgreement:
        if not parts:
            raise ValueError("ModalityAgreement.concat: nothing to concatenate")
        return cls(parts[0].modalities, torch.cat([p.importance for p in parts]),
                   torch.cat([p.probability_drop for p in parts]), torch.cat([p.eligible for p in parts]))

    @property
    def majority_rate(self) -> float:
        """The rate of always naming the modality most often top by deletion: what ``rate`` must beat."""
        n = int(self.eligible.sum())
        if not n:
            return float("nan")
        return float(torch.bincount(self.top_by_deletion[self.eligible], minlength=len(self.modalities)).max()) / n

    def to_dict(self) -> dict[str, Any]:
        eligible = self.eligible
        top = self.top_by_importance[eligible]
        return {
            "rate": self.rate, "majority_rate": self.majority_rate, "eligible_graphs": int(eligible.sum()),
            "graphs": int(eligible.numel()),
            "top_by_importance": {m: int((top == i).sum()) for i, m in enumerate(self.modalities)},
            "top_by_deletion": {m: int((self.top_by_deletion[eligible] == i).sum())
                                for i, m in enumerate(self.modalities)},
        }


def importance_tensors(explanations: Sequence[Explanation], batch: HeteroData, modalities: Sequence[NodeType]
                       ) -> tuple[dict[NodeType, Tensor], Tensor, str]:
    """Flat per-type node importances ``(N_t,)`` of a batch's explanations, targets ``(B,)`` and the task."""
    if len(explanations) != int(batch.num_graphs):
        raise ValueError(f"got {len(explanations)} explanations for a batch of {int(batch.num_graphs)} graphs")
    tasks = {e.task for e in explanations}
    if len(tasks) != 1:
        raise ValueError(f"explanations of different tasks {sorted(tasks)}")
    flat = {}
    for t in modalities:
        parts = [e.node_importance.get(t, torch.zeros(0)) for e in explanations]
        flat[t] = torch.cat(parts).float()
        n = batch[t].num_nodes if t in batch.node_types else 0
        if flat[t].shape[0] != (n or 0):
            raise ValueError(f"explanations have {flat[t].shape[0]} {t} nodes, the batch {n}: not this batch's")
    target = torch.tensor([e.target for e in explanations], dtype=torch.long)
    return flat, target, tasks.pop()


def rank_within_graph(scores: dict[NodeType, Tensor], ctx, modalities: Sequence[NodeType]) -> dict[NodeType, Tensor]:
    """Rank of every node among its graph's modality nodes by descending score (0 = highest; ties by order)."""
    flat = torch.cat([scores[t] for t in modalities])
    graph = torch.cat([ctx.batch[t] for t in modalities])
    order = torch.argsort(flat, descending=True, stable=True)
    order = order[torch.argsort(graph[order], stable=True)]  # by graph, then by descending score
    counts = torch.bincount(graph, minlength=ctx.num_graphs)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device) - start[graph[order]]
    return dict(zip(modalities, rank.split([scores[t].numel() for t in modalities])))


def deletion_curves(model: nn.Module, batch: HeteroData, explanations: Sequence[Explanation], *,
                    fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0) -> DeletionCurves:
    """Node deletion test of ``explanations`` of ``batch``, against a random deletion order.

    At each fraction ``f``, each graph loses its ``round(f * n)`` top-ranked modality nodes (``n``:
    its modality nodes; hub nodes stay); one forward pass per fraction and order serves the whole
    batch. The probability recorded is that of each explanation's ``target`` class.
    """
    check_graph_model(model)
    with eval_mode(model), torch.no_grad():
        x, pos, ctx = model.prepare_inputs(batch)
        h0 = model.embed_nodes(x, pos, ctx)
        modalities = model.modalities
        importance, target, task = importance_tensors(explanations, batch, modalities)
        generator = torch.Generator().manual_seed(seed)
        random = {t: torch.rand(importance[t].shape[0], generator=generator) for t in modalities}
        n = sum(ctx.layouts[t].counts for t in modalities)  # (B,)
        curves = []
        for scores in (importance, random):
            ranks = rank_within_graph({t: s.to(n.device) for t, s in scores.items()}, ctx, modalities)
            probs = []
            for f in fractions:
                removed = torch.floor(f * n.double() + 0.5).long()  # (B,) round half up
                keep = {t: ranks[t] >= removed[ctx.batch[t]] for t in modalities}
                logits, _ = logits_from_embeddings(model, h0, ctx.drop_nodes(keep), task)
                probs.append(torch.softmax(logits.float(), 1).gather(1, target.to(logits.device)[:, None])[:, 0])
            curves.append(torch.stack(probs, 1).cpu())  # (B, S)
    return DeletionCurves(torch.tensor(list(fractions), dtype=torch.float32), curves[0], curves[1])


def modality_agreement(model: nn.Module, batch: HeteroData, explanations: Sequence[Explanation]) -> ModalityAgreement:
    """Whether each graph's most important modality is the one whose removal hurts most.

    One forward pass with all nodes, then one per modality with that modality's nodes removed
    (all graphs at once); removal lowers the explained (``target``) class's probability by
    ``probability_drop``.
    """
    check_graph_model(model)
    with eval_mode(model), torch.no_grad():
        x, pos, ctx = model.prepare_inputs(batch)
        h0 = model.embed_nodes(x, pos, ctx)
        modalities = model.modalities
        _, target, task = importance_tensors(explanations, batch, modalities)
        target = target.to(next(iter(h0.values())).device)

        def probability(c) -> Tensor:
            logits, _ = logits_from_embeddings(model, h0, c, task)
            return torch.softmax(logits.float(), 1).gather(1, target[:, None])[:, 0].cpu()

        full = probability(ctx)
        drops = []
        for m in modalities:
            keep = {m: torch.zeros(ctx.layouts[m].num_nodes, dtype=torch.bool, device=target.device)}
            drops.append(full - probability(ctx.drop_nodes(keep)))
        present = torch.stack([ctx.layouts[t].counts > 0 for t in modalities], 1).cpu()  # (B, T)
    importance = torch.tensor([[e.modality_importance.get(t, 0.0) for t in modalities] for e in explanations])
    drop = torch.stack(drops, 1).masked_fill(~present, float("nan"))
    return ModalityAgreement(list(modalities), importance, drop, present.sum(1) >= 2)
