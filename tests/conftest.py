"""Shared test fixtures: small random samples and configs (all seeded)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mmgraph import GraphConfig, MultimodalSample, Tokenizer
from mmgraph.graph.columns import GraphColumns

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


def close(a, b) -> None:
    """``a`` and ``b`` are the same tensor: dtype, shape and values (NaN where the other has NaN)."""
    torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True)  # dtype and shape checked too


def assert_columns_equal(a: GraphColumns, b: GraphColumns) -> None:
    """Same graphs in the same order: every node column, layout, label, target and id."""
    assert list(a.nodes) == list(b.nodes) and a.ids == b.ids
    for m in a.nodes:
        for name in ("x", "pos", "counts"):
            close(getattr(a.nodes[m], name), getattr(b.nodes[m], name))
        assert a.nodes[m].shapes == b.nodes[m].shapes, m
    assert (a.y is None) == (b.y is None)
    if a.y is not None:
        close(a.y, b.y)
    assert list(a.targets) == list(b.targets)
    for name in a.targets:
        close(a.targets[name], b.targets[name])
    assert {m: list(d) for m, d in a.node_targets.items()} == {m: list(d) for m, d in b.node_targets.items()}
    for m, d in a.node_targets.items():
        for name in d:
            close(d[name], b.node_targets[m][name])
