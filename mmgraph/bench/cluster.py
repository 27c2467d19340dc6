"""Clustering without labels on what pretraining trained: ``mmgraph cluster RUN DATA``.

The features of a pretraining run (``mmgraph pretrain``) are those its objective shaped:

- ``projections`` (the default): each modality's separate-view pooled embedding through its
  contrastive projection head, L2-normalised, concatenated in sorted modality order (``M * P``
  columns; a missing modality's block is 0);
- ``joint``: the graph embedding of one pass over the whole graph (the cross-modal layers and the
  gate; trained by the joint-pass term);
- ``all``: the joint embedding's projection (L2-normalised) beside the ``projections``.

A supervised run (``mmgraph train``) is clustered on its graph embedding. Methods:

- ``kmeans``: k-means (10 restarts) on the features;
- ``dec`` (Xie et al. 2016), pretraining runs with a contrastive objective: centroids from k-means on
  ``projections`` of up to ``DEC_POOL`` unlabelled training samples, then encoders, projections and
  centroids trained on KL(P || Q) (Student-t soft assignments Q, sharpened targets P refreshed every
  ``DEC_REFRESH`` steps) plus the cross-modal InfoNCE, which keeps the embedding from collapsing onto
  the centroids; samples are assigned to their most likely centroid.

``cluster_run`` writes ``clusters.csv`` (``id``, ``cluster``) and ``cluster_metrics.json`` (NMI, ARI and
Hungarian-matched accuracy when the split has labels of a classification task, which nothing but
these metrics reads).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmgraph.datasets.base import GraphDataset
from mmgraph.files import write_atomic
from mmgraph.models.objectives import CrossModalContrastive
from mmgraph.models.self_supervised import SelfSupervisedModel
from mmgraph.nn.heads import ClassificationHead
from mmgraph.nn.heads.metrics import clustering_metrics
from mmgraph.nn.losses import symmetric_info_nce
from mmgraph.train.run_folder import RunFolder
from mmgraph.train.trainer import seed_everything

log = logging.getLogger(__name__)

CLUSTER_METHODS = ("kmeans", "dec")
"""Values of ``--method``."""
FEATURE_SETS = ("projections", "joint", "all")
"""Values of ``--features`` (pretraining runs)."""
FEATURE_NAMES = {"projections": "per-modality projections", "joint": "joint graph embedding",
                 "all": "joint + per-modality projections"}
"""How reports name each feature set."""
DEC_POOL = 10_000
"""Unlabelled training samples DEC trains on (a fixed random subset)."""
DEC_STEPS = 300
DEC_BATCH = 256
DEC_LR = 3e-4
DEC_REFRESH = 50
"""DEC's optimisation: steps, batch, AdamW learning rate, and how often the target distribution is recomputed."""
DEC_NCE_WEIGHT = 1.0
"""Weight of the cross-modal InfoNCE beside DEC's KL term."""


def _contrastive(net: SelfSupervisedModel) -> CrossModalContrastive:
    objective = net.objectives["contrastive"] if "contrastive" in net.objectives else None
    if not isinstance(objective, CrossModalContrastive):
        raise ValueError("the pretraining run has no contrastive objective: its projections do not exist "
                         "(cluster it with --features joint)")
    return objective


def projections(net: SelfSupervisedModel, batch) -> Tensor:
    """``(B, M * P)``: each modality's separate-view projection, L2-normalised, in sorted modality order
    (0 where the modality is missing)."""
    objective = _contrastive(net)
    z, present = objective.embeddings(net.model, batch)  # (B, M, d), (B, M)
    parts = [F.normalize(objective.project[m](z[:, i]), dim=-1) * present[:, i:i + 1].to(z.dtype)
             for i, m in enumerate(objective.modalities)]
    return torch.cat(parts, dim=1)


