"""The architecture's promises, checked on the source: no import cycle in `mockwise/`, and the request
pipeline as the one owner of what every request needs (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mockwise"
#: The modules that own a request's journal entry, tenant lock and credentials.
PIPELINE = {"mockwise._http.pipeline", "mockwise._http.edge"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """Every mockwise module `path` imports when it runs: module-level and function-level imports.
    Imports under `if TYPE_CHECKING:` are left out: they are how a port names what it is handed
    (`domain/store.py`'s `Ledger` and `Store` name the tokens, codes, entries and tenants the domain
    marks there), and they load nothing."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in block.body
        for node in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found |= {name for name in names if name in MODULES}
    return found


def test_imports_leave_out_type_checking_blocks(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import mockwise._domain.clock\n"
        "if TYPE_CHECKING:\n    from mockwise._domain.tenant import Tenant\n"
        "def f():\n    from mockwise._domain.sandbox import Sandbox\n",
        encoding="utf-8",
    )
    assert imports(module) == {"mockwise._domain.clock", "mockwise._domain.sandbox"}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_mockwise() -> None:
    graph = {name: imports(path) - {name} for name, path in MODULES.items()}
    # a package's __init__ that only hands names on from its own modules is not a room of its own
    for name in graph:
        if MODULES[name].name == "__init__.py":
            graph[name] = {m for m in graph[name] if not m.startswith(name + ".")}
    assert cycles(graph) == []


ROUTE_MODULES = sorted(
    name for name in MODULES if name.startswith("mockwise._http.") and name not in PIPELINE
)


@pytest.mark.parametrize("name", ROUTE_MODULES)
def test_routes_leave_lock_journal_and_credentials_to_the_pipeline(name: str) -> None:
    source = MODULES[name].read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr not in ("lock", "entry", "admit", "find_token"), (
                f"{name}:{node.lineno} uses .{node.attr}: the pipeline (or the domain) owns it"
            )
