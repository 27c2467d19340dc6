"""Task heads: each brings its output layer, loss and metrics."""

from mmgraph.nn.heads.base import Head
from mmgraph.nn.heads.classification import ClassificationHead, NodeClassificationHead
from mmgraph.nn.heads.clustering import ClusterHead
from mmgraph.nn.heads.metrics import classification_metrics, cluster_accuracy, clustering_metrics, regression_metrics
from mmgraph.nn.heads.multitask import MultiTaskHead
from mmgraph.nn.heads.regression import NodeRegressionHead, RegressionHead
from mmgraph.registry import Registry

HEADS: Registry = Registry("head")
"""Task kind (``Task.kind``) → ``builder(task, channels, dropout) -> Head``: the head each task gets."""
HEADS.register("classification", ClassificationHead.from_task)
HEADS.register("regression", RegressionHead.from_task)
HEADS.register("node_classification", NodeClassificationHead.from_task)
HEADS.register("node_regression", NodeRegressionHead.from_task)

__all__ = [
    "HEADS",
    "ClassificationHead",
    "ClusterHead",
    "Head",
    "MultiTaskHead",
    "NodeClassificationHead",
    "NodeRegressionHead",
    "RegressionHead",
    "classification_metrics",
    "cluster_accuracy",
    "clustering_metrics",
    "regression_metrics",
]
