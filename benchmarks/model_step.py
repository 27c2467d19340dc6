"""Model step cost: forward + backward time and peak memory of one training step, per model.

One B=64 AV-MNIST-shaped batch: a 28×28 image in 4×4 patches (49 nodes), 28–36 text tokens, 1 s of
8 kHz audio (101 log-mel frames); ``full`` cross-modal edges, ``window:2`` edges within text and
audio, ``grid`` within the image; d=64, 2 layers, 4 heads, feed-forward 2·d, no dropout. Models:
the default graph model (``mmgnn``), the early-fusion ``transformer`` (one TransformerEncoder of
the same width/layers/heads over all nodes concatenated, same encoders and head), the graph model
with PyG's ``HGTConv`` and ``HeteroConv(GATv2Conv)`` layers (edge lists, complete blocks
materialised), and every other registered model (the fusion baselines).

Time: each repeat runs one step of every model back to back (paired); medians reported, with the
per-repeat ratio to the transformer. Memory: each model runs in a fresh process; after a warm-up
step the kernel's RSS high-water mark is reset (``/proc/self/clear_refs``) and the peak growth of
RSS over three more steps is reported (Linux only).

    python benchmarks/model_step.py [--repeats 15] [--out benchmarks/results/model_step.json] [--compile]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from render_results import render  # benchmarks/render_results.py (the script folder is on sys.path)

import mmgraph
from mmgraph import GraphConfig, MultimodalSample, Tokenizer, collate
from mmgraph.graph import Featurizer
from mmgraph.models import MODELS, DataSpec, ModelConfig, build_model
from mmgraph.task import Task

B = 64
WORDS = [f"w{i}" for i in range(500)]
REFERENCE = "transformer"


def make_batch(graphs: int = B):
    rng = np.random.default_rng(0)
    samples = [
        MultimodalSample(
            image=(rng.random((28, 28)) * 255).astype(np.uint8),
            text=" ".join(rng.choice(WORDS, size=int(rng.integers(28, 37)))),
            audio=(rng.standard_normal(8000) * 0.1).astype(np.float32),
            sample_rate=8000,
            y=int(rng.integers(10)),
        )
        for _ in range(graphs)
    ]
    config = GraphConfig(text={"tokenizer": Tokenizer.fit(WORDS)}, edges={"audio": "window:2", "text": "window:2"})
    feats = Featurizer(config).batch(samples)
    spec = DataSpec.from_graph_config(config, {"digit": Task("digit", "classification", "y", num_classes=10)})
    return collate(feats, config, full_edges="dense"), spec


def model_configs() -> dict[str, ModelConfig]:
    base = ModelConfig(hidden=64, layers=2, heads=4, ff_mult=2, dropout=0.0, modality_dropout=0.0)
    configs = {"mmgnn (default graph model)": base, REFERENCE: base.replace(name="transformer"),
               "mmgnn + HGTConv (PyG)": base.replace(conv="hgt"),
               "mmgnn + HeteroConv(GATv2Conv) (PyG)": base.replace(conv="gatv2")}
    for name in MODELS.list():
        if name in ("mmgnn", "transformer"):
            continue
        cfg = base.replace(name=name, modalities=["image"]) if name == "unimodal" else base.replace(name=name)
        configs[name] = cfg
    return configs


def step(model, batch) -> None:
    out = model(batch)
    loss, _ = model.loss(out, batch)
    loss.backward()


def build(config: ModelConfig, spec):
    torch.manual_seed(0)
    model = build_model(config, spec)
    model.train()
    return model


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _memory_child(name: str, config: dict, graphs: int, queue) -> None:  # runs in a fresh process
    batch, spec = make_batch(graphs)
    model = build(ModelConfig.from_dict(config), spec)
    step(model, batch)  # first step: lazy allocations (optimiser-free, but autograd buffers, kernels)
    model.zero_grad(set_to_none=True)
    # reset the kernel's high-water mark (VmHWM) to the current RSS, so the peak is the step's own
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kb("VmRSS")
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        step(model, batch)
    queue.put((name, (_status_kb("VmHWM") - before) / 1024.0))


def peak_memory(configs: dict[str, ModelConfig], graphs: int = B) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out = {}
    for name, config in configs.items():
        queue = ctx.Queue()
        proc = ctx.Process(target=_memory_child, args=(name, config.to_dict(), graphs, queue))
        proc.start()
        proc.join()
        if proc.exitcode == 0:
            _, mb = queue.get()
            out[name] = mb
    return out


def compile_check(spec, batch) -> dict:
    """Compile the default model's tensor core with torch.compile and count graph breaks."""
    import torch._dynamo as dynamo

    model = build(ModelConfig(hidden=64, layers=2, heads=4, ff_mult=2, modality_dropout=0.0), spec)
    inputs = model.prepare_inputs(batch)
    explanation = dynamo.explain(model.core)(*inputs)
    compiled = torch.compile(model.core, fullgraph=True)
    t0 = time.perf_counter()
    out = compiled(*inputs)
    compile_s = time.perf_counter() - t0
    eager = model.core(*inputs)
    same = all(torch.allclose(a, b, atol=1e-4) for a, b in zip(out[0].values(), eager[0].values()))
    return {"graph_breaks": explanation.graph_break_count, "graphs": explanation.graph_count,
            "compile_seconds": round(compile_s, 1), "matches_eager": bool(same)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default="benchmarks/results/model_step.json")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also check torch.compile on the default model")
    parser.add_argument("--graphs", type=int, default=B, help=f"graphs in the batch (default {B})")
    args = parser.parse_args()
    batch, spec = make_batch(args.graphs)
    configs = model_configs()
    models = {name: build(cfg, spec) for name, cfg in configs.items()}
    for model in models.values():  # warm-up
        step(model, batch)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            model.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            step(model, batch)
            times[name].append(time.perf_counter() - t0)
    memory = {} if args.no_memory else peak_memory(configs, args.graphs)
    ref = times[REFERENCE]
    rows = []
    for name, ts in times.items():
        ratio = [t / r for t, r in zip(ts, ref)]
        rows.append({
            "model": name,
            "parameters": sum(p.numel() for p in models[name].parameters()),
            "median_ms": round(statistics.median(ts) * 1e3, 1),
            "ratio_to_transformer_median_of_paired": round(statistics.median(ratio), 2),
            "peak_rss_growth_mb": None if name not in memory else round(memory[name], 1),
        })
    mem_ref = memory.get(REFERENCE)
    for r in rows:
        if mem_ref and r["peak_rss_growth_mb"] is not None:
            r["memory_ratio_to_transformer"] = round(r["peak_rss_growth_mb"] / mem_ref, 2)
    result = {
        "benchmark": "model_step",
        "batch": {"graphs": args.graphs, "nodes_per_graph": {t: batch[t].num_nodes / args.graphs
                                                             for t in batch.node_types},
                  "width": 64, "layers": 2, "heads": 4, "ff": 128},
        "repeats": args.repeats,
        "rows": rows,
        "targets": "default graph model <= 1.5x the transformer's time and <= 2x its peak memory",
        "machine": {"python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(), "processor": platform.processor() or platform.machine()},
        "mmgraph": mmgraph.__version__,
        "command": f"python benchmarks/model_step.py --repeats {args.repeats}"
        + (f" --graphs {args.graphs}" if args.graphs != B else "") + (" --compile" if args.compile else ""),
    }
    if args.compile:
        result["compile"] = compile_check(spec, batch)
    for r in rows:
        print(f"{r['model']:<40} {r['parameters']:>9,} params {r['median_ms']:>8.1f} ms  "
              f"x{r['ratio_to_transformer_median_of_paired']:<5} mem {r['peak_rss_growth_mb']} MB "
              f"(x{r.get('memory_ratio_to_transformer')})")
    if "compile" in result:
        print("torch.compile:", result["compile"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    render(args.out)  # .md and .png beside the JSON


if __name__ == "__main__":
    main()
