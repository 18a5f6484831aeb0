"""The package's import graph follows the layer table of docs/architecture.md and has no cycle.

The table is the one source of truth: a new import that goes against it fails here, and so
does a table that no longer says what the code does. Imports are read with ``ast``, so
function-level and ``TYPE_CHECKING`` imports count too.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "opentelemetry_exporter_pgvector"
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text()

Graph = Mapping[str, Iterable[str]]


def documented_layers() -> dict[str, set[str]]:
    """``layer -> layers it may import`` from the table in docs/architecture.md."""
    rows = re.findall(r"^\| `([\w]+)` \|.*\|([^|\n]*)\|$", ARCHITECTURE, re.MULTILINE)
    return {layer: set(re.findall(r"`(\w+)`", allowed)) for layer, allowed in rows}


def module_name(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def layer_of(module: str) -> str:
    """``opentelemetry_exporter_pgvector.write.spool`` -> ``write``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path) -> set[str]:
    """The package's own modules that ``path`` imports, resolved to absolute names."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(PACKAGE))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith(PACKAGE):
                continue
            # ``from . import logs`` imports a module; ``from .x import name`` imports x
            submodules = [f"{target}.{alias.name}" for alias in node.names]
            known = [name for name in submodules if name in all_modules()]
            found.update(known or [target])
    found.discard(module)
    return found


def all_modules() -> set[str]:
    return {module_name(path) for path in (ROOT / PACKAGE).rglob("*.py")}


def module_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in (ROOT / PACKAGE).rglob("*.py")}


def layer_violations(graph: Graph, allowed: Mapping[str, set[str]]) -> list[str]:
    """Imports from one layer into another that the table does not allow, as readable lines."""
    problems = []
    for module, imports in sorted(graph.items()):
        source = layer_of(module)
        if source not in allowed:
            problems.append(f"{module}: layer {source!r} is not in the table")
            continue
        for target in sorted(imports):
            target_layer = layer_of(target)
            if target_layer != source and target_layer not in allowed[source]:
                problems.append(f"{module} imports {target} ({source} may not import {target_layer})")
    return problems


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated last), or None when it is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_graph(graph: Graph) -> dict[str, set[str]]:
    layers: dict[str, set[str]] = {}
    for module, imports in graph.items():
        source = layer_of(module)
        layers.setdefault(source, set()).update(
            layer_of(target) for target in imports if layer_of(target) != source
        )
    return layers


def test_the_table_lists_every_layer_and_is_itself_acyclic() -> None:
    allowed = documented_layers()
    assert {layer_of(module) for module in all_modules()} == set(allowed)
    assert all(targets <= set(allowed) for targets in allowed.values())
    assert find_cycle(allowed) is None


def test_every_import_follows_the_documented_layers() -> None:
    assert layer_violations(module_graph(), documented_layers()) == []


def test_no_import_cycle_between_layers_or_modules() -> None:
    graph = module_graph()
    assert find_cycle(layer_graph(graph)) is None
    assert find_cycle(graph) is None


def test_the_checks_catch_a_back_arrow_and_a_cycle() -> None:
    """Deliberately bad graphs: db importing write (against the order), then two modules of
    write importing each other."""
    allowed = documented_layers()
    back_arrow = {
        f"{PACKAGE}.db.database": {f"{PACKAGE}.write.retry"},
        f"{PACKAGE}.write.retry": {f"{PACKAGE}.db.database"},
    }
    assert layer_violations(back_arrow, allowed) == [
        f"{PACKAGE}.db.database imports {PACKAGE}.write.retry (db may not import write)"
    ]
    assert find_cycle(layer_graph(back_arrow)) == ["db", "write", "db"]
    module_cycle = {
        f"{PACKAGE}.write.retry": {f"{PACKAGE}.write.delivery"},
        f"{PACKAGE}.write.delivery": {f"{PACKAGE}.write.retry", f"{PACKAGE}.db.database"},
    }
    assert layer_violations(module_cycle, allowed) == []  # within one layer: only the cycle check sees it
    assert find_cycle(module_cycle) == [f"{PACKAGE}.write.delivery", f"{PACKAGE}.write.retry",
                                        f"{PACKAGE}.write.delivery"]


def test_the_real_graph_is_read() -> None:
    """The reader sees the imports that exist (so an empty graph cannot pass the checks above)."""
    graph = module_graph()
    assert f"{PACKAGE}.write.delivery" in graph[f"{PACKAGE}.exporters.base"]
    assert f"{PACKAGE}.query.similar" in graph[f"{PACKAGE}.query.telemetry"]  # function-level import
    assert f"{PACKAGE}.query.logs" in graph[f"{PACKAGE}.query.telemetry"]  # ``from . import logs``
