"""The robustness card of a trained model: its headline metric with each modality removed, and over noise sweeps.

Shared by the benchmark runner (every run of a suite) and ``mmgraph evaluate --robustness`` (any
trained run on any data), so both report the same numbers the same way. The perturbations
themselves are ``mmgraph.bench.perturb``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.integrate import trapezoid

from mmgraph.datasets.base import GraphDataset

SWEEPS = ("audio_snr_db", "image_noise_std", "image_contrast", "image_hue_deg", "text_rare_other", "text_drop",
          "text_unknown")
"""The sweeps (``mmgraph.bench.perturb``): white noise at each SNR (dB) on the audio; Gaussian pixel noise of
each σ, contrast scaled by each factor, hue rotated by each angle on the images; k rare words of other
classes appended, k words dropped, k words replaced by unknown ones in the text."""
SWEEP_MODALITY = {"audio_snr_db": "audio", "image_noise_std": "image", "image_contrast": "image",
                  "image_hue_deg": "image", "text_rare_other": "text", "text_drop": "text", "text_unknown": "text"}
"""The modality each sweep perturbs (a sweep runs only on data with it)."""
DEFAULT_SWEEPS = {"audio_snr_db": [10.0, 0.0, -5.0, -10.0, -20.0], "image_noise_std": [0.0, 0.1, 0.2, 0.4, 0.8]}
"""The levels ``mmgraph evaluate --robustness`` sweeps (the AV-MNIST suite's)."""


def sweep_auc(levels: Sequence[float], values: Sequence[float]) -> float:
    """Mean of the curve over the sweep range (trapezoid area divided by the range)."""
    order = np.argsort(levels)
    x, y = np.asarray(levels, float)[order], np.asarray(values, float)[order]
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(trapezoid(y, x) / (x[-1] - x[0]))


def robustness_card(score: Callable[[GraphDataset], float | None], test: GraphDataset, *,
                    remove: Sequence[str] = (), sweeps: Mapping[str, Sequence[float]] | None = None,
                    perturbed_set: Callable[[str, float], GraphDataset] | None = None,
                    shifts: Mapping[str, Callable[[], GraphDataset]] | None = None) -> dict[str, Any]:
    """The headline metric under each perturbation.

    Args:
        score: the headline metric of the model on a dataset (``None`` when it cannot be scored).
        test: the clean test graphs.
        remove: modalities to remove one at a time (``without_<m>``: their nodes dropped from every
            test graph).
        sweeps: sweep kind (``SWEEPS``) → levels.
        perturbed_set: ``(kind, level)`` → the test graphs perturbed at that level.
        shifts: name → loader of a shifted test set (a dataset's ``test_<name>`` split: held-out
            speakers, held-out noise categories), scored as ``shift_<name>``.

    Returns:
        ``{"without_<m>": value, ..., "shift_<name>": value, ..., "<kind>": {"levels", "values", "auc"}, ...}``:
        the ``robustness`` entry of a benchmark run's ``result.json``.
    """
    card: dict[str, Any] = {}
    for m in remove:
        card[f"without_{m}"] = score(test.without_modalities([m]))
    for name, load in (shifts or {}).items():
        card[f"shift_{name}"] = score(load())
    for kind, levels in (sweeps or {}).items():
        if perturbed_set is None:
            raise ValueError("noise sweeps need perturbed_set")
        curve = [score(perturbed_set(kind, level)) for level in levels]
        card[kind] = {"levels": list(levels), "values": curve, "auc": sweep_auc(levels, curve)}
    return card


__all__ = ["DEFAULT_SWEEPS", "SWEEPS", "SWEEP_MODALITY", "robustness_card", "sweep_auc"]
