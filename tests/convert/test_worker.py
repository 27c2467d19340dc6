"""convert_chunk: one chunk's records → a shard of the ones that convert, plus a reason for each refused one."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import mmgraph
from mmgraph import GraphConfig, Tokenizer
from mmgraph.convert.sources import Chunk, DatasetRecord
from mmgraph.convert.worker import convert_chunk
from mmgraph.datasets.manifest import ManifestRecord
from mmgraph.graph import Featurizer
from mmgraph.graph.columns import GraphColumns
from tests.conftest import WORDS, assert_columns_equal, make_sample


def test_records_that_fail_are_rejected_and_the_others_packed_in_order(tmp_path):
    image = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    config = GraphConfig(modalities=("text",), text={"tokenizer": Tokenizer.fit(WORDS)})
    chunk = Chunk(index=1, start=4, items=[
        ManifestRecord(4, 5, "a", "train", {"text": "alpha beta", "label": 1, "targets": {"snr": 0.5}}),
        ManifestRecord(5, 6, None, reason="not valid JSON"),
        ManifestRecord(6, 7, "img", "train", {"text": "gamma", "image": str(image)}),  # not in the config
        ManifestRecord(7, 8, "broken", "val", {"image": str(tmp_path / "broken.png")}),
        ManifestRecord(8, 9, "b", "val", {"text": "gamma delta zeta", "label": 0}),
    ])
    done = convert_chunk(chunk, config)
    assert done.records == (4, 9)
    assert [(r.record, r.line, r.id) for r in done.rejected] == [(5, 6, None), (6, 7, "img"), (7, 8, "broken")]
    assert done.rejected[0].reason == "not valid JSON"
    assert "does not list" in done.rejected[1].reason and "not a readable image" in done.rejected[2].reason
    shard = done.shard
    assert shard.chunk == 1 and shard.split == ["train", "val"] and shard.record.tolist() == [4, 8]
    assert shard.columns.ids == ["a", "b"] and shard.columns.y.tolist() == [1, 0]
    assert shard.columns.nodes["text"].counts.tolist() == [2, 3]
    assert done.stats.label_kind == "int" and done.stats.max_label == 1 and done.stats.target_names == {"snr"}


def test_dataset_records_pack_as_their_featurized_samples(config):
    rng = np.random.default_rng(0)
    samples = [make_sample(rng, mods, y=i, sid=f"s{i}") for i, mods in enumerate([("image", "text"), ("audio",)])]
    chunk = Chunk(0, 0, [DatasetRecord(0, "train", samples[0]), DatasetRecord(1, "test", samples[1])])
    done = convert_chunk(chunk, config)
    assert done.rejected == [] and done.shard.split == ["train", "test"]
    assert_columns_equal(done.shard.columns, GraphColumns.from_featurized(Featurizer(config).batch(samples), config))


def test_a_chunk_without_survivors_packs_to_an_empty_shard(config):
    chunk = Chunk(0, 0, [ManifestRecord(0, 1, None, reason="bad"), ManifestRecord(1, 2, "x", reason="worse")])
    done = convert_chunk(chunk, config)
    assert [r.reason for r in done.rejected] == ["bad", "worse"]
    assert len(done.shard.columns) == 0 and done.shard.record.dtype == torch.int64
    assert done.shard.columns.nodes["image"].x.shape == (0, 48) and done.stats.label_kind is None  # 4×4 RGB


def test_worker_imports_neither_pyg_nor_networkx():
    """A conversion worker featurizes and packs columns: it never needs PyTorch Geometric or networkx, nor
    scipy.signal unless audio must be resampled (seconds of cold start per worker each). The package root is
    replaced by an empty package here, so that the check covers the worker's own imports whatever the root imports."""
    code = (
        "import pathlib, sys, types\n"
        "root = types.ModuleType('mmgraph')\n"
        f"root.__path__ = [{str(Path(mmgraph.__file__).parent)!r}]\n"
        "sys.modules['mmgraph'] = root\n"
        "import mmgraph.convert.worker, mmgraph.convert.local_engine, mmgraph.convert.api\n"
        "import mmgraph.graph.featurizer, mmgraph.graph.columns\n"
        "print(sorted(m for m in ('torch_geometric', 'networkx', 'scipy.signal') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
