"""``TrainConfig``: the optimisation settings of a training run (what ``run.json`` stores as ``train_config``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mmgraph.config import ConfigMixin


@dataclass
class TrainConfig(ConfigMixin):
    """Optimisation settings.

    Args:
        epochs: maximum epochs.
        steps: optimisation steps (``None``: ``epochs`` full passes). When set, training stops after
            this many steps, ``epochs`` becomes ``ceil(steps / steps per epoch)`` and the learning-rate
            schedule spans the steps (a budget that does not depend on the data size).
        batch_size: the global training batch (graphs): under ``torchrun`` each of the N processes
            takes ``batch_size / N`` of it (a multiple of N is required), so that N processes
            take the same steps on the same global batches as one process.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup: fraction of all steps spent in linear warm-up (then cosine decay to 0).
        patience: stop after this many epochs without a better validation score (``None``: never).
        monitor: ``"task/metric"`` to select on (default: the first task's headline metric), or
            ``"loss"``: the validation loss (lower is better).
        seed: seeds parameter init (when the model is built under ``seed_everything``), data
            order and dropout; same seed → same metrics on CPU.
        grad_clip: clip the gradient norm (``None``: no clipping).
        eval_batch_size: batch size for evaluation.
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ...
        progress: tqdm progress bars.
        tensorboard: also log to TensorBoard (needs the ``tensorboard`` extra).
        keep_best: reload the best validation checkpoint's weights at the end.
    """

    epochs: int = 10
    steps: int | None = None
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.05
    patience: int | None = None
    monitor: str | None = None
    seed: int = 0
    grad_clip: float | None = 1.0
    eval_batch_size: int = 256
    device: str = "auto"
    progress: bool = True
    tensorboard: bool = False
    keep_best: bool = True

    toml_table: ClassVar[str] = "train"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int (got {value!r})")
        if not self.lr >= 0:  # 0 is allowed: a frozen model (e.g. to measure early stopping)
            raise ValueError(f"TrainConfig.lr must be >= 0 (got {self.lr!r})")
        if not 0.0 <= self.warmup <= 1.0:
            raise ValueError(f"TrainConfig.warmup is a fraction of all steps, in [0, 1] (got {self.warmup!r})")
        if self.patience is not None and self.patience < 0:
            raise ValueError(f"TrainConfig.patience must be >= 0 or None (got {self.patience!r})")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None (got {self.grad_clip!r})")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"'steps' must be >= 1 or None (got {self.steps})")


__all__ = ["TrainConfig"]
