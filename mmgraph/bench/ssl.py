"""``run_ssl_suite``: self-supervised pretraining, label efficiency, clustering and knowledge transfer.

An SSL suite (``kind = "ssl"``, e.g. ``suites/avmnist_ssl.toml``; ``mmgraph bench --suite NAME``
runs it) names one supervised task (``task``, a graph-level classification task; default: the
dataset's first) and runs, per seed:

1. **pretrain**: the graph model pretrained with each objective (``masked``, ``contrastive``,
   ``both``) on unlabelled training samples (``mmgraph.train.pretrain``);
2. **finetune**: for each label fraction (stratified, nested, seeded label subsets) the model
   trained from scratch and from each pretrained model, with the same step budget;
3. **clustering**: k-means on raw pixels, on single-modality and graph embeddings of each
   pretrained model, and DEC (``ClusterHead``) fine-tuned without labels;
4. **transfer**: the multimodal model trained with and without modality dropout, tested with a
   modality missing; a single-modality student trained alone and distilled from the multimodal
   teacher (``mmgraph.train.distill``).

Data is featurized once (``prepare_data`` of the model benchmark, cached under ``WORK/cache``).
Every job writes ``WORK/jobs/<job>.json`` when done and is skipped when the suite is rerun, so a
killed suite loses at most the job it was running. ``mmgraph.bench.ssl_report`` turns the job
records into ``results.json`` (the source of truth), ``results.csv``, ``results.md`` and plots.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mmgraph.bench.cluster import FEATURE_NAMES, assign, dec, pretrained_features
from mmgraph.bench.runner import machine_info, prepare_data, subsample_index
from mmgraph.bench.suite import Suite, recorded_source, suite_path
from mmgraph.config import check_fields
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.files import exclusive_lock, load_toml, write_atomic
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.nn.heads import ClassificationHead
from mmgraph.nn.heads.metrics import clustering_metrics
from mmgraph.task import Task
from mmgraph.train.checkpoint import load_checkpoint
from mmgraph.train.distill import DistillationModel
from mmgraph.train.finetune import check_mode, finetune
from mmgraph.train.pretrain import (
    PRETRAIN_TRAIN_CONFIG,
    NuisanceRedraw,
    PretrainConfig,
    load_pretrain_run,
    pretrain,
)
from mmgraph.train.run_folder import RunFolder
from mmgraph.train.runs import init_from
from mmgraph.train.trainer import TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------- suite


@dataclass
class PretrainStage:
    """``[pretrain]``: objectives, the unlabelled sample budget and optimisation (``steps`` optimiser
    steps; the defaults are ``mmgraph pretrain``'s, ``PRETRAIN_TRAIN_CONFIG``)."""

    objectives: list[str] = field(default_factory=lambda: ["contrastive"])
    max_samples: int | None = None
    steps: int = PRETRAIN_TRAIN_CONFIG.steps or 1200
    batch_size: int = PRETRAIN_TRAIN_CONFIG.batch_size
    lr: float = PRETRAIN_TRAIN_CONFIG.lr
    weight_decay: float = PRETRAIN_TRAIN_CONFIG.weight_decay
    warmup_steps: int = 100
    grad_clip: float = PRETRAIN_TRAIN_CONFIG.grad_clip or 5.0
    config: dict[str, Any] = field(default_factory=dict)

    def pretrain_config(self, objective: str) -> PretrainConfig:
        return PretrainConfig.from_dict({**self.config, "objective": objective})

    def train_config(self, seed: int, progress: bool) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                           warmup=min(1.0, self.warmup_steps / self.steps), grad_clip=self.grad_clip, seed=seed,
                           progress=progress)


