"""Fine-tuning a pretrained graph model: linear probe, full fine-tuning, or probe then fine-tune (LP-FT).

``mmgraph train --init RUN --finetune MODE`` (``train_run(init=..., finetune=...)``) and the SSL suite
run these. Every mode keeps what pretraining fitted of the data (the encoders' input statistics);
only the task head is new.

- ``full``: every parameter trained at the config's learning rate.
- ``probe``: only the task head (``head.``: LayerNorm + Linear on the graph embedding) is trained, at
  ``PROBE_LR``; encoders, cross-modal layers and readout are frozen (``requires_grad=False``, left out
  of the optimiser: never changed).
- ``lpft`` (Kumar et al. 2022): the probe for the first half of the budget, then every parameter, the
  pretrained ones at ``BACKBONE_LR_SCALE`` x the learning rate and the head at it, so the features
  the head was fitted to are not torn up by its first, random gradients. Each phase has its own
  warm-up + cosine schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from mmgraph.datasets.base import GraphDataset
from mmgraph.train.config import TrainConfig
from mmgraph.train.trainer import FitResult, Trainer

log = logging.getLogger(__name__)

FINETUNE_MODES = ("full", "probe", "lpft")
"""Values of ``--finetune``."""
HEAD_PREFIX = "head."
"""Where a graph model's task head sits (the only part a probe trains)."""
PROBE_LR = 1e-2
"""The learning rate of the head alone (probe, and the first phase of ``lpft``)."""
BACKBONE_LR_SCALE = 0.1
"""``lpft``'s second phase: the pretrained parameters' learning rate relative to the head's."""


def check_mode(mode: str) -> None:
    if mode not in FINETUNE_MODES:
        raise ValueError(f"--finetune must be one of {list(FINETUNE_MODES)} (got {mode!r})")


def set_trainable(model: nn.Module, head_only: bool) -> list[str]:
    """Freeze every parameter outside ``HEAD_PREFIX`` (``head_only``) or unfreeze all; returns the frozen names."""
    frozen = []
    for name, p in model.named_parameters():
        p.requires_grad_(not head_only or name.startswith(HEAD_PREFIX))
        if not p.requires_grad:
            frozen.append(name)
    if head_only and len(frozen) == sum(1 for _ in model.parameters()):
        raise ValueError(f"the model has no parameter under {HEAD_PREFIX!r}: nothing to probe")
    return frozen


def _split_budget(config: TrainConfig) -> tuple[TrainConfig, TrainConfig]:
    """``lpft``'s two phases: half of the steps (or epochs) each, the second at least one."""
    if config.steps is not None:
        first = max(1, config.steps // 2)
        return config.replace(steps=first), config.replace(steps=max(1, config.steps - first))
    first = max(1, config.epochs // 2)
    return config.replace(epochs=first), config.replace(epochs=max(1, config.epochs - first))


def finetune(model: nn.Module, train: GraphDataset, val: GraphDataset | None, config: TrainConfig, mode: str, *,
             out_dir: str | Path | None = None, run_info: Mapping[str, Any] | None = None,
             resume: bool = False) -> tuple[Trainer, FitResult]:
    """Fine-tune an initialised model (``init_from``) on labelled data in ``mode``; returns the trainer
    of the (last) phase and its result. The run folder ``out_dir`` holds the last phase (``lpft``'s
    probe phase keeps nothing on disk; with ``resume``, a run folder with a checkpoint continues its
    last phase)."""
    check_mode(mode)
    info = dict(run_info or {}, finetune=mode)

    def run(cfg: TrainConfig, head_only: bool, lr_scale: Mapping[str, float] | None, out, resume_phase: bool):
        frozen = set_trainable(model, head_only)
        trainer = Trainer(model, cfg, out_dir=out, run_info=info, lr_scale=lr_scale)
        if not resume_phase:
            # the pretrained encoders keep their input statistics; only the new head is prepared
            head = getattr(model, "head", None)
            if head is not None and hasattr(head, "prepare"):
                head.prepare(train, lambda: trainer.embed(train), cfg.seed)
        log.info("fine-tuning (%s): %d parameter tensors frozen", mode, len(frozen))
        return trainer, trainer.fit(train, val, resume=resume_phase, prepare=False)

    try:
        if mode == "full":
            return run(config, False, None, out_dir, resume)
        if mode == "probe":
            return run(config.replace(lr=PROBE_LR), True, None, out_dir, resume)
        probe, tune = _split_budget(config)
        if not resume:
            _, first = run(probe.replace(lr=PROBE_LR), True, None, None, False)
            log.info("lpft: probe phase done (%d epoch(s)); fine-tuning everything", len(first.history))
        # "" matches every parameter: the pretrained ones at BACKBONE_LR_SCALE, the head (longer prefix) at 1
        return run(tune, False, {"": BACKBONE_LR_SCALE, HEAD_PREFIX: 1.0}, out_dir, resume)
    finally:
        set_trainable(model, False)


__all__ = ["BACKBONE_LR_SCALE", "FINETUNE_MODES", "HEAD_PREFIX", "PROBE_LR", "check_mode", "finetune", "set_trainable"]
