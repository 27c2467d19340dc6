"""Explanations of graph-model predictions: modality and node importances, their faithfulness, pictures."""

import sys
import types

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


class _CallablePackage(types.ModuleType):
    """This package, callable as its main function ``explain``.

    ``mmgraph.explain`` names both this package and the function ``from mmgraph import explain``
    gives. The package root imports its names lazily, so when this package was imported first,
    the attribute ``mmgraph.explain`` is the package; calling it then still explains.
    """

    def __call__(self, *args, **kwargs):
        return explain(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
