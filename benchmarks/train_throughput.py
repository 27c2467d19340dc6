"""Training and inference throughput on AV-MNIST, paired: the graph model against the baselines it must match.

Data: the ``avmnist`` suite's budget and graph config (20,000 training samples, 5,000 test samples),
featurized once into ``--work`` by the suite runner's cache (``prepare_data``; robustness sets skipped).
Models: the suite's entries for the graph model, the early-fusion transformer and the early-fusion
CNN (their configs and the suite's train settings: batch 128, lr, weight decay, gradient clipping),
and a plain ``nn.TransformerEncoder`` over the same nodes (``PlainTransformer``: a linear projection
of each modality's node features, the encoder with the graph model's width, layers, heads and
feed-forward width, masked mean pooling, the same head): the attention floor.

- training: one epoch of every model through ``Trainer.fit`` (loader, batching, forward, loss,
  backward, clipping, AdamW; ``TrainConfig`` as the suite sets it), cut into chunks of
  ``--chunk-steps`` batches run in turn (model A chunk 1, model B chunk 1, ..., model A chunk 2,
  ...), so every model sees the same machine load. samples/s = samples / the chunks' summed
  ``epoch_seconds``; ratios are medians over chunks of the paired per-chunk ratio, in wall time and
  in process CPU time (CPU time does not count time spent waiting for a core: the load-robust one).
- inference: ``Trainer.evaluate`` over the test split (eval batch size of ``TrainConfig``), in chunks, in turn.
- arithmetic: FLOPs of one training step of the graph model (``torch.utils.flop_counter``: matmuls,
  convolutions, attention; forward and backward), per sample × training samples/s, over the fp32
  and bf16 matmul peaks (2048² ``torch.mm``, medians) measured between the chunks of the same run.
- memory: peak RSS growth of a training step of each model in a fresh process (as ``model_step.py``).

``--train-samples`` / ``--test-samples`` use fewer samples than the suite's budget (a quick or smoke run).

    python benchmarks/train_throughput.py [--threads 1,2] [--chunk-steps 16] [--train-samples N] [--work DIR]
        [--root DATA]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from render_results import render  # benchmarks/render_results.py (the script folder is on sys.path)
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import mmgraph
from mmgraph.bench.runner import prepare_data
from mmgraph.bench.suite import load_suite
from mmgraph.datasets.base import GraphDataset
from mmgraph.graph.collate import full_edges_for
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.models.baselines.common import BaselineModel, key_padding_mask, masked_mean
from mmgraph.models.build import build_heads
from mmgraph.models.outputs import ModelOutput
from mmgraph.nn.context import BatchContext
from mmgraph.task import Task
from mmgraph.train import TrainConfig, Trainer, seed_everything

GRAPH, CNN, PLAIN = "graph model", "early fusion (CNN)", "plain TransformerEncoder"
SUITE_LABELS = ("graph model", "early-fusion transformer", "early fusion (CNN)")


class PlainTransformer(BaselineModel):
    """A linear projection of each modality's node features, one ``nn.TransformerEncoder`` over all nodes of a
    sample (padded, key padding mask), masked mean, the task heads: attention over the same nodes, nothing else.

    Shapes:
        - input: a batched ``HeteroData``
        - output: ``ModelOutput`` with ``graph_embedding`` ``(B, d)``
    """

    def __init__(self, in_features: dict[str, int], head, channels: int, layers: int, heads: int,
                 ff_channels: int) -> None:
        super().__init__(head, list(in_features))
        self.project = nn.ModuleDict({m: nn.Linear(in_features[m], channels) for m in self.modalities})
        layer = nn.TransformerEncoderLayer(channels, heads, ff_channels, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    @classmethod
    def from_config(cls, config: ModelConfig, spec: DataSpec) -> PlainTransformer:
        return cls({m: spec.in_features[m] for m in spec.modalities}, build_heads(config, spec), config.hidden,
                   config.layers, config.heads, config.ff_mult * config.hidden)

    def forward(self, batch) -> ModelOutput:
        ctx = BatchContext.from_batch(batch, self.modalities, [])
        blocks, masks = [], []
        for m in self.modalities:
            layout = ctx.layouts[m]
            if layout.max_nodes:
                blocks.append(layout.to_dense(self.project[m](batch[m].x.float())))  # (B, N_m, d)
                masks.append(layout.mask)
        mask = torch.cat(masks, dim=1)  # (B, S)
        h = self.transformer(torch.cat(blocks, dim=1), src_key_padding_mask=key_padding_mask(mask))
        graph = masked_mean(h, mask)
        return ModelOutput(self.head(graph, {}), graph)


def build_models(suite, spec: DataSpec) -> dict[str, tuple[nn.Module, TrainConfig]]:
    entries = {e.label: e for e in suite.models}
    models = {}
    for label in SUITE_LABELS:
        seed_everything(0)
        models[label] = (build_model(suite.model_config(entries[label]), spec), suite.train_config(entries[label], 0))
    graph_entry = entries[GRAPH]
    seed_everything(0)
    models[PLAIN] = (PlainTransformer.from_config(suite.model_config(graph_entry), spec),
                     suite.train_config(graph_entry, 0))
    return {k: models[k] for k in (GRAPH, "early-fusion transformer", PLAIN, CNN)}


def matmul_gflops(dtype: torch.dtype, n: int = 2048, repeats: int = 3) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / min(times) / 1e9


def step_flops(model: nn.Module, batch) -> int:
    """FLOPs of one training step (forward, loss, backward) on ``batch``."""
    model.train()
    with FlopCounterMode(display=False) as counter:
        output = model(batch)
        loss, _ = model.loss(output, batch)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _memory_child(label: str, train_file: str, suite_name: str, tasks: dict, threads: int, queue) -> None:
    torch.set_num_threads(threads)
    train = GraphDataset.load(train_file)
    spec = DataSpec.from_graph_config(train.config, {k: Task(**v) for k, v in tasks.items()})
    model, cfg = build_models(load_suite(suite_name), spec)[label]
    batch = train.collate_indices(range(cfg.batch_size), full_edges=full_edges_for(model))
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    model.train()

    def step() -> None:
        output = model(batch)
        loss, _ = model.loss(output, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # lazy allocations: optimiser state, autograd buffers
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark (VmHWM) to the current RSS
    before = _status_kb("VmRSS")
    for _ in range(3):
        step()
    queue.put((_status_kb("VmHWM") - before) / 1024.0)


def peak_memory(labels, train_file: str, suite_name: str, tasks: dict, threads: int) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out = {}
    for label in labels:
        queue = ctx.Queue()
        proc = ctx.Process(target=_memory_child, args=(label, train_file, suite_name, tasks, threads, queue))
        proc.start()
        proc.join()
        if proc.exitcode == 0:
            out[label] = round(queue.get(), 1)
    return out


def chunks(n: int, size: int) -> list[range]:
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def run_threads(threads: int, args, suite, train: GraphDataset, test: GraphDataset, spec: DataSpec,
                tasks: dict, train_file: str) -> dict:
    torch.set_num_threads(threads)
    models = build_models(suite, spec)
    trainers = {label: Trainer(model, dataclasses.replace(cfg, epochs=1, progress=False))
                for label, (model, cfg) in models.items()}
    batch_size = models[GRAPH][1].batch_size
    train_parts = [train.subset(r) for r in chunks(len(train), args.chunk_steps * batch_size)]
    test_parts = [test.subset(r) for r in chunks(len(test), args.infer_chunk)]
    load = [os.getloadavg()[0]]
    peaks = {"fp32": [], "bf16": []}
    wall = {k: [] for k in trainers}
    cpu = {k: [] for k in trainers}
    for part in train_parts[:1]:  # warm-up (not timed): allocator, kernels, first-call paths
        for trainer in trainers.values():
            trainer.fit(part.subset(range(batch_size)))
    for i, part in enumerate(train_parts):
        for label, trainer in trainers.items():
            c0 = time.process_time()
            fit = trainer.fit(part)
            cpu[label].append(time.process_time() - c0)
            wall[label].append(fit.history[0]["epoch_seconds"])
        if i % 3 == 0:
            peaks["fp32"].append(matmul_gflops(torch.float32))
            peaks["bf16"].append(matmul_gflops(torch.bfloat16))
            load.append(os.getloadavg()[0])
    infer = {k: [] for k in trainers}
    for part in test_parts:
        for label, trainer in trainers.items():
            t0 = time.perf_counter()
            trainer.evaluate(part)
            infer[label].append(time.perf_counter() - t0)
    load.append(os.getloadavg()[0])
    graph_model = models[GRAPH][0]
    flops_batch = train.collate_indices(range(batch_size), full_edges=full_edges_for(graph_model))
    flops_per_sample = step_flops(graph_model, flops_batch) / batch_size
    memory = {} if args.no_memory else peak_memory(list(trainers), train_file, suite.name, tasks, threads)

    def paired(a: list[float], b: list[float]) -> float:
        return statistics.median([x / y for x, y in zip(a, b)])

    rows = []
    for label in trainers:
        train_rate = len(train) / sum(wall[label])
        rows.append({
            "model": label,
            "parameters": sum(p.numel() for p in models[label][0].parameters()),
            "train_samples_per_s": round(train_rate, 1),
            "epoch_s_20000": round(20000 / train_rate, 1),
            "epoch_s_55000": round(55000 / train_rate, 1),
            "throughput_ratio_to_cnn_wall": round(paired(wall[CNN], wall[label]), 3),
            "throughput_ratio_to_cnn_cpu": round(paired(cpu[CNN], cpu[label]), 3),
            "step_ratio_to_plain_wall": round(paired(wall[label], wall[PLAIN]), 3),
            "step_ratio_to_plain_cpu": round(paired(cpu[label], cpu[PLAIN]), 3),
            "inference_samples_per_s": round(len(test) / sum(infer[label]), 1),
            "peak_step_memory_mb": memory.get(label),
            "memory_ratio_to_plain": (round(memory[label] / memory[PLAIN], 2)
                                      if memory.get(label) and memory.get(PLAIN) else None),
        })
    graph_rate = rows[0]["train_samples_per_s"]
    fp32, bf16 = statistics.median(peaks["fp32"]), statistics.median(peaks["bf16"])
    achieved = flops_per_sample * graph_rate / 1e9
    return {
        "threads": threads,
        "rows": rows,
        "chunks": len(train_parts),
        "graph_model_step_gflop_per_sample": round(flops_per_sample / 1e9, 4),
        "graph_model_achieved_gflops": round(achieved, 2),
        "matmul_peak_gflops": {"fp32": round(fp32, 1), "bf16": round(bf16, 1)},
        "graph_model_share_of_peak": {"fp32": round(achieved / fp32, 4), "bf16": round(achieved / bf16, 4)},
        "load_average_1min": {"min": min(load), "median": statistics.median(load), "max": max(load)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="avmnist")
    parser.add_argument("--root", default=None, help="data root (default: the suite's, or $MMGRAPH_DATA)")
    parser.add_argument("--work", default="bench-out/train_throughput", help="featurized data cache")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts, one pass each")
    parser.add_argument("--chunk-steps", type=int, default=16, help="training batches per interleaved chunk")
    parser.add_argument("--infer-chunk", type=int, default=1000, help="test samples per interleaved chunk")
    parser.add_argument("--train-samples", type=int, default=None, help="fewer training samples than the suite's")
    parser.add_argument("--test-samples", type=int, default=None, help="fewer test samples than the suite's")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--out", default="benchmarks/results/train_throughput.json")
    args = parser.parse_args()

    suite = load_suite(args.suite)
    data_suite = dataclasses.replace(
        suite, root=args.root or suite.root, robustness={},
        max_train=min(filter(None, (args.train_samples, suite.max_train)), default=None),
        max_eval=min(filter(None, (args.test_samples, suite.max_eval)), default=None),
    )
    manifest = prepare_data(data_suite, Path(args.work), progress=False)
    train = GraphDataset.load(manifest["files"]["train"])
    test = GraphDataset.load(manifest["files"]["test"])
    tasks = manifest["tasks"]
    spec = DataSpec.from_graph_config(train.config, {k: Task(**v) for k, v in tasks.items()})
    passes = [run_threads(int(t), args, suite, train, test, spec, tasks, manifest["files"]["train"])
              for t in args.threads.split(",")]
    command = f"python benchmarks/train_throughput.py --threads {args.threads} --chunk-steps {args.chunk_steps}"
    if args.root:
        command += f" --root {args.root}"
    if args.train_samples:
        command += f" --train-samples {args.train_samples}"
    if args.test_samples:
        command += f" --test-samples {args.test_samples}"
    result = {
        "benchmark": "train_throughput",
        "suite": suite.name,
        "train_samples": len(train),
        "test_samples": len(test),
        "batch_size": suite.train_config(suite.models[0], 0).batch_size,
        "graph_config": {k: v for k, v in train.config.to_dict().items() if k != "tokenizer"},
        "nodes_per_sample": {t: round(train.columns[t].counts.float().mean().item(), 2) for t in train.columns},
        "passes": passes,
        "targets": {"throughput_ratio_to_cnn": ">= 1.0", "step_ratio_to_plain": "<= 1.0",
                    "memory_ratio_to_plain": "<= 1.0", "inference_samples_per_s": ">= 3000",
                    "epoch_s_55000": "<= 60 with 2 threads (idle machine)"},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(), "threads": args.threads},
        "mmgraph": mmgraph.__version__,
        "command": command,
    }
    for p in passes:
        print(f"threads {p['threads']}: load {p['load_average_1min']}, peak {p['matmul_peak_gflops']} GFLOP/s, "
              f"graph model {p['graph_model_achieved_gflops']} GFLOP/s")
        for r in p["rows"]:
            print(f"  {r['model']:<28} train {r['train_samples_per_s']:>7.1f}/s (x{r['throughput_ratio_to_cnn_wall']} "
                  f"CNN wall, x{r['throughput_ratio_to_cnn_cpu']} cpu; step x{r['step_ratio_to_plain_wall']} plain) "
                  f"infer {r['inference_samples_per_s']:>8.1f}/s  mem {r['peak_step_memory_mb']} MB")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    render(args.out)


if __name__ == "__main__":
    main()
