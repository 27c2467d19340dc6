"""``run_suite``: every (model, seed) of a suite trained and measured on the same data, same harness.

Data is featurized once per suite (train/val/test plus the perturbed test sets of the robustness
sweeps) and cached under ``OUT/cache``; each (model, seed) job then runs in its own process (clean
peak-memory measurement, and a crash or kill loses only that job), writes
``OUT/runs/<model>/seed<k>/result.json`` and is skipped when rerun (a killed suite resumes: a job
killed mid-training continues from its last epoch's checkpoint, to the same numbers).

Several ``mmgraph bench`` processes may share one ``OUT`` (to use more cores): the data cache is
made under a lock by the first one, and each job is claimed with a lock of its own
(``runs/<model>/seed<k>.lock``, held by the process training it and released by the operating
system when that process ends, killed or not), so no job runs twice at once; a process that finds
a job claimed goes on with the others and waits for it at the end. Every process then writes the
whole report, atomically.

Each job runs with an explicit thread count (``threads``, default: torch's count in the process
that starts the suite) and records it with the library versions in its ``result.json``
(``environment``): the numbers are a function of (data, configs, seed, thread count) on one
machine type (``mmgraph.train.environment``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import multiprocessing.connection
import os
import platform
import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import mmgraph
from mmgraph.bench.perturb import TEXT_SWEEPS, TextPerturber, perturbed
from mmgraph.bench.robustness import SWEEP_MODALITY, SWEEPS, robustness_card
from mmgraph.bench.suite import ModelEntry, Suite, import_plugins, recorded_source
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset, MultimodalDataset
from mmgraph.files import exclusive_lock, write_atomic
from mmgraph.graph.config import GraphConfig
from mmgraph.models.config import ModelConfig
from mmgraph.task import Task
from mmgraph.train.config import TrainConfig
from mmgraph.train.environment import environment, use_threads_of
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.runs import VAL_FRACTION

log = logging.getLogger(__name__)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def subsample_index(n: int, limit: int | None, seed: int) -> np.ndarray:
    """The rows a suite keeps of a split of ``n`` samples: a seeded random ``limit`` of them, sorted (all when
    fewer)."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).permutation(n)[:limit])


