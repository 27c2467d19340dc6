"""Markdown table + PNG chart beside a micro-benchmark's JSON (``model_step``, ``collate_speed``).

The benchmark scripts call ``render`` after writing their JSON; to redraw from a committed JSON:

    python benchmarks/render_results.py benchmarks/results/model_step.json benchmarks/results/collate_speed.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _machine(result: dict) -> str:
    m = result.get("machine", {})
    return f"Python {m.get('python')}, torch {m.get('torch')}, {m.get('threads')} threads, {m.get('processor')}"


def model_step(result: dict) -> tuple[str, object]:
    rows = result["rows"]
    b = result["batch"]
    nodes = ", ".join(f"{t} {n:g}" for t, n in b["nodes_per_graph"].items())
    lines = [
        "# model_step: one forward + backward step on an AV-MNIST-shaped batch", "",
        f"Batch: {b['graphs']} graphs, nodes per graph {nodes}; width {b['width']}, {b['layers']} layers, "
        f"{b['heads']} heads. {result['repeats']} repeats, models interleaved; ratio = median over repeats of "
        f"(model time / transformer time in the same repeat). Memory: peak RSS growth of one step in a fresh "
        f"process. Target: {result['targets']}.", "",
        "| model | parameters | median ms / step | × transformer time | peak RSS growth MB | × transformer memory |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['median_ms']:.1f} | "
                     f"{r['ratio_to_transformer_median_of_paired']:.2f} | {r.get('peak_rss_growth_mb') or '–'} | "
                     f"{r.get('memory_ratio_to_transformer') or '–'} |")
    if result.get("compile"):
        c = result["compile"]
        lines += ["", f"torch.compile of the default graph model: {c['graph_breaks']} graph breaks, "
                      f"{c['graphs']} graph, compiled in {c['compile_seconds']} s, "
                      f"matches eager: {c['matches_eager']}."]
    lines += ["", f"Machine: {_machine(result)}.", "", f"Command: `{result['command']}`", ""]
    fig = _figure(9.5, 0.45 * len(rows) + 1.5)
    ax = fig.subplots()
    names = [r["model"] for r in rows][::-1]
    ratios = [r["ratio_to_transformer_median_of_paired"] for r in rows][::-1]
    bars = ax.barh(names, ratios, color=["tab:blue" if n.startswith("mmgnn (") else "tab:gray" for n in names])
    ax.bar_label(bars, fmt="%.2f×", padding=3)
    ax.axvline(1.5, color="tab:red", ls="--", label="target for the graph model: 1.5×")
    ax.set_xscale("log")
    ax.set_xlabel("fwd+bwd time / early-fusion transformer's (log scale)")
    ax.legend(loc="lower right")
    ax.set_title("model_step: time per training step, relative to the transformer")
    return "\n".join(lines), fig


def collate_speed(result: dict) -> tuple[str, object]:
    rows = result["rows"]
    nodes = ", ".join(f"{t} {n:g}" for t, n in result["nodes_per_sample"].items())
    h = result["headline"]
    lines = [
        "# collate_speed: batching samples into one heterogeneous graph", "",
        f"Batch of {result['batch_size']} AV-MNIST-shaped samples (nodes per sample: {nodes}); "
        f"{result['repeats']} repeats, median. Speed-up: per-sample `build_graph` + `Batch.from_data_list` "
        f"time over the method's time, paired per repeat.", "",
        "| method | median ms / batch | samples/s | × per-sample build + PyG batching |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {r['median_ms_per_batch']:.2f} | {r['samples_per_s']:,.0f} | "
                     f"{r['speedup_vs_per_sample']:.1f} |")
    lines += ["", f"Headline (median of paired ratios): dense collate "
                  f"{h['speedup_collate_dense_vs_per_sample_median_of_paired']}×, edge-list collate "
                  f"{h['speedup_collate_list_vs_per_sample_median_of_paired']}×; target {h['target']}.",
              "", f"Machine: {_machine(result)}.", "", f"Command: `{result['command']}`", ""]
    fig = _figure(9.5, 0.5 * len(rows) + 1.5)
    ax = fig.subplots()
    names = [r["method"] for r in rows][::-1]
    bars = ax.barh(names, [r["samples_per_s"] for r in rows][::-1], color="tab:blue")
    ax.bar_label(bars, fmt="%.0f", padding=3)
    ax.set_xscale("log")
    ax.set_xlabel("samples per second (log scale)")
    ax.set_title(f"collate_speed: batches of {result['batch_size']}")
    return "\n".join(lines), fig


def profile_graph_model(result: dict) -> tuple[str, object]:
    nodes = ", ".join(f"{t} {n:.1f} (max {result['max_nodes_per_graph'][t]})"
                      for t, n in result["nodes_per_graph"].items())
    load = result["load_average"]
    lines = [
        f"# profile_graph_model: one training step of the {result['suite']} suite's graph model", "",
        f"Batch of {result['batch_size']} real AV-MNIST graphs (nodes per graph: {nodes}); the suite's graph and "
        f"model config; one step as the Trainer runs it (batching, forward, loss, backward, gradient clipping, "
        f"AdamW), {result['steps']} steps under `torch.profiler` after warm-up, averaged. Profiled CPU time "
        f"{result['profiled_ms_per_step']:.1f} ms / step (wall {result['median_step_ms_wall_under_profiler']:.1f} "
        f"ms, median). Load average {load['before']} before, {load['after']} after.", "",
        "## Per part (innermost module or method; backward matched to its forward op)", "",
        "| part | forward ms | backward ms | total ms | share |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in result["parts"]:
        lines.append(f"| {r['part']} | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | {r['total_ms']:.1f} | "
                     f"{100 * r['share']:.1f}% |")
    lines += ["", "## Per op (self CPU time, forward and backward)", "",
              "| op | calls / step | self ms / step | share |", "| --- | ---: | ---: | ---: |"]
    for r in result["ops"]:
        lines.append(f"| `{r['op']}` | {r['calls_per_step']:g} | {r['self_ms']:.2f} | {100 * r['share']:.1f}% |")
    lines += ["", f"Machine: {_machine(result)}.", "", f"Command: `{result['command']}`", ""]
    rows = [r for r in result["parts"] if r["share"] >= 0.01][::-1]
    fig = _figure(9.5, 0.35 * len(rows) + 1.5)
    ax = fig.subplots()
    names = [r["part"] for r in rows]
    ax.barh(names, [r["forward_ms"] for r in rows], color="tab:blue", label="forward")
    ax.barh(names, [r["backward_ms"] for r in rows], left=[r["forward_ms"] for r in rows], color="tab:orange",
            label="backward")
    ax.set_xlabel("ms per training step")
    ax.legend(loc="lower right")
    ax.set_title(f"profile_graph_model: {result['profiled_ms_per_step']:.0f} ms per step, "
                 f"{result['machine']['threads']} thread(s)")
    return "\n".join(lines), fig


RENDERERS = {"model_step": model_step, "collate_speed": collate_speed, "profile_graph_model": profile_graph_model}


def render(json_path: str | Path) -> None:
    """Write ``NAME.md`` and ``NAME.png`` beside ``NAME.json``."""
    path = Path(json_path)
    result = json.loads(path.read_text())
    name = result.get("benchmark")
    if name not in RENDERERS:
        raise ValueError(f"{path}: no renderer for benchmark {name!r} (known: {sorted(RENDERERS)})")
    text, fig = RENDERERS[name](result)
    path.with_suffix(".md").write_text(text)
    fig.savefig(path.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        render(arg)
        print("wrote", Path(arg).with_suffix(".md"), "and .png")
