"""Explanations of graph-model predictions: modality and node importances, their faithfulness, pictures."""

from mmgraph.explain.attribution import METHODS, Explanation, explain, integrated_gradients
from mmgraph.explain.faithfulness import DeletionCurves, ModalityAgreement, deletion_curves, modality_agreement
from mmgraph.explain.plot import plot_explanation
from mmgraph.explain.runs import explain_run

__all__ = [
    "METHODS",
    "DeletionCurves",
    "Explanation",
    "ModalityAgreement",
    "deletion_curves",
    "explain",
    "explain_run",
    "integrated_gradients",
    "modality_agreement",
    "plot_explanation",
]