@dataclass
class FinetuneStage:
    """``[finetune]``: label fractions, the optimisation steps at each, and how each pretrained model is
    fine-tuned (``modes``: ``mmgraph.train.finetune``'s ``full``, ``probe``, ``lpft``); the model without
    pretraining is trained from scratch with the same budget."""

    fractions: list[float] = field(default_factory=lambda: [0.01, 0.1])
    steps: list[int] = field(default_factory=lambda: [200, 300])
    batch_size: int = 64
    lr: float = 3e-3
    modes: list[str] = field(default_factory=lambda: ["probe", "lpft", "full"])

    def __post_init__(self) -> None:
        for mode in self.modes:
            check_mode(mode)
        if len(self.steps) != len(self.fractions):
            raise ValueError(f"[finetune] needs one step budget per fraction (got {len(self.steps)} for "
                             f"{len(self.fractions)} fractions)")
        if any(not 0.0 < f <= 1.0 for f in self.fractions):
            raise ValueError(f"[finetune] fractions must be in (0, 1] (got {self.fractions})")


@dataclass
class ClusteringStage:
    """``[clustering]``: k, which pretrained models get k-means (on their ``features``:
    ``mmgraph.bench.cluster.FEATURE_SETS``), which one DEC (on its projections), DEC's budget."""

    num_clusters: int = 10
    kmeans_objectives: list[str] = field(default_factory=lambda: ["contrastive"])
    features: list[str] = field(default_factory=lambda: ["projections", "joint", "all"])
    dec_objective: str | None = "contrastive"
    dec_samples: int | None = 10000
    dec_steps: int = 300
    dec_batch_size: int = 256
    dec_lr: float = 3e-4


@dataclass
class TransferStage:
    """``[transfer]``: modality dropout rates compared, and the distillation settings."""

    steps: int = 400
    batch_size: int = 64
    lr: float = 1e-3
    modality_dropout: list[float] = field(default_factory=lambda: [0.0, 0.3])
    teacher_dropout: float = 0.0
    student_modalities: list[str] = field(default_factory=lambda: ["image"])
    temperature: float = 4.0
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if self.teacher_dropout not in self.modality_dropout:
            raise ValueError(f"[transfer] teacher_dropout {self.teacher_dropout} must be one of modality_dropout "
                             f"{self.modality_dropout} (the teacher is that run's model)")


STAGES = {"pretrain": PretrainStage, "finetune": FinetuneStage, "clustering": ClusteringStage,
          "transfer": TransferStage}
JOB_STAGES = {"pretrain_job": "pretrain", "finetune_job": "finetune", "clustering_job": "clustering",
              "transfer_job": "transfer", "distill_job": "transfer"}
"""The stage each job belongs to (a suite's ``stages`` list selects them; pretraining always runs)."""


def _stage(cls, raw: dict[str, Any], suite: str, section: str):
    check_fields(cls, raw, f"suite {suite!r}, [{section}]: unknown keys")
    return cls(**raw)


@dataclass
class SSLSuite:
    """A parsed SSL suite (see ``suites/avmnist_ssl.toml`` for the format)."""

    name: str
    dataset: str
    model: ModelConfig
    pretrain: PretrainStage
    finetune: FinetuneStage
    clustering: ClusteringStage
    transfer: TransferStage
    seeds: list[int] = field(default_factory=lambda: [0])
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    task: str | None = None
    description: str = ""
    root: str | None = None
    data_seed: int = 0
    threads: int | None = None
    max_train: int | None = None
    max_eval: int | None = None
    graph: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def apply_quick(self) -> SSLSuite:
        """A copy with the ``[quick]`` overrides merged in (top-level keys and stage tables)."""
        def merge(into: dict[str, Any], changes: dict[str, Any]) -> None:  # tables merge key by key, at any depth
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(into.get(key), dict):
                    merge(into[key], value)
                else:
                    into[key] = copy.deepcopy(value)

        raw = copy.deepcopy(self.raw)
        merge(raw, self.quick)
        raw.pop("quick", None)
        out = parse_ssl_suite(raw, self.source)
        out.root = self.root  # may have been set after parsing (--root)
        return out

    def data_suite(self) -> Suite:
        """The model-benchmark ``Suite`` whose ``prepare_data`` featurizes this suite's data."""
        return Suite(name=self.name, dataset=self.dataset, models=[], tasks=None if self.task is None else [self.task],
                     root=self.root, data_seed=self.data_seed, max_train=self.max_train, max_eval=self.max_eval,
                     graph=dict(self.graph))


