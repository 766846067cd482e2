"""The rules that keep the architecture (ARCHITECTURE.md), checked on the source itself.

Imports are read with ``ast`` — every import statement, inside functions too: a lazy import
hides a circle, it does not end it. Only imports under ``if TYPE_CHECKING:`` are left out (they
never run).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (n for child in node.orelse for n in import_nodes(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from import_nodes(node)


def imported(module: str, path: Path) -> Iterator[str]:
    """Fully qualified names this module's import statements load (modules or names in them)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[:len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        yield base
        yield from (f"{base}.{alias.name}" for alias in node.names)


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph() -> dict[str, set[str]]:
    """Module -> the app modules its imports execute (a module's packages count, except its own)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets: set[str] = set()
        own = set(ancestors(module))
        for name in imported(module, path):
            if name in MODULES:
                targets.update(m for m in (*ancestors(name), name) if m in MODULES and m not in own)
        targets.discard(module)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_in_app():
    found = circles(import_graph())
    assert not found, "import circles (imports inside functions count):\n" + "\n".join(
        " <-> ".join(c) for c in found)


def test_the_circle_finder_sees_a_circle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_only_the_storage_layer_imports_redis(module):
    if _within(module, "app.storage"):
        return
    names = set(imported(module, MODULES[module]))
    assert not {n for n in names if n == "redis" or n.startswith("redis.")}, \
        f"{module} imports redis: reach Redis through a gateway of app/storage"


def test_the_scoring_domain_imports_neither_flask_nor_redis_nor_the_rest_of_the_app():
    for module, path in MODULES.items():
        if not _within(module, "app.scoring"):
            continue
        for name in imported(module, path):
            top = name.split(".")[0]
            assert top not in ("flask", "redis", "rq"), f"{module} imports {name}"
            if top == "app":
                assert _within(name, "app.scoring"), f"{module} imports {name}: app/scoring stays pure"


#: ARCHITECTURE.md's layers, highest first: a module may import its own layer and the ones below.
#: A module is in the layer of its longest listed prefix; other modules of app/ count as services.
LAYERS = (
    ("entry points", ("app", "app.wsgi", "app.cli", "app.jobs", "app.automation.jobs")),
    ("edges", ("app.api", "app.hooks", "app.dashboard", "app.automation.api", "app.errors_http")),
    ("services", ("app.automation",)),
    ("ports", ("app.ports", "app.services")),
    ("storage", ("app.storage", "app.keys", "app.archive")),
    ("domain", ("app.scoring", "app.contact_filter")),
    ("basics", ("app.settings", "app.errors", "app.auth", "app.logs", "app.outbound", "app.clock")),
)


def layer_of(module: str) -> int:
    matches = [(len(prefix), i) for i, (_name, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if _within(module, prefix)]
    longest = max(matches, default=None)
    return longest[1] if longest and longest[0] > len("app") or module == "app" else 2


def test_imports_go_down_the_layers():
    graph = import_graph()
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in sorted(graph.items()) for b in sorted(targets)
              if layer_of(b) < layer_of(a)]
    assert not upward, "imports that go up a layer (see ARCHITECTURE.md):\n" + "\n".join(upward)


def test_no_raw_redis_client_outside_the_storage_layer():
    """``services.redis`` exists for the gateways (and tests): no other module of app/ uses it."""
    for module, path in MODULES.items():
        if _within(module, "app.storage") or module == "app.services":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.Attribute) and node.attr == "redis"), \
                f"{module}:{node.lineno} reaches the Redis client; use a gateway of app/storage"
