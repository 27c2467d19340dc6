"""Conversion on Ray vs the local engine on one machine: records/s on 50,000 records, and the same bytes.

Source: the built-in digits dataset written once as PNG + WAV files, then a JSONL manifest of
``--records`` lines that cycles over those 1,797 records with distinct ids (``digits-0001-c3``):
real decoding (Pillow, WAV), real featurization, files referenced in place (not 50,000 copies).

Each engine runs in a fresh Python process (cold, as a one-off ``mmgraph convert`` is):

- ``local``: ``convert(..., workers=N)``: a forkserver and N worker processes;
- ``ray``: ``ray.init(num_cpus=N)`` (a local Ray instance, timed on its own), then
  ``convert(..., engine="ray")`` (Ray Data tasks, 1 CPU each) on that connection.

Reported per run: wall seconds of ``convert`` and records/s, Ray's start-up separately and
included, and the SHA-256 over the output (every shard, ``meta.json``, ``rejected.jsonl``), which
must be equal: the engines write the same bytes. ``--repeats`` runs of each engine alternate which
goes first; the medians are the headline. One machine gains nothing from Ray; the point is
what its overhead costs here, since the same command runs on a cluster. The machine is shared:
the load average (1 min) before and after each run and the thread counts are recorded.

    nice -n 5 python benchmarks/ray_convert.py [--records 50000] [--cpus 2] [--chunk-size 512]
        [--repeats 2] [--out benchmarks/results/ray_convert.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))  # the sibling scripts: convert_speed's manifest writer, render_results


def write_manifest(folder: Path, records: int) -> Path:
    """A manifest of ``records`` lines cycling over the digits records (their files written once)."""
    from convert_speed import write_digits_manifest

    base = write_digits_manifest(folder).read_text().splitlines()
    lines = []
    for i in range(records):
        rec = json.loads(base[i % len(base)])
        rec["id"] = f"{rec['id']}-c{i // len(base)}"
        lines.append(json.dumps(rec))
    path = folder / f"digits-{records}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def output_sha256(out: Path) -> str:
    """One SHA-256 over every file of a converted folder (names and bytes, in name order)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(out)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def child(args: argparse.Namespace) -> None:
    import torch

    from mmgraph.convert import convert

    out = Path(args.child_out)
    result: dict[str, Any] = {"engine": args.child, "cpus": args.cpus, "torch_threads": torch.get_num_threads(),
                              "load_before": round(os.getloadavg()[0], 2)}
    start = time.perf_counter()
    if args.child == "ray":
        import ray

        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        result["ray_version"] = ray.__version__
        result["engine_start_seconds"] = round(time.perf_counter() - start, 2)
        begin = time.perf_counter()
        report = convert(args.manifest, out, engine="ray", chunk_size=args.chunk_size, progress=False)
    else:
        begin = start
        report = convert(args.manifest, out, workers=args.cpus, chunk_size=args.chunk_size, progress=False)
    end = time.perf_counter()
    if args.child == "ray":
        ray.shutdown()
    result.update({
        "records": report.records, "converted": report.converted, "rejected": report.rejected,
        "chunks": report.chunks_written, "convert_seconds": round(end - begin, 2),
        "records_per_s": round(report.records / (end - begin), 1),
        "total_seconds": round(end - start, 2), "records_per_s_with_start": round(report.records / (end - start), 1),
        "load_after": round(os.getloadavg()[0], 2), "output_sha256": output_sha256(out),
    })
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--cpus", type=int, default=2, help="local worker processes = Ray CPUs (default 2)")
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2, help="runs per engine, alternating which goes first")
    parser.add_argument("--out", default="benchmarks/results/ray_convert.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import torch

    import mmgraph

    rows = []
    with tempfile.TemporaryDirectory(prefix="ray-convert-") as tmp:
        manifest = write_manifest(Path(tmp) / "data", args.records)
        for repeat in range(args.repeats):
            # alternate which engine goes first: the shared machine's load drifts during a run
            for engine in ("local", "ray") if repeat % 2 == 0 else ("ray", "local"):
                out = Path(tmp) / f"{engine}-{repeat}"
                command = [sys.executable, str(HERE), "--child", engine, "--child-out", str(out), "--manifest",
                           str(manifest), "--cpus", str(args.cpus), "--chunk-size", str(args.chunk_size)]
                proc = subprocess.run(command, capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise SystemExit(f"{engine} failed:\n{proc.stderr[-4000:]}")
                row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "repeat": repeat}
                rows.append(row)
                shutil.rmtree(out)
                print(f"{engine:5s}: {row['convert_seconds']:.1f} s, {row['records_per_s']:,.0f} records/s "
                      f"(with start-up {row['total_seconds']:.1f} s); load {row['load_before']} → {row['load_after']}")
    medians = {engine: {key: statistics.median(r[key] for r in rows if r["engine"] == engine)
                        for key in ("convert_seconds", "records_per_s", "total_seconds", "records_per_s_with_start")}
               for engine in ("local", "ray")}
    local, on_ray = medians["local"], medians["ray"]
    report = {
        "benchmark": "ray_convert",
        "command": " ".join(["nice -n 5 python benchmarks/ray_convert.py", *sys.argv[1:]]),
        "source": f"digits as a JSONL manifest of PNG + WAV files, cycled to {args.records:,} records (distinct ids)",
        "records": args.records,
        "chunk_size": args.chunk_size,
        "repeats": args.repeats,
        "rows": rows,
        "medians": medians,
        "same_bytes": len({r["output_sha256"] for r in rows}) == 1,
        "ray_over_local_convert_time": round(on_ray["convert_seconds"] / local["convert_seconds"], 3),
        "ray_over_local_with_start": round(on_ray["total_seconds"] / local["total_seconds"], 3),
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "mmgraph": mmgraph.__version__,
                    "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                    "processor": platform.processor() or platform.machine(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    from render_results import render

    render(out)
    print(f"wrote {out} (+ .md, .png); same bytes: {report['same_bytes']}")


if __name__ == "__main__":
    main()
