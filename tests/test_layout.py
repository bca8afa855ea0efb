"""The package layout: the public API and graph assembly at the top, the rest in named subpackages, and an
import graph without cycles (every import counted, module-level and inside functions)."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# where each import package lives in the checkout (pyproject's package-dir)
SOURCES = {"recode_graph": ROOT / "recode_graph", "recode_graph.nodes": ROOT / "nodes",
           "recode_graph.tools": ROOT / "tools"}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if name.startswith("recode_graph.nodes") and folder != SOURCES["recode_graph.nodes"]:
                continue
            found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    yield f"{target}.{alias.name}"
                elif target in known:
                    yield target
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next((e for e in edges if e not in index or e in on_stack), None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif nxt in index:
                low[node] = min(low[node], index[nxt])
            else:
                index[nxt] = low[nxt] = len(index)
                stack.append(nxt)
                on_stack.add(nxt)
                work.append((nxt, iter(sorted(graph[nxt]))))
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_has_no_cycles() -> None:
    known = modules()
    graph = {name: set(imported(name, path, known)) - {name} for name, path in known.items()}
    assert len(graph) > 60 and sum(map(len, graph.values())) > 100  # the scan sees the package
    assert cycles(graph) == []


def test_top_level_holds_the_api_and_assembly_only() -> None:
    top = sorted(p.stem for p in SOURCES["recode_graph"].glob("*.py"))
    assert len(top) <= 12, top
    subpackages = {p.parent.name for p in SOURCES["recode_graph"].glob("*/__init__.py")}
    assert {"engine", "approvals", "models", "persistence", "sandbox", "cli", "bench"} <= subpackages


def test_every_subpackage_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {name for name, path in modules().items() if path.name == "__init__.py"}
    data = listed - on_disk  # data folders (no __init__.py) listed so that setuptools ships them quietly
    assert on_disk <= listed and {name.rpartition(".")[0] for name in data} <= listed
    assert all(name.startswith(("recode_graph.tools.", "recode_graph.models.")) for name in data)
