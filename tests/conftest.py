"""Shared test fixtures: small random samples and configs (all seeded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer

# Test tensors are tiny: one thread avoids OpenMP start-up and contention costs (much faster on 2 cores).
torch.set_num_threads(1)

SHARED_DATA = Path(os.environ.get("MMGRAPH_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


@pytest.fixture
def tokenizer() -> Tokenizer:
    return Tokenizer.fit([" ".join(WORDS)])


@pytest.fixture
def config(tokenizer: Tokenizer) -> GraphConfig:
    return GraphConfig(text={"tokenizer": tokenizer})


def make_sample(
    rng: np.random.Generator,
    modalities: tuple[str, ...] = ("audio", "image", "text"),
    *,
    image_hw: tuple[int, int] = (28, 28),
    n_words: int = 5,
    audio_len: int = 4000,
    y: int | None = None,
    sid: str | None = None,
) -> MultimodalSample:
    kw = {}
    if "image" in modalities:
        kw["image"] = (rng.random(image_hw) * 255).astype(np.uint8)
    if "text" in modalities:
        kw["text"] = " ".join(rng.choice(WORDS + ["unseen"], size=n_words))
    if "audio" in modalities:
        kw["audio"] = (rng.standard_normal(audio_len) * 0.1).astype(np.float32)
        kw["sample_rate"] = 8000
    return MultimodalSample(**kw, y=y, id=sid)
