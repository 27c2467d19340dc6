"""Self-supervised losses: GraphMAE's scaled cosine error and CLIP's symmetric InfoNCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def scaled_cosine_error(pred: Tensor, target: Tensor, gamma: float = 2.0) -> Tensor:
    r"""GraphMAE's loss, :math:`\operatorname{mean}_i (1 - \cos(\hat x_i, x_i))^\gamma`, over rows.

    Rows whose target is the zero vector (a blank patch) have no direction and are left out.
    """
    keep = target.norm(dim=-1) > 1e-8
    if not keep.any():
        return pred.sum() * 0.0
    cos = F.cosine_similarity(pred[keep], target[keep], dim=-1)
    return (1.0 - cos).clamp_min(0.0).pow(gamma).mean()


def symmetric_info_nce(a: Tensor, b: Tensor, logit_scale: Tensor) -> Tensor:
    r"""CLIP's symmetric InfoNCE: row ``i`` of ``a`` and row ``i`` of ``b`` are the positive pair.

    .. math::
        \mathcal{L} = \tfrac12 \bigl(\mathrm{CE}(s\, \hat A \hat B^\top, I)
                                   + \mathrm{CE}(s\, \hat B \hat A^\top, I)\bigr),
        \qquad \hat A = A / \lVert A \rVert, \; s = e^{\text{logit\_scale}}

    Shapes:
        - input: ``a``, ``b``: ``(n, p)``; ``logit_scale``: scalar
        - output: scalar
    """
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = logit_scale.exp() * a @ b.T  # (n, n)
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


__all__ = ["scaled_cosine_error", "symmetric_info_nce"]
