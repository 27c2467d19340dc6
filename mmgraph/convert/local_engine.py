"""The local engine: chunks converted in this process or in a pool of worker processes on this machine."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import torch

from mmgraph.convert.sources import Chunk
from mmgraph.convert.worker import ChunkJob

_JOB: ChunkJob | None = None


def _init_worker(job: bytes) -> None:
    global _JOB
    torch.set_num_threads(1)  # one process per core; also keeps results independent of thread counts
    _JOB = pickle.loads(job)


def _run_chunk(chunk: Chunk) -> dict[str, Any]:
    if _JOB is None:
        raise RuntimeError("worker not initialised")
    return _JOB(chunk)


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread inside the block: the same bytes as a worker process writes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def mp_context(start_method: str | None) -> mp.context.BaseContext:
    """The worker start method, started early: a forkserver imports torch while the source is read.

    forkserver (default where available): workers fork from a server that imported mmgraph once,
    where spawn would re-import torch in every worker (seconds each). Both need only picklable,
    importable code, which is all a chunk and the worker settings are; fork is not used because
    forking a process whose torch thread pools are running is unsafe.
    """
    method = start_method or ("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    context = mp.get_context(method)
    if method == "forkserver":
        from multiprocessing import forkserver

        context.set_forkserver_preload(["mmgraph.convert.local_engine"])
        forkserver.ensure_running()
    return context


class LocalEngine:
    """Runs a conversion's chunks here (``workers=1``) or in ``workers`` processes of this machine.

    Args:
        workers: worker processes (1: convert in this process).
        start_method: multiprocessing start method (default ``forkserver`` where available, else
            ``spawn``); the server starts now, so that it imports torch while the source is read.
    """

    name = "local"

    def __init__(self, workers: int = 1, start_method: str | None = None) -> None:
        self.workers = workers
        self.context = mp_context(start_method) if workers > 1 else None

    def run(self, job: ChunkJob, chunks: Iterator[Chunk]) -> Iterator[dict[str, Any]]:
        """Convert and write every chunk of ``chunks``; yields their sidecars as they finish."""
        if self.context is None:
            with one_thread():
                for chunk in chunks:
                    yield job(chunk)
            return
        # the job is pickled once here, not once per worker: with a dataset of lazy splits it holds the dataset
        payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
        pool = ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_init_worker,
                                   initargs=(payload,))
        pending: set[Future] = set()
        try:
            for chunk in chunks:
                while len(pending) >= 2 * self.workers:  # bounded: at most 2 chunks per worker in flight
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        yield future.result()
                pending.add(pool.submit(_run_chunk, chunk))
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        """Nothing to release: the pool lives only while ``run`` does."""


__all__ = ["LocalEngine", "mp_context", "one_thread"]
