"""``explain``: which modality and which nodes drove a graph model's prediction, per graph of a batch.

Two methods, both computed for every graph of a batch at once (no per-graph forward pass):

- ``gradient``: integrated gradients (Sundararajan et al., 2017) of the explained class's logit
  with respect to each node's input features where they are differentiable (patch pixels, log-mel
  frames) and the token embeddings of text nodes (token ids are not differentiable), from an
  uninformative baseline (black patches, the mean training log-mel frame, zero token embeddings;
  positions kept). A node's importance is the absolute value of its attributions summed
  over its features, ``|sum_f IG_if|``: by completeness, the node's share of the change of the
  logit from the baseline. (Summing ``|IG_if|`` instead counts cancelling feature attributions as
  importance and favours nodes with many features: a 40-band audio frame over a token.)
- ``attention``: what the readout attends to. A node's importance is its per-type attention
  pooling weight times its modality's gate weight (``GatedReadout``), i.e. the node's share of
  the graph embedding ``z = sum_t g_t sum_i alpha_i h_i``. It reads the last layer's node
  embeddings, which already mix information from other nodes through message passing: it says
  where the readout looks, not where information came from.

Both are normalised per graph: node importances over all modality nodes of a graph sum to 1, and
a modality's importance is the sum of its nodes' importances (so modality importances sum to 1
over the modalities present). For the attention method that sum is exactly the gate weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.data import HeteroData
from torch_geometric.utils import scatter

from mmgraph.errors import InvalidType
from mmgraph.typing import NodeType

METHODS = ("gradient", "attention")
DEFAULT_STEPS = 16
"""Riemann steps of integrated gradients (midpoint rule: completeness holds to ~0.1% of the logit difference)."""


@dataclass
class Explanation:
    """Why a model predicted what it did for one graph.

    Attributes:
        id: the sample id (``None`` when the batch carries no ids).
        task: the (graph-level classification) task explained.
        method: ``"gradient"`` or ``"attention"``.
        target: the class explained (the predicted class unless another was asked for).
        predicted_class: the model's class.
        probability: the softmax probability of ``predicted_class``.
        target_probability: the softmax probability of ``target``.
        label: the true class when the batch has one, else ``None``.
        modality_importance: modality → importance, for the modalities present in the graph
            (non-negative, summing to 1).
        node_importance: modality → ``(N_m,)`` importance of each of the graph's nodes of that
            modality, in node order, for the modalities present. Over all nodes of the graph
            they sum to 1; ``node_importance[m].sum() == modality_importance[m]``.
    """

    id: str | None
    task: str
    method: str
    target: int
    predicted_class: int
    probability: float
    target_probability: float
    label: int | None
    modality_importance: dict[str, float]
    node_importance: dict[NodeType, Tensor]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (node importances as lists)."""
        return {
            "id": self.id, "task": self.task, "method": self.method, "target": self.target,
            "predicted_class": self.predicted_class, "probability": self.probability,
            "target_probability": self.target_probability, "label": self.label,
            "modality_importance": dict(self.modality_importance),
            "node_importance": {m: v.tolist() for m, v in self.node_importance.items()},
        }

    def __repr__(self) -> str:
        shares = ", ".join(f"{m}={v:.2f}" for m, v in self.modality_importance.items())
        return (f"Explanation(id={self.id!r}, {self.task}: class {self.predicted_class} "
                f"(p={self.probability:.2f}), method={self.method!r}, modalities: {shares})")


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode (no dropout, no modality dropout) for the block; the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def check_graph_model(model: nn.Module) -> None:
    """Explanations read a ``MultimodalGNN``'s parts (encoders, layers, readout, heads)."""
    from mmgraph.models.gnn import MultimodalGNN

    if not isinstance(model, MultimodalGNN):
        raise InvalidType(f"explanations need a MultimodalGNN graph model (got {type(model).__name__})")


def classification_task(model: nn.Module, task: str | None) -> str:
    """The task to explain: ``task`` (checked) or the model's first graph-level classification head."""
    from mmgraph.nn.heads import ClassificationHead

    heads = dict(iter(model.head))
    usable = [n for n, h in heads.items() if isinstance(h, ClassificationHead) and h.level == "graph"]
    if task is None:
        if not usable:
            raise ValueError(f"the model has no graph-level classification task to explain (tasks: {list(heads)})")
        return usable[0]
    if task not in usable:
        raise ValueError(f"task {task!r} is not a graph-level classification task of the model (those: {usable})")
    return task


