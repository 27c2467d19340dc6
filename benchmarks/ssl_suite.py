"""Self-supervised pretraining, clustering and knowledge transfer: run an SSL suite (``kind = "ssl"``).

Reads a suite TOML (default ``benchmarks/suites/avmnist_ssl.toml``), runs or resumes every job
(``mmgraph.bench.ssl``) and writes ``results.json`` (the source of truth), ``results.csv``,
``results.md`` and the plots. Finished jobs are kept in ``--work`` and never redone.

    python benchmarks/ssl_suite.py [--suite avmnist_ssl] [--work bench-out/avmnist_ssl] \
        [--out benchmarks/results/avmnist_ssl] [--quick] [--seeds N] [--root DATA]
"""

from __future__ import annotations

import argparse
import logging
import sys

from mmgraph.bench.ssl import load_ssl_suite, run_ssl_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="avmnist_ssl", help="SSL suite name or TOML file")
    parser.add_argument("--work", help="data cache, run folders, job records (default: bench-out/SUITE)")
    parser.add_argument("--out", help="report folder (default: benchmarks/results/SUITE)")
    parser.add_argument("--quick", action="store_true", help="apply the suite's [quick] settings")
    parser.add_argument("--seeds", type=int, help="number of seeds (0..N-1), overriding the suite")
    parser.add_argument("--root", help="raw-data folder (default $MMGRAPH_DATA)")
    parser.add_argument("--progress", action="store_true", help="progress bars")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    suite = load_ssl_suite(args.suite)
    if args.root:
        suite.root = args.root
    tag = suite.name + ("-quick" if args.quick else "")
    report = run_ssl_suite(
        suite, args.work or f"bench-out/{tag}", args.out or f"benchmarks/results/{tag}", quick=args.quick,
        seeds=list(range(args.seeds)) if args.seeds is not None else None, progress=args.progress,
        command="python benchmarks/ssl_suite.py " + " ".join(sys.argv[1:]),
    )
    for row in report["summary"]["targets"]:
        print(f"{'met' if row['met'] else 'MISSED'}: {row['target']} (measured {row['value']['mean']:.4f})")
    print(f"results: {args.out or f'benchmarks/results/{tag}'}/results.md")


if __name__ == "__main__":
    main()
