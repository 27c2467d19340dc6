"""The shape of the house: no import circle among mmgraph's modules and no import from a lower floor to a higher one.

Read statically (``ast``), module-level and function-level imports alike, so a lazy import inside a
function counts: it is still a dependency. The floors are ARCHITECTURE.md's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "mmgraph"

FLOORS = [  # lowest first; a module may import its own floor and the floors below
    ("bottom", ["mmgraph.typing", "mmgraph.errors", "mmgraph.registry", "mmgraph.config", "mmgraph.files",
                "mmgraph.task", "mmgraph.modality", "mmgraph.media"]),
    ("sample", ["mmgraph.sample"]),
    ("featurize", ["mmgraph.featurize"]),
    ("graph", ["mmgraph.graph"]),
    ("nn", ["mmgraph.nn"]),
    ("datasets", ["mmgraph.datasets", "mmgraph.convert.layout"]),
    ("models", ["mmgraph.models"]),
    ("train", ["mmgraph.train"]),
    ("explain", ["mmgraph.explain"]),
    ("bench, convert", ["mmgraph.bench", "mmgraph.convert", "mmgraph.info", "mmgraph.predict", "mmgraph.evaluate"]),
    ("command line", ["mmgraph.cli", "mmgraph.__main__"]),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> nx.DiGraph:
    """Module → module edges for every ``import``/``from ... import`` naming an mmgraph module."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = nx.DiGraph()
    for mod, path in modules.items():
        graph.add_node(mod)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            else:
                continue
            for target in targets:
                resolved = resolve(target) if target.startswith("mmgraph") else None
                if resolved and resolved != mod and resolved != "mmgraph":
                    graph.add_edge(mod, resolved)
    return graph


def floor(module: str) -> int | None:
    """The floor of ``module``: its most specific prefix in ``FLOORS`` wins (convert.layout sits below convert)."""
    matches = [(len(p), i) for i, (_, prefixes) in enumerate(FLOORS) for p in prefixes
               if module == p or module.startswith(p + ".")]
    return max(matches)[1] if matches else None


def test_every_module_has_a_floor() -> None:
    unplaced = sorted(m for m in _modules() if m != "mmgraph" and floor(m) is None)
    assert not unplaced, f"modules on no floor of ARCHITECTURE.md: {unplaced}"


def test_no_import_circle() -> None:
    cycles = sorted((" -> ".join([*c, c[0]]) for c in nx.simple_cycles(import_graph())), key=len)
    assert not cycles, "import circles:\n" + "\n".join(cycles[:20])


def test_no_import_runs_back_up() -> None:
    upward = []
    for a, b in import_graph().edges:
        fa, fb = floor(a), floor(b)
        if fa is not None and fb is not None and fb > fa:
            upward.append(f"{a} [{FLOORS[fa][0]}] -> {b} [{FLOORS[fb][0]}]")
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(sorted(upward))
