"""Task metrics (scikit-learn and scipy do the arithmetic)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm


def classification_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted class ids (targets < 0 are ignored)."""
    keep = target >= 0
    if not keep.any():
        return {}
    p, t = predicted[keep], target[keep]
    return {
        "accuracy": float(skm.accuracy_score(t, p)),
        "macro_f1": float(skm.f1_score(t, p, average="macro", zero_division=0)),
    }


def regression_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and R² (NaN targets are ignored)."""
    keep = np.isfinite(target)
    if not keep.any():
        return {}
    p, t = predicted[keep], target[keep]
    out = {"mae": float(skm.mean_absolute_error(t, p)), "rmse": float(np.sqrt(skm.mean_squared_error(t, p)))}
    if keep.sum() > 1:
        out["r2"] = float(skm.r2_score(t, p))
    return out


def cluster_accuracy(assigned: np.ndarray, target: np.ndarray) -> float:
    """Accuracy under the best one-to-one mapping of clusters to classes (Hungarian algorithm)."""
    k = int(max(assigned.max(), target.max())) + 1
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (assigned, target), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(target))


def clustering_metrics(assigned: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """NMI, ARI and Hungarian-matched accuracy of cluster ids against labels (labels < 0 ignored)."""
    keep = target >= 0
    if not keep.any():
        return {}
    a, t = assigned[keep], target[keep]
    return {
        "nmi": float(skm.normalized_mutual_info_score(t, a)),
        "ari": float(skm.adjusted_rand_score(t, a)),
        "cluster_accuracy": cluster_accuracy(a, t),
    }