def parse_ssl_suite(data: dict[str, Any], source: str | None = None) -> SSLSuite:
    """Build an ``SSLSuite`` from parsed TOML."""
    raw = copy.deepcopy(data)
    data = dict(data)
    name = data.pop("name", None) or (Path(source).stem if source else "ssl")
    kind = data.pop("kind", None)
    if kind != "ssl":
        raise ValueError(f"suite {name!r} is not an SSL suite (kind = {kind!r}; expected 'ssl')")
    if "dataset" not in data:
        raise ValueError(f"suite {name!r}: missing 'dataset'")
    try:
        model = ModelConfig.from_dict(data.pop("model", {}))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"suite {name!r}, [model]: {exc}") from None
    stages = {key: _stage(cls, data.pop(key, {}), name, key) for key, cls in STAGES.items()}
    seeds = data.pop("seeds", [0])
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    chosen = list(data.pop("stages", STAGES))
    unknown_stages = sorted(set(chosen) - set(STAGES))
    if unknown_stages:
        raise ValueError(f"suite {name!r}: unknown stages {unknown_stages} (stages: {list(STAGES)})")
    allowed = {"description", "root", "data_seed", "threads", "max_train", "max_eval", "graph", "quick",
               "dataset", "task"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"suite {name!r}: unknown keys {unknown}; valid: {sorted(allowed | set(STAGES))}")
    return SSLSuite(name=name, model=model, seeds=seeds, stages=chosen, raw=raw, source=source, **stages, **data)


def load_ssl_suite(name_or_path: str) -> SSLSuite:
    """An SSL suite by name (``mmgraph/bench/suites/NAME.toml``) or by TOML path."""
    path = suite_path(name_or_path)
    return parse_ssl_suite(load_toml(path), str(path))


def finetune_method(init: str, mode: str) -> str:
    """How a fine-tuning job is named in the report: ``none`` (from scratch) or ``OBJECTIVE/MODE``."""
    return "none" if init == "none" else f"{init}/{mode}"


# ------------------------------------------------------------------------------------ label subsets


def label_subsets(labels: torch.Tensor, fractions: list[float], seed: int) -> dict[float, np.ndarray]:
    """Stratified, nested label subsets: fraction → sorted sample indices.

    Each class's samples are permuted once (seeded by ``seed``); the subset of a fraction ``f``
    takes the first ``max(1, round(f * n_c))`` of every class's permutation, so smaller fractions
    are subsets of larger ones.
    """
    y = labels.numpy()
    rng = np.random.default_rng([seed, 1_000_003])
    orders = {int(c): rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y[y >= 0])}
    out = {}
    for f in sorted(fractions):
        take = [order[: max(1, int(round(f * len(order))))] for order in orders.values()]
        out[f] = np.sort(np.concatenate(take))
    return out


def budget_view(dataset: GraphDataset, indices: np.ndarray | None, steps: int, batch_size: int,
                seed: int) -> GraphDataset:
    """``steps * batch_size`` samples drawn from ``indices`` (all when ``None``) as one epoch.

    Successive seeded permutations of the pool are concatenated and cut, so every sample appears
    ``floor`` or ``ceil`` of ``steps * batch_size / len(pool)`` times: one training epoch over the
    view is exactly ``steps`` optimisation steps (and the learning-rate schedule spans them).
    """
    pool = np.arange(len(dataset)) if indices is None else np.asarray(indices)
    need = steps * batch_size
    rng = np.random.default_rng([seed, 7919])
    reps = [rng.permutation(pool) for _ in range(math.ceil(need / len(pool)))]
    return dataset.subset(torch.from_numpy(np.concatenate(reps)[:need]))