def _subsample(samples, limit: int | None, seed: int):
    if limit is None or len(samples) <= limit:
        return samples
    index = subsample_index(len(samples), limit, seed)
    if isinstance(samples, GraphDataset):  # converted graphs: gather columns
        return samples.subset(torch.from_numpy(index))
    return [samples[int(i)] for i in index]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def machine_info() -> dict[str, Any]:
    """The process writing a report: versions and processor (each job records its own ``environment``)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mmgraph": mmgraph.__version__,
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def job_lock_path(run_dir: str | Path) -> Path:
    """The lock a process holds while it runs the job of ``run_dir`` (beside the run folder)."""
    run_dir = Path(run_dir)
    return run_dir.with_name(f"{run_dir.name}.lock")


# ------------------------------------------------------------------------------------------ data


def prepare_data(suite: Suite, out: Path, *, progress: bool = True) -> dict[str, Any]:
    """Featurize the suite's splits and perturbed test sets once; reuse the cache when unchanged."""
    dataset: MultimodalDataset = load_dataset(suite.dataset, root=suite.root, seed=suite.data_seed,
                                              options=suite.dataset_options or None)
    if "test" not in dataset.splits:
        raise ValueError(f"suite {suite.name!r}: {dataset.name} has no test split (splits: {list(dataset.splits)}); "
                         f"a benchmark scores the test split")
    if "val" not in dataset.splits:  # as mmgraph train does
        dataset, held = dataset.hold_out_val(VAL_FRACTION, seed=suite.data_seed)
        log.warning("%s has no val split: %d training samples held out for validation", dataset.name, held["samples"])
    config = dataset.fit_graph_config(dataset.graph_config.with_overrides(suite.graph) if suite.graph else None,
                                      tokenizer_kwargs=suite.tokenizer or None)
    unknown = [t for t in (suite.tasks or []) if t not in dataset.tasks]
    if unknown:
        raise ValueError(f"suite {suite.name!r}: unknown tasks {unknown}; {dataset.name} has {list(dataset.tasks)}")
    # every task of the dataset is available to the models; the suite's tasks come first (headline)
    first = list(suite.tasks or [])
    tasks = {k: dataset.tasks[k] for k in first + [t for t in dataset.tasks if t not in first]}
    sweeps = {k: [float(v) for v in suite.robustness.get(k, [])] for k in SWEEPS}
    sweeps = {k: v for k, v in sweeps.items() if v and SWEEP_MODALITY[k] in config.modalities}
    # the task order is part of the key: the manifest's first task is the suite's headline
    key = {
        "dataset": suite.dataset, "root": suite.root, "data_seed": suite.data_seed, "graph": config.to_dict(),
        "dataset_options": suite.dataset_options,
        "max_train": suite.max_train, "max_eval": suite.max_eval, "sweeps": sweeps, "version": mmgraph.__version__,
        "tasks": list(tasks),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    cache = out / "cache" / digest
    manifest_path = cache / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    with exclusive_lock(out / "cache" / f"{digest}.lock"):  # one process featurizes, the others wait and read
        if manifest_path.exists():
            return json.loads(manifest_path.read_text())
        return _featurize_suite_data(dataset, config, suite, tasks, sweeps, cache, progress)


def _featurize_suite_data(dataset, config, suite, tasks, sweeps, cache: Path, progress: bool) -> dict[str, Any]:
    manifest_path = cache / "manifest.json"
    cache.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    splits = {
        "train": _subsample(dataset.splits["train"], suite.max_train, 1),
        "val": _subsample(dataset.splits["val"], suite.max_eval, 2),
        "test": _subsample(dataset.splits["test"], suite.max_eval, 3),
    }
    # shifted test sets a dataset offers (AV-MNIST's test_speaker, test_noise): the same rows as test
    for name in sorted(s for s in dataset.splits if s.startswith("test_")):
        splits[name] = _subsample(dataset.splits[name], suite.max_eval, 3)
    stored = isinstance(dataset.splits["train"], GraphDataset)  # a converted folder: graphs, no raw samples
    if stored and sweeps:
        log.warning("suite %r: %s holds converted graphs, not raw samples: the noise sweeps %s are skipped",
                    suite.name, suite.dataset, sorted(sweeps))
        sweeps = {}
    for split, samples in splits.items():
        if stored:
            gd = samples
        else:
            gd = GraphDataset.from_samples(samples, config, node_targets=dataset.node_targets, progress=progress,
                                           description=f"featurize {split}")
        gd.save(cache / f"{split}.pt")
        files[split] = str(cache / f"{split}.pt")
    text = None
    if any(k in TEXT_SWEEPS for k in sweeps):  # built from the training text only
        headline = tasks[next(iter(tasks))]
        text = TextPerturber(dataset.splits["train"], config.settings["text"].tokenizer.split,
                             lambda s: s.y if headline.target == "y" else s.targets.get(headline.target))
    for kind, levels in sweeps.items():
        for level in levels:
            name = f"test_{kind}_{level:g}"
            gd = GraphDataset.from_samples(perturbed(splits["test"], kind, level, text=text), config,
                                           node_targets=dataset.node_targets, progress=progress, description=name)
            gd.save(cache / f"{name}.pt")
            files[name] = str(cache / f"{name}.pt")
    manifest = {
        "files": files,
        "sizes": {k: len(v) for k, v in splits.items()},
        "tasks": {k: t.to_dict() for k, t in tasks.items()},
        "modalities": list(config.modalities),
        "sweeps": sweeps,
        "shifts": sorted(s[len("test_"):] for s in splits if s.startswith("test_")),
        "dataset": dataset.name,
        "dataset_info": json.loads(json.dumps(dataset.info, default=str)),
    }
    write_atomic(manifest_path, json.dumps(manifest, indent=2).encode())
    return manifest


# ------------------------------------------------------------------------------------------ jobs


def job_run_info(job: dict[str, Any], tasks: dict[str, Task], graph_config: GraphConfig, model_config: ModelConfig,
                 train_config: TrainConfig) -> RunInfo:
    """A job's ``run.json`` as ``mmgraph train`` writes it (plus the model's label), so that a benchmark
    run loads like any other (``load_run``, ``mmgraph explain --run``, ``mmgraph train --init``)."""
    source = job.get("source", {})
    return RunInfo(graph_config, model_config, train_config, tasks, data=source.get("data", job["data"]["dataset"]),
                   root=source.get("root"), data_seed=source.get("data_seed", 0), dataset=job["data"]["dataset"],
                   label=job["label"])


def run_job(job: dict[str, Any]) -> dict[str, Any] | None:
    """Train and measure one (model, seed); returns the result record (also written to disk).

    Returns ``None`` without doing anything when another process holds the job (it is running it).
    """
    result_path = Path(job["result_path"])
    with exclusive_lock(job_lock_path(job["run_dir"]), wait=False) as claimed:
        if not claimed:
            return None
        if result_path.exists():  # finished by another process between our look and our claim
            return json.loads(result_path.read_text())
        return _run_claimed_job(job)


def _run_claimed_job(job: dict[str, Any]) -> dict[str, Any]:
    from mmgraph.models import DataSpec, build_model
    from mmgraph.models.build import with_default_text_encoder
    from mmgraph.train import Trainer, seed_everything

    folder = RunFolder(job["run_dir"])
    resume = folder.has_checkpoint()
    if resume:  # a killed job continues with the thread count it started with: the same numbers
        use_threads_of(folder.read_info().environment)
    elif job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    import_plugins(job.get("imports", []))  # a spawned job process registers the suite's models itself
    files = job["data"]["files"]
    train, val, test = (GraphDataset.load(files[s]) for s in ("train", "val", "test"))
    tasks = {k: Task(**v) for k, v in job["data"]["tasks"].items()}
    model_config = with_default_text_encoder(ModelConfig.from_dict(job["model"]), job["data"]["modalities"])
    train_config = TrainConfig.from_dict(job["train"])
    rss_data = _peak_rss_mb()
    seed_everything(train_config.seed)
    model = build_model(model_config, DataSpec.from_graph_config(train.config, tasks))
    trainer = Trainer(model, train_config, out_dir=folder.path, run_info={"label": job["label"]})
    env = folder.read_info().environment if resume and folder.has_info() else None
    info = job_run_info(job, tasks, train.config, model_config, train_config)
    info.environment = env or environment(trainer.device)
    folder.write_info(info)
    fit = trainer.fit(train, val, resume=resume)
    t_eval = t0 = time.perf_counter()
    test_metrics = trainer.evaluate(test)
    infer_s = time.perf_counter() - t0
    headline = job["headline"]
    modalities = job["data"]["modalities"]
    robustness = robustness_card(
        lambda data: trainer.evaluate(data).get(headline), test,
        remove=modalities if job.get("remove_modalities", True) and len(modalities) > 1 else (),
        sweeps=job["data"]["sweeps"],
        perturbed_set=lambda kind, level: GraphDataset.load(files[f"test_{kind}_{level:g}"]),
        shifts={name: (lambda name=name: GraphDataset.load(files[f"test_{name}"]))
                for name in job["data"].get("shifts", [])},
    )
    epoch_seconds = [h["epoch_seconds"] for h in fit.history]
    cost = {
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "train_seconds": fit.train_seconds,
        "epochs": len(fit.history),
        "seconds_per_epoch": statistics.median(epoch_seconds) if epoch_seconds else None,
        "train_samples_per_s": len(train) / statistics.median(epoch_seconds) if epoch_seconds else None,
        "inference_samples_per_s": len(test) / infer_s,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_over_data_mb": _peak_rss_mb() - rss_data,
    }
    result = {
        "label": job["label"], "seed": train_config.seed, "model": model_config.to_dict(), "train": job["train"],
        "test": test_metrics, "robustness": robustness, "cost": cost, "best_epoch": fit.best_epoch,
        "history": fit.history, "resumed": resume, "environment": info.environment,
        # every epoch's time (resumed segments included) plus the evaluations'
        "compute_seconds": sum(epoch_seconds) + (time.perf_counter() - t_eval),
    }
    write_atomic(Path(job["result_path"]), json.dumps(result, indent=2, default=float).encode())
    return result


_BUSY = "busy"


def _job_process(job: dict[str, Any], queue) -> None:  # pragma: no cover - runs in a child process
    logging.basicConfig(level=logging.WARNING)
    try:
        queue.put(None if run_job(job) is not None else _BUSY)
    except BaseException as exc:  # report any failure of the child to the parent, then exit non-zero
        queue.put(f"{exc.__class__.__name__}: {exc}")
        raise


def _start_isolated(job: dict[str, Any]):
    """``run_job`` started in a fresh (spawned) process: ``(process, queue)``; see ``_isolated_outcome``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_job_process, args=(job, queue), daemon=False)
    proc.start()
    return proc, queue


def _isolated_outcome(job: dict[str, Any], proc, queue) -> bool:
    """The finished process's outcome: ``True`` done, ``False`` held by another process; a failure raises."""
    proc.join()
    error = queue.get() if not queue.empty() else None
    if error == _BUSY:
        return False
    if proc.exitcode != 0 or error:
        raise RuntimeError(f"job {job['label']!r} seed {job['train']['seed']} failed: {error or proc.exitcode}")
    return True


def _run_isolated(job: dict[str, Any]) -> bool:
    """``run_job`` in a fresh process; ``False`` when another process holds the job."""
    return _isolated_outcome(job, *_start_isolated(job))


def _run_parallel(jobs: list[dict[str, Any]], workers: int, bar) -> list[dict[str, Any]]:
    """Run ``jobs`` in up to ``workers`` fresh processes at once; returns the jobs other processes held.

    A failed job lets the running ones finish (their results are kept, a rerun resumes) and then raises.
    """
    pending = [job for job in jobs if not Path(job["result_path"]).exists()]
    bar.update(len(jobs) - len(pending))
    running: dict[Any, tuple[dict[str, Any], Any, float]] = {}
    held, failure = [], None
    while pending or running:
        while pending and len(running) < workers and failure is None:
            job = pending.pop(0)
            proc, queue = _start_isolated(job)
            running[proc] = (job, queue, time.perf_counter())
        if not running:
            break
        mp.connection.wait([proc.sentinel for proc in running])
        for proc in [p for p in running if not p.is_alive()]:
            job, queue, t0 = running.pop(proc)
            try:
                if _isolated_outcome(job, proc, queue):
                    log.info("%s seed %d done in %.0f s", job["label"], job["train"]["seed"], time.perf_counter() - t0)
                else:
                    held.append(job)
            except RuntimeError as exc:
                failure = failure or exc
            bar.update(1)
    if failure is not None:
        raise failure
    return held


def _run_or_wait(job: dict[str, Any], isolate: bool, *, wait: bool) -> bool:
    """Run ``job`` unless its result exists; ``False`` when another process holds it (and ``wait`` is false).

    With ``wait``, a job held elsewhere is waited for (its lock), then read, or run here when the
    process holding it died without finishing it.
    """
    path = Path(job["result_path"])
    while not path.exists():
        t0 = time.perf_counter()
        done = _run_isolated(job) if isolate else run_job(job) is not None
        if done:
            log.info("%s seed %d done in %.0f s", job["label"], job["train"]["seed"], time.perf_counter() - t0)
            return True
        if not wait:
            return False
        log.info("%s seed %d is running in another process: waiting for it", job["label"], job["train"]["seed"])
        with exclusive_lock(job_lock_path(job["run_dir"])):
            pass
    return True


# ---------------------------------------------------------------------------------------- suite


def run_suite(suite: Suite, out: str | Path, *, quick: bool = False, seeds: list[int] | None = None,
              progress: bool = True, isolate: bool = True, command: str | None = None,
              threads: int | None = None, workers: int | None = None) -> dict[str, Any]:
    """Run every (model, seed) of ``suite``; write results.json/.csv/.md and plots into ``out``.

    Args:
        suite: the suite.
        out: output folder (created; reruns resume, finished jobs are not redone).
        quick: apply the suite's ``[quick]`` overrides.
        seeds: override the suite's seeds.
        progress: progress bars.
        isolate: run each job in a fresh process (clean peak-memory numbers); ``False`` runs
            them in this process (faster start, used by tests).
        command: the command line to record in the results.
        threads: torch threads per job (default: the suite's ``threads``, else the machine's CPUs
            divided among the ``workers``, else torch's default).
        workers: jobs run at once, each in its own process (default: the suite's ``workers``;
            at most the machine's CPU count). On a small machine two one-thread jobs side by side
            finish sooner than two-thread jobs one after another: small models scale poorly over threads.
    """
    from mmgraph.bench.report import write_report

    if quick:
        suite = suite.apply_quick()
    if seeds is not None:
        suite.seeds = list(seeds)
    import_plugins(suite.imports)
    from mmgraph.models import MODELS

    unknown = [e.label for e in suite.models if suite.model_config(e).name not in MODELS]
    if unknown:
        raise ValueError(f"suite {suite.name!r}: models {unknown} name no registered model (registered: "
                         f"{MODELS.list()}); register yours in a file the suite's 'imports' lists")
    cpus = os.cpu_count() or 1
    workers = max(1, min(workers or suite.workers, cpus))
    threads = threads or suite.threads or (max(1, cpus // workers) if workers > 1 else None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    data = prepare_data(suite, out, progress=progress)
    headline_task = next(iter(data["tasks"]))
    head_metric = "accuracy" if data["tasks"][headline_task]["kind"].endswith("classification") else "mae"
    headline = f"{headline_task}/{head_metric}"
    jobs = []
    for seed in suite.seeds:
        for entry in suite.models:
            run_dir = out / "runs" / slug(entry.label) / f"seed{seed}"
            jobs.append({
                "label": entry.label,
                "model": suite.model_config(entry).to_dict(),
                "train": {**suite.train_config(entry, seed).to_dict(), "progress": False},
                "data": data,
                "headline": headline,
                "remove_modalities": bool(suite.robustness.get("remove_modalities", True)),
                "run_dir": str(run_dir),
                "result_path": str(run_dir / "result.json"),
                "threads": threads or torch.get_num_threads(),
                "imports": list(suite.imports),
                "source": {"data": suite.dataset, "root": suite.root, "data_seed": suite.data_seed},
            })
    if workers > 1 and isolate:
        with tqdm(total=len(jobs), desc=f"bench {suite.name} ({workers} at once)", unit="run",
                  disable=not progress) as bar:
            held_elsewhere = _run_parallel(jobs, workers, bar)
    else:
        bar = tqdm(jobs, desc=f"bench {suite.name}", unit="run", disable=not progress)
        held_elsewhere = []
        for job in bar:
            bar.set_postfix_str(f"{job['label']} seed {job['train']['seed']}")
            if not _run_or_wait(job, isolate, wait=False):
                held_elsewhere.append(job)
    for job in held_elsewhere:  # jobs other processes were running: wait for them (or take them over)
        _run_or_wait(job, isolate, wait=True)
    results = [json.loads(Path(job["result_path"]).read_text()) for job in jobs]
    report = {
        "suite": suite.name,
        "description": suite.description,
        "suite_file": recorded_source(suite.source),
        "dataset": data["dataset"],
        "dataset_info": data["dataset_info"],
        "sizes": data["sizes"],
        "tasks": data["tasks"],
        "headline": headline,
        "modalities": data["modalities"],
        "seeds": suite.seeds,
        "models": suite.labels(),
        "quick": quick,
        "command": command or " ".join(sys.argv),
        "machine": machine_info(),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        # this call's wall time (a rerun that only reads finished jobs takes seconds), and the jobs' own
        "wall_seconds": time.perf_counter() - t_start,
        "compute_seconds": sum(job_compute_seconds(r) for r in results),
        "runs": results,
    }
    write_report(report, out)
    return report


def job_compute_seconds(result: dict[str, Any]) -> float:
    """A job's compute time: every epoch's (across resumed segments) plus its evaluation's.

    Results written before it was recorded count their epochs only.
    """
    if "compute_seconds" in result:
        return float(result["compute_seconds"])
    return float(sum(h.get("epoch_seconds", 0.0) for h in result.get("history", [])))


def entries_by_label(suite: Suite) -> dict[str, ModelEntry]:
    return {e.label: e for e in suite.models}
