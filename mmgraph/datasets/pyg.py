"""mmgraph's graphs as PyG datasets: ``PyGDataset`` (in memory) and ``PyGOnDiskDataset`` (a converted folder).

Each item is one sample's ``HeteroData`` as ``build_graph`` makes it: every node and edge type of the
schema (a missing modality is zero nodes), every edge list built, ``y``, targets and ``id``. PyG's own
``DataLoader``, transforms (``T.*``, as ``transform=`` or ``pre_transform=``) and explainers take them as
they are; since every graph has every type, ``Batch.from_data_list`` keeps them all (PyG #10801 drops
the types its first graph lacks), and ``metadata()`` is the same for every graph and batch. mmgraph's
models take those batches too: they carry ``batch`` and ``ptr`` per node type and no ``dense`` marks, so
complete blocks run from their edge lists (the same numbers as on ``collate`` batches).
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch_geometric.data import Dataset, HeteroData, InMemoryDataset

from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.build import build_graph
from mmgraph.graph.columns import GraphColumns
from mmgraph.graph.config import GraphConfig
from mmgraph.task import Task

Transform = Callable[[HeteroData], HeteroData]


class PyGDataset(InMemoryDataset):
    """A ``GraphDataset`` as a PyG ``InMemoryDataset`` of per-sample ``HeteroData`` (built once, here).

    Args:
        graphs: featurized samples, e.g. ``load_dataset("digits").featurize("train", config)``.
        transform: applied to each graph when it is read (PyG's convention).
        pre_transform: applied to each graph once, before it is stored.
        pre_filter: keep only the graphs for which it returns ``True``.

    Example::

        data = load_dataset("digits")
        config = data.fit_graph_config().replace(text={"features": "embedding"})  # float x for text
        train = PyGDataset(data.featurize("train", config), transform=T.NormalizeFeatures())
        for batch in torch_geometric.loader.DataLoader(train, batch_size=32, shuffle=True): ...
    """

    def __init__(self, graphs: GraphDataset, transform: Transform | None = None, pre_transform: Transform | None = None,
                 pre_filter: Callable[[HeteroData], bool] | None = None) -> None:
        super().__init__(None, transform, pre_transform, pre_filter, log=False)
        self.config: GraphConfig = graphs.config
        data_list = [build_graph(graphs[i], graphs.config) for i in range(len(graphs))]
        if pre_filter is not None:
            data_list = [d for d in data_list if pre_filter(d)]
        if pre_transform is not None:
            data_list = [pre_transform(d) for d in data_list]
        if not data_list:
            raise ValueError("PyGDataset: no graph left (pre_filter refused every one)")
        self._data, self.slices = self.collate(data_list)

    def __repr__(self) -> str:
        return f"PyGDataset({len(self)} graphs, node types {self.config.node_types})"


class PyGOnDiskDataset(Dataset):
    """One split of a converted folder (``mmgraph convert``) as a PyG ``Dataset``, read shard by shard.

    Graph ``i`` is built from its shard when it is asked for; the last ``cache_shards`` shards read stay
    in memory (each ``DataLoader`` worker keeps its own), so reading in order (or shuffling within a
    few shards) reads each shard once. Every shard is checked against its SHA-256 in ``meta.json``.

    Args:
        folder: the converted folder.
        split: the split to read (``meta.json``'s ``splits`` names them).
        transform: applied to each graph when it is read.
        verify: check each shard's SHA-256 before loading it.
        cache_shards: how many shards to keep in memory.

    Attributes:
        config: the graph config the folder was converted with.
        tasks: task name → ``Task`` of the conversion.
    """

    def __init__(self, folder: str | os.PathLike, split: str = "train", *, transform: Transform | None = None,
                 verify: bool = True, cache_shards: int = 4) -> None:
        # convert.layout reads datasets.manifest: imported here, not while mmgraph.datasets initialises
        from mmgraph.convert.layout import read_meta

        super().__init__(None, transform, log=False)
        self.folder = Path(folder)
        meta = read_meta(self.folder)
        if not meta.get("complete"):
            raise ValueError(f"{folder}: the conversion is incomplete ({len(meta.get('missing_chunks', []))} chunks "
                             f"missing); run 'mmgraph convert' again first")
        if cache_shards < 1:
            raise ValueError(f"'cache_shards' must be >= 1 (got {cache_shards})")
        self.split, self.verify, self.cache_shards = split, verify, cache_shards
        self.config = GraphConfig.from_record(meta["graph_config"])
        self.tasks = {k: Task(**v) for k, v in meta["tasks"].items()}
        self._shards = [e for e in meta["shards"] if e["splits"].get(split, 0)]
        if not self._shards:
            raise ValueError(f"{folder} has no sample in split {split!r} (splits: {sorted(meta.get('splits', {}))})")
        self._starts = [0]
        for entry in self._shards:
            self._starts.append(self._starts[-1] + entry["splits"][split])
        self._cache: OrderedDict[int, GraphColumns] = OrderedDict()

    def len(self) -> int:
        return self._starts[-1]

    def _columns(self, k: int) -> GraphColumns:
        """The samples of ``split`` in the ``k``-th shard holding any (least recently used evicted)."""
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        from mmgraph.convert.layout import read_shard

        entry = self._shards[k]
        shard = read_shard(self.folder / entry["file"], entry["sha256"] if self.verify else None)
        self._cache[k] = shard.by_split()[self.split]
        if len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return self._cache[k]

    def get(self, idx: int) -> HeteroData:
        k = bisect.bisect_right(self._starts, idx) - 1
        return build_graph(self._columns(k).sample(idx - self._starts[k]), self.config)

    def __getstate__(self) -> dict[str, Any]:
        # DataLoader workers start with an empty cache rather than a copy of the parent's shards
        return {**self.__dict__, "_cache": OrderedDict()}

    def __repr__(self) -> str:
        return f"PyGOnDiskDataset({str(self.folder)!r}, split={self.split!r}, {len(self)} graphs)"


__all__ = ["PyGDataset", "PyGOnDiskDataset"]