@torch.no_grad()
def pretrained_features(net: SelfSupervisedModel, data: GraphDataset, which: str = "projections",
                        batch_size: int = 500) -> np.ndarray:
    """The ``which`` features (``FEATURE_SETS``) of every sample of ``data`` (eval mode), ``(n, F)`` float64."""
    if which not in FEATURE_SETS:
        raise ValueError(f"--features must be one of {list(FEATURE_SETS)} (got {which!r})")
    net.eval()
    out = []
    for start in range(0, len(data), batch_size):
        batch = data.collate_indices(torch.arange(start, min(len(data), start + batch_size)))
        if which == "joint":
            out.append(net.model(batch).graph_embedding)
            continue
        feats = projections(net, batch)
        if which == "all":
            objective = _contrastive(net)
            if objective.project_joint is None:
                raise ValueError("--features all needs a run pretrained with the joint-pass term (joint_weight > 0)")
            joint = F.normalize(objective.project_joint(net.model(batch).graph_embedding), dim=-1)
            feats = torch.cat([joint, feats], dim=1)
        out.append(feats)
    return torch.cat(out).double().numpy()


def kmeans(features: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means cluster ids ``(n,)`` (10 restarts, seeded)."""
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=10, random_state=seed).fit_predict(features)


def _student_t(f: Tensor, mu: Tensor) -> Tensor:
    q = 1.0 / (1.0 + torch.cdist(f, mu).square())  # (n, k)
    return q / q.sum(1, keepdim=True)


def _sharpen(q: Tensor) -> Tensor:
    p = q.square() / q.sum(0)
    return p / p.sum(1, keepdim=True)


def dec(net: SelfSupervisedModel, pool: GraphDataset, k: int, seed: int = 0, steps: int = DEC_STEPS,
        batch_size: int = DEC_BATCH, lr: float = DEC_LR, refresh: int = DEC_REFRESH,
        nce_weight: float = DEC_NCE_WEIGHT) -> Tensor:
    """Train DEC on ``pool`` (unlabelled) from the run's projections, in place; returns the centroids ``(k, F)``.

    The model is in training mode while it learns (its augmentations on), eval mode after.
    """
    objective = _contrastive(net)
    seed_everything(seed)
    mu = torch.nn.Parameter(torch.from_numpy(_kmeans_centres(pretrained_features(net, pool), k, seed)).float())
    params = [p for p in net.parameters() if p.requires_grad] + [mu]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    scale = objective.logit_scale.detach().clamp(max=objective.MAX_LOGIT_SCALE)
    generator = torch.Generator().manual_seed(seed)
    size = min(batch_size, len(pool))
    step, target = 0, None
    while step < steps:
        order = torch.randperm(len(pool), generator=generator)
        for b in range(len(pool) // size):
            if step >= steps:
                break
            if step % refresh == 0:
                with torch.no_grad():
                    target = _sharpen(_student_t(torch.from_numpy(pretrained_features(net, pool)).float(), mu))
            net.train()
            index = order[b * size:(b + 1) * size]
            batch = net.augmented(pool.collate_indices(index))
            feats = projections(net, batch)
            q = _student_t(feats, mu)
            loss = F.kl_div(q.log(), target[index], reduction="batchmean")
            p = feats.shape[1] // len(objective.modalities)
            blocks = [feats[:, i * p:(i + 1) * p] for i in range(len(objective.modalities))]
            nce = [symmetric_info_nce(blocks[i], blocks[j], scale) for i in range(len(blocks))
                   for j in range(i + 1, len(blocks))]
            loss = loss + nce_weight * torch.stack(nce).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()
            step += 1
    net.eval()
    return mu.detach()


def assign(features: Tensor, centroids: Tensor) -> np.ndarray:
    """Each sample's most likely DEC centroid ``(n,)``."""
    return _student_t(features, centroids).argmax(1).numpy()


def _kmeans_centres(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=10, random_state=seed).fit(features).cluster_centers_


@dataclass
class Clustering:
    """What ``cluster_run`` wrote: the folder, the assignments and the metrics (empty without labels)."""

    out: Path
    assignments: np.ndarray
    metrics: dict[str, Any]

    def summary(self) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.get("scores", {}).items())
        sizes = np.bincount(self.assignments)
        return (f"{len(self.assignments)} samples in {len(sizes)} clusters (sizes {sizes.min()}-{sizes.max()})"
                f"{': ' + shown if shown else ' (no labels: no scores)'}\n"
                f"wrote {self.out / 'clusters.csv'} and {self.out / 'cluster_metrics.json'}")


