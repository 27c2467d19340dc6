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
                  f"{h['speedup_collate_list_vs_per_sample_median_of_paired']}×; target {h['target']}."]
    if "collate_time_caller_2_threads_over_1_thread_median_of_paired" in h:
        ratio = h["collate_time_caller_2_threads_over_1_thread_median_of_paired"]
        lines += ["", "Collate time with the caller at 2 intra-op threads over 1 (median of paired ratios): "
                      + ", ".join(f"{mode} {r}×" for mode, r in ratio.items()) + f"; target {h['target_threads']}."]
    if "load_average_1min" in result:
        load = result["load_average_1min"]
        lines += ["", f"Load average (1 min) before / after the run: {load['before']} / {load['after']}."]
    lines += ["", f"Machine: {_machine(result)}.", "", f"Command: `{result['command']}`", ""]
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


def train_throughput(result: dict) -> tuple[str, object]:
    nodes = ", ".join(f"{t} {n:g}" for t, n in result["nodes_per_sample"].items())
    lines = [
        f"# train_throughput: training and inference samples/s on {result['suite']}, models side by side", "",
        f"{result['train_samples']:,} training samples (one epoch per model, batch {result['batch_size']}), "
        f"{result['test_samples']:,} test samples; nodes per sample: {nodes}. Models run in turn in chunks of "
        f"the epoch (same machine load); ratios are medians of per-chunk paired ratios, in wall time and in "
        f"process CPU time (which does not count waiting for a core). Memory: peak RSS growth of a training "
        f"step in a fresh process. Targets: {', '.join(f'{k} {v}' for k, v in result['targets'].items())}.", "",
    ]
    for p in result["passes"]:
        load = p["load_average_1min"]
        lines += [
            f"## {p['threads']} thread(s): load average {load['min']:.1f}–{load['max']:.1f} "
            f"(median {load['median']:.1f}) on {result['machine']['cpus']} cores", "",
            "| model | parameters | train samples/s | 55k epoch s | × CNN throughput (wall / CPU) | "
            "× plain step (wall / CPU) | inference samples/s | step memory MB | × plain memory |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in p["rows"]:
            lines.append(
                f"| {r['model']} | {r['parameters']:,} | {r['train_samples_per_s']:,.0f} | {r['epoch_s_55000']:.0f} | "
                f"{r['throughput_ratio_to_cnn_wall']:.2f} / {r['throughput_ratio_to_cnn_cpu']:.2f} | "
                f"{r['step_ratio_to_plain_wall']:.2f} / {r['step_ratio_to_plain_cpu']:.2f} | "
                f"{r['inference_samples_per_s']:,.0f} | {r['peak_step_memory_mb'] or '–'} | "
                f"{r['memory_ratio_to_plain'] or '–'} |")
        share = p["graph_model_share_of_peak"]
        lines += ["", f"Graph model: {p['graph_model_step_gflop_per_sample']} GFLOP per training sample "
                      f"(forward + backward), {p['graph_model_achieved_gflops']} GFLOP/s achieved = "
                      f"{100 * share['fp32']:.1f}% of the fp32 matmul peak ({p['matmul_peak_gflops']['fp32']} GFLOP/s, "
                      f"2048² `torch.mm`) and {100 * share['bf16']:.1f}% of the bf16 one "
                      f"({p['matmul_peak_gflops']['bf16']} GFLOP/s), measured in the same run.", ""]
    lines += [f"- {note}" for note in result.get("notes", [])] + ([""] if result.get("notes") else [])
    lines += [f"Machine: Python {result['machine']['python']}, torch {result['machine']['torch']}, "
              f"{result['machine']['cpus']} cores, {result['machine']['processor']}.", "",
              f"Command: `{result['command']}`", ""]
    passes = result["passes"]
    fig = _figure(10, 1.2 + 1.6 * len(passes))
    axes = fig.subplots(len(passes), 2, squeeze=False)
    for (ax_train, ax_infer), p in zip(axes, passes):
        names = [r["model"] for r in p["rows"]][::-1]
        colors = ["tab:blue" if n == "graph model" else "tab:gray" for n in names]
        bars = ax_train.barh(names, [r["train_samples_per_s"] for r in p["rows"]][::-1], color=colors)
        ax_train.bar_label(bars, fmt="%.0f", padding=3)
        ax_train.set_title(f"training samples/s, {p['threads']} thread(s)")
        bars = ax_infer.barh(names, [r["inference_samples_per_s"] for r in p["rows"]][::-1], color=colors)
        ax_infer.bar_label(bars, fmt="%.0f", padding=3)
        ax_infer.set_yticklabels([])
        ax_infer.set_title(f"inference samples/s, {p['threads']} thread(s)")
    return "\n".join(lines), fig


RENDERERS = {"train_throughput": train_throughput, "model_step": model_step, "collate_speed": collate_speed,
             "profile_graph_model": profile_graph_model}


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
