"""Self-supervised pretraining runs: the graph model pretrained into a run folder, and loaded back.

The model and its objectives are ``mmgraph.models.self_supervised``'s (``PretrainConfig``,
``SelfSupervisedModel``, ``build_pretrain_model``); the losses are in ``mmgraph.nn.losses`` and the
node masks in ``mmgraph.nn.masking``. ``pretrain`` / ``pretrain_run`` write a run folder like
``train_run`` does; ``mmgraph train --init RUN`` then fine-tunes from it: only the graph model's
encoders, layers and readout are copied (not the decoders, projections or the unused task head;
see ``init_from``). Labels are never read.

A contrastive run logs, every epoch, the train InfoNCE (``train/contrastive/infonce``) and the
held-out one (``val/contrastive/infonce``, on ``PretrainConfig.heldout`` validation samples at the
training batch size) next to chance, ``ln(batch)`` (``chance``); the loss-at-chance guard fails a run
that has learned nothing (``LossAtChance``). ``redraw`` augmentation re-draws the nuisance of the
training samples before every epoch after the first (``NuisanceRedraw``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mmgraph.datasets.base import GraphDataset, MultimodalDataset
from mmgraph.errors import InputError
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
from mmgraph.train.runs import LoadedRun, check_runtime, model_config_from, read_model_file, resumed_settings
from mmgraph.train.trainer import FitResult, TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)

PRETRAIN_TRAIN_CONFIG = TrainConfig(steps=1200, batch_size=256, lr=2e-3, weight_decay=0.05, warmup=100 / 1200,
                                    grad_clip=5.0)
"""The optimisation ``mmgraph pretrain`` uses unless told otherwise: 1,200 AdamW steps of 256 samples at
2e-3 (weight decay 0.05), 100 warm-up steps then cosine to 0, gradient norm clipped at 5. InfoNCE on
AV-MNIST is at chance for the first ~200 steps and learns over the next ~1,000 (issue 12)."""

INFONCE_PART = "contrastive/infonce"
"""The loss part the guard and the chance comparison read (InfoNCE alone, without the joint term)."""


class LossAtChance(InputError, RuntimeError):
    """A contrastive pretraining run whose InfoNCE stayed at chance: it learned nothing."""


def check_not_at_chance(loss: float, batch_size: int, tolerance: float, where: str) -> None:
    """The loss-at-chance guard: an InfoNCE above ``(1 - tolerance) * ln(batch_size)`` fails.

    Raises:
        LossAtChance: with what it means and what to change.
    """
    chance = math.log(batch_size)
    if loss > (1.0 - tolerance) * chance:
        raise LossAtChance(
            f"contrastive pretraining learned nothing: the train InfoNCE {loss:.3f} is within {tolerance:.0%} of "
            f"chance ln({batch_size}) = {chance:.3f} {where}. Train longer (--steps; InfoNCE needs ~1,000 steps), "
            f"raise --lr, or check that the modalities share information (views='separate'); the per-epoch losses "
            f"are in the run folder's metrics.csv")


class NuisanceRedraw:
    """The ``redraw`` augmentation: before every epoch after the first, the nuisance of every training
    sample is re-drawn by its dataset (``MultimodalDataset.resample_nuisance``) and its changed
    modalities re-featurized in place. Epoch ``e`` draws from ``default_rng([seed, e, 7])``: a resumed
    run sees the same data as an uninterrupted one.

    Args:
        dataset: the raw dataset (its ``nuisance`` function).
        split: the split ``data`` was featurized from.
        rows: the row in ``split`` of each graph of ``data``.
        data: the featurized training graphs (changed in place).
        seed: the run's seed.
    """

    def __init__(self, dataset: MultimodalDataset, split: str, rows: np.ndarray, data: GraphDataset,
                 seed: int) -> None:
        if len(rows) != len(data):
            raise ValueError(f"NuisanceRedraw: {len(rows)} rows for {len(data)} graphs")
        self.dataset, self.split, self.rows, self.data, self.seed = dataset, split, np.asarray(rows), data, seed

    def __call__(self, epoch: int) -> None:
        if epoch == 0:
            return  # the dataset's own draw
        samples = self.dataset.resample_nuisance(self.split, self.rows, np.random.default_rng([self.seed, epoch, 7]))
        self.data.replace_nodes(samples, self.dataset.nuisance_modalities)
        log.info("epoch %d: re-drew the %s of %d samples", epoch, "/".join(self.dataset.nuisance_modalities),
                 len(self.rows))


@torch.no_grad()
def heldout_losses(net: SelfSupervisedModel, data: GraphDataset, batch_size: int,
                   device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean loss and loss parts on ``data`` in eval mode, in full batches of ``batch_size`` (all of ``data``
    when smaller), so InfoNCE compares with chance ``ln(batch_size)``."""
    was_training = net.training
    net.eval()
    size = min(batch_size, len(data))
    sums: dict[str, float] = {}
    batches = len(data) // size
    for b in range(batches):
        batch = data.collate_indices(torch.arange(b * size, (b + 1) * size)).to(device)
        loss, parts = net.loss(net(batch), batch)
        for k, v in {"loss": loss, **parts}.items():
            if v.numel() == 1:
                sums[k] = sums.get(k, 0.0) + float(v)
    net.train(was_training)
    return {k: v / batches for k, v in sums.items()}


