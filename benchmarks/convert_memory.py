"""Conversion memory: peak RSS of ``mmgraph convert`` (parent + workers) against the number of records.

The claim checked: conversion streams, so peak memory does not grow with the manifest's length
(beyond a small per-record constant: the set of ids seen, for the duplicate check).

Manifests of 10k, 50k and 200k records are made by repeating the real emoji dataset
(``../shared/data/emoji``: 1,911 64×64 RGBA PNGs and their names): record ``i`` is emoji
``i % 1911`` with a distinct id, its label the emoji's category and its image path absolute (the
files are referenced, not copied; ``allow_outside=True``). Each size is converted with the
default graph config (what ``mmgraph convert manifest.jsonl out`` does) by 2 worker processes,
in a fresh Python process, while a thread samples ``/proc`` every 100 ms: the summed RSS and PSS
of the whole process tree (parent, forkserver, workers), and each process's ``VmHWM`` (its
kernel-kept RSS high-water mark). Afterwards one more ``ManifestDataset.records()`` pass runs
under ``tracemalloc``: its traced peak is the memory that the reading side holds, the id set
included. Shards are deleted after each run.

    python benchmarks/convert_memory.py [--records 10000 50000 200000] [--workers 2] [--chunk-size 512]
        [--data ../shared/data/emoji] [--out benchmarks/results/convert_memory.json]

Writes the JSON, a Markdown table beside it (``.md``) and a plot of peak RSS against records (``.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from convert_speed import TreeMemory  # same directory: the process-tree sampler of the speed benchmark

HERE = Path(__file__).resolve()
SHARED_DATA = HERE.parents[2] / "shared" / "data"


class TreePeaks(TreeMemory):
    """``TreeMemory`` (peak summed RSS and PSS of the process tree) plus each process's last VmHWM."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(interval)
        self.hwm_kb: dict[int, int] = {}
        self.ppid: dict[int, int] = {}

    @staticmethod
    def _status(pid: int) -> dict[str, str]:
        try:
            with open(f"/proc/{pid}/status") as f:
                return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            return {}

    def sample_process(self, pid: int) -> None:
        status = self._status(pid)
        if "VmHWM" in status:
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), int(status["VmHWM"].split()[0]))
            self.ppid.setdefault(pid, int(status.get("PPid", "0")))


# ------------------------------------------------------------------------------------------ child


def child(args: argparse.Namespace) -> None:
    from mmgraph.convert import convert
    from mmgraph.datasets.manifest import ManifestDataset

    manifest, out = Path(args.manifest), Path(args.tmp) / f"out-{args.child}"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    with TreePeaks() as peaks:
        start = time.perf_counter()
        report = convert(manifest, out, workers=args.workers, chunk_size=args.chunk_size, progress=False,
                         allow_outside=True)
        seconds = time.perf_counter() - start
    me = os.getpid()
    parent_hwm = int(TreePeaks._status(me)["VmHWM"].split()[0])  # exact: the kernel's own high-water mark
    # the parent's children are the forkserver and its resource tracker; the workers fork from the forkserver
    helpers = [kb for pid, kb in peaks.hwm_kb.items() if peaks.ppid.get(pid) == me]
    workers = [kb for pid, kb in peaks.hwm_kb.items() if pid != me and peaks.ppid.get(pid) != me]
    shard_bytes = sum(p.stat().st_size for p in (out / "shards").glob("*.pt"))
    shutil.rmtree(out, ignore_errors=True)

    tracemalloc.start()
    for _ in ManifestDataset(manifest, allow_outside=True).records():
        pass
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    mb = 1 / 1024
    print(json.dumps({
        "records": report.records, "converted": report.converted, "rejected": report.rejected,
        "seconds": round(seconds, 2), "records_per_s": round(report.records / seconds, 1),
        "peak_tree_rss_mb": round(peaks.peak_rss_kb * mb, 1), "peak_tree_pss_mb": round(peaks.peak_pss_kb * mb, 1),
        "parent_vmhwm_mb": round(parent_hwm * mb, 1),
        "workers_vmhwm_mb": sorted((round(kb * mb, 1) for kb in workers), reverse=True),
        "forkserver_and_helpers_vmhwm_mb": sorted((round(kb * mb, 1) for kb in helpers), reverse=True),
        "records_pass_traced_peak_mb": round(traced_peak / 2**20, 2),
        "shards_mb": round(shard_bytes / 2**20, 1), "load_average_before": round(load, 2),
    }))


# ----------------------------------------------------------------------------------------- parent


