"""No import cycles inside the project's packages.

The graph is read from the source with `ast` (nothing is imported): every `import x` and
`from x import y` anywhere in a module — at the top, inside a function (a lazy import), under
`if TYPE_CHECKING:` — relative ones resolved, kept when it names a module of python_service or
bench (`from pkg import name` counts as importing pkg.name when that is a module, else pkg). A
cycle is a strongly connected component of more than one module, or a module importing itself.
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("python_service", "bench")


def modules() -> dict[str, str]:
    """Dotted module name → file, for every .py file of the packages."""
    out = {}
    for package in PACKAGES:
        for folder, dirs, files in os.walk(os.path.join(ROOT, package)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
            for name in sorted(files):
                if name.endswith(".py"):
                    parts = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                    out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, name)
    return out


def imports(module: str, path: str, known: set[str]) -> set[str]:
    """The project modules `module` imports, wherever in its file the import stands."""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    is_package = os.path.basename(path) == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(_owner(alias.name, known) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, is_package, node.level, node.module)
            out.update(_owner(f"{base}.{alias.name}", known) for alias in node.names)
    out.discard(None)
    return out


def _absolute(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def _owner(name: str, known: set[str]) -> str | None:
    """The project module a dotted name is, or lives in (None: not a project module)."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in known:
            return ".".join(parts[:i])
    return None


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {m: imports(m, path, known) for m, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component that is a cycle, as one closed path through it (Tarjan)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges.get(v, ()):
                comps.append(_path(comp, edges))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return comps


def _path(comp: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest closed path start → … → start inside the component (breadth first)."""
    start = min(comp)
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        if start in edges[v]:
            path = [v]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return [*reversed(path), start]
        for w in sorted(edges[v] & comp):
            if w not in previous:
                previous[w] = v
                queue.append(w)
    return sorted(comp)


def test_the_reader_sees_relative_lazy_and_package_imports():
    edges = graph()
    assert "bench.run.servers" in edges["bench.run.capacity"]  # from bench.run import servers
    assert "bench.plan" in edges["bench.run.servers"]
    assert "bench.__main__" in edges["bench.soak"]  # a function-level (lazy) import
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"a"}}) == [["a", "a"]] and cycles({"a": {"b"}, "b": set()}) == []
    assert _absolute("p.q.m", False, 1, "x") == "p.q.x" and _absolute("p.q", True, 1, None) == "p.q"


@pytest.mark.parametrize("package", ["python_service", "bench"])
def test_no_import_cycle(package):
    found = [c for c in cycles(graph()) if any(m == package or m.startswith(package + ".") for m in c)]
    assert not found, f"import cycles in {package}:\n" + "\n".join("  " + " → ".join(c) for c in found)
