"""Self-supervised pretraining runs: the graph model pretrained into a run folder, and loaded back.

The model and its objectives are ``mmgraph.models.self_supervised``'s (``PretrainConfig``,
``SelfSupervisedModel``, ``build_pretrain_model``); the losses are in ``mmgraph.nn.losses`` and the
node masks in ``mmgraph.nn.masking``. ``pretrain`` / ``pretrain_run`` write a run folder like
``train_run`` does; ``mmgraph train --init RUN`` then fine-tunes from it: only the graph model's
encoders, layers and readout are copied (not the decoders, projections or the unused task head;
see ``init_from``). Labels are never read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmgraph.datasets.base import GraphDataset
from mmgraph.models import ModelConfig, MultimodalGNN
from mmgraph.models.self_supervised import (
    BACKBONE_PREFIX,
    OBJECTIVES,
    PretrainConfig,
    SelfSupervisedModel,
    build_pretrain_model,
)
from mmgraph.train.checkpoint import load_checkpoint
from mmgraph.train.distributed import ProcessPlace, barrier, is_main_process, torchrun_process_group
from mmgraph.train.environment import environment, use_threads_of
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.runs import LoadedRun, check_runtime, model_config_from, resumed_settings, train_config_from
from mmgraph.train.trainer import FitResult, TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)


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
    if folder is not None and resume and folder.has_info():
        use_threads_of(folder.read_info().environment)  # continue with the thread count the run started with
    elif folder is not None:
        facts = dict(info or {})
        source = {k: facts.pop(k) for k in ("data", "root", "data_seed", "dataset") if k in facts}
        if is_main_process():
            folder.write_info(RunInfo(train.config, model_config, train_config, {}, kind="pretrain",
                                      pretrain_config=pretrain_config.to_dict(), extra=facts, **source,
                                      environment=environment(ProcessPlace.current(train_config.device).device)))
        barrier()
    seed_everything(train_config.seed)
    net = build_pretrain_model(model_config, train.config, pretrain_config)
    # what init_from copies from this run's checkpoints: the graph model, without its unused head
    run_info = {"kind": "pretrain", "backbone_prefix": BACKBONE_PREFIX, "backbone_exclude": ["head."]}
    trainer = Trainer(net, train_config, out_dir=out, run_info=run_info)
    result = trainer.fit(train, val, resume=resume and has_checkpoint)
    if folder is not None and is_main_process():
        summary = {"best_epoch": result.best_epoch, "best_val_loss": result.best_score,
                   "train_seconds": result.train_seconds, "final_train_loss": result.history[-1]["train_loss"]
                   if result.history else None}
        folder.write_json(folder.pretrain_metrics, summary)
    return net, result


def pretrain_run(
    data: str,
    out: str | Path,
    *,
    model: str | ModelConfig | None = None,
    pretrain_config: PretrainConfig | None = None,
    train_config: TrainConfig | None = None,
    overrides: Mapping[str, Any] | None = None,
    root: str | None = None,
    data_seed: int = 0,
    resume: bool = False,
) -> dict[str, Any]:
    """Pretrain the graph model on a dataset's training split (its labels unread) into a run folder.

    Args:
        data: built-in dataset name, manifest path or converted-graphs folder.
        out: run folder; ``mmgraph train --init OUT`` fine-tunes from it.
        model: model config (TOML path, ``"mmgnn"`` or ``ModelConfig``; ``None``: ``mmgnn``): the
            architecture to pretrain, which the fine-tuned model should share. A TOML file may hold
            a ``[train]`` table.
        pretrain_config: objectives and their settings (``None``: the defaults, or the stored ones
            on resume).
        train_config, overrides: optimisation settings, as for ``train_run``.
        root, data_seed: as for ``train_run``.
        resume: continue the run in ``out`` from its last checkpoint (its stored settings; more
            ``epochs`` in ``overrides`` extend it, as for ``train_run``).

    Returns the run's summary (best epoch, validation loss, seconds).
    """
    with torchrun_process_group():  # under torchrun, as train_run: each rank its share of every global batch
        return _pretrain_run(data, out, model, pretrain_config, train_config, overrides, root, data_seed, resume)


def _pretrain_run(data, out, model, pretrain_config, train_config, overrides, root, data_seed,
                  resume) -> dict[str, Any]:
    from mmgraph.datasets import load_dataset

    folder = RunFolder(out)
    if resume:
        stored = resumed_settings(folder, model, train_config, dict(overrides or {}))
        model_config, train_config = stored.model_config, stored.train_config
        stored_pretrain = PretrainConfig.from_dict(stored.pretrain_config or {})
        if pretrain_config is not None and pretrain_config != stored_pretrain:
            raise ValueError(f"--resume: {out} was pretrained with {stored_pretrain.to_dict()}; resume it without "
                             f"changing the objective or mask ratio")
        pretrain_config = stored_pretrain
    else:
        model_config = model_config_from(model)
        train_config = train_config_from(model, train_config, overrides)
    check_runtime(train_config)  # before any data is read
    dataset = load_dataset(data, root=root, seed=data_seed)
    graph_config = stored.graph_config if resume else dataset.fit_graph_config()
    splits = {s: dataset.featurize(s, graph_config, progress=train_config.progress)
              for s in ("train", "val") if s in dataset.splits}
    info = {"data": data, "root": root, "data_seed": data_seed, "dataset": dataset.name}
    pretrain(splits["train"], out, model_config=model_config, pretrain_config=pretrain_config,
             train_config=train_config, val=splits.get("val"), resume=resume, info=info)
    barrier()  # rank 0's summary is on disk before any rank reads it
    return json.loads(folder.pretrain_metrics.read_text())


@dataclass
class LoadedPretrainRun(LoadedRun):
    """A pretraining run: the ``SelfSupervisedModel`` (its graph model is ``backbone``), folder and record."""

    model: SelfSupervisedModel

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
    "LoadedPretrainRun",
    "PretrainConfig",
    "build_pretrain_model",
    "load_pretrain_run",
    "pretrain",
    "pretrain_run",
]