def write_manifest(data: Path, n: int, path: Path) -> None:
    """``n`` records cycling through the emoji index, distinct ids, absolute image paths, category labels."""
    index = [json.loads(line) for line in (data / "index.jsonl").read_text(encoding="utf-8").splitlines()]
    categories = sorted({e["category"] for e in index})
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            e = index[i % len(index)]
            f.write(json.dumps({"id": f"emoji-{e['unified'].lower()}-{i // len(index)}",
                                "image": str((data / e["image"]).resolve()), "text": e["text"],
                                "label": categories.index(e["category"])}) + "\n")


def slope_bytes_per_record(results: list[dict], key: str) -> float:
    records = np.array([r["records"] for r in results], dtype=float)
    values = np.array([r[key] for r in results], dtype=float) * 2**20
    return float(np.polyfit(records, values, 1)[0]) if len(results) > 1 else float("nan")


def markdown(report: dict) -> str:
    rows = report["results"]
    lines = [
        "# convert_memory: peak RSS of `mmgraph convert` against the number of records", "",
        f"Command: `{report['command']}`. Source: the emoji dataset repeated (1,911 real 64×64 PNGs + names, "
        f"distinct ids, files referenced in place); default graph config; {report['workers']} workers, "
        f"chunk size {report['chunk_size']}. Machine: {report['machine']['cpus']} shared CPU cores, "
        f"Python {report['machine']['python']}, torch {report['machine']['torch']}.", "",
        "| records | seconds | records/s | peak RSS, process tree (MB) | peak PSS, process tree (MB) "
        "| parent VmHWM (MB) | workers VmHWM (MB) | forkserver + helper VmHWM (MB) | records pass, traced peak (MB) "
        "| load before |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['records']:,} | {r['seconds']:.1f} | {r['records_per_s']:,.0f} | {r['peak_tree_rss_mb']:,.0f} "
            f"| {r['peak_tree_pss_mb']:,.0f} | {r['parent_vmhwm_mb']:,.0f} "
            f"| {', '.join(f'{x:,.0f}' for x in r['workers_vmhwm_mb'])} "
            f"| {', '.join(f'{x:,.0f}' for x in r['forkserver_and_helpers_vmhwm_mb'])} "
            f"| {r['records_pass_traced_peak_mb']:.1f} | {r['load_average_before']:.1f} |")
    s = report["growth_bytes_per_record"]
    marginal = [f"{b['records'] - a['records']:,} more records in {b['seconds'] - a['seconds']:.1f} s more "
                f"({(b['records'] - a['records']) / (b['seconds'] - a['seconds']):,.0f} records/s)"
                for a, b in zip(rows, rows[1:]) if b["seconds"] > a["seconds"]]
    first, last = rows[0], rows[-1]
    lines += [
        "",
        "## Reading it",
        "",
        f"- From {first['records']:,} to {last['records']:,} records ({last['records'] / first['records']:.0f}× more) "
        f"the peak summed RSS of the process tree goes from {first['peak_tree_rss_mb']:,.0f} to "
        f"{last['peak_tree_rss_mb']:,.0f} MB and the largest worker's from "
        f"{max(first['workers_vmhwm_mb'], default=0):,.0f} to {max(last['workers_vmhwm_mb'], default=0):,.0f} MB: "
        "the workers stream (at most 2 chunks per worker in flight), "
        "and almost all of the memory is torch + mmgraph imported once per process.",
        f"- What grows is the parent, by {s['parent_vmhwm_mb']:.0f} B/record: the set of ids seen (the duplicate-id "
        f"check, {s['records_pass_traced_peak_mb']:.0f} B/record in the traced records pass; a small per-record "
        f"constant, documented in `mmgraph/datasets/manifest.py`). Extrapolated: "
        f"~{s['parent_vmhwm_mb'] * 10_000_000 / 2**30:.1f} GiB more for 10 M records.",
        "- The summed PSS rises over the first tens of thousands of records and then stays flat while RSS "
        "does not move: most likely copy-on-write, the workers touching more of the pages they share with "
        "the forkserver as they run (shared pages become private ones; not growth with the record count).",
        f"- Speed: the 2 cores were shared with other jobs (load average {first['load_average_before']:.1f}–"
        f"{last['load_average_before']:.1f} before the runs, {report['machine']['load_average_at_end'][0]:.1f} "
        "at the end), and each run also writes its shards (~18 KB/record, fsync'd); the rates are what "
        "conversion got from that machine, not its best.",
        "",
        "*seconds* include starting the workers (a forkserver importing torch + mmgraph: ~10 s on this machine); "
        "the steady rate is the marginal one: " + ("; ".join(marginal) or "n/a (fewer than two sizes)") + ".",
        "",
        "Growth with the number of records (least-squares slope over the sizes above): "
        f"peak tree RSS {s['peak_tree_rss_mb']:+.0f} B/record, parent VmHWM {s['parent_vmhwm_mb']:+.0f} B/record, "
        f"records pass (traced) {s['records_pass_traced_peak_mb']:+.0f} B/record.",
        "",
        "- *peak RSS / PSS, process tree*: the peak over time of the summed RSS (PSS: shared pages divided "
        "among the processes sharing them) of the converting process, the forkserver and the workers, "
        "sampled every 100 ms. RSS counts the torch + mmgraph pages the workers share with the forkserver "
        "once per process; PSS counts them once.",
        "- *VmHWM*: each process's own RSS high-water mark, kept by the kernel (the parent's is exact; "
        "the others' are the last value sampled before the process ended). *helpers*: the forkserver and "
        "multiprocessing's resource tracker, children of the parent; the workers fork from the forkserver.",
        "- *records pass, traced peak*: `tracemalloc` peak of one `ManifestDataset.records()` pass over "
        "the manifest (the reading side of a conversion, the set of ids seen included).",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = report["results"]
    records = [r["records"] for r in rows]
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(records, [r["peak_tree_rss_mb"] for r in rows], "o-", label="process tree, summed RSS")
    ax.plot(records, [r["peak_tree_pss_mb"] for r in rows], "s-", label="process tree, summed PSS")
    ax.plot(records, [r["parent_vmhwm_mb"] for r in rows], "^-", label="parent (VmHWM)")
    ax.plot(records, [max(r["workers_vmhwm_mb"], default=0) for r in rows], "v-", label="largest worker (VmHWM)")
    ax.set_xscale("log")
    ax.set_xticks(records, [f"{n // 1000}k" for n in records])
    ax.set_ylim(0, 1.35 * max(r["peak_tree_rss_mb"] for r in rows))
    ax.set_xlabel("records in the manifest")
    ax.set_ylabel("peak memory (MB)")
    ax.set_title(f"mmgraph convert, {report['workers']} workers: peak memory vs records")
    ax.legend(loc="upper center", ncol=2, fontsize="small")
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=512)
    default_data = (Path(os.environ["MMGRAPH_DATA"]) if os.environ.get("MMGRAPH_DATA") else SHARED_DATA) / "emoji"
    parser.add_argument("--data", type=Path, default=default_data, help="the emoji folder (index.jsonl + img/)")
    parser.add_argument("--out", default="benchmarks/results/convert_memory.json")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not (args.data / "index.jsonl").is_file():
        raise SystemExit(f"{args.data}: no index.jsonl (pass --data DIR or set $MMGRAPH_DATA)")

    import torch

    import mmgraph

    results = []
    with tempfile.TemporaryDirectory(prefix="convert-memory-") as tmp:
        for n in args.records:
            manifest = Path(tmp) / f"emoji-{n}.jsonl"
            write_manifest(args.data, n, manifest)
            command = [sys.executable, str(HERE), "--child", str(n), "--manifest", str(manifest), "--tmp", tmp,
                       "--workers", str(args.workers), "--chunk-size", str(args.chunk_size)]
            proc = subprocess.run(command, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"{n} records failed:\n{proc.stderr}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            results.append(result)
            print(f"{n:>9,} records: {result['seconds']:7.1f} s, {result['records_per_s']:7,.0f} rec/s, "
                  f"peak tree RSS {result['peak_tree_rss_mb']:,.0f} MB (PSS {result['peak_tree_pss_mb']:,.0f}), "
                  f"parent VmHWM {result['parent_vmhwm_mb']:,.0f} MB, "
                  f"records pass {result['records_pass_traced_peak_mb']:.1f} MB traced", flush=True)
            manifest.unlink()
    keys = ("peak_tree_rss_mb", "peak_tree_pss_mb", "parent_vmhwm_mb", "records_pass_traced_peak_mb")
    report = {
        "benchmark": "convert_memory",
        "command": " ".join(["python benchmarks/convert_memory.py", *sys.argv[1:]]),
        "source": "emoji repeated", "workers": args.workers, "chunk_size": args.chunk_size,
        "results": results,
        "growth_bytes_per_record": {k: round(slope_bytes_per_record(results, k), 1) for k in keys},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "mmgraph": mmgraph.__version__,
                    "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    plot(report, out.with_suffix(".png"))
    print(f"wrote {out}, {out.with_suffix('.md').name}, {out.with_suffix('.png').name}")


if __name__ == "__main__":
    main()
