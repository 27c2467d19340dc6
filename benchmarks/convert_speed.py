"""Conversion speed: records/s of ``mmgraph.convert`` with 1 and 2 worker processes, and peak memory.

Sources:
- ``digits``: the built-in dataset (1,797 records), loaded once and passed in memory, so that
  synthesising the dataset is not timed;
- ``digits-manifest``: the same records written as PNG + WAV files and a JSONL manifest (manifest
  checks, the tokenizer's text pass and file decoding included);
- ``avmnist`` (70,000 records) when its module and raw data are available (skipped otherwise;
  ``--avmnist-records N`` converts the first N records of its splits only, 0 skips it).

Every (source, workers) pair runs in a fresh Python process. There, the first ``convert`` is
*cold* (with workers: the forkserver starts and imports torch + mmgraph once, overlapped with
reading the source) and the next ``--repeats`` are *warm* (workers fork from the running server):
warm (median and best) is the steady-state rate, cold what a one-off ``mmgraph convert`` of this
size sees; their difference (cold seconds minus the records at the warm median rate) estimates the
cold start. The machine's load average before each run is recorded: on a shared machine it moves
the numbers more than anything else. Startup times are measured in fresh interpreters too: importing
the worker module (``mmgraph.convert.worker``, what a worker imports) and ``python -m mmgraph --help``
(median of 3). Peak memory is reported three ways: ``getrusage`` of the process
(self) and of its reaped children (forkserver workers are grandchildren, which ``getrusage`` does
not see), and the peak over time of the summed RSS and PSS (RSS with shared pages divided among
the processes sharing them) of the whole process tree, sampled from ``/proc`` every 50 ms.

CPU seconds per record, by process (parent, workers, forkserver), come from the same sampling
(``/proc/PID/stat``; the parent's from ``getrusage`` less the sampling thread's): unlike records/s
they hardly move with the machine's load, so that they compare runs on a shared machine. The JSON
and a Markdown summary (``NAME.md`` beside it) are written; ``--root`` shows as ``DATA`` there.

    python benchmarks/convert_speed.py [--workers 1 2] [--chunk-size 128] [--avmnist-records N]
        [--repeats 3] [--out benchmarks/results/convert_speed.json] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SHARED_DATA = HERE.parents[2] / "shared" / "data"  # the layout tests/conftest.py also assumes


# ------------------------------------------------------------------------------------ memory


def _tree(root: int) -> list[int]:
    """``root`` and every descendant process (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            values = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split(":")[0] in ("Rss", "Pss")}
        return values.get("Rss", 0), values.get("Pss", 0)
    except (OSError, ValueError):
        return 0, 0


class TreeMemory:
    """Samples the summed RSS and PSS of this process and its descendants; keeps the peaks."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_rss_kb = self.peak_pss_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = pss = 0
            for pid in _tree(os.getpid()):
                r, p = _rss_pss_kb(pid)
                rss, pss = rss + r, pss + p
                self.sample_process(pid)
            self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)
            self._stop.wait(self.interval)

    def sample_process(self, pid: int) -> None:
        """Per-process hook of each sampling round (subclasses record more)."""

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ------------------------------------------------------------------------------------- child


def write_digits_manifest(folder: Path) -> Path:
    """The digits records as PNG + WAV files and a JSONL manifest (ids, splits, labels, targets kept)."""
    import numpy as np
    from PIL import Image
    from scipy.io import wavfile

    from mmgraph.datasets import load_dataset

    dataset = load_dataset("digits")
    (folder / "imgs").mkdir(parents=True, exist_ok=True)
    (folder / "wav").mkdir(exist_ok=True)
    lines = []
    for split, samples in dataset.splits.items():
        for s in samples:
            Image.fromarray(s.image).save(folder / "imgs" / f"{s.id}.png")
            wave = np.round(np.clip(s.audio.waveform, -1.0, 1.0) * 32767).astype(np.int16)
            wavfile.write(folder / "wav" / f"{s.id}.wav", s.audio.sample_rate, wave)
            lines.append(json.dumps({"id": s.id, "image": f"imgs/{s.id}.png", "text": s.text,
                                     "audio": f"wav/{s.id}.wav", "label": s.y, "targets": s.targets,
                                     "split": split}))
    path = folder / "digits.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _source(name: str, tmp: Path, args: argparse.Namespace) -> Any:
    from mmgraph.datasets import load_dataset

    if name == "digits":
        return load_dataset("digits")
    if name == "digits-manifest":
        return tmp / "manifest" / "digits.jsonl"
    if name == "avmnist":
        from mmgraph.datasets.base import MultimodalDataset

        dataset = load_dataset("avmnist", root=args.root)
        if args.avmnist_records:
            share = args.avmnist_records / sum(len(v) for v in dataset.splits.values())
            splits = {k: v[: max(1, round(len(v) * share))] for k, v in dataset.splits.items()}
            dataset = MultimodalDataset(dataset.name, splits, dataset.tasks, dataset.graph_config,
                                        dataset.node_targets, dataset.info)
        return dataset
    raise ValueError(name)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_and_role(pid: int) -> tuple[float, str] | None:
    """CPU seconds (user + system) of process ``pid`` so far, and what it is (from its command line)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return None
    # a forkserver's workers are its children, with its command line; every other helper is this process's child
    ppid = int(fields[1])
    role = ("worker" if ppid != os.getpid() else "forkserver" if b"multiprocessing.forkserver" in cmdline
            else "resource_tracker" if b"multiprocessing.resource_tracker" in cmdline else "worker")
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS, role