def logits_from_embeddings(model: nn.Module, h: dict[NodeType, Tensor], ctx, task: str, *,
                           return_pool_weights: bool = False):
    """Layers → readout → head on encoder outputs ``h`` (the second half of ``MultimodalGNN.core``).

    Returns ``(logits (B, C), ReadoutOutput)``.
    """
    for layer in model.layers:
        h = layer(h, ctx)
    kwargs = {"return_pool_weights": True} if return_pool_weights else {}
    r = model.readout(h, ctx, **kwargs)
    return model.head(r.graph, h)[task], r


def integrated_gradients(model: nn.Module, x: dict[NodeType, Tensor], pos: dict[NodeType, Tensor], ctx,
                         target: Tensor, task: str, steps: int = DEFAULT_STEPS) -> dict[NodeType, Tensor]:
    r"""Integrated gradients of each graph's ``target`` logit w.r.t. every modality node's input features.

    .. math::
        \mathrm{IG}(u)_{i} = (u_{i} - b_{i}) \odot \frac{1}{m} \sum_{k=1}^{m}
            \nabla_{u_i} f_{y}\Big(b + \tfrac{k - 1/2}{m}\, (u - b)\Big)

    with :math:`u` the nodes' features where they are differentiable (patch pixels, mel frames)
    and the token embeddings of text nodes (token ids are not: the encoder's ``nn.Embedding``
    output is scaled instead, through a forward hook), baseline :math:`b` an uninformative node
    (``input_baseline``: black patches, the encoder's mean log-mel frame, the zero token
    embedding; positions are kept), :math:`f_y` the logit of the
    graph's target class and :math:`m` = ``steps`` (midpoint rule). The baseline sits in the
    inputs rather than in the encoders' outputs because the layers are pre-norm: a LayerNorm of
    ``alpha * h`` hardly depends on ``alpha`` except as ``alpha -> 0``, where the integrand spikes
    and a Riemann sum does not converge.

    Graphs do not interact in evaluation mode, so the gradient of the sum of all graphs' target
    logits gives each graph its own gradient: one forward and backward pass per step serves the
    whole batch. Written by hand (a few lines): captum is not a dependency, and PyG's explain
    module targets homogeneous graphs and node-level tasks.

    Args:
        model: a ``MultimodalGNN`` in evaluation mode.
        x, pos, ctx: ``model.prepare_inputs(batch)`` (``ctx`` may carry keep masks).
        target: ``(B,)`` class per graph.
        task: the classification task.
        steps: ``m``.

    Returns:
        modality → signed attributions ``(N_t, F_t)`` (``F_t``: pixels, mel bands, embedding
        width); per graph their sum approximates ``f_y(u) - f_y(b)`` (completeness).
    """
    if steps < 1:
        raise ValueError(f"'steps' must be >= 1 (got {steps})")
    modalities = [t for t in model.modalities if t in x]
    embeddings = {t: token_embedding(model.encoders[t], t) for t in modalities if not x[t].is_floating_point()}
    baselines = {t: input_baseline(model.encoders[t], x[t]) for t in modalities if t not in embeddings}
    inputs: dict[NodeType, Tensor] = {}  # the unscaled u - b of each modality
    scaled: dict[NodeType, Tensor] = {}  # alpha * u of the current step, leaves of the autograd graph

    def scale_embedding(t: NodeType):
        def hook(module: nn.Module, args, output: Tensor) -> Tensor:
            inputs[t] = output.detach()
            scaled[t] = (inputs[t] * alpha).requires_grad_(True)
            return scaled[t]
        return hook

    handles = [module.register_forward_hook(scale_embedding(t)) for t, module in embeddings.items()]
    total: dict[NodeType, Tensor] = {}
    try:
        with torch.enable_grad():  # also when called under no_grad
            for k in range(steps):
                alpha = (k + 0.5) / steps
                features = dict(x)
                for t in modalities:
                    if t not in embeddings:
                        inputs[t] = x[t] - baselines[t]
                        scaled[t] = (inputs[t] * alpha).requires_grad_(True)
                        features[t] = baselines[t] + scaled[t]
                logits, _ = logits_from_embeddings(model, model.embed_nodes(features, pos, ctx), ctx, task)
                chosen = logits.gather(1, target[:, None]).sum()
                grads = torch.autograd.grad(chosen, [scaled[t] for t in modalities], allow_unused=True)
                for t, g in zip(modalities, grads):
                    g = torch.zeros_like(scaled[t]) if g is None else g
                    total[t] = g if t not in total else total[t] + g
    finally:
        for handle in handles:
            handle.remove()
    return {t: inputs[t] * total[t] / steps for t in modalities}


