"""mmgraph: graph-centric multimodal learning on PyTorch and PyTorch Geometric.

Samples (any subset of image, text, audio) → heterogeneous graphs → batches → cross-modal GNNs.
"""

__version__ = "0.1.0"

from mmgraph.explain import explain
from mmgraph.featurize import FeaturizedSample, NodeSet, Tokenizer
from mmgraph.graph import Featurizer, GraphConfig, build_graph, collate, plot_graph, to_networkx
from mmgraph.media import Audio
from mmgraph.registry import Registry
from mmgraph.sample import MultimodalSample

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
    "plot_graph",
    "to_networkx",
]
