"""The package's import graph, by layer: upward imports, cycles and module sizes.

    python tools/import_graph.py            # summary: upward imports, cycles, largest modules
    python tools/import_graph.py --edges    # every edge, too

Layers, lowest first (a module may import from its own layer and the ones below, never above):

    ground     records, errors, heap, memory, distributed, device, seeding, atomic, chart layout
    data       reportgen.data.*
    models     reportgen.models.*
    analyses   reportgen.analyses.*, evaluation, batching, cache
    site       reportgen.site.*  (tables, chart specs and metrics -> HTML; never torch)
    run        reportgen.run.*, config  (the one place that runs a report)
    interface  cli, __main__, review, publish

The package root (``reportgen/__init__.py``: the version and lazy public names) is left out: every
layer reads the version from it. Imports under ``if TYPE_CHECKING:`` are left out too: they name
types for annotations and never run (an analysis's views module annotating with its
``Params``). ``tests/test_architecture.py`` holds the graph to these rules.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "reportgen"
LAYERS = ("ground", "data", "models", "analyses", "site", "run", "interface")
PLACES = {  # module (or package) prefix -> layer; the longest prefix wins
    "reportgen.records": "ground", "reportgen.errors": "ground", "reportgen.heap": "ground",
    "reportgen.distributed": "ground", "reportgen.device": "ground", "reportgen.seeding": "ground",
    "reportgen.atomic": "ground", "reportgen.chart_layout": "ground",
    "reportgen.chart_explorer": "ground", "reportgen.memory": "ground",
    "reportgen.data": "data", "reportgen.models": "models",
    "reportgen.analyses": "analyses", "reportgen.evaluation": "analyses",
    "reportgen.batching": "analyses", "reportgen.cache": "analyses",
    "reportgen.site": "site", "reportgen.run": "run", "reportgen.config": "run",
    "reportgen.cli": "interface", "reportgen.__main__": "interface",
    "reportgen.review": "interface", "reportgen.publish": "interface",
}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layer(module: str) -> str | None:
    best = max((p for p in PLACES if module == p or module.startswith(p + ".")), key=len,
               default=None)
    return PLACES[best] if best else None


def edges(found: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (at any depth of the file, lazy imports too)."""
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and _is_type_checking(block.test) for stmt in block.body
                       for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in targets:
                if target in found and target != name and target != "reportgen":
                    graph[name].add(target)
    graph.pop("reportgen", None)
    return graph


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    rank = {name: i for i, name in enumerate(LAYERS)}
    bad = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = layer(source), layer(target)
            if a is None or b is None or rank[b] > rank[a]:
                bad.append((source, target))
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def line_counts(found: dict[str, Path]) -> dict[str, int]:
    return {name: len(path.read_text().splitlines()) for name, path in found.items()}


def main(argv: list[str]) -> int:
    found = modules()
    graph = edges(found)
    bad = upward(graph)
    loops = cycles(graph)
    print(f"{len(found)} modules, {sum(len(t) for t in graph.values())} imports")
    print(f"upward imports: {len(bad)}")
    for a, b in bad:
        print(f"  {a} ({layer(a)}) -> {b} ({layer(b)})")
    print(f"cycles: {len(loops)}")
    for loop in loops:
        print("  " + " <-> ".join(loop))
    sizes = sorted(line_counts(found).items(), key=lambda kv: -kv[1])
    largest = ", ".join(f"{n.removeprefix('reportgen.')} {c}" for n, c in sizes[:8])
    print("largest modules: " + largest)
    if "--edges" in argv:
        for source in sorted(graph):
            print(source, "->", ", ".join(sorted(graph[source])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
