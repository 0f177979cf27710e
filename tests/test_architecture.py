"""The architecture's promises, checked on the source: the layers docs/architecture.md states (every
module in one, every import going down), no import cycle in `mockwise/`, and the request pipeline
as the one owner of what every request needs."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mockwise"
#: The modules that own a request's journal entry, tenant lock and credentials.
PIPELINE = {"mockwise._http.pipeline", "mockwise._http.edge"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "contracts":  # imported as mockwise.contracts (mockwise/contracts links to it)
        parts = ("mockwise", *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in [*PACKAGE.rglob("*.py"), *(ROOT / "contracts").rglob("*.py")]}


# The layers, as docs/architecture.md states them ----------------------------------------------------

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layers() -> dict[str, int]:
    """Each folder or file of the layer table, as a module prefix (`mockwise._http`), and its layer."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    table = text.split("<!-- layers: read by tests/test_architecture.py -->", 1)[1].split("<!-- /layers -->")[
        0
    ]
    found: dict[str, int] = {}
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) < 3 or not cells[1].strip()[:1].isdigit():
            continue
        level = int(cells[1].split()[0])
        for place in re.findall(r"`([^`]+)`", cells[2]):
            place = place.removesuffix("/").removesuffix(".py").removesuffix("/__init__")
            if place == "contracts":
                place = "mockwise/contracts"
            found[place.replace("/", ".")] = level
    return found


LAYERS = layers()


def layer_of(module: str) -> str | None:
    """The row of the layer table `module` belongs to (its longest matching prefix)."""
    rows = [row for row in LAYERS if module == row or module.startswith(row + ".")]
    return max(rows, key=len, default=None)


def test_the_layer_table_is_read() -> None:
    assert LAYERS["mockwise._domain"] == 2 and LAYERS["mockwise._http"] == LAYERS["mockwise._store"]
    assert LAYERS["mockwise.contracts"] > LAYERS["mockwise.testing"] > LAYERS["mockwise._transport"]
    assert layer_of("mockwise._http.control.dashboard") == "mockwise._http"
    assert layer_of("mockwise") == "mockwise" and layer_of("mockwise._pki") == "mockwise._pki"


def test_every_module_is_in_exactly_one_layer() -> None:
    homeless = sorted(name for name in MODULES if layer_of(name) is None)
    assert not homeless, f"modules in no layer of docs/architecture.md: {homeless}"
    for row in LAYERS:
        assert any(layer_of(name) == row for name in MODULES), (
            f"docs/architecture.md names {row}: no such module"
        )


def test_imports_go_down_the_layers() -> None:
    """A module imports its own row's modules or a lower layer's, type-only imports included."""
    wrong = []
    for name, path in MODULES.items():
        row = layer_of(name)
        assert row is not None
        for target in imports(path, typing=True):
            other = layer_of(target)
            assert other is not None
            if other != row and LAYERS[other] >= LAYERS[row]:
                wrong.append(f"{name} (layer {LAYERS[row]}) imports {target} (layer {LAYERS[other]})")
    assert not wrong, "\n".join(wrong)


def imports(path: Path, *, typing: bool = False) -> set[str]:
    """Every mockwise module `path` imports when it runs: module-level and function-level imports.
    Imports under `if TYPE_CHECKING:` count only with `typing` (they load nothing, but a layer that
    names a type of a higher one still depends on it)."""
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
        if id(node) in typing_only and not typing:
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
    """Type-only imports included: two modules that name each other's types are one room, whichever
    of them defers its import."""
    graph = {name: imports(path, typing=True) - {name} for name, path in MODULES.items()}
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
