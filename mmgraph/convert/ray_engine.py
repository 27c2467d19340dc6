"""The Ray engine: a conversion's chunks featurized and written by the tasks of a Ray Data pipeline.

``mmgraph convert SOURCE OUT --engine ray [--address auto|ray://HOST:10001]`` (needs the ``ray``
extra: ``pip install "mmgraph[ray]"``). The driver (the process running ``convert``) reads the
source as the local engine does: the checks that need no decoding (structure, ids, paths, labels)
run once, in input order, because duplicate ids and the label kind depend on every earlier record.
The costly part, decoding files, featurizing, packing and writing each shard, runs on the cluster:
chunk descriptors (a chunk's checked records, pickled) go through ``ray.data.from_items`` →
``Dataset.map`` calling the same ``ChunkJob`` as the local engine, one task per chunk, so the
shards, sidecars, ``meta.json`` and ``rejected.jsonl`` are byte for byte those of the local engine
with the same chunk size (the driver writes ``meta.json`` and ``rejected.jsonl`` from the sidecars,
as the local engine does).

- **Where files must be.** Tasks write their shard and sidecar straight into ``OUT``, and a
  manifest's files are read by the tasks: on a cluster of several machines ``OUT`` and the
  manifest's folder must be on a filesystem every node mounts at the same path (NFS, a cluster
  filesystem). A task that cannot see them fails with an error naming the node; it never turns an
  unreachable file into a rejection. Object stores (``s3://``) are not supported as ``OUT``.
- **Memory of the driver.** Chunks are handed to Ray in windows of ``WINDOW_PER_CPU`` chunks per
  cluster CPU (at least ``WINDOW_MIN``): the driver holds one window of records at a time, never
  the whole source; a window's last tasks overlap with nothing (the tail costs about one task's
  time per window).
- **Failures.** A task whose worker process or node dies is retried by Ray (Ray Data retries such
  system failures without limit); an error in the conversion itself (a bug, a full disk) is raised
  at once. A killed driver
  leaves finished shards behind: running the same command again skips them (``layout``'s sidecar
  rule), exactly as with the local engine.
- **Versions.** Every node must run the same mmgraph version as the driver (checked per task):
  another version could featurize differently.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

import torch

import mmgraph
from mmgraph.convert.layout import SHARD_DIR
from mmgraph.convert.sources import Chunk
from mmgraph.convert.worker import ChunkJob
from mmgraph.datasets.manifest import ManifestRecord

log = logging.getLogger(__name__)

MISSING_RAY = 'the Ray engine needs Ray: pip install "mmgraph[ray]" (or choose the local engine: --engine local)'
WINDOW_PER_CPU = 16
"""Chunks handed to Ray at once, per CPU of the cluster."""
WINDOW_MIN = 32


def import_ray() -> Any:
    """``ray`` with ``ray.data``, or a ``ValueError`` saying how to install the extra."""
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is part of the extra, not of every Ray install
    except ImportError:
        raise ValueError(MISSING_RAY) from None
    return ray


def _check_reachable(job: ChunkJob, chunk: Chunk, version: str) -> None:
    """Refuse to convert on a node that runs another mmgraph or cannot see ``OUT`` or the chunk's files."""
    node = socket.gethostname()
    if mmgraph.__version__ != version:
        raise ValueError(f"node {node} runs mmgraph {mmgraph.__version__}, the driver {version}: install the same "
                         f"version on every node of the Ray cluster")
    if not (job.out / SHARD_DIR).is_dir():
        raise ValueError(f"{job.out / SHARD_DIR} is not visible on node {node}: OUT must be on a filesystem every "
                         f"node of the Ray cluster mounts at the same path")
    for record in chunk.items or ():
        if isinstance(record, ManifestRecord) and record.ok:
            for key in ("image", "audio"):
                # the driver checked that this file exists: if it is missing here, the node does not see it
                if key in record.fields and not os.path.isfile(record.fields[key]):
                    raise ValueError(f"{record.fields[key]} (record {record.index}) is not visible on node {node}: "
                                     f"the manifest's files must be on a filesystem every node mounts at the "
                                     f"same path")


def _convert_row(row: dict[str, Any], job: ChunkJob, version: str) -> dict[str, Any]:
    """One Ray Data row (a pickled chunk) → its sidecar, after writing the shard (runs in a Ray task)."""
    torch.set_num_threads(1)  # the same bytes as the local engine, which featurizes on one thread
    chunk: Chunk = pickle.loads(row["payload"])
    _check_reachable(job, chunk, version)
    return {"chunk": chunk.index, "sidecar": json.dumps(job(chunk))}


@contextmanager
def _quiet_ray_data(verbose: bool) -> Iterator[None]:
    """Ray Data's progress lines only with ``--verbose``: ``convert`` shows its own progress bar."""
    logger = logging.getLogger("ray.data")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class RayEngine:
    """Runs a conversion's chunks as Ray Data tasks, on a local Ray instance or a cluster.

    Args:
        address: the cluster to join (``"auto"``: the one ``ray start`` runs on this machine;
            ``"ray://HOST:10001"``: a remote one through Ray Client); ``None``: start a local Ray
            instance for this conversion (stopped at the end). When this process is already
            connected (``ray.init`` was called), that connection is used and ``address`` must be
            ``None``.
        num_cpus: CPUs of the local instance (``None``: all of this machine's); only without
            ``address``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        ray = import_ray()
        if address is not None and num_cpus is not None:
            raise ValueError("a Ray cluster's CPUs are set where it starts ('ray start --num-cpus N'), not by "
                             "--workers: leave --workers out with --address")
        self._started = False
        if ray.is_initialized():
            if address is not None or num_cpus is not None:
                raise ValueError("this process is already connected to Ray (ray.init was called): leave the "
                                 "address and worker count out to use that connection")
        else:
            # the local instance only runs these tasks: no dashboard (seconds of start-up), Ray's logs quiet
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
            self._started = True
        self.ray = ray

    @property
    def cpus(self) -> int:
        """CPUs of the cluster (or local instance) this engine runs on."""
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def run(self, job: ChunkJob, chunks: Iterator[Chunk]) -> Iterator[dict[str, Any]]:
        """Convert and write every chunk of ``chunks`` on Ray; yields their sidecars as they finish."""
        window = max(WINDOW_MIN, WINDOW_PER_CPU * self.cpus)
        log.info("Ray engine: %d CPUs, windows of %d chunks", self.cpus, window)
        context = self.ray.data.DataContext.get_current()
        context.print_on_execution_start = False
        with _quiet_ray_data(verbose=log.isEnabledFor(logging.INFO)):
            yield from self._run(job, chunks, window)

    def _run(self, job: ChunkJob, chunks: Iterator[Chunk], window: int) -> Iterator[dict[str, Any]]:
        while True:
            group = list(islice(chunks, window))
            if not group:
                return
            items = [{"chunk": c.index, "payload": pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)} for c in group]
            del group
            dataset = self.ray.data.from_items(items, override_num_blocks=len(items)).map(
                _convert_row, fn_kwargs={"job": job, "version": mmgraph.__version__}, num_cpus=1
            )
            del items
            for row in dataset.iter_rows():
                yield json.loads(row["sidecar"])

    def close(self) -> None:
        """Stop the local Ray instance (or leave the cluster) when this engine started the connection."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False


__all__ = ["MISSING_RAY", "RayEngine", "import_ray"]
