"""``StreamingGraphDataset``: one split of a converted folder read shard by shard, for data larger than memory.

A converted folder (``mmgraph convert``; format in ``mmgraph.convert.layout``) lists in ``meta.json``
every shard with its samples per split, so the whole epoch can be planned without reading a shard.
The plan of epoch ``e`` (a pure function of the folder, ``seed``, ``e``, the number of ranks and
loader workers, the buffer and the batch size):

1. **Shard order.** The shards holding the split are put in a random order (seeded by ``seed`` and
   ``e``). Their samples, one shard after the other, form the epoch's sequence of ``N`` samples.
2. **Ranks.** Rank ``r`` of ``W`` (``torch.distributed``) takes the contiguous part
   ``[r N / W, (r + 1) N / W)`` of that sequence: ranks read disjoint samples, and every shard but
   the (at most ``W - 1``) ones on a boundary is read by one rank only. A rank with one sample
   fewer repeats its first sample, so that every rank runs ``ceil(ceil(N / W) / batch_size)``
   steps (DistributedDataParallel needs equal step counts; ``DistributedSampler`` pads the same
   way). The union over ranks is the epoch, each sample once but for that padding.
3. **Loader workers.** A rank's batches are cut into ``K`` contiguous runs, one per
   ``DataLoader`` worker; each worker reads only the shards of its run. The ``DataLoader`` hands
   their batches out in turn (worker 0, 1, ..., 0, 1, ...).
4. **Shuffle buffer.** A worker reads its run in windows of ``buffer_size`` samples (rounded down
   to whole batches): the shards overlapping a window are read, the window's samples put in record
   order and permuted (a ``torch.randperm`` seeded by ``seed + e + 1000003 * p``, ``p`` the
   window's first position), then batched. When one window holds the whole split (one process,
   no workers, ``buffer_size >= N``) the batches are exactly those of the in-memory trainer
   (``DistributedSampler`` with the same seed), so results match in-memory training.

Memory is one window, the one or two shards being read, and a batch: independent of the size of
the folder. Every shard is checked against its SHA-256 in ``meta.json`` before it is unpickled.

**Resume mid-epoch.** ``state_dict(samples)`` records the epoch and the samples this rank has
consumed (with the settings the order depends on); ``load_state_dict`` makes the next iteration
continue with the very batches an uninterrupted epoch would have yielded next.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import HeteroData

from mmgraph.convert.layout import read_meta, read_shard
from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.collate import FullEdges
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig

log = logging.getLogger(__name__)

DEFAULT_BUFFER_SIZE = 16_384
"""Samples per shuffle window (a few MB of small graphs)."""
WINDOW_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class _Segment:
    """Samples ``[lo, hi)`` of the split's part of shard ``entry`` (index into the shards holding the split)."""

    entry: int
    lo: int
    hi: int


def _split_evenly(n: int, parts: int, i: int) -> tuple[int, int]:
    """Part ``i`` of ``range(n)`` cut into ``parts`` contiguous parts differing in size by at most 1."""
    return i * n // parts, (i + 1) * n // parts


class _StreamLoader(torch.utils.data.DataLoader):
    """A ``DataLoader`` that spends a stream's resume skip once: its workers got it when they started."""

    def __iter__(self):
        iterator = super().__iter__()  # workers (if any) copy the stream, skip included, here
        self.dataset._skip = 0
        return iterator


