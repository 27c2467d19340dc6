"""A trained run scored on any dataset or manifest: task metrics and the benchmark's robustness card.

``mmgraph evaluate RUN DATA [--split test] [--robustness]`` runs ``evaluate_run``. The report has
the benchmark runner's form (one run instead of a suite's), so it is written by the same
``mmgraph.bench.report.write_report`` — ``results.json`` (the source of truth), ``results.csv``,
``results.md`` and the sweep plots — and its robustness numbers are computed by the same
``mmgraph.bench.robustness.robustness_card`` on test sets perturbed by ``mmgraph.bench.perturb``
with the same seeds: evaluating a benchmark's run on its own test split gives that run's numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgraph.bench.perturb import perturbed
from mmgraph.bench.report import print_table, write_report
from mmgraph.bench.robustness import DEFAULT_SWEEPS, SWEEP_MODALITY, robustness_card
from mmgraph.bench.runner import machine_info, slug
from mmgraph.datasets.base import GraphDataset
from mmgraph.train.config import TrainConfig
from mmgraph.train.runs import load_run
from mmgraph.train.trainer import Trainer

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What ``evaluate_run`` measured and where it wrote it."""

    report: dict[str, Any]
    out: Path

    @property
    def metrics(self) -> dict[str, float]:
        """``{"task/metric": value}`` (and ``loss``) on the evaluated split."""
        return self.report["runs"][0]["test"]

    @property
    def robustness(self) -> dict[str, Any]:
        """The robustness card (empty without ``robustness=True``)."""
        return self.report["runs"][0]["robustness"]

    def summary(self) -> str:
        """What a terminal shows: the metrics, the card's table and where the files are."""
        shown = {k: round(v, 4) for k, v in self.metrics.items()}
        return "\n".join([f"{self.report['split']}: {shown}", print_table(self.report),
                          f"results: {self.out}/results.md (+ results.json, results.csv, plots)"])


def evaluate_run(run_dir: str | Path, data: str, out: str | Path | None = None, *, split: str = "test",
                 robustness: bool = False, sweeps: Mapping[str, Sequence[float]] | None = None,
                 root: str | None = None, allow_outside: bool = False, device: str | None = None,
                 batch_size: int = 256) -> Evaluation:
    """Score a trained run on a split of a dataset; with ``robustness``, also its robustness card.

    Args:
        run_dir: a run folder (``mmgraph train``, or a run of ``mmgraph bench``).
        data: built-in dataset name, manifest or converted folder, with labels or targets for at
            least one of the model's tasks (checked against the run: ``LoadedRun.check_data``).
        out: folder for the report (default: ``RUN/evaluation/<data>-<split>``).
        split: ``train``, ``val``, ``test`` or ``all``.
        robustness: also score the split with each modality removed and over the noise sweeps.
        sweeps: sweep kind → levels (default ``DEFAULT_SWEEPS``); sweeps of modalities the data
            lacks are skipped, and converted graphs (no raw samples to perturb) get none.
        root: raw-data folder (default: the run's).
        allow_outside: accept manifest paths outside the manifest's folder.
        device: ``auto``, ``cpu``, ``cuda``, ... (default: ``auto``).
        batch_size: samples per forward pass.

    Raises:
        ValueError: the data cannot be scored (no split, no targets for the model's tasks, or
            modalities and tasks the run does not know).
    """
    t_start = time.perf_counter()
    trainer_config = TrainConfig(eval_batch_size=batch_size, device=device or "auto", progress=False)
    from mmgraph.train.distributed import resolve_device

    resolve_device(trainer_config.device)  # before any data is read
    run = load_run(run_dir)
    dataset = run.load_data(data, root=root, allow_outside=allow_outside)
    graphs, _ = run.featurize(dataset, split)
    trainer = Trainer(run.model, trainer_config)
    headline = trainer.default_monitor()
    t0 = time.perf_counter()
    metrics = trainer.evaluate(graphs)
    infer_s = time.perf_counter() - t0
    if len(metrics) <= 1:  # only the loss: no head had a target to compare with
        raise ValueError(f"{data} ({split}) has no labels or targets for the model's tasks {list(trainer.heads)}: "
                         f"nothing to evaluate (mmgraph predict writes predictions without them)")
    modalities = sorted(m for m, nodes in graphs.columns.items() if int(nodes.counts.sum()) > 0)  # in the data
    card: dict[str, Any] = {}
    if robustness:
        chosen = _sweeps(sweeps, modalities, dataset.splits, split)
        samples = _raw_samples(dataset.splits, split) if chosen else []

        def perturbed_set(kind: str, level: float) -> GraphDataset:
            return GraphDataset.from_samples(perturbed(samples, kind, level), run.graph_config,
                                             node_targets=dataset.node_targets)

        card = robustness_card(lambda d: trainer.evaluate(d).get(headline), graphs,
                               remove=modalities if len(modalities) > 1 else (), sweeps=chosen,
                               perturbed_set=perturbed_set)
    label = run.record.label or run.folder.path.name
    out = Path(out) if out is not None else run.folder.path / "evaluation" / f"{slug(dataset.name)}-{split}"
    tasks = {k: t.to_dict() for k, t in run.tasks.items() if k in trainer.heads}
    report = {
        "title": f"# Evaluation of run `{run.folder.path}` on `{data}` ({split})",
        "suite": "evaluate",
        "description": f"Run `{run.folder.path}` (trained on `{run.record.data}`), scored on the {split} split of "
                       f"`{data}`.",
        "run": str(run.folder.path),
        "data": data,
        "split": split,
        "dataset": dataset.name,
        "sizes": {split: len(graphs)},
        "tasks": tasks,
        "headline": headline,
        "modalities": modalities,
        "seeds": [run.record.train_config.seed],
        "models": [label],
        "runs": [{
            "label": label, "seed": run.record.train_config.seed, "test": metrics, "robustness": card,
            "cost": {"parameters": int(sum(p.numel() for p in run.model.parameters())),
                     "inference_samples_per_s": len(graphs) / infer_s},
        }],
        "command": f"mmgraph evaluate {run.folder.path} {data} --split {split}" + (" --robustness" * robustness),
        "machine": machine_info(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_seconds": time.perf_counter() - t_start,
    }
    out.mkdir(parents=True, exist_ok=True)
    return Evaluation(write_report(report, out), out)


def _sweeps(sweeps, modalities, splits, split) -> dict[str, list[float]]:
    """The sweeps to run: those of modalities the data has, when it has raw samples to perturb."""
    text = sorted(k for k in (sweeps or {}) if k.startswith("text_"))
    if text:
        raise ValueError(f"sweeps {text} perturb test text with words of the training text: they run in "
                         f"mmgraph bench (a suite's [robustness]), not on a trained run")
    unknown = sorted(set(sweeps or {}) - set(SWEEP_MODALITY))
    if unknown:
        raise ValueError(f"unknown sweeps {unknown}; valid: {sorted(SWEEP_MODALITY)}")
    chosen = {k: [float(v) for v in levels] for k, levels in (sweeps or DEFAULT_SWEEPS).items()
              if SWEEP_MODALITY[k] in modalities}
    names = list(splits) if split == "all" else [split]
    if chosen and any(isinstance(splits[n], GraphDataset) for n in names):
        log.warning("converted graphs hold no raw samples to add noise to: the noise sweeps are skipped "
                    "(evaluate the source dataset or manifest for them)")
        return {}
    return chosen


def _raw_samples(splits, split) -> list:
    names = list(splits) if split == "all" else [split]
    return [sample for name in names for sample in splits[name]]


__all__ = ["Evaluation", "evaluate_run"]
