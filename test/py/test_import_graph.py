"""No import cycles in mcl_worker: the module graph, read with ast, has no strongly connected component.

What is an edge (module A imports module B):
- every `import` and `from … import` statement in A, at module level or inside a function: a
  deferred import still ties the two modules together, and deferring one is how a cycle hides;
  a plugin's own module is loaded with importlib.import_module and is no edge;
- relative imports resolved against A's package; `from P import name` is an edge to P.name when
  that is a module, else to P (it reads a name of P's __init__);
- importing P.Q.R also runs the packages P and P.Q, except A's own ancestors, which Python has
  already started before A runs (an explicit `from <ancestor> import name` still counts);
- not the body of `if TYPE_CHECKING:`, which never runs: a type annotation cannot make a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "py"
PACKAGE = "mcl_worker"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the package (a package is its __init__)."""
    names: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of the tree, but those under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_edges(root: Path, package: str) -> tuple[list[str], list[Edge]]:
    modules = module_names(root, package)
    edges: list[Edge] = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        ancestors = _ancestors(name)

        def add(target: str, line: int, *, explicit: bool = False) -> None:
            """`target` and the packages importing it runs, skipping those that already run before `name`."""
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                module = ".".join(parts[:i])
                if module not in modules or module == name:
                    continue
                if module in ancestors and not (explicit and i == len(parts)):
                    continue
                edges.append(Edge(name, module, line))

        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _runtime_imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, node.lineno)
                continue
            if node.level == 0:
                base = node.module or ""
            else:
                package_parts = name.split(".") if is_package else name.split(".")[:-1]
                kept = package_parts[: len(package_parts) - (node.level - 1)]
                base = ".".join(kept + ([node.module] if node.module else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in modules:
                    add(submodule, node.lineno)
                else:
                    add(base, node.lineno, explicit=True)
    return list(modules), edges


def find_cycles(modules: list[str], edges: list[Edge]) -> list[list[str]]:
    """One cycle [a, b, …, a] through each strongly connected component (Tarjan), shortest from its first module."""
    graph: dict[str, list[str]] = {m: [] for m in modules}
    for edge in edges:
        if edge.target not in graph[edge.source]:
            graph[edge.source].append(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    return sorted(_cycle_through(component, graph) for component in components)


def _cycle_through(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    members, start = set(component), component[0]
    previous: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for target in graph[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if target in members and target not in previous:
                previous[target] = node
                queue.append(target)
    raise AssertionError(f"{component} is not strongly connected")


def describe(cycle: list[str], edges: list[Edge]) -> str:
    """`a -> b (a.py line 12) -> …`, naming the import that makes each step."""
    lines = {(e.source, e.target): e.line for e in reversed(edges)}
    steps = [cycle[0]] + [f"{b} (line {lines[(a, b)]} of {a})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(steps)


def test_mcl_worker_has_no_import_cycle() -> None:
    modules, edges = import_edges(ROOT, PACKAGE)
    assert "mcl_worker.plugins" in modules and len(edges) > 100, "the graph reads the worker package"
    cycles = find_cycles(modules, edges)
    assert not cycles, "import cycles in py/mcl_worker (split what joins them; move shared code down a layer):\n" + "\n".join(
        describe(c, edges) for c in cycles
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_a_deferred_relative_import_closes_a_cycle(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/data/__init__.py": "def open():\n    from ..plugins import load\n    return load()\n",
        "pkg/data/base.py": "from . import helpers\n",
        "pkg/data/helpers.py": "",
        "pkg/plugins.py": "from .data.base import helpers\n",
    })
    modules, edges = import_edges(tmp_path, "pkg")
    assert find_cycles(modules, edges) == [["pkg.data", "pkg.plugins", "pkg.data"]]
    assert describe(["pkg.data", "pkg.plugins", "pkg.data"], edges) == (
        "pkg.data -> pkg.plugins (line 2 of pkg.data) -> pkg.data (line 1 of pkg.plugins)"
    )


def test_type_checking_imports_and_started_ancestors_are_no_edges(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "from .a import A\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\nA = 1\n",
        "pkg/b.py": "import pkg.a\nfrom . import a\n",
        "pkg/c.py": "from . import A\n",
    })
    modules, edges = import_edges(tmp_path, "pkg")
    assert sorted((e.source, e.target) for e in edges) == [("pkg", "pkg.a"), ("pkg.b", "pkg.a"), ("pkg.b", "pkg.a"), ("pkg.c", "pkg")]
    assert find_cycles(modules, edges) == []