class TreeCPU(TreeMemory):
    """``TreeMemory`` that also keeps the CPU seconds of every descendant process, by role.

    A process's CPU is read from ``/proc`` at each sampling round, so up to one round (50 ms) of a
    worker's exit is missed. This process's own CPU comes from ``getrusage`` minus the sampling
    thread's (``cpu_seconds``).
    """

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(interval)
        self.children: dict[int, tuple[float, str]] = {}
        self.sampler_cpu = 0.0

    def sample_process(self, pid: int) -> None:
        if pid == os.getpid():
            self.sampler_cpu = time.thread_time()
            return
        seen = _cpu_and_role(pid)
        if seen is not None:
            self.children[pid] = seen

    def by_role(self) -> dict[str, float]:
        """CPU seconds so far, summed by role (``worker``, ``forkserver``, ``resource_tracker``)."""
        out: dict[str, float] = {}
        for cpu, role in self.children.values():
            out[role] = out.get(role, 0.0) + cpu
        return out

    def parent_cpu(self) -> float:
        """This process's CPU seconds so far, the sampler thread's left out."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime - self.sampler_cpu


def child(args: argparse.Namespace) -> None:
    from mmgraph.convert import convert

    tmp = Path(args.tmp)
    source = _source(args.child, tmp, args)
    repeats = args.repeats
    result: dict[str, Any] = {}
    with TreeCPU() as memory:
        for run in ["cold"] + [f"warm{i}" for i in range(repeats)]:
            out = tmp / f"out-{args.child}-{args.child_workers}-{run}"
            shutil.rmtree(out, ignore_errors=True)
            load = os.getloadavg()[0]
            time.sleep(2 * memory.interval)  # a sampling round after the last run's workers exited
            children, parent = memory.by_role(), memory.parent_cpu()
            start = time.perf_counter()
            report = convert(source, out, workers=args.child_workers, chunk_size=args.chunk_size, progress=False)
            seconds = time.perf_counter() - start
            parent = memory.parent_cpu() - parent
            time.sleep(2 * memory.interval)
            children = {role: cpu - children.get(role, 0.0) for role, cpu in memory.by_role().items()}
            cpu = {"parent": parent, **children}
            result[run] = {"records": report.records, "converted": report.converted, "rejected": report.rejected,
                           "seconds": round(seconds, 3), "records_per_s": round(report.records / seconds, 1),
                           "load_average_before": round(load, 2), "load_average_after": round(os.getloadavg()[0], 2),
                           "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
                           "cpu_us_per_record": {k: round(1e6 * v / report.records) for k, v in cpu.items()},
                           "records_per_cpu_s": round(report.records / sum(cpu.values()), 1)}
            shutil.rmtree(out, ignore_errors=True)
    warm = sorted(result[k]["records_per_s"] for k in result if k.startswith("warm"))
    if warm:
        result["warm"] = {"median_records_per_s": statistics.median(warm), "best_records_per_s": warm[-1],
                          "repeats": len(warm)}
        cold = result["cold"]
        result["cold_start_s_estimate"] = round(cold["seconds"] - cold["records"] / statistics.median(warm), 2)
    result["peak_kb"] = {
        "getrusage_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "getrusage_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "tree_rss_sum": memory.peak_rss_kb,
        "tree_pss_sum": memory.peak_pss_kb,
    }
    print(json.dumps(result))


# ------------------------------------------------------------------------------------ parent


def startup_seconds(code: list[str], repeats: int = 3) -> dict[str, float]:
    """Wall seconds of ``python *code`` in a fresh interpreter: median and best of ``repeats``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, *code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 3), "best_s": round(min(times), 3),
            "load_average_before": round(os.getloadavg()[0], 2)}


