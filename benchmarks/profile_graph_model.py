"""Where a training step of the graph model spends its time: ``torch.profiler`` per op and per module.

The AV-MNIST suite's graph model (its ``[graph]`` config and model entry: modality dropout, auxiliary
unimodal losses) on real AV-MNIST batches of ``--batch-size`` (128, the suite's), one step as the
``Trainer`` runs it: batching (``GraphDataset.collate_indices``), forward, loss, backward, gradient
clipping, AdamW. After warm-up steps, ``--steps`` steps run under the profiler and are averaged.

- per op: the top operators by self CPU time (forward and backward ops together);
- per part: every module down to ``--depth`` levels (``encoders.audio``, ``layers.0``, ...) and the
  methods of ``CrossModalAttention`` listed in ``--methods``, each op counted once, in the innermost
  part around it (``self``: time not inside a listed sub-part); backward time goes to the part
  whose forward op created the autograd node (matched by sequence number); batching, gradient
  clipping and the optimiser are parts of their own.

    python benchmarks/profile_graph_model.py [--threads 1] [--steps 5] [--root DATA]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch
from render_results import render  # benchmarks/render_results.py (the script folder is on sys.path)
from torch.profiler import ProfilerActivity, profile, record_function

import mmgraph
from mmgraph.bench.suite import load_suite
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.collate import full_edges_for
from mmgraph.models import DataSpec, build_model
from mmgraph.nn.conv.cross_modal_attention import CrossModalAttention
from mmgraph.train import seed_everything

PREFIX = "part::"
BACKWARD = "autograd::engine::evaluate_function: "


def label_modules(model: torch.nn.Module, depth: int) -> None:
    """Open a profiler range around the forward of every module down to ``depth`` levels."""
    open_ranges: dict[int, list] = defaultdict(list)

    def enter(name, module, args):
        rng = record_function(PREFIX + name)
        rng.__enter__()
        open_ranges[id(module)].append(rng)

    def leave(module, args, output):
        open_ranges[id(module)].pop().__exit__(None, None, None)

    for name, module in model.named_modules():
        if name and name.count(".") < depth:
            module.register_forward_pre_hook(functools.partial(enter, name))
            module.register_forward_hook(leave)


def label_methods(cls: type, names: list[str]) -> None:
    """Wrap ``cls``'s methods ``names`` (those it has) in profiler ranges named ``cls.method``."""
    for name in names:
        fn = getattr(cls, name, None)
        if fn is None:
            continue

        @functools.wraps(fn)
        def wrapped(*args, __fn=fn, __label=f"{PREFIX}{cls.__name__}.{name}", **kwargs):
            with record_function(__label):
                return __fn(*args, **kwargs)

        setattr(cls, name, wrapped)


def innermost_part(event) -> str | None:
    node = event
    while node is not None:
        if node.name.startswith(PREFIX):
            return node.name[len(PREFIX):]
        node = node.cpu_parent
    return None


def attribute(events) -> dict[str, dict[str, float]]:
    """Per part: forward self time (ops inside it, not inside a sub-part) and backward time (µs)."""
    part_of_seq: dict[int, str] = {}
    forward: dict[str, float] = defaultdict(float)
    backward: dict[str, float] = defaultdict(float)
    for e in events:
        if e.name.startswith(PREFIX) or e.name.startswith(BACKWARD):
            continue
        if any(a.name.startswith(BACKWARD) for a in _ancestors(e)):
            continue  # counted with its autograd node below
        part = innermost_part(e) or "(outside the listed parts)"
        forward[part] += e.self_cpu_time_total
        if e.sequence_nr >= 0:
            part_of_seq[e.sequence_nr] = part  # the last op of a number created the node (see docstring)
    for e in events:
        if e.name.startswith(BACKWARD) and e.cpu_parent is None:
            backward[part_of_seq.get(e.sequence_nr, "(backward, unmatched)")] += e.cpu_time_total
    parts = sorted(set(forward) | set(backward))
    return {p: {"forward_us": forward.get(p, 0.0), "backward_us": backward.get(p, 0.0)} for p in parts}


