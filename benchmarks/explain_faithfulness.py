"""Faithfulness of mmgraph's explanations: node deletion curves and modality deletion agreement.

For both methods (``gradient``: integrated gradients; ``attention``: readout pooling × gate), on the
first N test samples of a dataset:

- node deletion: each graph's modality nodes removed most important first, 0, 10, ..., 100 %, vs.
  a random order (seed 0); the predicted class's probability, mean over graphs; area between the
  curves = random AUC - importance AUC (positive: the importance order is faithful);
- modality agreement: share of graphs (with two modalities or more) whose most important modality
  is the one whose removal lowers the predicted class's probability most.

The model is a run folder (``--run``) or the default graph model (``ModelConfig()``) trained here
briefly on the training split (``--epochs``, optionally ``--train-samples``). Writes
``benchmarks/results/explain_faithfulness[_DATA].json`` + ``.md`` + ``.png`` (deletion curves) and
example pictures under ``benchmarks/results/explain_examples[_DATA]/`` (no suffix for avmnist,
the headline dataset).

    python benchmarks/explain_faithfulness.py [--data avmnist] [--root DIR] [--run RUN_DIR]
        [--samples 500] [--epochs 3] [--train-samples N] [--examples 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import mmgraph
from mmgraph.datasets import GraphDataset, load_dataset
from mmgraph.explain import METHODS, DeletionCurves, ModalityAgreement, deletion_curves, explain, modality_agreement
from mmgraph.explain.attribution import classification_task
from mmgraph.explain.plot import plot_explanation
from mmgraph.explain.runs import file_stem
from mmgraph.graph.collate import full_edges_for
from mmgraph.models import DataSpec, ModelConfig, build_model
from mmgraph.train import TrainConfig, Trainer, seed_everything
from mmgraph.train.runs import load_run

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 64


def trained_model(args, dataset):
    """The run's model and graph config, or the default graph model trained here."""
    if args.run:
        run = load_run(args.run)
        return run.model, run.graph_config, {"run": str(args.run)}
    config = dataset.fit_graph_config()
    train_samples = dataset.splits["train"]
    if args.train_samples:
        train_samples = train_samples[: args.train_samples]
    train = GraphDataset.from_samples(train_samples, config, node_targets=dataset.node_targets)
    val = dataset.featurize("val", config) if "val" in dataset.splits else None
    seed_everything(0)
    model_config = ModelConfig()
    model = build_model(model_config, DataSpec.from_graph_config(config, dataset.tasks))
    t0 = time.perf_counter()
    fit = Trainer(model, TrainConfig(epochs=args.epochs, progress=False, device="cpu")).fit(train, val)
    info = {"model_config": model_config.to_dict(), "epochs": args.epochs, "train_samples": len(train),
            "train_seconds": round(time.perf_counter() - t0, 1), "best_epoch": fit.best_epoch,
            "val_accuracy": fit.best_score}
    return model.eval(), config, info


def measure(model, graphs: GraphDataset, method: str) -> tuple[DeletionCurves, ModalityAgreement, list, float]:
    curves, agreements, explanations = [], [], []
    t0 = time.perf_counter()
    for start in range(0, len(graphs), BATCH):
        batch = graphs.collate_indices(list(range(start, min(start + BATCH, len(graphs)))),
                                       full_edges=full_edges_for(model))
        found = explain(model, batch, method=method)
        curves.append(deletion_curves(model, batch, found, seed=start))
        agreements.append(modality_agreement(model, batch, found))
        explanations += found
    seconds = time.perf_counter() - t0
    return DeletionCurves.concat(curves), ModalityAgreement.concat(agreements), explanations, seconds


