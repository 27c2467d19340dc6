"""The on-disk format: shards and sidecars written and read back, damage and old formats refused clearly."""

import io
import json

import numpy as np
import pytest
import torch

from mmgraph.convert.layout import (
    FORMAT,
    META,
    SHARD_DIR,
    CorruptShardError,
    Shard,
    pack_strings,
    read_meta,
    read_shard,
    unpack_strings,
    write_shard,
)
from mmgraph.datasets import GraphDataset
from mmgraph.datasets.manifest import Rejection, TaskStats
from mmgraph.graph import Featurizer
from mmgraph.graph.columns import GraphColumns
from tests.conftest import assert_columns_equal, make_sample


@pytest.fixture
def shard(config) -> Shard:
    rng = np.random.default_rng(0)
    samples = [make_sample(rng, y=i % 2, sid=f"s{i}") for i in range(5)]
    columns = GraphColumns.from_featurized(Featurizer(config).batch(samples), config)
    return Shard(chunk=3, columns=columns, split=["val", "train", "val", "test", "train"],
                 record=torch.tensor([12, 13, 15, 16, 17]))


def test_shard_and_sidecar_written_then_read_back(shard, tmp_path):
    (tmp_path / SHARD_DIR).mkdir()
    stats = TaskStats()
    stats.add(1, {})
    sidecar = write_shard(tmp_path, shard, plan_hash="abc", records=(12, 18),
                          rejected=[Rejection(14, 3, "s?", "text: bad")], stats=stats)
    path = tmp_path / sidecar["file"]
    assert sidecar["file"] == "shards/shard-000003.pt" and path.is_file()
    assert json.loads((tmp_path / SHARD_DIR / "shard-000003.json").read_text()) == sidecar
    assert (sidecar["chunk"], sidecar["records"], sidecar["samples"], sidecar["bytes"]) == (3, [12, 18], 5,
                                                                                         path.stat().st_size)
    assert sidecar["splits"] == {"test": 1, "train": 2, "val": 2}
    assert sidecar["rejected"] == [{"record": 14, "line": 3, "id": "s?", "reason": "text: bad"}]
    back = read_shard(path, sidecar["sha256"])
    assert back.chunk == 3 and back.split == shard.split and torch.equal(back.record, shard.record)
    assert_columns_equal(back.columns, shard.columns)
    parts = back.by_split()
    assert list(parts) == ["val", "train", "test"]  # in order of first appearance
    assert parts["val"].ids == ["s0", "s2"] and parts["train"].ids == ["s1", "s4"] and parts["test"].ids == ["s3"]
    assert_columns_equal(parts["train"], shard.columns.take([1, 4]))


def test_damaged_or_foreign_files_are_not_read_as_shards(shard, config, tmp_path):
    path = tmp_path / "shard.pt"
    path.write_bytes(shard.to_bytes())
    with pytest.raises(CorruptShardError, match="does not match its checksum"):
        read_shard(path, "0" * 64)
    with pytest.raises(CorruptShardError, match="missing shard"):
        read_shard(tmp_path / "nope.pt")
    path.write_bytes(shard.to_bytes()[:100])
    with pytest.raises(CorruptShardError, match="not a readable shard"):
        read_shard(path)
    GraphDataset(shard.columns, config).save(path)  # a valid torch file, but a dataset
    with pytest.raises(CorruptShardError, match="is not a shard"):
        read_shard(path)


def test_a_folder_of_an_older_format_asks_for_a_new_conversion(tmp_path):
    (tmp_path / META).write_text(json.dumps({"format": "mmgraph-graphs-v1"}))
    with pytest.raises(ValueError, match=f"another version of mmgraph .*reads '{FORMAT}'.*convert the source again"):
        read_meta(tmp_path)
    (tmp_path / META).write_text("[1]")
    with pytest.raises(ValueError, match="expected format"):
        read_meta(tmp_path)



def test_ids_and_splits_are_packed_into_tensors(shard, tmp_path):
    for values in ([], [None], ["a", None, "", "é 字\n", "digits-0001"]):
        packed = pack_strings(values)
        assert packed["utf8"].dtype == torch.uint8 and packed["lengths"].shape == (len(values),)
        assert unpack_strings(packed) == values
    state = torch.load(io.BytesIO(shard.to_bytes()), weights_only=True)
    # no list of B strings for the unpickler: one tensor each (what makes a shard quick to read)
    assert set(state["columns"]["ids"]) == {"utf8", "lengths"}
    assert state["split"]["names"] == ["val", "train", "test"] and state["split"]["index"].tolist() == [0, 1, 0, 2, 1]
    back = Shard.from_state(state)
    assert back.columns.ids == shard.columns.ids and back.split == shard.split
