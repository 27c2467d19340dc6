"""``convert``: a manifest or a built-in dataset → featurized graph shards on disk, in parallel, resumable.

The package, from the format up:

- ``layout``: the on-disk format (``meta.json``, ``rejected.jsonl``, shards and their sidecars, the
  plan and its hash): the contract between the writers here and the reader that trains from it
  (``mmgraph.datasets.on_disk``). The layout of ``OUT`` and the shard format are described there.
- ``sources``: a manifest or a dataset as a stream of records, cut into numbered chunks.
- ``worker``: ``convert_chunk``, one chunk's records → a ``Shard`` plus rejections (a plain
  function), and ``ChunkJob``: convert one chunk and write its shard, what every engine runs.
- ``local_engine``, ``ray_engine``: what runs the chunks: this machine's processes, or the tasks of
  a Ray Data pipeline on a cluster (the ``ray`` extra). The output is the same bytes either way:
  the shard format is the contract between the engines.
- ``api``: the public ``convert``, ``merge``, ``verify`` (re-exported here).
- ``sizing``: ``preflight``, the cost of a source's graphs measured on a sample of its records,
  before anything is written (``mmgraph convert --preflight SOURCE``; re-exported here).

**Determinism and resume.** Chunk ``k`` always holds records ``[k * chunk_size, (k + 1) *
chunk_size)`` of the input order (rejected ones included, as rejections), each chunk is featurized
alone on one thread, and ``meta.json`` holds no timestamps: the output depends only on the source,
the graph config and the chunk size (given the same software and kind of CPU: math libraries may
round differently elsewhere), never on timing or the number of workers. Each shard and then
its sidecar is written atomically (temp file + ``os.replace``). A chunk is done when its sidecar
exists, belongs to the same plan (same source, config and chunk size: ``plan_sha256``) and its shard
matches the sidecar's SHA-256; a re-run skips done chunks, removes temp files a killed run left, and
redoes the rest, so it ends with the same bytes as an uninterrupted run.

**Several machines.** ``shard=(i, n)`` converts only the chunks with ``k % n == i``. Every machine
reads the whole source (cheap checks only, to keep ids unique and chunk numbers right) but decodes
and featurizes only its chunks. Either all machines write into one shared ``OUT`` (file names are
disjoint; the last to finish writes the complete ``meta.json``; if two finish at once, run ``mmgraph
convert --merge OUT`` to rebuild it), or each writes its own ``OUT`` and ``merge([out0, out1, ...],
dest)`` copies the shards (checking them) into ``dest`` and writes ``meta.json``; the result is the
same bytes as a single-machine run.

The public names are imported from ``api`` on first use, so that reading the format
(``import mmgraph.convert.layout``, as training does) does not import the converter itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmgraph.convert.api import (
        DEFAULT_CHUNK_SIZE,
        ENGINES,
        ConvertReport,
        VerifyReport,
        convert,
        merge,
        parse_shard,
        verify,
    )
    from mmgraph.convert.sizing import PreflightReport, preflight

__all__ = ["DEFAULT_CHUNK_SIZE", "ENGINES", "ConvertReport", "PreflightReport", "VerifyReport", "convert", "merge",
           "parse_shard", "preflight", "verify"]

_PREFLIGHT = ("PreflightReport", "preflight")


def __getattr__(name: str) -> Any:
    if name in _PREFLIGHT:
        return getattr(importlib.import_module("mmgraph.convert.sizing"), name)
    if name in __all__:
        return getattr(importlib.import_module("mmgraph.convert.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
