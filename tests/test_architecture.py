"""The architecture, enforced: who may import whom, where system time may be read, twins look alike.

- ``core/`` (build-neutral) imports neither ``targets`` nor ``baselines`` nor ``harness``;
- ``targets/`` (clocked) imports ``core``, ``targets`` (its clock and own family), never ``baselines``;
- ``baselines/`` imports ``core`` (and libraries), never ``targets`` (not even ``targets.clock``);
- nothing in ``core/`` or in ``targets/`` outside ``targets/clock`` reads system time or sleeps;
- every row of the switchboard (``harness/builds.py``) names a clocked and a baseline class of the
  same name, in modules of the same name, exported by each family's front door, and no baseline
  module or class says "clock".
Imports are read with ``ast`` (every ``import``/``from`` anywhere in a module, relative ones resolved).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from harness import builds
from harness.measure.static import scan_system_time

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "core": ("targets", "baselines", "harness"),
    "targets": ("baselines", "harness"),
    "baselines": ("targets", "harness"),
}


def imported_modules(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file at ``path``, relative ones resolved."""
    package = list(path.relative_to(root).with_suffix("").parts)[:-1]  # the package the module is in
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                out.append((node.lineno, node.module or ""))
    return out


def violations(top: str, root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted((root / top).rglob("*.py")):
        for line, name in imported_modules(path, root):
            if name.split(".")[0] in FORBIDDEN[top]:
                bad.append(f"{path.relative_to(root)}:{line} imports {name}")
    return bad


@pytest.mark.parametrize("top", sorted(FORBIDDEN))
def test_import_rule(top):
    assert violations(top) == []


def test_import_scan_is_not_vacuous(tmp_path):
    """Nested, relative and absolute imports are all seen, so a violation anywhere is reported."""
    names = {n for _, n in imported_modules(ROOT / "targets" / "order_management" / "__init__.py")}
    assert {"targets.order_management.oms", "core.order_management"} <= names
    fake = tmp_path / "baselines" / "x"
    fake.mkdir(parents=True)
    (fake / "m.py").write_text("import asyncio\n\n\ndef f():\n    from targets.clock import LiveClock\n")
    (fake / "n.py").write_text("from ...targets import clock\n")
    assert violations("baselines", tmp_path) == [
        "baselines/x/m.py:5 imports targets.clock", "baselines/x/n.py:1 imports targets"]


@pytest.mark.parametrize("top", ["core", "targets"])
def test_no_system_time_outside_the_clock(top):
    assert scan_system_time(ROOT / top) == []


@pytest.mark.parametrize("row", builds.ROWS, ids=lambda r: r.component)
def test_twins_have_matching_names(row):
    clocked_mod, _, clocked_attr = row.clocked.partition(":")
    baseline_mod, _, baseline_attr = row.baseline.partition(":")
    assert clocked_mod == f"targets.{row.family}" and baseline_mod == f"baselines.{row.family}"
    assert clocked_attr == baseline_attr
    assert "clock" not in baseline_attr.lower()
    for build, mod in (("clocked", clocked_mod), ("baseline", baseline_mod)):
        package = importlib.import_module(mod)
        assert clocked_attr in package.__all__, f"{mod}.__all__ lacks {clocked_attr}"
        cls = builds.factory(row.component, build)
        assert cls.__module__.startswith(mod + ".")
    assert (builds.factory(row.component, "clocked").__module__.rsplit(".", 1)[1]
            == builds.factory(row.component, "baseline").__module__.rsplit(".", 1)[1])


def test_no_baseline_name_says_clock():
    for path in sorted((ROOT / "baselines").rglob("*.py")):
        assert "clock" not in path.name, path
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                assert "clock" not in node.name.lower(), f"{path}:{node.lineno} {node.name}"


def test_make_passes_the_clock_only_to_the_clocked_build():
    from targets.clock import TestClock

    clocked = builds.make("websocket", "clocked", clock=TestClock(0), interval_ns=1_000)
    baseline = builds.make("websocket", "baseline", interval_ns=1_000)
    assert type(clocked).__name__ == type(baseline).__name__ == "WebSocketManager"
    assert clocked.interval_ns == baseline.interval_ns == 1_000
    with pytest.raises(TypeError, match="needs clock"):
        builds.make("websocket", "clocked", interval_ns=1_000)
    with pytest.raises(TypeError, match="takes no clock"):
        builds.make("websocket", "baseline", clock=TestClock(0), interval_ns=1_000)
    with pytest.raises(builds.BuildMapError, match="unknown component"):
        builds.make("nope", "clocked", clock=TestClock(0))
    with pytest.raises(builds.BuildMapError, match="unknown build"):
        builds.make("websocket", "quick")
