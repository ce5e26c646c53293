"""The house's rules, checked on the source: no import circle, and the layers import
one way (the faces read the library; the library never reads a face)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
FACES = ("fullfunnel.cli", "fullfunnel.server", "fullfunnel.report")


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "fullfunnel").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _runtime_imports(tree: ast.AST) -> list[str]:
    """Every module an import at run time names (top level or inside a function),
    leaving out ``if TYPE_CHECKING:`` blocks, which only type checkers read."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for target in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            while target and target not in mods:
                target = target.rpartition(".")[0]
            # a package's own __init__ is read before its modules: not an edge back
            if target and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_circle():
    assert _circles(_graph()) == []


def test_the_circle_finder_finds_one():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_a_face():
    graph = _graph()
    library = [m for m in graph if not m.startswith(FACES) and m != "fullfunnel.__main__"]
    reaching = {m: sorted(t for t in graph[m] if t.startswith(FACES)) for m in library}
    assert {m: t for m, t in reaching.items() if t} == {}


def test_the_report_imports_nothing_from_the_cli():
    graph = _graph()
    report = [m for m in graph if m.startswith("fullfunnel.report")]
    assert not [(m, t) for m in report for t in graph[m] if t.startswith("fullfunnel.cli")]
