"""Training from a stream vs in memory: peak RSS and samples/s of one epoch on 10k to 1M converted records.

Data (synthetic, written straight in the converted format): tiny text graphs, 2 to 5 word nodes
each (a 16-word vocabulary) with a label of 10 classes, made by featurizing 512 random texts once
and tiling their graphs to N records with distinct ids; shards of ``--chunk-size`` records written
with ``mmgraph.convert.layout`` (``write_shard`` + ``finalize``), so the folder is what ``mmgraph
convert`` writes (``meta.json``, checksums) without featurizing a million texts.

Each (N, mode) runs in a fresh Python process, one epoch of ``Trainer.fit`` (a 1-layer graph
model of width 16, batch 256, one thread):

- ``in-memory``: ``load_converted`` (every shard into one ``GraphDataset``), then the epoch;
- ``stream``: ``StreamingGraphDataset`` (shuffle buffer ``--buffer-size``), then the epoch.

Reported: peak RSS of the process (``getrusage`` high-water mark) and its RSS after the imports
(the baseline: torch + mmgraph), seconds to load (in-memory), the epoch's seconds and samples/s,
and the samples/s of one pass of the shuffled batches alone, without the model (what the stream
itself costs, apart from the model's time, which the load of a shared machine makes noisy).
``--repeats`` runs per (size, mode) alternate the order of the modes; medians are the headline.
The machine is shared: each row has the load average (1 min) before and after, and the threads.

    nice -n 5 python benchmarks/stream_memory.py [--sizes 10000 100000 1000000] [--buffer-size 16384]
        [--chunk-size 4096] [--repeats 1] [--out benchmarks/results/stream_memory.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
         "nu", "xi", "omicron", "pi"]
BATCH = 256


def write_synthetic(out: Path, records: int, chunk_size: int, seed: int = 0) -> None:
    """A converted folder of ``records`` tiny text graphs (train split), in the format ``mmgraph convert`` writes."""
    import numpy as np
    import torch

    import mmgraph
    from mmgraph import GraphConfig, MultimodalSample, Tokenizer
    from mmgraph.convert.layout import Shard, finalize, make_plan, open_out, write_shard
    from mmgraph.datasets.manifest import TaskStats
    from mmgraph.graph.columns import GraphColumns
    from mmgraph.graph.featurizer import Featurizer
    from mmgraph.task import Task

    rng = np.random.default_rng(seed)
    config = GraphConfig(modalities=("text",), text={"tokenizer": Tokenizer.fit([" ".join(WORDS)])})
    base_samples = [MultimodalSample(text=" ".join(rng.choice(WORDS, size=int(rng.integers(2, 6)))),
                                     y=int(rng.integers(0, 10))) for _ in range(512)]
    base = GraphColumns.from_featurized(Featurizer(config).batch(base_samples), config)
    plan, plan_hash = make_plan(
        name="synthetic-text", source={"kind": "synthetic", "records": records, "seed": seed}, num_records=records,
        config=config, dataset_tasks={"label": Task("label", "classification", num_classes=10).to_dict()},
        chunk_size=chunk_size, mmgraph_version=mmgraph.__version__)
    open_out(out, plan, plan_hash)
    for chunk in range(plan["num_chunks"]):
        start, end = chunk * chunk_size, min(records, (chunk + 1) * chunk_size)
        columns = base.take(torch.from_numpy(rng.integers(0, len(base), end - start)))
        columns.ids = [f"syn-{i:07d}" for i in range(start, end)]
        shard = Shard(chunk, columns, ["train"] * (end - start), torch.arange(start, end))
        write_shard(out, shard, plan_hash=plan_hash, records=(start, end), rejected=[],
                    stats=TaskStats(label_kind="int", max_label=9))
    finalize(out, plan, plan_hash)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    from mmgraph.datasets.on_disk import load_converted
    from mmgraph.datasets.streaming import StreamingGraphDataset
    from mmgraph.models import DataSpec, ModelConfig, build_model
    from mmgraph.train import TrainConfig, Trainer, seed_everything

    folder = Path(args.folder)
    result: dict[str, Any] = {"mode": args.child, "records": args.records, "torch_threads": torch.get_num_threads(),
                              "load_before": round(os.getloadavg()[0], 2), "baseline_rss_mb": round(rss_mb(), 1)}
    start = time.perf_counter()
    if args.child == "in-memory":
        dataset = load_converted(folder)
        train, config, tasks = dataset.splits["train"], dataset.graph_config, dataset.tasks
    else:
        train = StreamingGraphDataset(folder, batch_size=BATCH, buffer_size=args.buffer_size)
        from mmgraph.task import Task

        config, tasks = train.config, {k: Task(**v) for k, v in train.meta["tasks"].items()}
    result["load_seconds"] = round(time.perf_counter() - start, 2)
    result["rss_after_load_mb"] = round(rss_mb(), 1)
    # the data pipeline alone (shuffled batches, no model): what streaming adds, without the model's time
    loader = train.loader() if args.child == "stream" else train.loader(BATCH, shuffle=True, seed=0)
    start = time.perf_counter()
    seen = sum(int(batch.num_graphs) for batch in loader)
    elapsed = time.perf_counter() - start
    result["loader_seconds"] = round(elapsed, 2)
    result["loader_samples_per_s"] = round(seen / max(elapsed, 1e-9), 1)  # from the unrounded time: tiny runs are fast
    seed_everything(0)
    model = build_model(ModelConfig(hidden=16, layers=1), DataSpec.from_graph_config(config, tasks))
    fit = Trainer(model, TrainConfig(epochs=1, batch_size=BATCH, progress=False, device="cpu")).fit(train)
    epoch = fit.history[0]
    result.update({
        "epoch_seconds": round(epoch["epoch_seconds"], 2),
        "samples_per_s": round(args.records / epoch["epoch_seconds"], 1),
        "train_loss": round(epoch["train_loss"], 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "load_after": round(os.getloadavg()[0], 2),
    })
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--buffer-size", type=int, default=16_384)
    parser.add_argument("--chunk-size", type=int, default=4096)
    parser.add_argument("--modes", nargs="+", default=["in-memory", "stream"])
    parser.add_argument("--repeats", type=int, default=1, help="runs per (size, mode), alternating the order")
    parser.add_argument("--out", default="benchmarks/results/stream_memory.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--records", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import torch

    import mmgraph

    rows = []
    with tempfile.TemporaryDirectory(prefix="stream-memory-") as tmp:
        for records in args.sizes:
            folder = Path(tmp) / f"synthetic-{records}"
            t0 = time.perf_counter()
            write_synthetic(folder, records, args.chunk_size)
            written = time.perf_counter() - t0
            shard_mb = sum(p.stat().st_size for p in (folder / "shards").glob("*.pt")) / 2**20
            print(f"{records:,} records written in {written:.1f} s ({shard_mb:.0f} MB of shards)")
            for repeat in range(args.repeats):
                # alternate which mode goes first: the shared machine's load drifts
                for mode in args.modes if repeat % 2 == 0 else args.modes[::-1]:
                    command = [sys.executable, str(HERE), "--child", mode, "--folder", str(folder), "--records",
                               str(records), "--buffer-size", str(args.buffer_size)]
                    proc = subprocess.run(command, capture_output=True, text=True, check=False)
                    if proc.returncode != 0:
                        raise SystemExit(f"{mode} on {records} records failed:\n{proc.stderr[-4000:]}")
                    row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "repeat": repeat,
                           "shard_mb": round(shard_mb, 1)}
                    rows.append(row)
                    print(f"  {mode:9s}: peak RSS {row['peak_rss_mb']:,.0f} MB (baseline "
                          f"{row['baseline_rss_mb']:,.0f}), epoch {row['epoch_seconds']:.1f} s = "
                          f"{row['samples_per_s']:,.0f} samples/s, loader alone {row['loader_samples_per_s']:,.0f} "
                          f"samples/s; load {row['load_before']} → {row['load_after']}")
            shutil.rmtree(folder)
    report: dict[str, Any] = {
        "benchmark": "stream_memory",
        "command": " ".join(["nice -n 5 python benchmarks/stream_memory.py", *sys.argv[1:]]),
        "data": "synthetic tiny text graphs (2-5 nodes, 10 classes) written in the converted format",
        "batch_size": BATCH, "buffer_size": args.buffer_size, "chunk_size": args.chunk_size,
        "model": "mmgnn, hidden 16, 1 layer, CPU, 1 thread",
        "rows": rows,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "mmgraph": mmgraph.__version__,
                    "cpus": os.cpu_count(), "threads": 1, "processor": platform.processor() or platform.machine(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    medians = {}
    for n in args.sizes:
        for mode in args.modes:
            sel = [r for r in rows if r["records"] == n and r["mode"] == mode]
            medians[f"{n} {mode}"] = {key: statistics.median(r[key] for r in sel)
                                      for key in ("peak_rss_mb", "samples_per_s", "loader_samples_per_s")}
    report["medians"] = medians
    if "stream" in args.modes and len(args.sizes) > 1:
        first, last = medians[f"{args.sizes[0]} stream"], medians[f"{args.sizes[-1]} stream"]
        report["stream_peak_rss_growth"] = round(last["peak_rss_mb"] / first["peak_rss_mb"] - 1, 4)
    if set(args.modes) >= {"stream", "in-memory"}:
        for key, name in (("samples_per_s", "stream_over_in_memory_throughput"),
                          ("loader_samples_per_s", "stream_over_in_memory_loader_throughput")):
            report[name] = {str(n): round(medians[f"{n} stream"][key] / medians[f"{n} in-memory"][key], 3)
                            for n in args.sizes}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    from render_results import render

    render(out)
    print(f"wrote {out} (+ .md, .png)")


if __name__ == "__main__":
    main()