def fixed_subset_index(n: int, limit: int | None, seed: int) -> np.ndarray:
    """The indices of ``fixed_subset``: a fixed random ``limit`` of ``range(n)``, sorted (all when fewer)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng([seed, 104_729]).permutation(n)[:limit])


def fixed_subset(dataset: GraphDataset, limit: int | None, seed: int) -> GraphDataset:
    """A fixed random ``limit`` samples of ``dataset`` (all when ``limit`` is ``None`` or larger)."""
    if limit is None or limit >= len(dataset):
        return dataset
    return dataset.subset(torch.from_numpy(fixed_subset_index(len(dataset), limit, seed)))


# ------------------------------------------------------------------------------------------ jobs


class SSLHarness:
    """The suite's data and job runners (one process, data loaded once)."""

    def __init__(self, suite: SSLSuite, work: Path, progress: bool = False) -> None:
        self.suite, self.work, self.progress = suite, work, progress
        self.data = prepare_data(suite.data_suite(), work, progress=progress)
        files = self.data["files"]
        self.train, self.test = GraphDataset.load(files["train"]), GraphDataset.load(files["test"])
        self.val = GraphDataset.load(files["val"]) if "val" in files else None
        self.tasks = {k: Task(**v) for k, v in self.data["tasks"].items()}
        # the suite's task comes first in the prepared data; without one, the dataset's first task
        self.task = self.tasks[suite.task or next(iter(self.tasks))]
        if self.task.kind != "classification":
            raise ValueError(f"suite {suite.name!r}: the supervised task must be a graph-level classification "
                             f"task (label subsets, accuracy, cluster labels); {self.task.name!r} is "
                             f"{self.task.kind!r}: set 'task' to one of {self.classification_tasks()}")
        self.spec = DataSpec.from_graph_config(self.train.config, self.tasks)
        self.modalities = list(self.train.config.modalities)
        self._subsets: dict[int, dict[float, np.ndarray]] = {}

    # ---------------------------------------------------------------------------------- helpers

    def classification_tasks(self) -> list[str]:
        return [k for k, t in self.tasks.items() if t.kind == "classification"]

    def labels(self, dataset: GraphDataset) -> torch.Tensor:
        """The supervised task's class of every sample of ``dataset`` (int64; -1: unlabelled)."""
        values = dataset.y if self.task.target == "y" else dataset.targets[self.task.target]
        return ClassificationHead.class_ids(values)

    def run_dir(self, job: str) -> Path:
        return self.work / "runs" / job

    def pretrain_dir(self, objective: str, seed: int) -> Path:
        return self.run_dir(f"pretrain-{objective}-seed{seed}")

    def transfer_dir(self, dropout: float, seed: int) -> Path:
        return self.run_dir(f"transfer-dropout{dropout:g}-seed{seed}")

    def train_config(self, seed: int, batch_size: int, lr: float, epochs: int = 1) -> TrainConfig:
        return TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, progress=self.progress)

    def build(self, seed: int, **changes: Any) -> torch.nn.Module:
        seed_everything(seed)
        return build_model(self.suite.model.replace(**changes), self.spec)

    def accuracy(self, model: torch.nn.Module, dataset: GraphDataset) -> float:
        return Trainer(model, TrainConfig(progress=False)).evaluate(dataset)[f"{self.task.name}/accuracy"]

    def embeddings(self, model: torch.nn.Module, dataset: GraphDataset) -> np.ndarray:
        return Trainer(model, TrainConfig(progress=False)).embed(dataset).double().numpy()

    def kmeans(self, features: np.ndarray, seed: int) -> dict[str, float]:
        from sklearn.cluster import KMeans

        assigned = KMeans(self.suite.clustering.num_clusters, n_init=10, random_state=seed).fit_predict(features)
        return clustering_metrics(assigned, self.labels(self.test).numpy())

    # ------------------------------------------------------------------------------------- jobs

    def redraw(self, data: GraphDataset, index: np.ndarray, seed: int) -> NuisanceRedraw | None:
        """The ``redraw`` augmentation of the training graphs ``data`` (rows ``index`` of the suite's
        training split), when the dataset can re-draw its nuisance."""
        dataset = load_dataset(self.suite.dataset, root=self.suite.root, seed=self.suite.data_seed)
        if dataset.nuisance is None or "train" not in dataset.splits:
            return None
        rows = subsample_index(len(dataset.splits["train"]), self.suite.max_train, 1)[index]
        return NuisanceRedraw(dataset, "train", rows, data, seed)

    def pretrain_job(self, objective: str, seed: int) -> dict[str, Any]:
        stage = self.suite.pretrain
        index = fixed_subset_index(len(self.train), stage.max_samples, seed)
        data = self.train.subset(torch.from_numpy(index))
        run = self.pretrain_dir(objective, seed)
        resume = RunFolder(run).has_checkpoint()
        config = stage.pretrain_config(objective)
        redraw = self.redraw(data, index, seed) if "redraw" in config.augment else None
        _, fit = pretrain(data, run, model_config=self.suite.model, pretrain_config=config,
                          train_config=stage.train_config(seed, self.progress), val=self.val, resume=resume,
                          info={"dataset": self.data["dataset"], "samples": len(data)}, redraw=redraw)
        last = fit.history[-1] if fit.history else {}
        return {"objective": objective, "samples": len(data), "steps": last.get("steps"),
                "epochs": len(fit.history), "train_seconds": fit.train_seconds, "history": fit.history,
                "final_train_loss": last.get("train_loss"),
                "chance": last.get("chance"), "final_train_infonce": last.get("train/contrastive/infonce"),
                "final_heldout_infonce": last.get("val/contrastive/infonce")}

    def finetune_job(self, init: str, fraction: float, steps: int, seed: int, mode: str = "scratch") -> dict[str, Any]:
        stage = self.suite.finetune
        if seed not in self._subsets:
            self._subsets[seed] = label_subsets(self.labels(self.train), stage.fractions, seed)
        labelled = self._subsets[seed][fraction]
        model = self.build(seed, tasks=[self.task.name])
        view = budget_view(self.train, labelled, steps, stage.batch_size, seed)
        config = self.train_config(seed, stage.batch_size, stage.lr).replace(steps=steps)
        if init == "none":
            fit = Trainer(model, config).fit(view, None)
        else:
            init_from(model, self.pretrain_dir(init, seed))
            _, fit = finetune(model, view, None, config, mode)
        return {"init": init, "mode": mode, "method": finetune_method(init, mode), "fraction": fraction,
                "labels": int(len(labelled)), "steps": steps, "train_seconds": fit.train_seconds,
                "test_accuracy": self.accuracy(model, self.test)}

    def clustering_job(self, seed: int) -> dict[str, Any]:
        stage = self.suite.clustering
        methods: dict[str, dict[str, float]] = {}
        image = self.test.columns["image"].x.reshape(len(self.test), -1)  # every test image has the same patches
        methods["k-means: raw pixels"] = self.kmeans(image.double().numpy(), seed)
        for objective in stage.kmeans_objectives:
            net = load_pretrain_run(self.pretrain_dir(objective, seed)).model
            contrastive = "contrastive" in net.objectives
            joint = contrastive and net.objectives["contrastive"].project_joint is not None
            for features in stage.features:
                if (features == "all" and not joint) or (features != "joint" and not contrastive):
                    continue  # no projections to cluster (a masked-only model: its joint embedding only)
                methods[f"k-means: {FEATURE_NAMES[features]} ({objective})"] = self.kmeans(
                    pretrained_features(net, self.test, features), seed)
        out: dict[str, Any] = {"methods": methods}
        if stage.dec_objective is not None and stage.dec_steps > 0:  # dec_steps = 0: no DEC
            net = load_pretrain_run(self.pretrain_dir(stage.dec_objective, seed)).model
            data = fixed_subset(self.train, stage.dec_samples, seed + 17)
            t0 = time.perf_counter()
            mu = dec(net, data, stage.num_clusters, seed, steps=stage.dec_steps, batch_size=stage.dec_batch_size,
                     lr=stage.dec_lr)
            assigned = assign(torch.from_numpy(pretrained_features(net, self.test)).float(), mu)
            methods[f"DEC: {FEATURE_NAMES['projections']} ({stage.dec_objective})"] = clustering_metrics(
                assigned, self.labels(self.test).numpy())
            out.update({"dec_samples": len(data), "dec_train_seconds": time.perf_counter() - t0})
        return out

    def transfer_job(self, dropout: float, seed: int) -> dict[str, Any]:
        stage = self.suite.transfer
        model = self.build(seed, tasks=[self.task.name], modality_dropout=dropout)
        view = budget_view(self.train, None, stage.steps, stage.batch_size, seed)
        trainer = Trainer(model, self.train_config(seed, stage.batch_size, stage.lr),
                          out_dir=self.transfer_dir(dropout, seed))
        fit = trainer.fit(view, None)
        test = {"full": self.accuracy(model, self.test)}
        for m in self.modalities:
            test[f"without_{m}"] = self.accuracy(model, self.test.without_modalities([m]))
        return {"modality_dropout": dropout, "steps": stage.steps, "train_seconds": fit.train_seconds, "test": test}

    def distill_job(self, mode: str, seed: int) -> dict[str, Any]:
        stage = self.suite.transfer
        student = self.build(seed, tasks=[self.task.name], modalities=list(stage.student_modalities))
        view = budget_view(self.train, None, stage.steps, stage.batch_size, seed)
        trained: torch.nn.Module = student
        teacher_accuracy = None
        if mode == "distilled":
            teacher = self.build(seed, tasks=[self.task.name], modality_dropout=stage.teacher_dropout)
            load_checkpoint(RunFolder(self.transfer_dir(stage.teacher_dropout, seed)).best_checkpoint, teacher)
            teacher_accuracy = self.accuracy(teacher, self.test)
            trained = DistillationModel(student, teacher, stage.temperature, stage.alpha)
        fit = Trainer(trained, self.train_config(seed, stage.batch_size, stage.lr)).fit(view, None)
        return {"mode": mode, "student_modalities": list(stage.student_modalities), "steps": stage.steps,
                "train_seconds": fit.train_seconds, "test_accuracy": self.accuracy(student, self.test),
                "teacher_accuracy": teacher_accuracy}


