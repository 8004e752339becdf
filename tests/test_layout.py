"""The layout holds: imports point one way between rooms and no module imports itself round a circle.

Every import counts, those inside functions too (they are how heavy modules load lazily, and a lazy
import is still a dependency). The rooms and their order are docs/design.md's.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Room -> floor. A module may import its own room and rooms on lower floors, nothing above.
FLOORS = {
    "lde": 0, "probenets": 0,
    "tapaskit.errors": 1, "tapaskit.paths": 1,
    "tapaskit": 2, "tapaskit.checks": 2, "tapaskit.tracking": 2,
    "tapaskit.space": 3, "tapaskit.datasets": 3,
    "tapaskit.predictor": 4, "tapaskit.search": 4, "tapaskit.training": 4,
    "tapaskit.store": 5,  # it records what a training produced
    "tapaskit.evaluation": 6,
    "tapaskit.workflows": 7,
    "cli": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _room(module: str) -> str | None:
    parts = module.split(".")
    for n in (2, 1):
        if ".".join(parts[:n]) in FLOORS:
            return ".".join(parts[:n])
    return None


def _imports() -> dict[str, set[str]]:
    """Every project module and the project modules it imports (resolved to existing modules)."""
    files = [ROOT / "cli.py", *sorted(p for pkg in ("tapaskit", "lde", "probenets") for p in (ROOT / pkg).rglob("*.py"))]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` depends on the submodule; `from pkg import name`, on pkg
                found = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                         else node.module for alias in node.names]
            for target in found:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def test_every_module_has_a_room() -> None:
    assert [m for m in _imports() if _room(m) is None] == []


def test_imports_point_down_or_stay_in_the_room() -> None:
    upward = []
    for module, targets in _imports().items():
        room = _room(module)
        for target in targets:
            other = _room(target)
            if other != room and FLOORS[other] >= FLOORS[room] and not (room == "tapaskit" and other):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_lde_and_probenets_know_nothing_of_tapaskit() -> None:
    leaks = [f"{m} -> {t}" for m, ts in _imports().items() if m.split(".")[0] in ("lde", "probenets")
             for t in ts if t.split(".")[0] not in (m.split(".")[0],)]
    assert leaks == []


def test_there_is_no_import_cycle() -> None:
    graph = _imports()
    # Tarjan's strongly connected components; a component of more than one module is a cycle
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_a_cycle_and_an_upward_import_would_be_seen(monkeypatch) -> None:
    # the checks above can fail: two modules importing each other, a workflow imported from below
    import pytest

    this = sys.modules[__name__]
    monkeypatch.setattr(this, "_imports", lambda: {"tapaskit.space.a": {"tapaskit.space.b"},
                                                   "tapaskit.space.b": {"tapaskit.space.a"}})
    with pytest.raises(AssertionError):
        test_there_is_no_import_cycle()
    monkeypatch.setattr(this, "_imports", lambda: {"tapaskit.search.x": {"tapaskit.workflows.search"},
                                                   "tapaskit.workflows.search": set()})
    with pytest.raises(AssertionError):
        test_imports_point_down_or_stay_in_the_room()
