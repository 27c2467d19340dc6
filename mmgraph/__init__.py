"""mmgraph: graph-centric multimodal learning on PyTorch and PyTorch Geometric.

Samples (any subset of image, text, audio) → heterogeneous graphs → batches → cross-modal GNNs.

The public names below are imported on first use (PEP 562), so ``import mmgraph`` and the
``mmgraph`` command start without loading torch; ``from mmgraph import collate`` works as usual.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Audio": "mmgraph.media",
    "FeaturizedSample": "mmgraph.featurize",
    "Featurizer": "mmgraph.graph",
    "GraphConfig": "mmgraph.graph",
    "MultimodalSample": "mmgraph.sample",
    "NodeSet": "mmgraph.featurize",
    "Registry": "mmgraph.registry",
    "Tokenizer": "mmgraph.featurize",
    "build_graph": "mmgraph.graph",
    "collate": "mmgraph.graph",
    "explain": "mmgraph.explain",
    "load_run": "mmgraph.train.runs",
    "plot_graph": "mmgraph.graph",
    "to_networkx": "mmgraph.graph",
}
"""Public name → the module that defines it."""

__all__ = [
    "Audio",
    "FeaturizedSample",
    "Featurizer",
    "GraphConfig",
    "MultimodalSample",
    "NodeSet",
    "Registry",
    "Tokenizer",
    "__version__",
    "build_graph",
    "collate",
    "explain",
    "load_run",
    "plot_graph",
    "to_networkx",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mmgraph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
