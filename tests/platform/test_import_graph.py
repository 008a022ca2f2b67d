"""No import cycles anywhere: the module-level imports of every package form a DAG.

Imports inside functions are deliberate late bindings and are not edges; imports under
`if TYPE_CHECKING:` are (a cycle of types is still a cycle of design).
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "workers", "domain", "arledger", "bench")


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            if "versions" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports at module level, including inside module-level `if`/`try` blocks."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            stack.extend(node.body + node.orelse + getattr(node, "finalbody", []))


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module → the project modules it imports at module level."""
    modules = _modules(root, packages)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _top_level_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif node.level:  # relative imports: resolve against this module's package
                base = name.split(".")[: -node.level or None]
                if path.name == "__init__.py":
                    base = name.split(".")[: len(name.split(".")) - node.level + 1]
                prefix = ".".join([*base, *([node.module] if node.module else [])])
                targets = [f"{prefix}.{a.name}" for a in node.names] + [prefix]
            else:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [str(node.module)]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
                    break
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_project_has_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert len(graph) > 100, "the graph should cover every module"
    assert cycles(graph) == []


def test_configuration_does_not_import_back_from_tokens() -> None:
    graph = import_graph(ROOT, PACKAGES)
    assert "arledger.tokens" in graph["arledger.config"]
    assert "arledger.config" not in graph["arledger.tokens"]


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    # given three modules where a → b → c → a, and d → a outside the cycle
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.c import X\n"
    )
    (package / "c.py").write_text("import pkg.a\nX = 1\n")
    (package / "d.py").write_text("from pkg.a import b\n\ndef late():\n    from pkg import d\n")
    # when the graph is built / then exactly the cycle is reported
    assert cycles(import_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b", "pkg.c"]]
