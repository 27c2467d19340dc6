"""Markdown table + PNG chart beside a micro-benchmark's JSON (``model_step``, ``collate_speed``, ``real_inputs``,
``ray_convert``, ``stream_memory``).

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
    lines += [""] + [f"- {note}" for note in result.get("notes", [])] + ([""] if result.get("notes") else [])
    lines += [f"Machine: {_machine(result)}.", "", f"Command: `{result['command']}`", ""]
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


def real_inputs(result: dict) -> tuple[str, object]:
    rows, targets, met, rec = result["rows"], result["targets"], result["met"], result["record"]
    now, old = result["sizes"]["defaults"], result["sizes"]["mmgraph_0_1_defaults"]
    fwd = next(r for r in rows if r["stage"] == "fwd+bwd")

    def verdict(key: str) -> str:
        return "met" if met[key] else "MISSED"

    lines = [
        "# real_inputs: a 512×512 RGB photo, 5 s of 16 kHz audio and a 40-word caption, default settings", "",
        f"Record: image {'×'.join(map(str, rec['image']))}, audio {rec['audio_samples']:,} samples at "
        f"{rec['audio_rate']} Hz, {rec['words']} words (made from Twemoji PNGs upscaled, FSDD clips concatenated and "
        f"resampled, emoji names: see the script's docstring). Batch {result['batch']}, default model "
        f"({result['model']['name']}, d={result['model']['hidden']}, {result['model']['layers']} layers, "
        f"{result['model']['heads']} heads). Time: median of {result['repeats']} runs; memory: peak RSS growth of "
        f"one run in a fresh process (median of {result['mem_repeats']}).", "",
        "| graph per sample | image nodes | audio nodes | text nodes | nodes | edges | graph MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in (("defaults", now), ("mmgraph 0.1 defaults (grey, no cap, 8 kHz, every frame)", old)):
        n = s["nodes"]
        lines.append(f"| {label} | {n.get('image', 0):,.0f} | {n.get('audio', 0):,.0f} | {n.get('text', 0):,.0f} | "
                     f"{s['nodes_total']:,} | {s['edges']:,} | {s['graph_mb']:,} |")
    lines += ["", "| stage | wall ms / sample (median) | wall ms / sample (min) | CPU ms / sample (median) | "
              "wall ms / batch | peak MB / sample | peak MB / batch | load average before |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['stage']} | {r['median_ms_per_sample']} | {r['min_ms_per_sample']} | "
                     f"{r['median_cpu_ms_per_sample']} | {r['median_ms_per_batch']} | {r['peak_mb_per_sample']} | "
                     f"{r['peak_mb_per_batch']} | "
                     f"{', '.join(map(str, r['load_average_before']))} |")
    lines += [
        "", "Targets:",
        f"- nodes per sample <= {targets['nodes_per_sample']}: {now['nodes_total']} ({verdict('nodes_per_sample')})",
        f"- fwd+bwd <= {targets['fwd_bwd_ms_per_sample']} ms per sample at batch {result['batch']}: "
        f"{fwd['median_ms_per_sample']} ms wall ({verdict('fwd_bwd_ms_per_sample')}); "
        f"{fwd['median_cpu_ms_per_sample']} ms of CPU time",
        f"- fwd+bwd <= {targets['fwd_bwd_mb_per_sample']} MB per sample at batch {result['batch']}: "
        f"{fwd['peak_mb_per_sample']} MB ({verdict('fwd_bwd_mb_per_sample')})",
    ]
    if result.get("notes"):
        lines += ["", *result["notes"]]
    lines += ["", f"Machine: {_machine(result)}, {result['machine']['cpus']} CPUs, nice {result['machine']['nice']}.",
              "", f"Command: `{result['command']}`", ""]
    fig = _figure(10, 3.6)
    ax_time, ax_mem = fig.subplots(1, 2)
    names = [r["stage"] for r in rows][::-1]
    y = list(range(len(names)))
    wall, cpu = [r["median_ms_per_sample"] for r in rows][::-1], [r["median_cpu_ms_per_sample"] for r in rows][::-1]
    bars = ax_time.barh([v + 0.2 for v in y], wall, 0.4, color="tab:blue", label="wall")
    ax_time.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
    bars = ax_time.barh([v - 0.2 for v in y], cpu, 0.4, color="tab:cyan", label="CPU")
    ax_time.bar_label(bars, fmt="%.1f", padding=3, fontsize=8)
    ax_time.set_yticks(y, names)
    ax_time.margins(x=0.12)
    ax_time.axvline(targets["fwd_bwd_ms_per_sample"], color="tab:red", ls="--", lw=1, label="fwd+bwd target")
    ax_time.set_xlabel(f"ms per sample (median); load average {fwd['load_average_before'][0]}")
    ax_time.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize=8)
    bars = ax_mem.barh(names, [r["peak_mb_per_sample"] for r in rows][::-1], color="tab:orange")
    ax_mem.bar_label(bars, fmt="%.2f", padding=3)
    ax_mem.margins(x=0.12)
    ax_mem.axvline(targets["fwd_bwd_mb_per_sample"], color="tab:red", ls="--", lw=1, label="fwd+bwd target")
    ax_mem.set_xlabel("peak MB per sample")
    ax_mem.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), fontsize=8)
    fig.suptitle(f"real_inputs: 512×512 RGB + 5 s at 16 kHz + 40 words, batch {result['batch']}, "
                 f"{now['nodes_total']} nodes per sample")
    return "\n".join(lines), fig


def ray_convert(result: dict) -> tuple[str, object]:
    rows, medians = result["rows"], result["medians"]
    ray_version = next(r.get("ray_version") for r in rows if r["engine"] == "ray")
    cpus = rows[0]["cpus"]
    lines = [
        "# ray_convert: `mmgraph convert` on Ray vs the local engine, one machine", "",
        f"Source: {result['source']}; chunk size {result['chunk_size']}. Local: {cpus} worker processes; "
        f"Ray: a local instance with {cpus} CPUs (Ray {ray_version}), one task per chunk. Each run in a fresh "
        f"process (cold); {result['repeats']} runs per engine, alternating which goes first. The machine's 2 cores "
        f"were shared with other jobs: the load average (1 min) before and after each run is given.", "",
        "| run | engine | convert s | records/s | Ray start-up s | total s | records/s incl. start-up | load |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['repeat']} | {r['engine']} | {r['convert_seconds']:.1f} | {r['records_per_s']:,.0f} | "
                     f"{r.get('engine_start_seconds', '–')} | {r['total_seconds']:.1f} | "
                     f"{r['records_per_s_with_start']:,.0f} | {r['load_before']} → {r['load_after']} |")
    for engine, m in medians.items():
        lines.append(f"| median | {engine} | {m['convert_seconds']:.1f} | {m['records_per_s']:,.0f} | | "
                     f"{m['total_seconds']:.1f} | {m['records_per_s_with_start']:,.0f} | |")
    lines += [
        "",
        f"Same output, byte for byte, in every run (SHA-256 over every shard, `meta.json`, `rejected.jsonl`): "
        f"**{result['same_bytes']}** (`{rows[0]['output_sha256'][:16]}…`).",
        f"Median Ray time over local time: {result['ray_over_local_convert_time']:.2f}× for the conversion, "
        f"{result['ray_over_local_with_start']:.2f}× with start-up (`ray.init` vs the forkserver; the local engine's "
        f"start is inside its convert time).", "",
        "Reading it: both engines run the same `ChunkJob` per chunk on 2 CPUs, so on one machine Ray can only add "
        "cost: its start-up (`ray.init`), a cold import of torch + mmgraph in each of its workers, pickling each "
        "chunk's records into the object store. Where a row shows Ray ahead, the machine's load (other jobs on the "
        "same 2 cores, see the last column) moved more than the engines differ; the runs alternate which engine "
        "goes first for that reason. What this shows is that the Ray engine is usable at this size and writes the "
        "very same bytes; what it is for is the same command on a cluster.", "",
        f"Machine: {_machine(result)}, {result['machine']['cpus']} CPUs.", "", f"Command: `{result['command']}`", "",
    ]
    fig = _figure(8, 2.8)
    ax = fig.subplots()
    names = [f"{r['engine']} (run {r['repeat']})" for r in rows][::-1]
    start_s = [r.get("engine_start_seconds", 0.0) for r in rows][::-1]
    convert_s = [r["convert_seconds"] for r in rows][::-1]
    ax.barh(names, start_s, color="tab:gray", label="Ray start-up (ray.init)")
    bars = ax.barh(names, convert_s, left=start_s, color="tab:blue", label="convert")
    ax.bar_label(bars, labels=[f"{r['records_per_s']:,.0f} rec/s" for r in rows][::-1], padding=3)
    ax.set_xlabel(f"seconds for {result['records']:,} records")
    ax.set_xlim(0, max(a + b for a, b in zip(convert_s, start_s)) * 1.3)
    fig.legend(loc="outside lower center", ncols=2)
    ax.set_title(f"ray_convert: local {cpus} processes vs Ray {cpus} CPUs, same output")
    return "\n".join(lines), fig


def stream_memory(result: dict) -> tuple[str, object]:
    rows, medians = result["rows"], result["medians"]
    lines = [
        "# stream_memory: one training epoch from a stream vs in memory", "",
        f"Data: {result['data']}; shards of {result['chunk_size']:,} records. Model: {result['model']}, batch "
        f"{result['batch_size']}. Stream: `StreamingGraphDataset`, shuffle buffer {result['buffer_size']:,} samples. "
        f"Each row is a fresh process; peak RSS is its `getrusage` high-water mark, baseline its RSS after importing "
        f"torch + mmgraph; *loader alone*: one pass of the shuffled batches without the model. "
        f"{result.get('repeats', 1)} run(s) per (size, mode), alternating which mode goes first. The machine's 2 "
        f"cores were shared with other jobs (load average, 1 min, before → after).",
        "",
        "| records | mode | run | load s | epoch s | samples/s | loader alone, samples/s | peak RSS MB "
        "| over baseline MB | load avg |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['records']:,} | {r['mode']} | {r.get('repeat', 0)} | {r['load_seconds']:.1f} | "
                     f"{r['epoch_seconds']:.1f} | {r['samples_per_s']:,.0f} | {r['loader_samples_per_s']:,.0f} | "
                     f"{r['peak_rss_mb']:,.0f} | {r['peak_rss_mb'] - r['baseline_rss_mb']:,.0f} | "
                     f"{r['load_before']} → {r['load_after']} |")
    lines.append("")
    if "stream_peak_rss_growth" in result:
        lines.append(f"Streaming peak RSS (median) from the smallest to the largest size: "
                     f"{100 * result['stream_peak_rss_growth']:+.1f} % (target: within ±10 %).")
    for key, what, target in (("stream_over_in_memory_throughput", "training samples/s", " (target ≥ 0.90)"),
                              ("stream_over_in_memory_loader_throughput", "loader-alone samples/s", "")):
        ratios = ", ".join(f"{int(n):,}: {v:.2f}" for n, v in result[key].items())
        lines.append(f"Stream over in-memory {what} (medians) per size: {ratios}{target}.")
    sizes = sorted({r["records"] for r in rows})
    if len(sizes) > 1:
        small, large = medians[f"{sizes[0]} in-memory"], medians[f"{sizes[-1]} in-memory"]
        per_record = (large["peak_rss_mb"] - small["peak_rss_mb"]) * 2**20 / (sizes[-1] - sizes[0])
        lines += ["", (f"Reading it: in memory, peak RSS grows by about {per_record:,.0f} bytes per record (the "
                       "columns, ids and per-sample layouts); the stream holds one window and a shard or two whatever "
                       "the size. Short epochs (the smallest size: a few seconds) are at the mercy of the machine's "
                       "load, which other jobs moved between runs; the largest size is the one to read for speed. The "
                       "loader-alone rates show what streaming itself costs (reading and unpickling each shard every "
                       "epoch): the model's time hides it in training.")]
    lines += ["", f"Machine: {_machine(result)}, {result['machine']['cpus']} CPUs.", "",
              f"Command: `{result['command']}`", ""]
    fig = _figure(10, 3.4)
    ax_mem, ax_speed = fig.subplots(1, 2)
    for mode, color in (("in-memory", "tab:gray"), ("stream", "tab:blue")):
        m = [medians[f"{n} {mode}"] for n in sizes]
        ax_mem.plot(sizes, [x["peak_rss_mb"] for x in m], "o-", color=color, label=mode)
        ax_speed.plot(sizes, [x["samples_per_s"] for x in m], "o-", color=color, label=f"{mode}: training")
        ax_speed.plot(sizes, [x["loader_samples_per_s"] for x in m], "s--", color=color, label=f"{mode}: loader alone")
    for ax in (ax_mem, ax_speed):
        ax.set_xscale("log")
        ax.set_xlabel("records")
        ax.legend(fontsize="small")
    ax_mem.set_ylabel("peak RSS (MB)")
    ax_mem.set_ylim(bottom=0)
    ax_speed.set_ylabel("samples / s (one epoch)")
    ax_speed.set_yscale("log")
    fig.suptitle("stream_memory: peak memory and speed of one epoch (medians)")
    return "\n".join(lines), fig


RENDERERS = {"model_step": model_step, "collate_speed": collate_speed, "real_inputs": real_inputs,
             "ray_convert": ray_convert, "stream_memory": stream_memory, "train_throughput": train_throughput,
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