def input_baseline(encoder: nn.Module, x: Tensor) -> Tensor:
    """The features of an uninformative node: the encoder's fitted input mean where it standardises
    its inputs (the average training log-mel frame), else zeros (a black patch).

    A zero log-mel frame lies far outside the data (log of zero energy): measured from it, every
    audio frame looks important, even pure noise the model has learnt to ignore.
    """
    mean = getattr(encoder, "input_mean", None)
    if isinstance(mean, Tensor) and mean.shape == x.shape[-1:]:
        return mean.to(x.dtype).expand_as(x)
    return torch.zeros_like(x)


def token_embedding(encoder: nn.Module, node_type: NodeType) -> nn.Embedding:
    """The one ``nn.Embedding`` of an encoder of integer features (whose output IG scales)."""
    found = [m for m in encoder.modules() if isinstance(m, nn.Embedding)]
    if len(found) != 1:
        raise ValueError(f"{node_type!r} nodes have integer features: integrated gradients scale the output of "
                         f"their encoder's nn.Embedding, but {type(encoder).__name__} has {len(found)}")
    return found[0]


def per_type_sums(values: dict[NodeType, Tensor], ctx, modalities: list[NodeType]) -> Tensor:
    """``(B, T)``: per graph, the sum of each modality's node values."""
    return torch.stack([scatter(values[t], ctx.batch[t], dim=0, dim_size=ctx.num_graphs, reduce="sum")
                        for t in modalities], 1)


def normalise_nodes(scores: dict[NodeType, Tensor], ctx, modalities: list[NodeType]) -> dict[NodeType, Tensor]:
    """Non-negative node scores scaled to sum to 1 over each graph's modality nodes.

    A graph whose scores are all 0 (a constant model) gets uniform importance over its nodes.
    """
    total = per_type_sums(scores, ctx, modalities).sum(1)  # (B,)
    zero = total <= 0
    if zero.any():
        scores = {t: torch.where(zero[ctx.batch[t]], torch.ones_like(s), s) for t, s in scores.items()}
        total = per_type_sums(scores, ctx, modalities).sum(1)
    total = total.clamp_min(torch.finfo(total.dtype).tiny)
    return {t: scores[t] / total[ctx.batch[t]] for t in modalities}


@dataclass
class BatchAttribution:
    """Explanations of a whole batch in flat form (what ``explain`` splits per graph).

    Attributes:
        task: the task explained.
        modalities: the ``T`` modalities, sorted.
        counts: modality → ``(B,)`` nodes per graph.
        node_importance: modality → ``(N_t,)``, summing to 1 over each graph's nodes.
        modality_importance: ``(B, T)``, rows summing to 1 over present modalities (0 elsewhere).
        logits: ``(B, C)`` of the task, all nodes kept.
        target: ``(B,)`` the explained class.
    """

    task: str
    modalities: list[NodeType]
    counts: dict[NodeType, Tensor]
    node_importance: dict[NodeType, Tensor]
    modality_importance: Tensor
    logits: Tensor
    target: Tensor