def plot_curves(results: dict, title: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * len(results), 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(results), squeeze=False)[0]
    for ax, (method, r) in zip(axes, results.items()):
        d = r["deletion"]
        fractions = [100 * f for f in d["fractions"]]
        ax.plot(fractions, d["importance"], "o-", label=f"by importance (AUC {d['auc_importance']:.3f})")
        ax.plot(fractions, d["random"], "s--", label=f"random order (AUC {d['auc_random']:.3f})")
        ax.set_title(f"{method}: area between {d['area_between']:.3f}, "
                     f"modality agreement {r['modality_agreement']['rate']:.0%}")
        ax.set_xlabel("% of each graph's nodes removed")
        ax.set_ylabel("predicted-class probability (mean)")
        ax.set_ylim(0, 1)
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def markdown(report: dict) -> str:
    lines = [f"# Explanation faithfulness on {report['data']}", "",
             f"{report['samples']} test samples; model: {report['model'].get('run') or 'mmgnn (default config), '}"
             + ("" if report["model"].get("run") else f"{report['model']['epochs']} epochs on "
                f"{report['model']['train_samples']} training samples")
             + f"; test accuracy of the explained model {report['accuracy']:.3f}.", "",
             "| method | area between curves (random − importance AUC) | importance AUC | random AUC "
             "| modality agreement | majority baseline | mean modality importance | seconds |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for method, r in report["methods"].items():
        d, a = r["deletion"], r["modality_agreement"]
        shares = ", ".join(f"{m} {v:.2f}" for m, v in r["mean_modality_importance"].items())
        lines.append(f"| {method} | {d['area_between']:.3f} | {d['auc_importance']:.3f} | {d['auc_random']:.3f} "
                     f"| {a['rate']:.1%} ({a['eligible_graphs']} graphs) | {a['majority_rate']:.1%} "
                     f"| {shares} | {r['seconds']:.1f} |")
    lines += ["", "Deletion curves (predicted-class probability, mean over graphs):", "",
              "| % removed | " + " | ".join(f"{m} by importance | {m} random" for m in report["methods"]) + " |",
              "| ---: |" + " ---: | ---: |" * len(report["methods"])]
    first = next(iter(report["methods"].values()))["deletion"]
    for i, f in enumerate(first["fractions"]):
        cells = " | ".join(f"{r['deletion']['importance'][i]:.3f} | {r['deletion']['random'][i]:.3f}"
                           for r in report["methods"].values())
        lines.append(f"| {100 * f:.0f} | {cells} |")
    lines += ["", "Modality agreement: share of graphs (two modalities or more) whose most important modality is "
              "the one whose removal lowers the predicted class's probability most; the majority baseline always "
              "names the modality most often hurt most.", "", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="avmnist", help="dataset (default avmnist; digits runs in a minute)")
    parser.add_argument("--root", help="raw-data folder (default $MMGRAPH_DATA or ../shared/data)")
    parser.add_argument("--run", help="explain this run folder's model instead of training one")
    parser.add_argument("--samples", type=int, default=500, help="test samples (default 500)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs without --run (default 3)")
    parser.add_argument("--train-samples", type=int, help="train on the first N training samples only")
    parser.add_argument("--examples", type=int, default=4, help="example pictures per method (default 4)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, help="output stem (default benchmarks/results/explain_faithfulness[_DATA])")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    suffix = "" if args.data == "avmnist" else f"_{file_stem(Path(args.data).name)}"
    stem = args.out or RESULTS / f"explain_faithfulness{suffix}"
    examples_dir = stem.parent / f"explain_examples{suffix}"
    stem.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    root = args.root
    if root is None and args.data == "avmnist":
        import os

        root = os.environ.get("MMGRAPH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    dataset = load_dataset(args.data, root=root)
    model, config, model_info = trained_model(args, dataset)
    test = GraphDataset.from_samples(dataset.splits["test"][: args.samples], config, node_targets=dataset.node_targets)
    task = classification_task(model, None)
    accuracy = Trainer(model, TrainConfig(progress=False, device="cpu")).evaluate(test)[f"{task}/accuracy"]

    methods, example_files = {}, []
    for method in METHODS:
        curves, agreement, explanations, seconds = measure(model, test, method)
        shares = torch.tensor([[e.modality_importance.get(m, 0.0) for m in agreement.modalities] for e in explanations])
        methods[method] = {
            "deletion": curves.to_dict(), "modality_agreement": agreement.to_dict(),
            "mean_modality_importance": dict(zip(agreement.modalities, shares.mean(0).tolist())),
            "seconds": round(seconds, 2),
        }
        examples_dir.mkdir(parents=True, exist_ok=True)
        for i, e in enumerate(explanations[: args.examples]):
            path = examples_dir / f"{file_stem(str(e.id))}_{method}.png"
            plot_explanation(e, test.collate_indices([i]), config, path)
            example_files.append(str(path.relative_to(stem.parent)))
        print(f"{method}: area between {curves.area_between:.3f}, agreement {agreement.rate:.1%} ({seconds:.1f} s)")

    report = {
        "data": args.data, "samples": len(test), "model": model_info, "accuracy": accuracy, "methods": methods,
        "examples": example_files, "wall_seconds": round(time.perf_counter() - t0, 1),
        # the raw-data folder recorded as DATA, not this machine's path
        "command": "python benchmarks/explain_faithfulness.py " + " ".join(
            f"--{k.replace('_', '-')} {'DATA' if k == 'root' else v}" for k, v in vars(args).items()
            if v is not None and k != "out"),
        "environment": {"mmgraph": mmgraph.__version__, "torch": torch.__version__, "python": platform.python_version(),
                        "threads": torch.get_num_threads()},
    }
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(report))
    plot_curves(methods, f"Node deletion on {args.data} ({len(test)} test samples)", stem.with_suffix(".png"))
    print(f"wrote {stem}.json, .md, .png and {len(example_files)} examples in {examples_dir}")


if __name__ == "__main__":
    main()
