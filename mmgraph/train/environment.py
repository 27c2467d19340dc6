"""What a training result depends on besides its data, configs and seed: thread count, library versions, device.

On one machine type, a CPU training run of mmgraph is a pure function of (data, configs, seed,
thread count): data order, parameter initialisation, dropout and modality dropout are drawn from
seeded generators (re-seeded per epoch, so a resumed run replays them), featurization runs on one
thread, and CPU kernels give the same bits for the same thread count. The thread count is part of
the function because multi-threaded kernels (matrix products, convolutions and their gradients,
reductions) split their sums across threads, and floating-point sums depend on their order: two
thread counts differ in the last bits after one step, and over tens of epochs the difference can
grow to whole points of accuracy. Library versions and the processor's instruction set can change
kernels the same way. Every run records ``environment()`` (``run.json``, a benchmark job's
``result.json``); a resumed run continues with the thread count it started with.

What stays nondeterministic is stated in the record (``nondeterminism``): CUDA kernels with atomic
adds (``scatter``/``index_add`` in message passing, some cuDNN algorithms) sum in arrival order, so
GPU reruns agree to float noise, not bit for bit, unless ``torch.use_deterministic_algorithms(True)``
is set by the caller.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

import torch

LIBRARIES = ("torch", "torch_geometric", "numpy", "scipy", "scikit-learn", "pillow")
"""The libraries whose versions a result records (kernels, featurization, metrics)."""


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def nondeterminism(device: torch.device | str | None = None) -> str | None:
    """What may differ between two identical runs on ``device`` (``None``: nothing, bit for bit)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cpu" or torch.are_deterministic_algorithms_enabled():
        return None
    return (f"{device.type} kernels with atomic adds (scatter/index_add in message passing, some cuDNN algorithms) "
            f"sum in arrival order: reruns agree to float noise, not bit for bit "
            f"(torch.use_deterministic_algorithms(True) makes them deterministic, slower)")


def environment(device: torch.device | str | None = None) -> dict[str, Any]:
    """The facts a result depends on besides data, configs and seed (see the module docstring)."""
    import mmgraph

    device = torch.device(device) if device is not None else torch.device("cpu")
    return {
        "threads": torch.get_num_threads(),
        "device": str(device),
        "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "mmgraph": mmgraph.__version__,
        "libraries": {name: _version(name) for name in LIBRARIES},
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "nondeterminism": nondeterminism(device),
    }


def use_threads_of(recorded: dict[str, Any] | None) -> int | None:
    """Set torch's thread count to the one ``recorded`` (an ``environment()``) names; returns it (``None``: none).

    A resumed run calls it, so that it continues with the thread count it started with.
    """
    threads = (recorded or {}).get("threads")
    if isinstance(threads, int) and threads > 0 and threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads if isinstance(threads, int) and threads > 0 else None


__all__ = ["LIBRARIES", "environment", "nondeterminism", "use_threads_of"]
