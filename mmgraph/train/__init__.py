"""Training: the trainer, checkpoints, schedules."""

from mmgraph.train.checkpoint import CorruptCheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from mmgraph.train.trainer import FitResult, TrainConfig, Trainer, seed_everything

__all__ = [
    "CorruptCheckpointError",
    "FitResult",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
]