class StreamingGraphDataset(torch.utils.data.IterableDataset):
    """One split of a converted folder as a stream of shuffled batches (``HeteroData``), shard by shard.

    Iterating yields this rank's (and, inside a ``DataLoader`` worker, this worker's) batches of the
    current epoch; ``loader()`` wraps it in a ``DataLoader``. See the module docstring for the order.

    Args:
        out: the converted folder (complete).
        split: the split to stream.
        batch_size: graphs per batch (per rank).
        shuffle: shuffle shards and windows; ``False``: record order.
        seed: seeds the order (with the epoch).
        buffer_size: samples per shuffle window; memory grows with it, mixing too.
        rank, world_size: this process's place among the DDP ranks (default: from
            ``torch.distributed`` when initialised, else 0 of 1).
        full_edges: how batches store the fully connected edge types (as ``GraphDataset.loader``:
            ``"list"``, PyG-safe, by default; the ``Trainer`` sets ``"dense"`` for a model that reads it).
        verify: check each shard's SHA-256 before reading it.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        split: str = "train",
        *,
        batch_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        rank: int | None = None,
        world_size: int | None = None,
        full_edges: FullEdges = "list",
        verify: bool = True,
    ) -> None:
        for name, value in (("batch_size", batch_size), ("buffer_size", buffer_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"'{name}' must be a positive int (got {value!r})")
        self.out = Path(out)
        self.meta = read_meta(self.out)
        if not self.meta.get("complete"):
            raise ValueError(f"{self.out}: the conversion is incomplete ({len(self.meta['missing_chunks'])} chunks "
                             f"missing); finish it with 'mmgraph convert' before training from it")
        if split not in self.meta["splits"]:
            raise ValueError(f"{self.out} has no split {split!r} (splits: {sorted(self.meta['splits'])})")
        if rank is None or world_size is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            rank = torch.distributed.get_rank() if distributed else 0
            world_size = torch.distributed.get_world_size() if distributed else 1
        if not 0 <= rank < world_size:
            raise ValueError(f"'rank' must be in [0, world_size) (got rank {rank}, world_size {world_size})")
        self.split = split
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.buffer_size = buffer_size
        self.rank, self.world_size = rank, world_size
        self.full_edges = full_edges
        self.verify = verify
        self.config = GraphConfig.from_record(self.meta["graph_config"])
        self.entries = [e for e in self.meta["shards"] if e["splits"].get(split, 0) > 0]
        self.counts = [e["splits"][split] for e in self.entries]
        self.num_samples = sum(self.counts)
        if self.num_samples < world_size:
            raise ValueError(f"split {split!r} has {self.num_samples} samples, fewer than the {world_size} ranks")
        self.epoch = 0
        self._skip = 0
        self._cached: tuple[int, GraphColumns] | None = None

    # ---------------------------------------------------------------------------------------- sizes

    @property
    def samples_per_rank(self) -> int:
        """Samples each rank sees per epoch: ``ceil(N / world_size)`` (see the padding rule)."""
        return math.ceil(self.num_samples / self.world_size)

    def __len__(self) -> int:
        """Batches this rank yields per epoch (the same on every rank)."""
        return math.ceil(self.samples_per_rank / self.batch_size)

    @property
    def window(self) -> int:
        """Samples per shuffle window: ``buffer_size`` rounded down to whole batches (at least one)."""
        return max(self.batch_size, self.buffer_size // self.batch_size * self.batch_size)

    # ------------------------------------------------------------------------------------- the plan

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration yield epoch ``epoch`` from its start."""
        self.epoch, self._skip = epoch, 0

    def _order(self, epoch: int) -> list[int]:
        """The shards (indices into ``entries``) in the order of epoch ``epoch``."""
        if not self.shuffle:
            return list(range(len(self.entries)))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.entries)).tolist()

    def _rank_runs(self) -> list[tuple[int, int]]:
        """This rank's stream as ranges of positions in the epoch's sequence: its part, then its padding."""
        lo, hi = _split_evenly(self.num_samples, self.world_size, self.rank)
        pad = self.samples_per_rank - (hi - lo)
        return [(lo, hi), (lo, lo + pad)] if pad else [(lo, hi)]

    def worker_batches(self, workers: int) -> list[int]:
        """Batches each of ``workers`` loader workers yields per epoch on this rank."""
        return [b - a for a, b in (_split_evenly(len(self), workers, k) for k in range(workers))]

    def _segments(self, order: list[int], runs: list[tuple[int, int]], a: int, b: int) -> list[_Segment]:
        """The shard segments holding positions ``[a, b)`` of this rank's stream."""
        starts = np.cumsum([0] + [self.counts[i] for i in order]).tolist()
        out: list[_Segment] = []
        offset = 0
        for run_lo, run_hi in runs:  # rank-local [a, b) → positions in the epoch's sequence
            lo, hi = max(a, offset) - offset + run_lo, min(b, offset + run_hi - run_lo) - offset + run_lo
            offset += run_hi - run_lo
            i = bisect.bisect_right(starts, lo) - 1
            while lo < hi:
                take = min(hi, starts[i + 1]) - lo
                out.append(_Segment(order[i], lo - starts[i], lo - starts[i] + take))
                lo, i = lo + take, i + 1
        return out

    def _columns(self, entry: int) -> GraphColumns:
        """The split's samples of shard ``entry`` (the last one read is kept: windows share boundary shards)."""
        if self._cached is None or self._cached[0] != entry:
            info = self.entries[entry]
            shard = read_shard(self.out / info["file"], info["sha256"] if self.verify else None)
            self._cached = (entry, shard.by_split()[self.split])
        return self._cached[1]

    def _window(self, segments: list[_Segment]) -> GraphColumns:
        """The samples of ``segments`` in record order, as one ``GraphColumns``.

        Shards are read in the epoch's order (the shard a window ends in is the one the next window
        starts in, and is still cached), then the parts are put in record order.
        """
        parts = []
        for seg in segments:
            columns = self._columns(seg.entry)
            whole = seg.lo == 0 and seg.hi == len(columns)
            parts.append(((seg.entry, seg.lo), columns if whole else columns.take(torch.arange(seg.lo, seg.hi))))
        parts.sort(key=lambda part: part[0])
        return GraphColumns.concat([columns for _, columns in parts], label_kind=self.meta.get("label_kind"),
                                   target_names=self.meta.get("target_names", []))

    # ------------------------------------------------------------------------------------ iteration

    def __iter__(self) -> Iterator[HeteroData]:
        """This rank's (this loader worker's) batches of the current epoch, after those a resume skips."""
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        skips, turn = self._skip_batches(workers)
        # the DataLoader starts its turns at worker 0: after a resume, worker 0 plays the part whose turn was next
        part = (worker + turn) % workers
        if info is None:
            self._skip = 0  # a resume skips once; iterating again yields the whole epoch
        counts = self.worker_batches(workers)
        first = sum(counts[:part]) * self.batch_size
        end = min(self.samples_per_rank, sum(counts[: part + 1]) * self.batch_size)
        skip = skips[part]
        return self._batches(self.epoch, first + skip * self.batch_size, first, end)

    def _batches(self, epoch: int, resume_at: int, first: int, end: int) -> Iterator[HeteroData]:
        """Batches of positions ``[resume_at, end)`` of this rank's stream, in windows aligned at ``first``."""
        order, runs, step = self._order(epoch), self._rank_runs(), self.window
        for a in range(first + (resume_at - first) // step * step, end, step):
            window = self._window(self._segments(order, runs, a, min(a + step, end)))
            n = len(window)
            if self.shuffle:
                position = self.rank * self.samples_per_rank + a
                generator = torch.Generator().manual_seed(self.seed + epoch + WINDOW_SEED_STRIDE * position)
                perm = torch.randperm(n, generator=generator)
            else:
                perm = torch.arange(n)
            for i in range(max(0, resume_at - a), n, self.batch_size):
                yield window.take(perm[i : i + self.batch_size]).to_batch(self.config, full_edges=self.full_edges)
        self._cached = None

    def loader(self, *, num_workers: int = 0, **kwargs: Any) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` over this stream (batches are made here: ``batch_size=None``).

        Its generator is seeded, so that creating it draws nothing from torch's global RNG (which
        drives dropout): the same training as with ``GraphDataset.loader``.
        """
        return _StreamLoader(self, batch_size=None, num_workers=num_workers,
                             generator=torch.Generator().manual_seed(self.seed), **kwargs)

    # --------------------------------------------------------------------------------------- resume

    def state_dict(self, samples: int, *, num_workers: int = 0) -> dict[str, Any]:
        """The position after this rank consumed ``samples`` samples of the current epoch (for a checkpoint)."""
        return {"epoch": self.epoch, "samples": samples, "seed": self.seed, "batch_size": self.batch_size,
                "buffer_size": self.buffer_size, "world_size": self.world_size, "num_workers": num_workers,
                "shuffle": self.shuffle, "plan_sha256": self.meta["plan_sha256"]}

    def load_state_dict(self, state: dict[str, Any], *, num_workers: int = 0) -> None:
        """Continue from ``state``: the next iteration yields the rest of its epoch, as an uninterrupted run would.

        Iterate (or make the loader) right after, without ``set_epoch``, which starts an epoch anew.

        Raises:
            ValueError: a setting the order depends on differs from the state's.
        """
        now = self.state_dict(0, num_workers=num_workers)
        differ = [k for k in now if k not in ("epoch", "samples") and state.get(k) != now[k]]
        if differ:
            shown = ", ".join(f"{k} {state.get(k)!r} → {now[k]!r}" for k in differ)
            raise ValueError(f"cannot resume this stream: the sample order depends on settings that changed ({shown})")
        self.epoch, self._skip = int(state["epoch"]), int(state["samples"])

    def _skip_batches(self, workers: int) -> tuple[list[int], int]:
        """Per part of the epoch (one per loader worker), the batches already consumed; and whose turn is next.

        The ``DataLoader`` takes one batch from each worker in turn (skipping exhausted ones), so
        ``samples`` consumed fix how many batches each part gave and which part comes next.
        """
        skip, turn = [0] * workers, 0
        if not self._skip:
            return skip, turn
        counts = self.worker_batches(workers)
        ends = [min(self.samples_per_rank, sum(counts[: k + 1]) * self.batch_size) for k in range(workers)]
        left = self._skip
        while left > 0 and any(skip[k] < counts[k] for k in range(workers)):
            if skip[turn] < counts[turn]:
                start = (sum(counts[:turn]) + skip[turn]) * self.batch_size
                left -= min(self.batch_size, ends[turn] - start)
                skip[turn] += 1
            turn = (turn + 1) % workers
        if left != 0:
            raise ValueError(f"{self._skip} samples is not a batch boundary of this rank's epoch "
                             f"({self.samples_per_rank} samples in batches of {self.batch_size})")
        return skip, turn

    # ----------------------------------------------------------------------------------- statistics

    def head(self, n: int) -> GraphDataset:
        """The split's first ``n`` samples (record order) in memory: what a model's ``prepare`` step reads.

        Input and target standardisation and cluster centroids are fit on this sample instead of the
        whole split; with ``n >= num_samples`` it is the whole split, as in-memory training uses.
        """
        n = min(n, self.num_samples)
        segments, left = [], n
        for entry, count in enumerate(self.counts):
            if left <= 0:
                break
            segments.append(_Segment(entry, 0, min(count, left)))
            left -= count
        columns = self._window(segments)
        self._cached = None
        return GraphDataset(columns, self.config)

    def __repr__(self) -> str:
        return (f"StreamingGraphDataset({str(self.out)!r}, split={self.split!r}, {self.num_samples} samples in "
                f"{len(self.entries)} shards, batch_size={self.batch_size}, buffer_size={self.buffer_size}, "
                f"rank {self.rank} of {self.world_size})")


STREAM_ABOVE = 0.5
"""``choose_streaming`` streams when the split would take more than this share of the available memory."""
IN_MEMORY_FACTOR = 2.0
"""In-memory bytes per shard byte, roughly (ids, per-sample layouts and Python objects beside the tensors)."""


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (``MemAvailable`` on Linux), or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def split_bytes(meta: dict[str, Any], split: str) -> int:
    """Shard bytes of a split's samples (each shard's bytes shared out by its samples)."""
    return round(sum(e["bytes"] * e["splits"].get(split, 0) / e["samples"] for e in meta["shards"] if e["samples"]))


def choose_streaming(data: str | os.PathLike, stream: bool | None, split: str = "train") -> bool:
    """Whether to train on ``data`` as a stream: ``stream`` when given; ``None``: when the split would not fit.

    Automatic streaming (a converted folder whose split needs, in memory, more than ``STREAM_ABOVE``
    of the available memory) is stated in the log at WARNING level.

    Raises:
        ValueError: ``stream=True`` on data that is not a converted folder.
    """
    from mmgraph.convert.layout import is_converted

    if stream is False:
        return False
    if not is_converted(data):
        if stream:
            raise ValueError(f"--stream trains from a converted folder, and {data} is not one: convert it first "
                             f"(mmgraph convert {data} OUT), then train with --data OUT --stream")
        return False
    if stream:
        return True
    need = IN_MEMORY_FACTOR * split_bytes(read_meta(data), split)
    available = available_memory()
    if available is not None and need > STREAM_ABOVE * available:
        log.warning("training from %s as a stream: its %s split needs about %.1f GB in memory, more than %d%% of the "
                    "%.1f GB available (--no-stream loads it anyway, --stream always streams)", data, split,
                    need / 1e9, round(100 * STREAM_ABOVE), available / 1e9)
        return True
    return False


__all__ = ["DEFAULT_BUFFER_SIZE", "StreamingGraphDataset", "available_memory", "choose_streaming", "split_bytes"]
