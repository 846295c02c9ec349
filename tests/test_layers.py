"""Specs for the package's layering, drawn from the code's own imports (ast, nothing imported).

Every ``import automation...`` and ``from automation... import ...`` counts, wherever it is
written: at module level, inside a function (a lazy import defers the cost, not the
dependency; a cycle through one is still a knot) and under ``if TYPE_CHECKING:`` (an
annotation needs the module to be understood). ``from package import name`` is an edge to
the submodule when ``name`` is one, else to the package. Importing a submodule is not
counted as importing its package's ``__init__``: only what a module writes is.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import automation

Graph = dict[str, set[str]]

PACKAGE = Path(automation.__file__).parent
CONFIG = "automation.config"

# Imports that untied a knot once; each names why it must not come back.
FORBIDDEN = {
    ("automation.runner", "automation.backends.graph"): (
        "the runner builds backends through automation.backends by kind"
    ),
    ("automation.health", "automation.daemon"): (
        "the health server shows any HealthSource, so a console can serve it too"
    ),
    ("automation.flows.progress_collection", "automation.damage"): (
        "the cell rules both flows read are in automation.cells"
    ),
    ("automation.damage", "automation.flows"): (
        "damage/ is the domain the flow plans with; a plan's outputs (the merged workbook) "
        "live above flows/"
    ),
}


def module_name(path: Path, root: Path) -> str:
    """``automation/config/loader.py`` -> ``automation.config.loader`` (a package: its name)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, modules: Mapping[str, Path]) -> Iterator[str]:
    """The ``automation`` modules a parsed module imports, anywhere in it."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "automation")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "automation":
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                yield submodule if submodule in modules else node.module


def import_graph(root: Path = PACKAGE) -> Graph:
    """Each module of the package -> the modules of the package it imports."""
    modules = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: Graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[name] = {m for m in imported(tree, modules) if m in modules and m != name}
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """Groups of modules that import each other, directly or around a loop (Tarjan)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            if group:
                found.append(sorted([node, *group]))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def path_between(graph: Graph, start: str, goal: str) -> list[str] | None:
    """The shortest import chain from ``start`` to a module named ``goal`` or below it."""
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        if within(node, goal) and node != start:
            return paths[node]
        for nxt in sorted(graph[node]):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return None


def within(module: str, package: str) -> bool:
    """Whether ``module`` is ``package`` or one of its submodules."""
    return module == package or module.startswith(package + ".")


def config_violations(graph: Graph) -> list[str]:
    """Imports from config/ of a module that (through any chain) imports config/ itself."""
    problems = []
    for module in sorted(m for m in graph if within(m, CONFIG)):
        for target in sorted(t for t in graph[module] if not within(t, CONFIG)):
            chain = path_between(graph, target, CONFIG)
            if chain is not None:
                problems.append(
                    f"{module} imports {target}, which sits above config/ "
                    f"({' -> '.join(chain)}); pass what config/ needs in from above"
                )
    return problems


def forbidden_imports(graph: Graph) -> list[str]:
    """Imports that tie one of the untied knots again."""
    return [
        f"{module} imports {target}: {why}"
        for (importer, above), why in FORBIDDEN.items()
        for module in sorted(graph)
        if within(module, importer)
        for target in sorted(graph[module])
        if within(target, above)
    ]


def test_no_import_cycle_in_the_package() -> None:
    """No group of modules of automation/ imports each other, lazily or not."""
    found = cycles(import_graph())

    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_config_imports_nothing_above_it() -> None:
    """config/ imports only modules that do not themselves lead back to config/."""
    assert config_violations(import_graph()) == []


def test_untied_knots_stay_untied() -> None:
    """The runner, the health server and the progress flow keep off what they once imported."""
    assert forbidden_imports(import_graph()) == []


def test_the_graph_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    """A function-level import and one under TYPE_CHECKING are edges; a cycle through them shows."""
    package = tmp_path / "automation"
    (package / "config").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "config" / "__init__.py").write_text("")
    (package / "config" / "models.py").write_text(
        "def sample():\n    from automation import flows\n    return flows\n"
    )
    (package / "flows.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from automation.config.models import sample\n"
    )

    graph = import_graph(package)

    assert graph["automation.config.models"] == {"automation.flows"}
    assert graph["automation.flows"] == {"automation.config.models"}
    assert cycles(graph) == [["automation.config.models", "automation.flows"]]
    assert config_violations(graph) == [
        "automation.config.models imports automation.flows, which sits above config/ "
        "(automation.flows -> automation.config.models); pass what config/ needs in from above"
    ]
