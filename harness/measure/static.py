"""The static producer: system-time calls (reads and sleeps) under targets/, outside targets/clock."""

from __future__ import annotations

import ast
from pathlib import Path

from harness import results
from harness.rundir import ROOT

from . import Context

SYSTEM_TIME_CALLS = {("time", "time"), ("time", "time_ns"), ("datetime", "now"), ("datetime", "utcnow"),
                     ("asyncio", "sleep"), ("time", "sleep"), ("time", "monotonic"), ("time", "monotonic_ns"),
                     ("time", "perf_counter"), ("time", "perf_counter_ns")}


def scan_system_time(root: Path) -> list[str]:
    """Call sites of system-time reads or sleeps (``mod.func(...)``) under ``root``, except targets/clock."""
    hits = []
    for path in sorted(root.rglob("*.py")):
        if "clock" in path.relative_to(root).parts[:1]:
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base = node.func.value
                name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
                if (name, node.func.attr) in SYSTEM_TIME_CALLS:
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}.{node.func.attr}()")
    return hits


def produce_static(ctx: Context) -> list[results.MetricRecord]:
    hits = scan_system_time(ROOT / "targets")
    (ctx.out / "static_system_time_calls.txt").write_text("\n".join(hits) + ("\n" if hits else ""))
    ctx.log(f"  static: {len(hits)} system-time call(s) under targets/ (outside targets/clock)")
    return [results.MetricRecord("static.targets.system_time_calls", "clocked", "count", [len(hits)],
                                 source="static_system_time_calls.txt", extra={"sites": hits[:50]})]
