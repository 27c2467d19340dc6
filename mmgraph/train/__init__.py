"""Training: the trainer, its config, checkpoints, run folders, distributed helpers."""

from mmgraph.train.checkpoint import CorruptCheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from mmgraph.train.config import TrainConfig
from mmgraph.train.run_folder import RunFolder, RunInfo
from mmgraph.train.trainer import FitResult, Trainer, seed_everything

__all__ = [
    "CorruptCheckpointError",
    "FitResult",
    "RunFolder",
    "RunInfo",
    "TrainConfig",
    "Trainer",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "seed_everything",
]
