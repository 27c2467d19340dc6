"""GraphColumns: packing, subsets, concatenation and saved state agree with the samples they hold."""

import io
import math

import numpy as np
import pytest
import torch

from mmgraph import FeaturizedSample, collate
from mmgraph.graph import Featurizer
from mmgraph.graph.columns import COLUMNS_FORMAT, GraphColumns
from tests.conftest import assert_columns_equal, close, make_sample

MODALITY_SETS = [("audio", "image", "text"), ("image",), ("text", "audio"), ("audio", "image", "text"), ("text",),
                 ("image", "text")]


@pytest.fixture
def feats(config) -> list[FeaturizedSample]:
    """Six samples: mixed modality sets and image sizes, some without label, targets or node targets."""
    rng = np.random.default_rng(0)
    samples = [make_sample(rng, mods, image_hw=(28, 28) if i % 3 else (14, 28), n_words=3 + i,
                           y=None if i == 4 else i % 3, sid=f"s{i}")
               for i, mods in enumerate(MODALITY_SETS)]
    out = Featurizer(config).batch(samples)
    for i, fs in enumerate(out):
        if i != 1:
            fs.targets["snr"] = float(i) / 2
        if "audio" in fs.nodes and i % 2 == 0:
            fs.node_targets["audio"] = {"vad": torch.arange(len(fs.nodes["audio"])) % 2}
    return out


def test_every_sample_comes_back_as_it_was_packed(feats, config):
    cols = GraphColumns.from_featurized(feats, config)
    assert len(cols) == 6 and list(cols.nodes) == list(config.modalities)
    assert cols.nodes["image"].counts.tolist() == [fs.num_nodes("image") for fs in feats]
    assert cols.nodes["image"].shapes[:3] == [(4, 7), (7, 7), (0, 0)]  # 14x28 and 28x28 images, none
    assert cols.y.tolist() == [0, 1, 2, 0, -1, 2]
    assert math.isnan(cols.targets["snr"][1]) and cols.targets["snr"][5] == 2.5
    for i, fs in enumerate(feats):
        back = cols.sample(i)
        assert back.id == fs.id and back.y == fs.y and back.targets == fs.targets
        assert sorted(back.nodes) == sorted(fs.nodes)
        for m, nodes in fs.nodes.items():
            close(back.nodes[m].x, nodes.x)
            close(back.nodes[m].pos, nodes.pos)
            assert back.nodes[m].shape == nodes.shape
        if "vad" in fs.node_targets.get("audio", {}):
            close(back.node_targets["audio"]["vad"], fs.node_targets["audio"]["vad"])
        elif "audio" in fs.nodes:  # the column exists: this sample's nodes hold the missing value
            assert back.node_targets["audio"]["vad"].tolist() == [-1] * len(fs.nodes["audio"])
        else:
            assert back.node_targets == {}


def test_take_by_mask_by_indices_and_repacking_agree(feats, config):
    cols = GraphColumns.from_featurized(feats, config)
    mask = torch.tensor([True, False, True, True, False, True])
    assert_columns_equal(cols.take(mask), cols.take([0, 2, 3, 5]))
    picked = [4, 0, 4, 5]  # out of order, with a repeat
    assert_columns_equal(cols.take(torch.tensor(picked)),
                         GraphColumns.from_featurized([feats[i] for i in picked], config))
    with pytest.raises(ValueError, match="one entry per graph"):
        cols.take(torch.tensor([True, False]))


def test_concat_of_parts_is_the_whole_and_fills_what_a_part_lacks(feats, config):
    whole = GraphColumns.from_featurized(feats, config)
    parts = [GraphColumns.from_featurized(feats[:2], config), GraphColumns.from_featurized(feats[2:], config)]
    assert_columns_equal(GraphColumns.concat(parts), whole)

    unlabelled = [FeaturizedSample(fs.nodes, id=fs.id) for fs in feats[3:]]
    a, b = GraphColumns.from_featurized(feats[:3], config), GraphColumns.from_featurized(unlabelled, config)
    joined = GraphColumns.concat([a, b])
    assert joined.y.tolist() == [0, 1, 2, -1, -1, -1]
    close(joined.targets["snr"], torch.tensor([0.0, math.nan, 1.0, math.nan, math.nan, math.nan]))
    vad = joined.node_targets["audio"]["vad"]
    assert vad.dtype == torch.int64 and vad.shape == (int(joined.nodes["audio"].counts.sum()),)
    a_nodes = int(a.nodes["audio"].counts.sum())
    close(vad[:a_nodes], a.node_targets["audio"]["vad"])
    assert (vad[a_nodes:] == -1).all()
    # a split without labels of a labelled dataset keeps the label column, all missing
    only_b = GraphColumns.concat([b], label_kind="int", target_names=["snr"])
    assert only_b.y.tolist() == [-1, -1, -1] and only_b.targets["snr"].isnan().all()
    assert GraphColumns.concat([b]).y is None and GraphColumns.concat([b]).targets == {}


def test_state_loads_with_weights_only_including_zero_samples(feats, config):
    for cols in (GraphColumns.from_featurized(feats, config), GraphColumns.from_featurized([], config)):
        buffer = io.BytesIO()
        torch.save(cols.state(), buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
        assert state["format"] == COLUMNS_FORMAT
        assert_columns_equal(GraphColumns.from_state(state), cols)
    empty = GraphColumns.from_featurized([], config)
    assert len(empty) == 0 and empty.nodes["audio"].x.shape == (0, config.settings["audio"].n_mels)
    with pytest.raises(ValueError, match="format 'other'"):
        GraphColumns.from_state({"format": "other"})


def test_to_batch_equals_collate(feats, config):
    cols = GraphColumns.from_featurized(feats, config)
    index = [5, 1, 2]
    for hub in (False, True):
        cfg = config.replace(hub=hub)
        a, b = cols.take(index).to_batch(cfg, full_edges="list"), collate([feats[i] for i in index], cfg)
        assert sorted(a.node_types) == sorted(b.node_types) and sorted(a.edge_types) == sorted(b.edge_types)
        for nt in b.node_types:
            for name in ("x", "pos", "batch", "ptr"):
                close(a[nt][name], b[nt][name])
        for et in b.edge_types:
            close(a[et].edge_index, b[et].edge_index)
        close(a.y, b.y)
        close(a.snr, b.snr)
        close(a["audio"].vad, b["audio"].vad)
        assert a.id == b.id == ["s5", "s1", "s2"]


def test_without_equals_packing_samples_without_the_modality(feats, config):
    cols = GraphColumns.from_featurized(feats, config).without(["audio"], config)
    stripped = [FeaturizedSample({m: n for m, n in fs.nodes.items() if m != "audio"}, fs.y, fs.targets, {}, fs.id)
                for fs in feats]
    assert_columns_equal(cols, GraphColumns.from_featurized(stripped, config))
    assert cols.nodes["audio"].counts.sum() == 0 and cols.nodes["audio"].x.shape == (0, config.settings["audio"].n_mels)
