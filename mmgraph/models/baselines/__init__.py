"""Fusion baselines in the same harness as the graph model (same data, heads, trainer).

Each is registered in ``mmgraph.models.MODELS`` (``mmgraph.models.build``): ``unimodal``,
``early_fusion``, ``late_fusion``, ``tensor_fusion``, ``low_rank_fusion``, ``mult`` and the
early-fusion ``transformer``.
"""

from mmgraph.models.baselines.branch import BranchOutput, ModalityBranch
from mmgraph.models.baselines.common import BaselineModel
from mmgraph.models.baselines.early_fusion import EarlyFusion
from mmgraph.models.baselines.late_fusion import LateFusion
from mmgraph.models.baselines.low_rank_fusion import LowRankTensorFusion
from mmgraph.models.baselines.mult import MulT
from mmgraph.models.baselines.tensor_fusion import TensorFusion
from mmgraph.models.baselines.transformer import EarlyFusionTransformer
from mmgraph.models.baselines.unimodal import UnimodalModel

__all__ = [
    "BaselineModel",
    "BranchOutput",
    "EarlyFusion",
    "EarlyFusionTransformer",
    "LateFusion",
    "LowRankTensorFusion",
    "ModalityBranch",
    "MulT",
    "TensorFusion",
    "UnimodalModel",
]
