"""Mutation score of the core modules: the share of small code changes (mutants) that the tests catch.

mutmut (``pip install mutmut``; not a dependency of mmgraph) mutates each function of the modules
below (a ``<`` becomes ``<=``, a constant changes, an argument is dropped, ...) and runs, for each
mutant, the tests of ``TESTS`` that call the function; a mutant is *killed* when a test fails (or
times out), *survived* when every test passes. The score of a module is killed / (killed + survived);
mutants that no selected test reaches count as survivors. Modules, as issue 17 names them:

- collate, edges, cross-modal attention, readout, heads, checkpoint, perturbations: every function
  of the file(s);
- manifest confinement: only the functions that confine paths and refuse non-regular files
  (``file_problem``, ``is_inside``, ``_recheck_file``, ``_with_separator``, ``_RecordChecker.__init__``
  and ``._path``), not the whole manifest reader;
- convert packing: the worker's chunk conversion (``convert/worker.py``) and shard packing in
  ``convert/layout.py`` (``Shard``, ``write_shard``, ``read_shard``).

mutmut runs in a temporary copy of the repository (its ``mutants/`` folder and config stay out of
the checkout); the Python running this script must have mutmut, pytest and mmgraph's dependencies.
This is a benchmark-style job, not part of CI: the full run takes hours on 2 cores.

    python benchmarks/mutation_score.py [--modules readout heads ...] [--jobs 2]
        [--out benchmarks/results/mutation_score.json]

Writes the JSON (per module: mutants, killed, survived, score, and every survivor's name and diff)
and a Markdown table beside it (``.md``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# module: (source files, mutant-name patterns (None: every function of the files), test files)
MODULES: dict[str, tuple[list[str], list[str] | None, list[str]]] = {
    "collate": (["mmgraph/graph/collate.py"], None,
                ["tests/graph/test_build_collate.py", "tests/graph/test_columns.py"]),
    "edges": (["mmgraph/graph/edges.py"], None, ["tests/graph/test_edges.py", "tests/graph/test_build_collate.py"]),
    "cross_modal_attention": (["mmgraph/nn/conv/cross_modal_attention.py"], None,
                              ["tests/nn/conv/test_cross_modal_attention.py"]),
    "readout": (["mmgraph/nn/readout.py"], None, ["tests/nn/test_readout.py"]),
    "heads": (["mmgraph/nn/heads/base.py", "mmgraph/nn/heads/classification.py", "mmgraph/nn/heads/regression.py",
               "mmgraph/nn/heads/clustering.py", "mmgraph/nn/heads/multitask.py"], None,
              ["tests/nn/heads/test_heads.py"]),
    "checkpoint": (["mmgraph/train/checkpoint.py"], None,
                   ["tests/train/test_checkpoint.py", "tests/train/test_checkpoint_integrity.py"]),
    "manifest_confinement": (
        ["mmgraph/datasets/manifest.py"],
        ["*.x_file_problem__mutmut_*", "*.x_is_inside__mutmut_*", "*.x__recheck_file__mutmut_*",
         "*.x__with_separator__mutmut_*", "*.xǁ_RecordCheckerǁ__init____mutmut_*",
         "*.xǁ_RecordCheckerǁ_path__mutmut_*"],
        ["tests/datasets/test_confinement.py", "tests/datasets/test_manifest.py"]),
    "perturbations": (["mmgraph/bench/perturb.py"], None,
                      ["tests/bench/test_perturb_noise.py", "tests/bench/test_perturb.py"]),
    "convert_packing": (
        ["mmgraph/convert/worker.py", "mmgraph/convert/layout.py"],
        ["*.convert.worker.*", "*.xǁShardǁ*", "*.x_write_shard__mutmut_*", "*.x_read_shard__mutmut_*"],
        ["tests/convert/test_worker.py", "tests/convert/test_layout.py", "tests/convert/test_api.py"]),
}

KILLED = {1, 3, 36, 24, -24, 152, 255, -11, -9}  # a failing test, a pytest error, a timeout or a crash
SURVIVED = {0, 5, 33}  # the tests pass, or no test reaches the mutant


def make_copy(dest: Path, modules: list[str]) -> None:
    """The repository's tracked files in ``dest``, with a ``[tool.mutmut]`` table for ``modules``."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True).stdout
    for name in files.decode().split("\0"):
        if name and (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    sources = sorted({s for m in modules for s in MODULES[m][0]})
    tests = sorted({t for m in modules for t in MODULES[m][2]})
    pyproject = (dest / "pyproject.toml").read_text()
    pyproject = re.sub(r'^pythonpath = .*\n', "", pyproject, flags=re.M)  # mutmut puts mutants/ on the path
    pyproject += ("\n[tool.mutmut]\nsource_paths = [\"mmgraph\"]\n"
                  f"only_mutate = {json.dumps(sources)}\n"
                  "also_copy = [\"tests\", \"datasets\", \"benchmarks\", \"constraints.txt\", \"README.md\"]\n"
                  f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
                  "pytest_add_cli_args = [\"-p\", \"no:cacheprovider\", \"-q\"]\n")
    (dest / "pyproject.toml").write_text(pyproject)


def mutant_results(copy: Path) -> dict[str, int | None]:
    """Every mutant's exit code, from mutmut's ``.meta`` files (``None``: not run)."""
    out: dict[str, int | None] = {}
    for meta in (copy / "mutants").rglob("*.py.meta"):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def selected(name: str, module: str) -> bool:
    sources, patterns, _ = MODULES[module]
    dotted = [s[:-3].replace("/", ".") for s in sources]
    if not any(name.startswith(d + ".") for d in dotted):
        return False
    return patterns is None or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def diff_of(copy: Path, name: str, python: str) -> str:
    result = subprocess.run([python, "-m", "mutmut", "show", name], cwd=copy, capture_output=True, text=True,
                            env=_env())
    return result.stdout.strip()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def run_module(module: str, jobs: int, python: str) -> dict:
    """Mutate one module in a fresh copy of the repository; its row of the result."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mmgraph-mutmut-") as tmp:
        copy = Path(tmp)
        make_copy(copy, [module])
        # generate the mutants (and time the tests once), then run those of the selected functions only
        gen = subprocess.run([python, "-m", "mutmut", "run", "--max-children", str(jobs), "no-such-mutant"],
                             cwd=copy, capture_output=True, text=True, env=_env())
        names = sorted(n for n in mutant_results(copy) if selected(n, module))
        if not names:
            raise SystemExit(f"mutmut produced no mutant of {module}:\n{gen.stdout[-3000:]}\n{gen.stderr[-3000:]}")
        subprocess.run([python, "-m", "mutmut", "run", "--max-children", str(jobs), *names],
                       cwd=copy, capture_output=True, text=True, env=_env())
        codes = {n: c for n, c in mutant_results(copy).items() if n in set(names)}
        killed = sorted(n for n, c in codes.items() if c in KILLED)
        survived = sorted(n for n, c in codes.items() if c in SURVIVED)
        checked = len(killed) + len(survived)
        return {
            "module": module, "files": MODULES[module][0], "tests": MODULES[module][2],
            "mutants": len(codes), "killed": len(killed), "survived": len(survived),
            "not_run": len(codes) - checked, "score": round(len(killed) / checked, 4) if checked else None,
            "seconds": round(time.perf_counter() - t0, 1),
            "survivors": [{"name": n, "diff": diff_of(copy, n, python)} for n in survived],
        }


def _version(python: str) -> str:
    out = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('mutmut'))"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def markdown(result: dict) -> str:
    minutes = sum(r["seconds"] for r in result["rows"]) / 60
    lines = [f"# Mutation score ({result['tool']})", "",
             f"`{result['command']}` — {minutes:.0f} min on {result['jobs']} worker(s), "
             f"{result['machine']['cpus']} CPUs (shared).", "",
             "| module | mutants | killed | survived | not run | score |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        score = "—" if r["score"] is None else f"{100 * r['score']:.1f} %"
        lines.append(f"| {r['module']} | {r['mutants']} | {r['killed']} | {r['survived']} | {r['not_run']} | {score} |")
    total_k = sum(r["killed"] for r in result["rows"])
    total_s = sum(r["survived"] for r in result["rows"])
    if total_k + total_s:
        lines.append(f"| **all** | {sum(r['mutants'] for r in result['rows'])} | {total_k} | {total_s} | "
                     f"{sum(r['not_run'] for r in result['rows'])} | {100 * total_k / (total_k + total_s):.1f} % |")
    lines += ["", "Killed: a selected test fails or times out. Survived: every test that reaches the mutant passes, "
              "or none reaches it. Survivors are listed with their diffs in the JSON."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES))
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--python", default=sys.executable, help="the Python with mutmut and mmgraph's dependencies")
    parser.add_argument("--out", default="benchmarks/results/mutation_score.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # rows of other modules already in the file are kept: a run of a few modules updates theirs
    old = json.loads(out.read_text())["rows"] if out.exists() else []
    rows = {r["module"]: r for r in old if r["module"] in MODULES}
    for module in args.modules:
        rows[module] = run_module(module, args.jobs, args.python)
        done = " ".join(m for m in MODULES if m in rows)
        result = {"benchmark": "mutation_score", "tool": f"mutmut {_version(args.python)}",
                  "rows": [rows[m] for m in MODULES if m in rows], "jobs": args.jobs,
                  "machine": {"python": platform.python_version(),
                              "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
                  "command": f"python benchmarks/mutation_score.py --modules {done} --jobs {args.jobs}"}
        out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        out.with_suffix(".md").write_text(markdown(result))
        print(f"{module}: {rows[module]['killed']}/{rows[module]['killed'] + rows[module]['survived']} killed",
              flush=True)


if __name__ == "__main__":
    main()