def plan_jobs(suite: SSLSuite) -> list[tuple[str, str, dict[str, Any]]]:
    """Every job of the suite's ``stages`` as ``(job id, method name, arguments)``, seed by seed (a seed's jobs in
    dependency order)."""
    jobs = []
    ft = suite.finetune
    for seed in suite.seeds:
        for objective in suite.pretrain.objectives:
            jobs.append((f"pretrain-{objective}-seed{seed}", "pretrain_job", {"objective": objective, "seed": seed}))
        for fraction, steps in zip(ft.fractions, ft.steps):
            jobs.append((f"finetune-none-frac{fraction:g}-seed{seed}", "finetune_job",
                         {"init": "none", "fraction": fraction, "steps": steps, "seed": seed}))
            for init in suite.pretrain.objectives:
                for mode in ft.modes:
                    jobs.append((f"finetune-{init}-{mode}-frac{fraction:g}-seed{seed}", "finetune_job",
                                 {"init": init, "mode": mode, "fraction": fraction, "steps": steps, "seed": seed}))
        jobs.append((f"clustering-seed{seed}", "clustering_job", {"seed": seed}))
        for p in suite.transfer.modality_dropout:
            jobs.append((f"transfer-dropout{p:g}-seed{seed}", "transfer_job", {"dropout": p, "seed": seed}))
        for mode in ("alone", "distilled"):
            jobs.append((f"distill-{mode}-seed{seed}", "distill_job", {"mode": mode, "seed": seed}))
    wanted = {"pretrain", *suite.stages}
    return [job for job in jobs if JOB_STAGES[job[1]] in wanted]


