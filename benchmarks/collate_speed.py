"""Batching speed: vectorised ``collate`` vs per-sample ``build_graph`` + ``Batch.from_data_list``.

B=64 AV-MNIST-shaped samples: a 28×28 image in 4×4 patches (49 nodes), ~32 text tokens, 1 s of
8 kHz audio (101 log-mel frames), ``full`` cross-modal edges, grid/window edges within modalities.
Each repeat times every method once, back to back (paired), and the medians are reported. The
``collate`` rows are also timed with the caller at 1 and at 2 intra-op threads (``collate`` itself runs on
one: the ratio shows that a training process with more threads does not make batching slower).

    python benchmarks/collate_speed.py [--repeats 9] [--threads 2] [--out benchmarks/results/collate_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from render_results import render  # benchmarks/render_results.py (the script folder is on sys.path)
from torch_geometric.data import Batch

import mmgraph
from mmgraph import GraphConfig, MultimodalSample, Tokenizer, build_graph, collate
from mmgraph.datasets import GraphDataset
from mmgraph.graph import Featurizer

B = 64
WORDS = [f"w{i}" for i in range(500)]


def make_samples(rng: np.random.Generator) -> list[MultimodalSample]:
    return [
        MultimodalSample(
            image=(rng.random((28, 28)) * 255).astype(np.uint8),
            text=" ".join(rng.choice(WORDS, size=int(rng.integers(28, 37)))),
            audio=(rng.standard_normal(8000) * 0.1).astype(np.float32),
            sample_rate=8000,
            y=int(rng.integers(10)),
            id=f"s{i}",
        )
        for i in range(B)
    ]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="the caller's intra-op threads")
    parser.add_argument("--out", default="benchmarks/results/collate_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    samples = make_samples(rng)
    config = GraphConfig(modalities=("audio", "image", "text"), text={"tokenizer": Tokenizer.fit(WORDS)})
    feats = Featurizer(config).batch(samples)
    store = GraphDataset.from_featurized(feats, config)
    index = list(range(B))

    methods = {
        "collate(featurized, full_edges='dense')": lambda: collate(feats, config, full_edges="dense"),
        "collate(featurized, full_edges='list')": lambda: collate(feats, config, full_edges="list"),
        "GraphDataset.collate_indices (dense)": lambda: store.collate_indices(index, full_edges="dense"),
        "per-sample build_graph(featurized) + Batch.from_data_list": lambda: Batch.from_data_list(
            [build_graph(f, config) for f in feats]
        ),
        "collate(raw samples, full_edges='dense')": lambda: collate(samples, config, full_edges="dense"),
        "per-sample build_graph(raw) + Batch.from_data_list": lambda: Batch.from_data_list(
            [build_graph(s, config) for s in samples]
        ),
    }
    caller_threads = {  # the same calls made by a caller at 1 and at 2 intra-op threads
        f"collate(featurized, full_edges='{mode}') caller at {n} thread{'s' if n > 1 else ''}": (mode, n)
        for mode in ("list", "dense")
        for n in (1, 2)
    }

    def at_threads(mode: str, n: int):
        def run():
            threads = torch.get_num_threads()
            torch.set_num_threads(n)
            try:
                return timed(lambda: collate(feats, config, full_edges=mode))
            finally:
                torch.set_num_threads(threads)

        return run

    for fn in methods.values():  # warm-up: fill the edge-template cache, JIT nothing else
        fn()
    times: dict[str, list[float]] = {k: [] for k in [*methods, *caller_threads]}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            times[name].append(timed(fn))
        for name, (mode, n) in caller_threads.items():
            times[name].append(at_threads(mode, n)())
    median = {k: statistics.median(v) for k, v in times.items()}
    per_sample_feat = "per-sample build_graph(featurized) + Batch.from_data_list"
    per_sample_raw = "per-sample build_graph(raw) + Batch.from_data_list"
    rows = []
    for name, t in median.items():
        base = per_sample_raw if "raw" in name else per_sample_feat
        rows.append({
            "method": name,
            "median_ms_per_batch": round(t * 1e3, 3),
            "samples_per_s": round(B / t, 1),
            "speedup_vs_per_sample": round(median[base] / t, 2),
        })
    # the paired ratio per repeat, then its median (robust to machine noise)
    paired = [p / c for p, c in zip(times[per_sample_feat], times["collate(featurized, full_edges='dense')"])]
    paired_list = [p / c for p, c in zip(times[per_sample_feat], times["collate(featurized, full_edges='list')"])]
    two_over_one = {
        mode: round(statistics.median(
            [b / a for a, b in zip(times[f"collate(featurized, full_edges='{mode}') caller at 1 thread"],
                                   times[f"collate(featurized, full_edges='{mode}') caller at 2 threads"])]), 2)
        for mode in ("list", "dense")
    }
    batch = collate(feats, config, full_edges="list")
    result = {
        "benchmark": "collate_speed",
        "batch_size": B,
        "nodes_per_sample": {nt: batch[nt].num_nodes / B for nt in batch.node_types},
        "edges_per_batch": {"__".join(et): batch[et].edge_index.shape[1] for et in batch.edge_types},
        "repeats": args.repeats,
        "rows": rows,
        "headline": {
            "speedup_collate_dense_vs_per_sample_median_of_paired": round(statistics.median(paired), 1),
            "speedup_collate_list_vs_per_sample_median_of_paired": round(statistics.median(paired_list), 1),
            "target": ">= 50x (floor 20x)",
            "collate_time_caller_2_threads_over_1_thread_median_of_paired": two_over_one,
            "target_threads": "2 threads within 1.5x of 1 thread",
        },
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine(),
                    # glibc: above this size malloc maps fresh pages (page faults on every batch's edge lists)
                    "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_")},
        "mmgraph": mmgraph.__version__,
        "command": ("MALLOC_MMAP_THRESHOLD_=" + os.environ["MALLOC_MMAP_THRESHOLD_"] + " "
                    if "MALLOC_MMAP_THRESHOLD_" in os.environ else "")
        + f"python benchmarks/collate_speed.py --repeats {args.repeats} --threads {args.threads} --out {args.out}",
    }
    for r in rows:
        print(f"{r['method']:<60} {r['median_ms_per_batch']:>9.2f} ms  {r['samples_per_s']:>10.0f} samples/s  "
              f"x{r['speedup_vs_per_sample']}")
    print("headline:", result["headline"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    render(args.out)  # .md and .png beside the JSON


if __name__ == "__main__":
    main()
