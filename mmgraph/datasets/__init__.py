"""Built-in datasets (by name), the in-memory ``GraphDataset``, and dataset loading."""

from __future__ import annotations

from mmgraph.datasets.base import GraphDataset, MultimodalDataset, Task
from mmgraph.datasets.digits import load_digits_dataset
from mmgraph.registry import Registry

DATASETS: Registry = Registry("dataset")
"""Dataset name -> ``loader(seed=..., root=...) -> MultimodalDataset``."""
DATASETS.register("digits", load_digits_dataset)


def load_dataset(name: str, *, root: str | None = None, seed: int = 0) -> MultimodalDataset:
    """Load a built-in dataset by name (``mmgraph.datasets.DATASETS.list()`` names them)."""
    return DATASETS.create(name, seed=seed, root=root)


__all__ = ["DATASETS", "GraphDataset", "MultimodalDataset", "Task", "load_dataset"]
