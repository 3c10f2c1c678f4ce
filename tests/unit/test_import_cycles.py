"""No import cycles in src/lessor: every module can be imported alone, and layers stay layers.

import-linter checks the layers but not cycles inside one of them; this
builds the graph of `lessor.*` imports from the source (at module level,
inside functions and under TYPE_CHECKING alike) and reports every cycle
with the file and line of each import in it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "lessor"

Edge = tuple[str, str, int]  # importer, imported, line


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[Edge]:
    """The `lessor.*` modules that `name` imports; `from P import M` counts M if it is a module."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    yield name, alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = f"{base}.{alias.name}"
                if target in known:
                    yield name, target, node.lineno
                elif base in known:
                    yield name, base, node.lineno


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_of_lessor_is_part_of_an_import_cycle() -> None:
    known = modules()
    edges = [e for name, path in known.items() for e in imports(name, path, set(known))]
    assert len(edges) > 100  # the graph was really read
    reports = []
    for component in cycles(edges):
        inside = set(component)
        lines = [
            f"  {a} imports {b} ({known[a].relative_to(SRC.parent)}:{line})"
            for a, b, line in sorted(set(edges))
            if a in inside and b in inside
        ]
        reports.append(f"import cycle among {', '.join(component)}:\n" + "\n".join(lines))
    assert not reports, "\n".join(reports)


def test_the_check_finds_a_cycle_and_names_its_lines(tmp_path: Path) -> None:
    edges = [("p.a", "p.b", 3), ("p.b", "p.c", 7), ("p.c", "p.a", 1), ("p.c", "p.d", 2)]
    assert cycles(edges) == [["p.a", "p.b", "p.c"]]
    assert cycles([("p.a", "p.a", 1)]) == [["p.a"]]
    assert cycles([("p.a", "p.b", 1)]) == []
    module = tmp_path / "lessor" / "x" / "m.py"
    module.parent.mkdir(parents=True)
    module.write_text("from . import n\ndef f():\n    from lessor.x.n import g\n")
    known = {"lessor.x.m", "lessor.x.n"}
    assert list(imports("lessor.x.m", module, known)) == [
        ("lessor.x.m", "lessor.x.n", 1),
        ("lessor.x.m", "lessor.x.n", 3),
    ]
