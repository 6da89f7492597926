"""No import cycles among first-party modules.

Every module under the package folders is parsed with `ast` (nothing is imported). An import
statement anywhere in a module, at module level or inside a function, is an edge to the
first-party module it names: `import a.b.c` and `from a.b import c` (when `a.b.c` is a module)
point at `a.b.c`, `from a.b import name` (a name defined in `a/b/__init__.py`) at `a.b`.
Relative imports are resolved against the module's package. Imports inside an
`if TYPE_CHECKING:` block are left out (they never run); the block's `else:` is kept. The
implicit import of parent packages is not an edge. A strongly connected component with more
than one module, or a module importing itself, is a cycle, and the test lists them all.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Folder -> the import package it is installed as (pyproject.toml's package-dir).
PACKAGE_DIRS = {
    "cairn": "cairn",
    "api_service": "cairn.api_service",
    "placement": "cairn.placement",
    "datanode": "cairn.datanode",
    "metadata": "cairn.metadata",
    "gc": "cairn.gc",
}
FIRST_PARTY = "cairn"


def module_files(root: Path, package_dirs: Mapping[str, str]) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file under the package folders."""
    modules: dict[str, Path] = {}
    for folder, package in package_dirs.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the bodies of `if TYPE_CHECKING:`."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children: list[ast.AST] = list(node.orelse)
    else:
        children = list(ast.iter_child_nodes(node))
    for child in children:
        yield from _import_nodes(child)


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """`name` or its longest prefix that is a first-party module."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imported_modules(module: str, modules: Mapping[str, Path]) -> set[str]:
    """The first-party modules `module` imports (outside `if TYPE_CHECKING:`)."""
    path = modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str | None] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(_known(alias.name, modules) for alias in node.names)
            continue
        if node.level:
            base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in modules else _known(base, modules))
    return {t for t in targets if t is not None and t.split(".")[0] == FIRST_PARTY}


def import_graph(root: Path, package_dirs: Mapping[str, str]) -> dict[str, set[str]]:
    modules = module_files(root, package_dirs)
    return {name: imported_modules(name, modules) for name in modules}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, and self-imports (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative depth-first search: (node, iterator over its successors).
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.get(succ, ())))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.get(node, ()):
                        found.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(found)


def test_first_party_modules_import_no_cycle() -> None:
    graph = import_graph(ROOT, PACKAGE_DIRS)
    # The scan sees the code it is meant to: both relative and absolute imports resolve.
    assert len(graph) > 100
    assert "cairn.metadata.rpc_convert" in graph["cairn.metadata.client"]
    assert "cairn.api_service.context" in graph["cairn.api_service.handlers_object"]
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_cycles_through_functions_and_relative_imports_are_found(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "cairn/__init__.py": "",
            "cairn/a.py": "from cairn import b\n",
            "cairn/b.py": "def f():\n    from . import c\n",
            "cairn/c.py": "import cairn.a.thing\n",
            "cairn/selfish.py": "from cairn.selfish import x\n",
            "svc/__init__.py": "X = 1\n",
            "svc/d.py": "from cairn.svc import X\nimport json, gc\n",
            "svc/e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import d\n",
        },
    )
    graph = import_graph(tmp_path, {"cairn": "cairn", "svc": "cairn.svc"})
    assert graph["cairn.svc.d"] == {"cairn.svc"}
    assert graph["cairn.svc.e"] == set()
    assert cycles(graph) == [["cairn.a", "cairn.b", "cairn.c"], ["cairn.selfish"]]


def test_type_checking_imports_are_not_edges_but_the_else_branch_is(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "cairn/__init__.py": "",
            "cairn/a.py": "import typing\nif typing.TYPE_CHECKING:\n    from cairn import b\nelse:\n    b = None\n",
            "cairn/b.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    from cairn import a\n",
        },
    )
    graph = import_graph(tmp_path, {"cairn": "cairn"})
    assert graph == {"cairn": set(), "cairn.a": set(), "cairn.b": {"cairn.a"}}
    assert cycles(graph) == []
