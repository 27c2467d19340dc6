"""A dataset of lazy splits converts by record range: the workers build the records, the bytes stay the same."""

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from mmgraph import MultimodalSample
from mmgraph.convert import convert, merge
from mmgraph.convert.sources import Chunk, DatasetRecord, DatasetRecords, lazy_records, record_ranges
from mmgraph.convert.worker import ChunkJob, convert_chunk
from mmgraph.datasets import load_dataset

CHUNK = 5


class CountingSplit(Sequence):
    """A lazy split over a list: counts the samples built (``[i]``) in this process; iterating builds none."""

    built = 0

    def __init__(self, samples: list[MultimodalSample]) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        CountingSplit.built += 1
        return self.samples[i]

    def __iter__(self) -> Iterator[MultimodalSample]:  # what fitting the tokenizer reads: not counted
        return iter(self.samples)


def tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_digits():
    dataset = load_dataset("digits")
    return replace(dataset, splits={"train": dataset.splits["train"][:17], "val": dataset.splits["val"][:6]})


@pytest.fixture(scope="module")
def reference(small_digits, tmp_path_factory):
    """The list-split conversion on one process: records sent with their chunks."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert convert(small_digits, out, chunk_size=CHUNK, progress=False).complete
    return tree(out)


def lazy(dataset):
    return replace(dataset, splits={k: CountingSplit(v) for k, v in dataset.splits.items()})


def test_lazy_splits_are_read_by_range_and_lists_are_not(small_digits):
    assert lazy_records(small_digits.splits) is None  # lists: each sample goes with its chunk, once
    records = lazy_records(lazy(small_digits).splits)
    assert isinstance(records, DatasetRecords) and len(records) == 23
    across = records.read(15, 19)  # the end of train, the start of val
    assert [(r.index, r.split) for r in across] == [(15, "train"), (16, "train"), (17, "val"), (18, "val")]
    assert across[2].sample is small_digits.splits["val"][0]
    assert records.read(23, 23) == []
    with pytest.raises(ValueError, match=r"records \[20, 24\) outside the 23 records"):
        records.read(20, 24)
    ranges = list(record_ranges(23, CHUNK))
    assert [(c.index, c.start, c.stop, c.items) for c in ranges][-2:] == [(3, 15, 20, None), (4, 20, 23, None)]
    assert [len(c) for c in ranges] == [5, 5, 5, 5, 3]
    assert len(Chunk(0, 10, [DatasetRecord(10, "train", small_digits.splits["train"][10])])) == 1
    config = small_digits.fit_graph_config()
    with pytest.raises(ValueError, match="this job holds no records to read"):
        ChunkJob(config, Path("unused"), "plan", None, 1000)(ranges[0])
    with pytest.raises(ValueError, match="carries no records"):
        convert_chunk(ranges[0], config)


@pytest.mark.parametrize("workers", [1, 2])
def test_lazy_splits_give_the_bytes_of_list_splits(small_digits, reference, workers, tmp_path):
    CountingSplit.built = 0
    report = convert(lazy(small_digits), tmp_path / "out", workers=workers, chunk_size=CHUNK, progress=False)
    assert report.complete and report.converted == 23 and report.chunks_written == 5
    assert tree(tmp_path / "out") == reference
    # with workers, this process builds no record: the chunks it sends are record ranges
    assert CountingSplit.built == (23 if workers == 1 else 0)


def test_lazy_splits_by_shard_part_and_resumed(small_digits, reference, tmp_path):
    dataset = lazy(small_digits)
    parts = [tmp_path / "part0", tmp_path / "part1"]
    for i, part in enumerate(parts):
        report = convert(dataset, part, shard=(i, 2), workers=2, chunk_size=CHUNK, progress=False)
        assert not report.complete and report.chunks_written == (3 if i == 0 else 2)
    assert tree(merge(parts, tmp_path / "merged").out) == reference
    (tmp_path / "merged" / "shards" / "shard-000003.pt").unlink()
    again = convert(dataset, tmp_path / "merged", workers=2, chunk_size=CHUNK, progress=False)
    assert (again.chunks_skipped, again.chunks_written) == (4, 1)
    assert tree(tmp_path / "merged") == reference