def _ancestors(e):
    node = e.cpu_parent
    while node is not None:
        yield node
        node = node.cpu_parent


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="avmnist")
    parser.add_argument("--root", default=None, help="data root (default: the suite's, or $MMGRAPH_DATA)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--depth", type=int, default=2, help="module levels to label (1: encoders, layers, ...)")
    parser.add_argument("--methods", default="_project,_blocks,_dense_keys,_attend_dense,_attend_mixed",
                        help="CrossModalAttention methods to label (those that exist)")
    parser.add_argument("--top-ops", type=int, default=25)
    parser.add_argument("--out", default="benchmarks/results/profile_graph_model.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    suite = load_suite(args.suite)
    entry = suite.models[0]
    dataset = load_dataset(suite.dataset, root=args.root or suite.root, seed=suite.data_seed)
    config = dataset.fit_graph_config(dataset.graph_config.replace(**suite.graph) if suite.graph else None)
    n = args.batch_size * (args.warmup + args.steps)
    train = GraphDataset.from_samples(dataset.splits["train"][:n], config, node_targets=dataset.node_targets)
    spec = DataSpec.from_graph_config(config, dataset.tasks)
    model_config = suite.model_config(entry)
    train_config = suite.train_config(entry, 0)
    seed_everything(0)
    model = build_model(model_config, spec).train()
    label_modules(model, args.depth)
    label_methods(CrossModalAttention, [m for m in args.methods.split(",") if m])
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay,
                                  foreach=True)  # as the Trainer builds it

    def step(i: int) -> None:
        with record_function(PREFIX + "batching (collate_indices)"):
            batch = train.collate_indices(range(i * args.batch_size, (i + 1) * args.batch_size),
                                          full_edges=full_edges_for(model))
        with record_function(PREFIX + "model: context, dropout masks, loss (outside submodules)"):
            output = model(batch)
            loss, _ = model.loss(output, batch)
        with record_function(PREFIX + "zero_grad"):
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        with record_function(PREFIX + "clip_grad_norm_"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.grad_clip or float("inf"))
        with record_function(PREFIX + "optimizer (AdamW)"):
            optimizer.step()

    for i in range(args.warmup):
        step(i)
    load_before = load_average()
    wall = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.warmup, args.warmup + args.steps):
            t0 = time.perf_counter()
            step(i)
            wall.append(time.perf_counter() - t0)
    load_after = load_average()

    events = prof.events()
    parts = attribute(events)
    total_us = sum(p["forward_us"] + p["backward_us"] for p in parts.values())
    part_rows = sorted(
        ({"part": name, "forward_ms": v["forward_us"] / 1e3 / args.steps,
          "backward_ms": v["backward_us"] / 1e3 / args.steps,
          "total_ms": (v["forward_us"] + v["backward_us"]) / 1e3 / args.steps,
          "share": (v["forward_us"] + v["backward_us"]) / total_us} for name, v in parts.items()),
        key=lambda r: -r["total_ms"],
    )
    averages = prof.key_averages()
    op_total = sum(a.self_cpu_time_total for a in averages)
    op_rows = [
        {"op": a.key, "calls_per_step": a.count / args.steps, "self_ms": a.self_cpu_time_total / 1e3 / args.steps,
         "share": a.self_cpu_time_total / op_total}
        for a in sorted(averages, key=lambda a: -a.self_cpu_time_total)
        if not a.key.startswith(PREFIX)
    ][: args.top_ops]
    result = {
        "benchmark": "profile_graph_model",
        "suite": suite.name,
        "model": entry.label,
        "model_config": model_config.to_dict(),
        "graph_config": {k: v for k, v in config.to_dict().items() if k != "tokenizer"},
        "batch_size": args.batch_size,
        "steps": args.steps,
        "nodes_per_graph": {t: train.columns[t].counts.float().mean().item() for t in train.columns},
        "max_nodes_per_graph": {t: int(train.columns[t].counts.max()) for t in train.columns},
        "median_step_ms_wall_under_profiler": statistics.median(wall) * 1e3,
        "profiled_ms_per_step": total_us / 1e3 / args.steps,
        "parts": part_rows,
        "ops": op_rows,
        "load_average": {"before": load_before, "after": load_after},
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count()},
        "mmgraph": mmgraph.__version__,
        "command": f"python benchmarks/profile_graph_model.py --threads {args.threads} --steps {args.steps}",
    }
    for r in part_rows:
        print(f"{r['part']:<48} fwd {r['forward_ms']:8.1f}  bwd {r['backward_ms']:8.1f}  "
              f"total {r['total_ms']:8.1f} ms  {100 * r['share']:5.1f}%")
    for r in op_rows:
        print(f"{r['op']:<60} {r['self_ms']:8.2f} ms  {100 * r['share']:5.1f}%  x{r['calls_per_step']:g}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    render(args.out)


if __name__ == "__main__":
    main()