def pretrain_train_config(spec: str | ModelConfig | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """The training settings of a pretraining run: ``PRETRAIN_TRAIN_CONFIG``, then the model file's
    ``[train]`` table, then ``overrides``. An ``epochs`` given without ``steps`` is an epoch budget
    (``steps`` unset)."""
    given = {**read_model_file(spec)[1], **dict(overrides or {})}
    if "epochs" in given and "steps" not in given:
        given["steps"] = None
    try:
        return TrainConfig.from_dict({**PRETRAIN_TRAIN_CONFIG.to_dict(), **given})
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"pretraining settings: {exc}") from None


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
    redraw: NuisanceRedraw | None = None,
) -> tuple[SelfSupervisedModel, FitResult]:
    """Pretrain on featurized data into a run folder (``out``; ``None``: nothing on disk).

    The run folder (``RunFolder``) holds ``run.json`` (``"kind": "pretrain"``, graph, model, train
    and pretrain configs), ``checkpoints/``, ``metrics.json`` and ``pretrain_metrics.json``; with
    ``val``, the held-out losses are computed every epoch on its first ``pretrain_config.heldout``
    samples and the checkpoint of the lowest held-out loss is kept as ``best.pt`` (else the last
    epoch's). ``info``: facts for ``run.json`` (``data``, ``root``, ``data_seed``, ``dataset``, and
    any others, stored as they are). ``redraw``: the ``redraw`` augmentation of ``train`` (applied when
    ``pretrain_config.augment`` names it).

    Raises:
        LossAtChance: a contrastive run's train InfoNCE stayed within ``chance_tolerance`` of chance
            after the guard's warm-up, or at the end of the run.
    """
    model_config = model_config or ModelConfig()
    pretrain_config = pretrain_config or PretrainConfig()
    train_config = train_config or PRETRAIN_TRAIN_CONFIG
    folder = None if out is None else RunFolder(out)
    has_checkpoint = folder is not None and folder.has_checkpoint()
    if folder is not None and not resume and has_checkpoint:
        raise ValueError(f"{out} already holds a run; pass resume=True (--resume) or choose another folder")
    train_config = dataclasses.replace(train_config, monitor="loss" if val is not None else None)
    if len(train) < 2:
        raise ValueError(f"pretraining needs at least 2 training samples (got {len(train)})")
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
    batch_size = min(train_config.batch_size, len(train))
    chance = math.log(batch_size)
    heldout = None if val is None else val.subset(torch.arange(min(pretrain_config.heldout, len(val))))
    contrastive = "contrastive" in pretrain_config.objectives
    checked = {"done": False}

    def epoch_metrics(epoch: int) -> dict[str, float]:
        row = {"chance": chance} if contrastive else {}
        if heldout is not None:
            row.update({f"val/{k}": v for k, v in heldout_losses(net, heldout, batch_size, trainer.device).items()})
        return row

    def on_epoch_end(epoch: int, row: dict[str, float]) -> None:
        if not contrastive:
            return
        line = (f"epoch {epoch + 1}: train InfoNCE {row.get('train/' + INFONCE_PART, math.nan):.3f}, held-out "
                f"{row.get('val/' + INFONCE_PART, math.nan):.3f}, chance ln({batch_size}) = {chance:.3f}")
        log.info(line)
        if train_config.progress:
            tqdm.write(line, file=sys.stderr)
        warm = epoch + 1 >= pretrain_config.guard_epochs and row["steps"] >= pretrain_config.guard_steps
        if pretrain_config.chance_guard and warm and f"train/{INFONCE_PART}" in row:
            checked["done"] = True
            check_not_at_chance(row[f"train/{INFONCE_PART}"], batch_size, pretrain_config.chance_tolerance,
                                f"after {epoch + 1} epoch(s), {int(row['steps'])} steps")

    use_redraw = redraw is not None and "redraw" in pretrain_config.augment
    if redraw is None and "redraw" in pretrain_config.augment and contrastive:
        log.info("augment 'redraw': the data has no nuisance to re-draw; not applied")
    result = trainer.fit(train, None, resume=resume and has_checkpoint, on_epoch_end=on_epoch_end,
                         on_epoch_start=redraw if use_redraw else None, epoch_metrics=epoch_metrics)
    last = result.history[-1] if result.history else {}
    if contrastive and pretrain_config.chance_guard and not checked["done"] and f"train/{INFONCE_PART}" in last:
        check_not_at_chance(last[f"train/{INFONCE_PART}"], batch_size, pretrain_config.chance_tolerance,
                            f"at the end of the run ({int(last['steps'])} steps, before the guard's warm-up of "
                            f"{pretrain_config.guard_epochs} epochs and {pretrain_config.guard_steps} steps)")
    if folder is not None and is_main_process():
        summary = {"best_epoch": result.best_epoch, "best_val_loss": result.best_score,
                   "train_seconds": result.train_seconds, "steps": last.get("steps"),
                   "final_train_loss": last.get("train_loss")}
        if contrastive:
            summary.update({"chance": chance, "final_train_infonce": last.get(f"train/{INFONCE_PART}"),
                            "final_heldout_infonce": last.get(f"val/{INFONCE_PART}")})
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
        if train_config is not None:
            train_config = train_config.replace(**dict(overrides or {}))
        else:
            train_config = pretrain_train_config(model, overrides)
    check_runtime(train_config)  # before any data is read
    dataset = load_dataset(data, root=root, seed=data_seed)
    graph_config = stored.graph_config if resume else dataset.fit_graph_config()
    splits = {s: dataset.featurize(s, graph_config, progress=train_config.progress)
              for s in ("train", "val") if s in dataset.splits}
    info = {"data": data, "root": root, "data_seed": data_seed, "dataset": dataset.name}
    redraw = None
    if dataset.nuisance is not None:
        redraw = NuisanceRedraw(dataset, "train", np.arange(len(splits["train"])), splits["train"], train_config.seed)
    pretrain(splits["train"], out, model_config=model_config, pretrain_config=pretrain_config,
             train_config=train_config, val=splits.get("val"), resume=resume, info=info, redraw=redraw)
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
    "INFONCE_PART",
    "OBJECTIVES",
    "PRETRAIN_TRAIN_CONFIG",
    "LoadedPretrainRun",
    "LossAtChance",
    "NuisanceRedraw",
    "PretrainConfig",
    "build_pretrain_model",
    "check_not_at_chance",
    "heldout_losses",
    "load_pretrain_run",
    "pretrain",
    "pretrain_run",
    "pretrain_train_config",
]
