"""Choosing the engine, and the content hash: what does not need Ray installed."""

import sys
from dataclasses import replace

import pytest
import torch

from mmgraph.cli import main
from mmgraph.convert import convert, verify
from mmgraph.convert.layout import read_shard, sample_digests
from mmgraph.datasets import load_dataset


@pytest.fixture(scope="module")
def small_digits():
    dataset = load_dataset("digits")
    return replace(dataset, splits={"train": dataset.splits["train"][:24], "val": dataset.splits["val"][:8]})


def test_content_hash_ignores_order_and_chunking_but_not_content(small_digits, tmp_path):
    a = convert(small_digits, tmp_path / "a", chunk_size=8, progress=False)
    b = convert(small_digits, tmp_path / "b", chunk_size=32, progress=False)
    assert a.complete and b.complete
    ra, rb = verify(tmp_path / "a", content=True), verify(tmp_path / "b", content=True)
    assert ra.samples == rb.samples == 32 and len(ra.content_sha256) == 64
    # other shard cuts: other shard bytes, but (STFT batching aside: digits' audio has one length) the same graphs
    assert ra.content_sha256 == rb.content_sha256
    reordered = replace(small_digits, splits={"val": small_digits.splits["val"],
                                              "train": small_digits.splits["train"][::-1]})
    convert(reordered, tmp_path / "c", chunk_size=8, progress=False)
    assert verify(tmp_path / "c", content=True).content_sha256 == ra.content_sha256
    splits = small_digits.splits
    fewer = replace(small_digits, splits={"train": splits["train"][:23], "val": splits["val"]})
    convert(fewer, tmp_path / "d", chunk_size=8, progress=False)
    assert verify(tmp_path / "d", content=True).content_sha256 != ra.content_sha256
    assert verify(tmp_path / "a").content_sha256 is None  # checksums only, unless asked


def test_sample_digest_sees_every_part_of_a_graph(small_digits, tmp_path):
    convert(small_digits, tmp_path / "a", chunk_size=8, progress=False)
    shard = read_shard(tmp_path / "a" / "shards" / "shard-000000.pt")
    base = sample_digests(shard)
    assert len(set(base)) == len(base) == 8
    shard.columns.nodes["image"].x[0, 0] += 1  # sample 0's first image node
    changed = sample_digests(shard)
    assert changed[0] != base[0] and changed[1:] == base[1:]
    shard.columns.nodes["image"].x[0, 0] -= 1
    shard.columns.y[3] = 9 - shard.columns.y[3]
    shard.split[5] = "test"
    changed = sample_digests(shard)
    assert [i for i in range(8) if changed[i] != base[i]] == [3, 5]
    shard.record = torch.arange(100, 108)  # where a sample came from is not what it is
    assert sample_digests(shard)[:3] == changed[:3]


def test_engine_choice_errors(small_digits, tmp_path, monkeypatch, capsys):
    with pytest.raises(ValueError, match="'engine' must be one of"):
        convert(small_digits, tmp_path / "x", engine="spark", progress=False)
    with pytest.raises(ValueError, match="needs the Ray engine"):
        convert(small_digits, tmp_path / "x", address="auto", progress=False)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ValueError, match=r'pip install "mmgraph\[ray\]"'):
        convert(small_digits, tmp_path / "x", engine="ray", progress=False)
    assert main(["convert", "digits", str(tmp_path / "y"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install "mmgraph[ray]"' in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()  # refused before reading anything
