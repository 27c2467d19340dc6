"""Distributed training with PyTorch's own engine: joining a ``torchrun`` process group, and where this
process sits in it (rank, world size, device, the ``DistributedDataParallel`` wrapper).

Without a process group every helper describes one process of rank 0, so single-process code needs
no branch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from mmgraph.errors import DeviceError

log = logging.getLogger(__name__)


def init_distributed() -> bool:
    """Join the process group ``torchrun`` describes (``WORLD_SIZE`` > 1); ``True`` if this call created it.

    The backend is nccl when CUDA is available, gloo otherwise.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    log.info("rank %d of %d joined (%s)", dist.get_rank(), dist.get_world_size(), backend)
    return True


@contextmanager
def torchrun_process_group() -> Iterator[None]:
    """Inside: the ``torchrun`` process group joined (``init_distributed``); left again at the end if
    this block created it (a group the caller made stays)."""
    created = init_distributed()
    try:
        yield
    finally:
        if created:
            dist.destroy_process_group()


def is_main_process() -> bool:
    """Rank 0 of the process group, or the only process: the one that writes files."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    """Wait for every process of the group (nothing to wait for without one)."""
    if dist.is_initialized():
        dist.barrier()


def available_devices() -> list[str]:
    """The device names this machine and torch build can run on: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(name: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; any other name checked against ``available_devices()``.

    Raises:
        DeviceError: not a device name, or a device this machine or torch build does not have
            (``cuda`` on a CPU-only build), naming the valid ones. Checked before any work starts.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    valid = ", ".join(available_devices())
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"device {name!r} is not a device name; valid here: {valid}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise DeviceError(f"device {name!r}: this torch build ({torch.__version__}) has no CUDA support; "
                              f"valid here: {valid}")
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r}: no CUDA GPU is visible; valid here: {valid}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s); valid here: {valid}")
        return device
    if name in available_devices():
        return device
    raise DeviceError(f"device {name!r} is not available here; valid here: {valid}")


@dataclass(frozen=True)
class ProcessPlace:
    """Where this process trains: its rank among ``world_size`` processes, and its device.

    Attributes:
        distributed: a process group is initialised.
        rank, world_size: 0 and 1 without a process group.
        device: under a process group with ``device="auto"`` and CUDA, the GPU ``torchrun`` gave this
            rank (``torch.cuda.current_device()``); otherwise ``resolve_device(device)``.
    """

    distributed: bool
    rank: int
    world_size: int
    device: torch.device

    @classmethod
    def current(cls, device: str = "auto") -> ProcessPlace:
        distributed = dist.is_available() and dist.is_initialized()
        rank = dist.get_rank() if distributed else 0
        world_size = dist.get_world_size() if distributed else 1
        if distributed and device == "auto" and torch.cuda.is_available():
            resolved = torch.device("cuda", torch.cuda.current_device())
        else:
            resolved = resolve_device(device)
        return cls(distributed, rank, world_size, resolved)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module to run training steps through: ``model`` in ``DistributedDataParallel`` under a
        process group, ``model`` itself otherwise."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # modality dropout and missing modalities leave some parameters without gradient in a step
        return DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None,
                                       find_unused_parameters=True)


__all__ = [
    "ProcessPlace", "available_devices", "barrier", "init_distributed", "is_main_process", "resolve_device",
    "torchrun_process_group",
]