def attribute(model: nn.Module, batch: HeteroData, *, method: str = "gradient", target: int | Tensor | None = None,
              task: str | None = None, steps: int = DEFAULT_STEPS) -> BatchAttribution:
    """Node and modality importances of every graph of ``batch`` at once (see ``explain``)."""
    if method not in METHODS:
        raise ValueError(f"'method' must be one of {METHODS} (got {method!r})")
    check_graph_model(model)
    task = classification_task(model, task)
    with eval_mode(model):
        x, pos, ctx = model.prepare_inputs(batch)
        if method == "attention":
            with torch.no_grad():
                logits, r = logits_from_embeddings(model, model.embed_nodes(x, pos, ctx), ctx, task,
                                                   return_pool_weights=True)
            if r.gate is None or r.pool_weights is None:
                raise ValueError("the attention method needs the model's gated readout ('gate'); "
                                 f"got {type(model.readout).__name__}")
        else:
            with torch.no_grad():
                logits, _ = logits_from_embeddings(model, model.embed_nodes(x, pos, ctx), ctx, task)
        target = resolve_target(target, logits)
        if method == "gradient":
            attributions = integrated_gradients(model, x, pos, ctx, target, task, steps)
    modalities = list(model.modalities)
    if method == "attention":
        gate = {t: r.gate[:, r.node_types.index(t)] for t in modalities}
        scores = {t: r.pool_weights[t] * gate[t][ctx.batch[t]] for t in modalities}
    else:
        # |signed contribution| of each node; types missing from the batch have no nodes
        scores = {t: attributions[t].sum(-1).abs().detach() if t in attributions else logits.new_zeros(0)
                  for t in modalities}
    nodes = normalise_nodes(scores, ctx, modalities)
    counts = {t: ctx.layouts[t].counts for t in modalities}
    return BatchAttribution(task, modalities, counts, nodes, per_type_sums(nodes, ctx, modalities), logits.detach(),
                            target)


def resolve_target(target: int | Tensor | None, logits: Tensor) -> Tensor:
    """``(B,)`` classes to explain: the predicted ones, one class for all, or one per graph."""
    B, C = logits.shape
    if target is None:
        return logits.argmax(1)
    out = torch.as_tensor(target, dtype=torch.long, device=logits.device)
    if out.dim() == 0:
        out = out.expand(B)
    if out.shape != (B,):
        raise ValueError(f"'target' must be a class or one class per graph ({B},) (got shape {tuple(out.shape)})")
    if ((out < 0) | (out >= C)).any():
        raise ValueError(f"'target' classes must lie in [0, {C}) (got {out.tolist()})")
    return out


def explain(model: nn.Module, batch: HeteroData, *, method: str = "gradient", target: int | Tensor | None = None,
            task: str | None = None, steps: int = DEFAULT_STEPS) -> list[Explanation]:
    """Explain a graph model's prediction for every graph of a batch: modality and node importances.

    All graphs are explained together (``gradient``: ``steps`` forward/backward passes over the
    whole batch; ``attention``: one forward pass); the model runs in evaluation mode and is put
    back in its previous mode. See the module docstring for what each method computes.

    Args:
        model: a ``MultimodalGNN``.
        batch: a batched graph (``collate`` / ``GraphDataset.collate_indices``).
        method: ``"gradient"`` (integrated gradients) or ``"attention"`` (readout weights).
        target: the class to explain, per graph ``(B,)`` or one for all (default: the predicted class).
        task: the graph-level classification task (default: the model's first one).
        steps: integrated-gradients steps (``gradient`` only).

    Returns:
        one ``Explanation`` per graph, in batch order.
    """
    result = attribute(model, batch, method=method, target=target, task=task, steps=steps)
    head = model.head[result.task]
    probs = torch.softmax(result.logits.float(), dim=1)
    predicted = probs.argmax(1)
    labels = head.target(batch)
    labels = None if labels is None else head.class_ids(labels).tolist()
    B = probs.shape[0]
    ids = list(batch.id) if "id" in batch else [None] * B
    counts = {t: c.tolist() for t, c in result.counts.items()}
    nodes = {t: result.node_importance[t].cpu().split(counts[t]) for t in result.modalities}
    explanations = []
    for g in range(B):
        present = [t for t in result.modalities if counts[t][g] > 0]
        explanations.append(Explanation(
            id=ids[g],
            task=result.task,
            method=method,
            target=int(result.target[g]),
            predicted_class=int(predicted[g]),
            probability=float(probs[g, predicted[g]]),
            target_probability=float(probs[g, result.target[g]]),
            label=None if labels is None or labels[g] < 0 else int(labels[g]),
            modality_importance={t: float(result.modality_importance[g, result.modalities.index(t)])
                                 for t in present},
            node_importance={t: nodes[t][g] for t in present},
        ))
    return explanations