def _labels(data: GraphDataset, tasks: dict) -> tuple[str | None, np.ndarray | None]:
    """The first graph-level classification task's labels of ``data`` (``-1``: missing), or ``None``."""
    for name, task in tasks.items():
        if task.kind != "classification" or task.node_type is not None:
            continue
        values = data.y if task.target == "y" else data.targets.get(task.target)
        if values is not None:
            return name, ClassificationHead.class_ids(values).numpy()
    return None, None


def cluster_run(run: str | Path, data: str, out: str | Path | None = None, *, k: int = 10, method: str = "kmeans",
                features: str = "projections", split: str = "test", seed: int = 0, root: str | None = None,
                allow_outside: bool = False) -> Clustering:
    """Cluster a split of ``data`` with a run's features; write ``clusters.csv`` and ``cluster_metrics.json``
    into ``out`` (default ``RUN/clusters/DATA-SPLIT``).

    Raises:
        ValueError: an unknown method or feature set, ``k < 2``, or DEC on a run without a contrastive objective.
    """
    from mmgraph.train.pretrain import load_pretrain_run
    from mmgraph.train.runs import load_run

    if method not in CLUSTER_METHODS:
        raise ValueError(f"--method must be one of {list(CLUSTER_METHODS)} (got {method!r})")
    if k < 2:
        raise ValueError(f"--k must be at least 2 (got {k})")
    pretrained = RunFolder(run).read_info().kind == "pretrain"
    loaded = load_pretrain_run(run) if pretrained else load_run(run)
    dataset = loaded.load_data(data, root=root, allow_outside=allow_outside)
    graphs, _ = loaded.featurize(dataset, split)
    seed_everything(seed)
    if method == "dec":
        if not pretrained:
            raise ValueError("--method dec clusters a pretraining run's projections (mmgraph pretrain)")
        if features != "projections":
            raise ValueError("--method dec trains on --features projections")
        if "train" not in dataset.splits:
            raise ValueError(f"--method dec trains on unlabelled training samples; {dataset.name} has no train split")
        train = dataset.splits["train"]
        pool_index = np.sort(np.random.default_rng([seed, 104_729]).permutation(len(train))[:DEC_POOL])
        pool = GraphDataset.from_samples([train[int(i)] for i in pool_index], loaded.graph_config)
        mu = dec(loaded.model, pool, k, seed)
        x = torch.from_numpy(pretrained_features(loaded.model, graphs)).float()
        assigned = assign(x, mu)
    elif pretrained:
        assigned = kmeans(pretrained_features(loaded.model, graphs, features), k, seed)
    else:
        from mmgraph.train.config import TrainConfig
        from mmgraph.train.trainer import Trainer

        embedding = Trainer(loaded.model, TrainConfig(progress=False, device="cpu")).embed(graphs)
        assigned = kmeans(embedding.double().numpy(), k, seed)
    task, labels = _labels(graphs, loaded.tasks or dataset.tasks)
    metrics: dict[str, Any] = {"run": str(run), "data": data, "split": split, "method": method,
                               "features": features if pretrained else "graph embedding", "k": k, "seed": seed,
                               "samples": len(graphs)}
    if labels is not None and (labels >= 0).any():
        metrics.update({"task": task, "scores": clustering_metrics(assigned, labels)})
    folder = Path(out) if out is not None else RunFolder(run).path / "clusters" / f"{Path(data).stem}-{split}"
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "cluster"])
    writer.writerows(zip(graphs.ids, assigned.tolist()))
    write_atomic(folder / "clusters.csv", buf.getvalue().encode())
    write_atomic(folder / "cluster_metrics.json", json.dumps(metrics, indent=2).encode())
    return Clustering(folder, np.asarray(assigned), metrics)


__all__ = ["CLUSTER_METHODS", "FEATURE_NAMES", "FEATURE_SETS", "Clustering", "assign", "cluster_run", "dec", "kmeans",
           "pretrained_features", "projections"]