def available_avmnist(root: str | None) -> str | None:
    """``None`` when AV-MNIST can be loaded, else why not."""
    try:
        from mmgraph.datasets import DATASETS
        from mmgraph.datasets.raw import resolve_data_root
    except ImportError as exc:
        return f"mmgraph.datasets.avmnist not importable ({exc})"
    if "avmnist" not in DATASETS:
        return "no 'avmnist' dataset registered"
    try:
        resolve_data_root(root, "avmnist", ("mnist", "fsdd", "esc50_8k"))
    except (ValueError, OSError) as exc:
        return str(exc)
    return None


def recorded_command(argv: list[str], root: str | None) -> str:
    """The command line as the results record it: the data folder as ``DATA``, paths relative to the repository."""
    words = []
    for word in argv:
        if root and word == root:
            word = "DATA"
        elif os.path.isabs(word) and Path(word).is_relative_to(HERE.parents[1]):
            word = str(Path(word).relative_to(HERE.parents[1]))
        words.append(word)
    return " ".join(["python benchmarks/convert_speed.py", *words])


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def markdown(report: dict[str, Any]) -> str:
    """The results as Markdown: start-up, then per source and worker count the runs' rates, CPU and load."""
    m = report["machine"]
    lines = [
        "# convert_speed: `mmgraph convert` records/s, CPU per record, start-up", "",
        *([report["note"], ""] if report.get("note") else []),
        f"Command: `{report['command']}` (chunk size {report['chunk_size']}; Python {m['python']}, torch "
        f"{m['torch']}, mmgraph {m['mmgraph']}, {m['cpus']} CPUs, load average at the end "
        f"{' / '.join(str(x) for x in m['load_average_at_end'])}).", "",
        "Each (source, workers) pair runs in a fresh process: the first `convert` is cold (with workers, the "
        "forkserver starts and imports torch + mmgraph), the next ones warm. CPU seconds per record are summed "
        "by process: the parent (the `convert` call's process, the benchmark's sampling thread left out), the "
        "worker processes, the forkserver (its import of torch + mmgraph, in the cold run). Records per CPU "
        "second is what the machine's cores allow whatever else runs on them: on an idle machine with N cores, "
        "at best N times that (the load average, 1 min, is given before and after each run).", "",
        "## Start-up (fresh interpreter)", "",
        "| command | median s | best s | load before |", "| --- | ---: | ---: | ---: |",
    ]
    for what, t in report["startup"].items():
        lines.append(f"| `{what}` | {t['median_s']:.2f} | {t['best_s']:.2f} | {t['load_average_before']} |")
    for source, by_workers in report["results"].items():
        lines += ["", f"## {source}", "",
                  "| workers | run | s | records/s | CPU µs / record (parent, workers, forkserver) | records / CPU s "
                  "| load before → after |",
                  "| ---: | --- | ---: | ---: | --- | ---: | --- |"]
        for key, result in by_workers.items():
            workers = key.split("=")[1]
            for run in [k for k in result if k == "cold" or k.startswith("warm") and k != "warm"]:
                r = result[run]
                us = r["cpu_us_per_record"]
                parts = f"{us['parent']:,}, {us.get('worker', 0):,}, {us.get('forkserver', 0):,}"
                lines.append(f"| {workers} | {run} | {r['seconds']:.2f} | {_rate(r['records_per_s'])} | {parts} | "
                             f"{_rate(r['records_per_cpu_s'])} | {r['load_average_before']} → "
                             f"{r['load_average_after']} |")
        lines += ["", "| workers | warm records/s median (best) | cold start estimate s | peak tree PSS MiB |",
                  "| ---: | --- | ---: | ---: |"]
        for key, result in by_workers.items():
            if "warm" not in result:
                continue
            w = result["warm"]
            lines.append(f"| {key.split('=')[1]} | {_rate(w['median_records_per_s'])} "
                         f"({_rate(w['best_records_per_s'])}) | {result['cold_start_s_estimate']:.2f} | "
                         f"{result['peak_kb']['tree_pss_sum'] / 1024:,.0f} |")
    if report["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{k} ({v})" for k, v in report["skipped"].items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per (source, workers) (default 3)")
    parser.add_argument("--sources", nargs="+", default=["digits", "digits-manifest", "avmnist"],
                        choices=["digits", "digits-manifest", "avmnist"], help="which sources to convert")
    parser.add_argument("--avmnist-records", type=int, default=None,
                        help="convert only about this many AV-MNIST records (0: skip AV-MNIST)")
    default_root = os.environ.get("MMGRAPH_DATA") or (str(SHARED_DATA) if SHARED_DATA.is_dir() else None)
    parser.add_argument("--root", default=default_root,
                        help="raw-data folder for AV-MNIST (default $MMGRAPH_DATA, else ../shared/data)")
    parser.add_argument("--out", default="benchmarks/results/convert_speed.json")
    parser.add_argument("--note", default="", help="what this run measured (the code's state): shown in the Markdown")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-workers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import mmgraph

    sources = [s for s in args.sources if s != "avmnist"]
    skipped = {}
    reason = ("--avmnist-records 0" if args.avmnist_records == 0 else available_avmnist(args.root)
              if "avmnist" in args.sources else "not in --sources")
    if reason is None:
        sources.append("avmnist")
    else:
        skipped["avmnist"] = reason
        print(f"avmnist skipped: {reason}")
    startup = {
        "python -c 'import mmgraph.convert.worker'": startup_seconds(["-c", "import mmgraph.convert.worker"]),
        "python -m mmgraph --help": startup_seconds(["-m", "mmgraph", "--help"]),
        "python -c 'import torch' (floor)": startup_seconds(["-c", "import torch"]),
    }
    for what, t in startup.items():
        print(f"{what}: median {t['median_s']:.2f} s (best {t['best_s']:.2f} s)")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="convert-speed-") as tmp:
        if "digits-manifest" in sources:
            write_digits_manifest(Path(tmp) / "manifest")
        for source in sources:
            for workers in args.workers:
                command = [sys.executable, str(HERE), "--child", source, "--child-workers", str(workers),
                           "--tmp", tmp, "--chunk-size", str(args.chunk_size), "--repeats", str(args.repeats)]
                if args.root:
                    command += ["--root", args.root]
                if args.avmnist_records:
                    command += ["--avmnist-records", str(args.avmnist_records)]
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise SystemExit(f"{source} with {workers} worker(s) failed:\n{proc.stderr}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                results.setdefault(source, {})[f"workers={workers}"] = result
                runs = f"cold {result['cold']['records_per_s']:,.0f} rec/s ({result['cold']['seconds']:.2f} s)"
                if "warm" in result:
                    runs += (f", warm median {result['warm']['median_records_per_s']:,.0f} rec/s "
                             f"(best {result['warm']['best_records_per_s']:,.0f}), cold start "
                             f"~{result['cold_start_s_estimate']:.1f} s")
                peak = result["peak_kb"]
                last = result[f"warm{args.repeats - 1}" if args.repeats else "cold"]
                cpu = ", ".join(f"{k} {v:,}" for k, v in last["cpu_us_per_record"].items())
                print(f"{source:16s} workers={workers}: {runs}; peak tree PSS {peak['tree_pss_sum'] / 1024:.0f} MiB, "
                      f"self {peak['getrusage_self'] / 1024:.0f} MiB; CPU µs/record (last run): {cpu}")
    import torch

    report = {
        "benchmark": "convert_speed",
        "command": recorded_command(sys.argv[1:], args.root),
        "chunk_size": args.chunk_size,
        "note": args.note,
        "results": results,
        "startup": startup,
        "skipped": skipped,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "mmgraph": mmgraph.__version__,
                    "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {out} (+ .md)")


if __name__ == "__main__":
    main()
