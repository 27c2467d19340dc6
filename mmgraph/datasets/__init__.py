"""Built-in datasets (by name), the in-memory ``GraphDataset``, dataset loading, and PyG dataset views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mmgraph.datasets.avmnist import load_avmnist_dataset
from mmgraph.datasets.base import GraphDataset, MultimodalDataset
from mmgraph.datasets.digits import load_digits_dataset
from mmgraph.datasets.emoji import load_emoji_dataset
from mmgraph.registry import Registry
from mmgraph.task import Task

if TYPE_CHECKING:
    from mmgraph.datasets.pyg import PyGDataset, PyGOnDiskDataset

DATASETS: Registry = Registry("dataset")
"""Dataset name -> ``loader(seed=..., root=...) -> MultimodalDataset``."""
DATASETS.register("avmnist", load_avmnist_dataset)
DATASETS.register("digits", load_digits_dataset)
DATASETS.register("emoji", load_emoji_dataset)


def load_dataset(name: str, *, root: str | None = None, seed: int = 0,
                 allow_outside: bool = False, options: dict | None = None,
                 class_names: Mapping[str, Sequence[str]] | None = None) -> MultimodalDataset:
    """Load a dataset: a built-in name, a manifest path or a converted folder.

    - a path ending in ``.jsonl`` or ``.csv``: the manifest's usable samples (``load_manifest``);
    - a folder holding ``meta.json``: graphs made by ``mmgraph convert`` (``load_converted``);
    - otherwise a built-in dataset by name (``mmgraph.datasets.DATASETS.list()`` names them).

    A converted folder wins over a built-in dataset of the same name. ``root`` and ``seed`` apply
    to built-in datasets only; ``allow_outside`` to manifests (accept file paths outside the
    manifest's folder); ``options`` are a built-in loader's own keyword arguments (AV-MNIST's
    ``holdout_speakers``, ``holdout_noise``). ``class_names`` (task → names, a trained run's) are
    the names a manifest's string labels are read with (``ManifestDataset``); other data holds class
    ids already and ignores them (``LoadedRun.check_data`` compares their tasks' names).
    """
    from pathlib import Path

    from mmgraph.datasets.manifest import is_manifest_path, load_manifest
    from mmgraph.datasets.on_disk import is_converted, load_converted

    if options and (is_manifest_path(name) or is_converted(name)):
        raise ValueError(f"dataset options {sorted(options)} apply to built-in datasets only, not to {name}")
    if is_manifest_path(name):
        return load_manifest(name, allow_outside=allow_outside, class_names=class_names)
    if is_converted(name):
        return load_converted(name)
    if name not in DATASETS and Path(name).is_dir():
        raise ValueError(f"{name} is a folder without meta.json: not a converted dataset (see 'mmgraph convert')")
    try:
        return DATASETS.create(name, seed=seed, root=root, **(options or {}))
    except TypeError as exc:
        if not options:
            raise
        raise ValueError(f"dataset {name!r}: unknown options {sorted(options)} ({exc})") from None


def __getattr__(name: str) -> Any:
    """The PyG views load on first use: converter workers import this package and need no PyTorch Geometric."""
    if name in ("PyGDataset", "PyGOnDiskDataset"):
        from mmgraph.datasets import pyg

        return getattr(pyg, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DATASETS", "GraphDataset", "MultimodalDataset", "PyGDataset", "PyGOnDiskDataset", "Task", "load_dataset"]
