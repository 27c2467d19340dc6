"""GraphDataset over GraphColumns: save/load (also of files of the previous format), subset, samples."""

import numpy as np
import pytest
import torch

from mmgraph.datasets import GraphDataset
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from tests.conftest import assert_columns_equal, make_sample


@pytest.fixture
def dataset(config) -> GraphDataset:
    rng = np.random.default_rng(0)
    mods = [("audio", "image", "text"), ("image",), ("text", "audio"), ("text",)]
    return GraphDataset.from_samples([make_sample(rng, m, y=i, sid=f"s{i}") for i, m in enumerate(mods)], config)


def test_save_load_round_trip(dataset, tmp_path):
    dataset.save(tmp_path / "d.pt")
    back = GraphDataset.load(tmp_path / "d.pt")
    assert back.config == GraphConfig.from_dict(dataset.config.to_dict())  # from_dict spells defaults out
    assert_columns_equal(back.data, dataset.data)


def test_files_of_the_previous_format_still_load(dataset, tmp_path):
    """Format v1 (benchmark caches made before v2): columns inline, layouts as lists."""
    v1 = {
        "format": "mmgraph-graphdataset-v1",
        "config": dataset.config.to_dict(),
        "columns": {m: {"x": c.x, "pos": c.pos, "counts": c.counts, "shapes": [list(s) for s in c.shapes]}
                    for m, c in dataset.columns.items()},
        "y": dataset.y, "targets": dataset.targets, "node_targets": dataset.node_targets, "ids": dataset.ids,
    }
    torch.save(v1, tmp_path / "v1.pt")
    back = GraphDataset.load(tmp_path / "v1.pt")
    assert back.config == GraphConfig.from_dict(dataset.config.to_dict())  # from_dict spells defaults out
    assert_columns_equal(back.data, dataset.data)
    with pytest.raises(ValueError, match="not a GraphDataset state .*'mmgraph-columns-v1'"):
        GraphDataset.from_state(dataset.data.state())


def test_subset_and_items_are_the_samples(dataset):
    sub = dataset.subset([3, 1, 3])
    assert sub.ids == ["s3", "s1", "s3"] and sub.y.tolist() == [3, 1, 3]
    assert_columns_equal(sub.data, GraphColumns.from_featurized([dataset[3], dataset[1], dataset[3]], dataset.config))
    assert dataset[-1].id == "s3" and sorted(dataset[2].nodes) == ["audio", "text"]
    with pytest.raises(IndexError, match="out of range for 4 samples"):
        dataset[4]
    with pytest.raises(ValueError, match="at least one sample"):
        dataset.subset([])
