"""The benchmark runner: suites of models × datasets × tasks × seeds, with robustness and cost."""

from mmgraph.bench.report import write_report
from mmgraph.bench.run import BenchmarkRun, describe_suites, run_benchmark
from mmgraph.bench.runner import prepare_data, run_job, run_suite
from mmgraph.bench.ssl import SSLSuite, load_ssl_suite, run_ssl_suite
from mmgraph.bench.suite import ModelEntry, Suite, list_suites, load_suite, parse_suite, suite_kind

__all__ = [
    "BenchmarkRun",
    "ModelEntry",
    "SSLSuite",
    "Suite",
    "describe_suites",
    "list_suites",
    "load_ssl_suite",
    "load_suite",
    "parse_suite",
    "prepare_data",
    "run_benchmark",
    "run_job",
    "run_ssl_suite",
    "run_suite",
    "suite_kind",
    "write_report",
]