def run_ssl_suite(suite: SSLSuite, work: str | Path, out: str | Path, *, quick: bool = False,
                  seeds: list[int] | None = None, progress: bool = False,
                  command: str | None = None) -> dict[str, Any]:
    """Run (or resume) every job of ``suite``; write the report into ``out``.

    Args:
        suite: the suite.
        work: folder for the data cache, run folders and job records (rerunning resumes).
        out: folder for ``results.json``/``.csv``/``.md`` and the plots (``mmgraph bench``: ``work``).
        quick: apply the suite's ``[quick]`` overrides.
        seeds: override the suite's seeds.
        progress: progress bars (jobs, featurization, training epochs).
        command: the command line to record.
    """
    from mmgraph.bench.ssl_report import write_ssl_report

    if quick:
        suite = suite.apply_quick()
    if seeds is not None:
        suite.seeds = list(seeds)
    if suite.threads:
        torch.set_num_threads(int(suite.threads))
    work, out = Path(work), Path(out)
    (work / "jobs").mkdir(parents=True, exist_ok=True)
    harness = SSLHarness(suite, work, progress)
    planned = plan_jobs(suite)
    bar = tqdm(planned, desc=f"bench {suite.name}", unit="job", disable=not progress)

    def run(job_id: str, method: str, kwargs: dict[str, Any], *, wait: bool) -> bool:
        """Run the job unless done; ``False`` when another process sharing ``work`` holds it (and not ``wait``)."""
        path = work / "jobs" / f"{job_id}.json"
        while not path.exists():
            # the lock dies with its process: a killed process's job is taken over, never run twice at once
            with exclusive_lock(work / "jobs" / f"{job_id}.lock", wait=wait) as claimed:
                if not claimed:
                    return False
                if path.exists():
                    break
                log.info("job %s: starting", job_id)
                t0 = time.perf_counter()
                result = getattr(harness, method)(**kwargs)
                record = {"job": job_id, "kind": method.removesuffix("_job"), **kwargs, **result,
                          "seconds": time.perf_counter() - t0}
                write_atomic(path, json.dumps(record, indent=2, default=float).encode())
                log.info("job %s: done in %.0f s", job_id, record["seconds"])
        return True

    # a seed's jobs depend on its earlier ones (pretraining before fine-tuning): once one is held by
    # another process, the seed's later jobs wait until the end, in order, behind it
    deferred, waiting_seeds = [], set()
    for job_id, method, kwargs in bar:
        bar.set_postfix_str(job_id)
        if kwargs["seed"] in waiting_seeds or not run(job_id, method, kwargs, wait=False):
            waiting_seeds.add(kwargs["seed"])
            deferred.append((job_id, method, kwargs))
    for job_id, method, kwargs in deferred:  # other processes' jobs: wait for them (or take them over)
        run(job_id, method, kwargs, wait=True)
    records = [json.loads((work / "jobs" / f"{job_id}.json").read_text()) for job_id, _, _ in planned]
    report = {
        "suite": suite.name,
        "description": suite.description,
        "suite_file": recorded_source(suite.source),
        "settings": {k: v for k, v in suite.raw.items() if k != "quick"},
        "quick": quick,
        "dataset": harness.data["dataset"],
        "sizes": harness.data["sizes"],
        "seeds": suite.seeds,
        "command": command or " ".join(sys.argv),
        "machine": machine_info(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "compute_seconds": sum(r["seconds"] for r in records),
        "jobs": records,
    }
    return write_ssl_report(report, out)
