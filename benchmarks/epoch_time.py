"""Training epoch time on AV-MNIST, paired: the graph model against the early-fusion CNN (and others).

Benchmark suites record each run's seconds per epoch, but runs of different models happen at
different times on a shared machine. This script interleaves the models instead: each round runs
``--steps`` training steps (data batching included) of every model back to back on the same
real AV-MNIST batches, and the median step time × steps per epoch estimates each model's epoch.

    python benchmarks/epoch_time.py [--rounds 5] [--steps 20] [--batch-size 128] [--root DATA]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch

import mmgraph
from mmgraph.bench.suite import load_suite
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.collate import full_edges_for
from mmgraph.models import DataSpec, build_model
from mmgraph.train import seed_everything

REFERENCE = "early fusion (CNN)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="avmnist", help="suite whose dataset, graph config and models to use")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--samples", type=int, default=6000, help="training samples featurized for the batches")
    parser.add_argument("--root", default=None)
    parser.add_argument("--out", default="benchmarks/results/epoch_time.json")
    args = parser.parse_args()

    suite = load_suite(args.suite)
    dataset = load_dataset(suite.dataset, root=args.root or suite.root, seed=suite.data_seed)
    config = dataset.fit_graph_config(dataset.graph_config.replace(**suite.graph) if suite.graph else None)
    train = GraphDataset.from_samples(dataset.splits["train"][: args.samples], config,
                                      node_targets=dataset.node_targets)
    spec = DataSpec.from_graph_config(config, dataset.tasks)
    epoch_steps = math.ceil(len(dataset.splits["train"]) / args.batch_size)
    models, optimizers = {}, {}
    for entry in suite.models:
        cfg = suite.model_config(entry)
        seed_everything(0)
        models[entry.label] = build_model(cfg, spec).train()
        optimizers[entry.label] = torch.optim.AdamW(models[entry.label].parameters(), lr=1e-3)
    if REFERENCE not in models:
        raise SystemExit(f"suite {suite.name!r} has no model labelled {REFERENCE!r}")

    def run(label: str, round_index: int) -> float:
        model, opt = models[label], optimizers[label]
        loader = train.loader(args.batch_size, shuffle=True, seed=round_index, full_edges=full_edges_for(model))
        batches = iter(loader)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            batch = next(batches)  # batching is part of an epoch's cost
            out = model(batch)
            loss, _ = model.loss(out, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / args.steps

    for label in models:  # warm-up
        run(label, 0)
    step_times: dict[str, list[float]] = {k: [] for k in models}
    for r in range(args.rounds):
        for label in models:
            step_times[label].append(run(label, r + 1))
    ref = step_times[REFERENCE]
    rows = []
    for label, ts in step_times.items():
        rows.append({
            "model": label,
            "parameters": sum(p.numel() for p in models[label].parameters()),
            "median_step_ms": round(statistics.median(ts) * 1e3, 1),
            "estimated_epoch_s": round(statistics.median(ts) * epoch_steps, 1),
            "ratio_to_early_fusion_cnn": round(statistics.median([t / x for t, x in zip(ts, ref)]), 2),
        })
    result = {
        "benchmark": "epoch_time",
        "suite": suite.name,
        "dataset": dataset.name,
        "graph_config": {k: v for k, v in config.to_dict().items() if k != "tokenizer"},
        "batch_size": args.batch_size,
        "steps_per_epoch": epoch_steps,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "rows": rows,
        "target": "graph model epoch <= 2x the early-fusion CNN's",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()},
        "mmgraph": mmgraph.__version__,
        "command": f"python benchmarks/epoch_time.py --suite {args.suite} --rounds {args.rounds} "
                   f"--steps {args.steps} --batch-size {args.batch_size}",
    }
    for row in rows:
        print(f"{row['model']:<36} {row['parameters']:>9,} params  {row['median_step_ms']:>8.1f} ms/step  "
              f"~{row['estimated_epoch_s']:>7.1f} s/epoch  x{row['ratio_to_early_fusion_cnn']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
