"""Task heads: each brings its output layer, loss and metrics."""

from mmgraph.nn.heads.base import Head
from mmgraph.nn.heads.classification import ClassificationHead, NodeClassificationHead
from mmgraph.nn.heads.clustering import ClusterHead
from mmgraph.nn.heads.metrics import classification_metrics, cluster_accuracy, clustering_metrics, regression_metrics
from mmgraph.nn.heads.multitask import MultiTaskHead
from mmgraph.nn.heads.regression import NodeRegressionHead, RegressionHead

__all__ = [
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
