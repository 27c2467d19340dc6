"""Text encoder cost in the graph model: word-level ``token`` vs frozen MiniLM word vectors (``minilm_words``)
vs contextual MiniLM run on every batch (``minilm``).

Emoji data (image + text), the default graph model (d=64, 2 layers), batch 64, one thread. Per encoder:
build seconds (``minilm_words`` computes its vocabulary's MiniLM vectors here, once), training samples/s
over ``--train-batches`` optimisation steps, and inference samples/s over the test split; each measured
``--repeats`` times with the encoders interleaved (medians reported; the machine may be shared).

    python benchmarks/text_encoder_throughput.py --root DATA [--out benchmarks/results/text_encoder_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import mmgraph
from mmgraph.datasets import load_dataset
from mmgraph.datasets.base import GraphDataset
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer

ENCODERS = ("token", "minilm_words", "minilm")


def train_rate(model, batches) -> float:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    model.train()
    t0 = time.perf_counter()
    n = 0
    for batch in batches:
        loss, _ = model.loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        n += int(batch.num_graphs)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-batches", type=int, default=8)
    parser.add_argument("--out", default="benchmarks/results/text_encoder_throughput.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset("emoji", root=args.root)
    config = dataset.fit_graph_config()
    train = GraphDataset.from_samples(dataset.splits["train"][: 64 * args.train_batches], config)
    test = GraphDataset.from_samples(dataset.splits["test"], config)
    spec = DataSpec.from_graph_config(config, dataset.tasks)
    batches = [train.collate_indices(list(range(i, min(i + 64, len(train)))), full_edges="dense")
               for i in range(0, len(train), 64)]
    models, build_s = {}, {}
    for name in ENCODERS:
        t0 = time.perf_counter()
        torch.manual_seed(0)
        models[name] = build_model(ModelConfig(encoders={"text": name}, tasks=["category", "subcategory"]), spec)
        build_s[name] = time.perf_counter() - t0
    trainer_config = TrainConfig(batch_size=64, progress=False)
    rates: dict[str, dict[str, list[float]]] = {n: {"train": [], "inference": []} for n in ENCODERS}
    for _ in range(args.repeats):
        for name, model in models.items():
            rates[name]["train"].append(train_rate(model, batches))
            trainer = Trainer(model, trainer_config, out_dir=None)
            t0 = time.perf_counter()
            trainer.evaluate(test)
            rates[name]["inference"].append(len(test) / (time.perf_counter() - t0))
    rows = []
    for name in ENCODERS:
        train_med, infer_med = (statistics.median(rates[name][k]) for k in ("train", "inference"))
        rows.append({"encoder": name, "build_seconds": round(build_s[name], 1),
                     "train_samples_per_s": round(train_med, 1), "inference_samples_per_s": round(infer_med, 1),
                     "parameters_trained": sum(p.numel() for p in models[name].parameters() if p.requires_grad)})
    ref = rows[0]
    for r in rows:
        r["train_ratio_to_token"] = round(r["train_samples_per_s"] / ref["train_samples_per_s"], 2)
        r["inference_ratio_to_token"] = round(r["inference_samples_per_s"] / ref["inference_samples_per_s"], 2)
    result = {
        "benchmark": "text_encoder_throughput", "dataset": "emoji", "train_samples": len(train),
        "test_samples": len(test), "vocabulary": len(config.settings["text"].tokenizer), "repeats": args.repeats,
        "rows": rows, "raw": rates,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                    "processor": platform.processor() or platform.machine()},
        "mmgraph": mmgraph.__version__,
        "command": f"python benchmarks/text_encoder_throughput.py --root DATA --repeats {args.repeats} "
                   f"--train-batches {args.train_batches}",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Text encoder cost in the graph model (emoji)", "",
             f"Default graph model, batch 64, 1 thread; {len(train)} training samples ({args.train_batches} steps) and "
             f"the {len(test)} test samples per measurement, {args.repeats} interleaved repeats, medians. "
             f"Vocabulary {result['vocabulary']} words. Command: `{result['command']}`.", "",
             "| text encoder | build s | train samples/s | × token | inference samples/s | × token |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['encoder']} | {r['build_seconds']} | {r['train_samples_per_s']} | {r['train_ratio_to_token']} | "
              f"{r['inference_samples_per_s']} | {r['inference_ratio_to_token']} |" for r in rows]
    lines += ["", f"Machine: {result['machine']}; mmgraph {result['mmgraph']}."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["train_samples_per_s"] for r in rows], 0.4, label="train")
    ax.bar([i + 0.2 for i in x], [r["inference_samples_per_s"] for r in rows], 0.4, label="inference")
    ax.set_xticks(list(x), [r["encoder"] for r in rows])
    ax.set_ylabel("samples / s (1 thread)")
    ax.set_title("emoji graph model: text encoder cost")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
