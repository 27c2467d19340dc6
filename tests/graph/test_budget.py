"""The per-sample graph budget: sizes counted without building the graph, and the warning naming the sample."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from mmgraph import GraphConfig, MultimodalSample, Tokenizer
from mmgraph.graph import build_graph
from mmgraph.graph.budget import graph_size
from mmgraph.graph.featurizer import Featurizer
from tests.conftest import make_sample

CAPTION = " ".join(["a", "red", "fox", "jumps", "over", "the", "lazy", "dog"] * 5)  # 40 words


def real_sized_sample(sid: str = "photo-1") -> MultimodalSample:
    """A 512×512 RGB photo, 5 s of 16 kHz audio and a 40-word caption."""
    rng = np.random.default_rng(0)
    return MultimodalSample(
        image=(rng.random((512, 512, 3)) * 255).astype(np.uint8),
        audio=(rng.standard_normal(5 * 16000) * 0.1).astype(np.float32), sample_rate=16000,
        text=CAPTION, id=sid,
    )


@pytest.mark.parametrize("kwargs", [
    {},
    {"hub": True},
    {"edges": {"image": "grid:8", "audio": "knn:3", "text": "window:1", "audio-text": "aligned:0.1",
               "image-text": "none"}},
    {"edges": {"image": "full", "audio": "window:5"}, "reverse": False},
])
def test_graph_size_counts_what_build_graph_builds(tokenizer, kwargs):
    rng = np.random.default_rng(3)
    config = GraphConfig(text={"tokenizer": tokenizer}, **kwargs)
    for sample in (make_sample(rng, image_hw=(13, 9), n_words=6, audio_len=3000), make_sample(rng, ("image",))):
        fs = Featurizer(config)(sample)
        size = graph_size(fs, config)
        graph = build_graph(fs, config)
        assert size.nodes == {t: graph[t].num_nodes for t in graph.node_types}
        assert size.edges == {t: graph[t].edge_index.shape[1] for t in graph.edge_types}
        assert size.edge_bytes == 16 * sum(graph[t].edge_index.shape[1] for t in graph.edge_types)
        assert size.total_bytes == size.edge_bytes + sum(
            graph[t].x.numel() * graph[t].x.element_size() + graph[t].pos.numel() * 4 for t in graph.node_types)


def test_a_real_sized_sample_fits_the_default_budget_with_rgb_and_16_khz(caplog):
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([CAPTION])})
    with caplog.at_level(logging.WARNING, logger="mmgraph.graph.budget"):
        fs = Featurizer(config)(real_sized_sample())
    assert not caplog.records
    size = graph_size(fs, config)
    assert size.nodes == {"audio": 128, "image": 196, "text": 40} and size.num_nodes <= 400
    assert size.num_edges < config.max_edges and size.total_bytes < 2_000_000
    assert fs.nodes["image"].x.shape == (196, 48)  # 14×14 RGB patches of 4×4 pixels
    assert fs.nodes["audio"].pos[-1, 0].item() == pytest.approx(4.985)  # the whole 5 s, pooled


def test_a_sample_over_budget_is_named_with_the_setting_to_change(caplog):
    # the defaults of mmgraph 0.1: no grid cap, every frame kept
    config = GraphConfig(text={"tokenizer": Tokenizer.fit([CAPTION])}, image={"max_grid": None},
                         audio={"max_frames": None})
    with caplog.at_level(logging.WARNING, logger="mmgraph.graph.budget"):
        fs = Featurizer(config).batch([real_sized_sample("photo-17"), real_sized_sample("photo-18")])
    assert graph_size(fs[0], config).num_edges == 2 * (16384 * 501 + 16384 * 40 + 501 * 40) + 65024 + 1998 + 154
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and all(r.levelname == "WARNING" for r in caplog.records)
    first = messages[0]
    assert first.startswith("sample 'photo-17': its graph has 16,925 nodes and 17,834,744 edges (285 MB")
    assert "max_nodes=1024, max_edges=250000" in first
    assert "most nodes are image (16,384): change [graph.image] max_grid or patch_size" in first
    assert "(audio, cross, image), 8,208,384 edges by [graph.edges] audio-image = 'full'" in first
    assert "'photo-18'" in messages[1]
    # a budget of None turns the check off; a larger one admits the sample
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmgraph.graph.budget"):
        Featurizer(config.replace(max_nodes=None, max_edges=None))(real_sized_sample())
        Featurizer(config.replace(max_nodes=20_000, max_edges=20_000_000))(real_sized_sample())
    assert not caplog.records


def test_budget_warnings_are_bounded_per_batch_and_settings_validated(tokenizer, caplog):
    rng = np.random.default_rng(0)
    config = GraphConfig(text={"tokenizer": tokenizer}, max_nodes=10)
    featurizer = Featurizer(config)
    with caplog.at_level(logging.WARNING, logger="mmgraph.graph.budget"):
        for batch in range(4):  # 4 batches of 8: named, then counted at 10 (and not again before 100)
            featurizer.batch([make_sample(rng, ("audio", "text"), sid=f"s{batch * 8 + i}") for i in range(8)])
    messages = [r.getMessage() for r in caplog.records]
    assert [m.split(":")[0] for m in messages[:5]] == [f"sample 's{i}'" for i in range(5)]
    assert len(messages) == 6 and featurizer.over_budget == 32
    assert messages[5].startswith("16 samples so far are over the per-sample graph budget")
    assert "most nodes are audio (51): change [graph.audio] max_frames" in messages[0]
    assert GraphConfig.from_dict({"max_nodes": 50, "max_edges": None}).max_nodes == 50
    with pytest.raises(ValueError, match="GraphConfig.max_edges must be a positive int or None"):
        GraphConfig(max_edges=0)
    with pytest.raises(TypeError, match="max_nodes must be int | None"):
        GraphConfig.from_dict({"max_nodes": "big"})
