"""Does ``torch.compile`` or bf16 autocast speed up training the graph model on this CPU? Measured, paired.

The AV-MNIST suite's graph model on real batches of 128 (the suite's cache, as ``train_throughput.py``),
a full training step (forward, loss, backward, AdamW) in four variants, interleaved round by round:

- ``eager``: as ``Trainer`` runs it today (float32);
- ``compiled``: ``model.core`` (the part after the data-dependent preparation) through
  ``torch.compile(dynamic=True)``: batches differ in node counts, so static shapes would recompile;
- ``bf16 autocast``: forward and loss under ``torch.autocast("cpu", dtype=torch.bfloat16)``;
- ``compiled + bf16 autocast``.

Times are process CPU time per step (waiting for a core on a shared machine is not counted), median over
rounds; the compile time (first steps through the compiled core, forward and backward) is reported
apart, with the number of graph breaks and recompilations from ``torch._dynamo``'s counters.

    python benchmarks/compile_autocast.py [--threads 1] [--rounds 5] [--batches 6] [--work DIR] [--root DATA]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

import mmgraph
from mmgraph.bench.runner import prepare_data
from mmgraph.bench.suite import load_suite
from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.collate import full_edges_for
from mmgraph.models import DataSpec, build_model
from mmgraph.task import Task
from mmgraph.train import seed_everything

VARIANTS = {"eager": (False, False), "compiled": (True, False), "bf16 autocast": (False, True),
            "compiled + bf16 autocast": (True, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="avmnist")
    parser.add_argument("--root", default=None, help="data root (default: the suite's, or $MMGRAPH_DATA)")
    parser.add_argument("--work", default="bench-out/train_throughput", help="featurized data cache")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=6, help="training steps per variant per round")
    parser.add_argument("--out", default="benchmarks/results/compile_autocast.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    suite = load_suite(args.suite)
    entry = next(e for e in suite.models if e.label == "graph model")
    cfg = suite.train_config(entry, 0)
    # only the batches timed here are featurized (the suite runner's cache, a budget of its own)
    data_suite = dataclasses.replace(suite, root=args.root or suite.root, robustness={},
                                     max_train=args.batches * cfg.batch_size, max_eval=cfg.batch_size)
    manifest = prepare_data(data_suite, Path(args.work), progress=False)
    train = GraphDataset.load(manifest["files"]["train"])
    spec = DataSpec.from_graph_config(train.config, {k: Task(**v) for k, v in manifest["tasks"].items()})
    seed_everything(0)
    model = build_model(suite.model_config(entry), spec).train()
    batches = [train.collate_indices(range(i * cfg.batch_size, (i + 1) * cfg.batch_size),
                                     full_edges=full_edges_for(model))
               for i in range(args.batches)]
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    eager_core = model.core
    compiled_core = torch.compile(eager_core, dynamic=True)

    def step(batch, compiled: bool, bf16: bool) -> float:
        model.core = compiled_core if compiled else eager_core
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            output = model(batch)
            loss, _ = model.loss(output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    load = [os.getloadavg()[0]]
    step(batches[0], False, False)
    step(batches[0], False, True)
    compile_s = {}
    for name, (compiled, bf16) in VARIANTS.items():
        if compiled:  # the first two steps compile (dynamic shapes from the second on)
            t0 = time.perf_counter()
            step(batches[0], compiled, bf16)
            step(batches[1], compiled, bf16)
            compile_s[name] = round(time.perf_counter() - t0, 1)
    from torch._dynamo.utils import counters

    graph_breaks = sum(counters["graph_break"].values())
    frames = dict(counters["stats"])
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (compiled, bf16) in VARIANTS.items():
            c0 = time.process_time()
            for batch in batches:
                step(batch, compiled, bf16)
            times[name].append((time.process_time() - c0) / len(batches))
        load.append(os.getloadavg()[0])
    model.core = eager_core
    eager = times["eager"]
    rows = [{"variant": name,
             "median_ms_per_step_cpu": round(1e3 * statistics.median(t), 1),
             "speedup_vs_eager_median_of_paired": round(statistics.median([e / x for e, x in zip(eager, t)]), 3),
             "compile_s": compile_s.get(name)}
            for name, t in times.items()]
    result = {
        "benchmark": "compile_autocast",
        "suite": suite.name,
        "batch_size": cfg.batch_size,
        "batches_per_round": args.batches,
        "rounds": args.rounds,
        "rows": rows,
        "graph_breaks": graph_breaks,
        "dynamo_frames": frames,
        "load_average_1min": {"min": round(min(load), 2), "max": round(max(load), 2)},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                    "processor": platform.processor() or platform.machine()},
        "mmgraph": mmgraph.__version__,
        "command": f"python benchmarks/compile_autocast.py --threads {args.threads} --rounds {args.rounds} "
                   f"--batches {args.batches}",
    }
    for r in rows:
        print(f"{r['variant']:<26} {r['median_ms_per_step_cpu']:>8.1f} ms/step CPU  "
              f"x{r['speedup_vs_eager_median_of_paired']}  compile {r['compile_s']}")
    print("graph breaks", graph_breaks, "frames", frames, "load", result["load_average_1min"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# compile_autocast: torch.compile and bf16 autocast for a training step of the graph model", "",
        f"The {suite.name} suite's graph model, real batches of {cfg.batch_size}, a full training step (forward, "
        f"loss, backward, AdamW); {args.rounds} rounds × {args.batches} steps per variant, interleaved; process "
        f"CPU time per step, median; speed-up = median of paired per-round ratios. Load average "
        f"{result['load_average_1min']['min']}–{result['load_average_1min']['max']}.", "",
        "| variant | ms / step (CPU) | × eager speed | compile s |", "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['median_ms_per_step_cpu']:.1f} | "
                     f"{r['speedup_vs_eager_median_of_paired']:.2f} | {r['compile_s'] if r['compile_s'] else '–'} |")
    lines += ["", f"Graph breaks: {graph_breaks}. Dynamo frames: {frames}.", "",
              f"Machine: Python {platform.python_version()}, torch {torch.__version__}, {args.threads} thread(s), "
              f"{result['machine']['processor']}.", "", f"Command: `{result['command']}`", ""]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
