"""How busy the machine was while something was measured: load average, CPU steal, and the CPU
other processes used (everything but this process and its children).

A measurement taken while other processes used much of the CPU is noisier, and an unpaired one
is biased by it; each run and each round records its state, and a round is flagged busy when
other processes used more than ``BUSY_OTHERS`` of the machine's CPU or the hypervisor stole more
than ``BUSY_STEAL`` (the report says so at the top).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

BUSY_OTHERS = 0.25  # share of all CPUs used by other processes
BUSY_STEAL = 0.05  # share of CPU time stolen by the hypervisor


def _cpu_totals() -> tuple[float, float, float]:
    """(busy seconds, steal seconds, total seconds) over all CPUs since boot."""
    t = psutil.cpu_times()
    steal = getattr(t, "steal", 0.0) or 0.0
    idle = t.idle + (getattr(t, "iowait", 0.0) or 0.0)
    total = sum(t)
    # guest time is already counted in user on Linux; busy = total - idle - steal
    return total - idle - steal, steal, total


def _own_tree_cpu() -> float:
    """CPU seconds of this process and its children, living and ended.

    An ended child's seconds count once it was waited for (the kernel adds them to its parent's
    children times): a step whose child process (pytest, valgrind, Locust) ran and exited
    between two snapshots would otherwise have its CPU counted as other processes' (quick runs
    of f8dcc94 called the microbenchmarks' and instruction counts' own children "other processes
    used 50-99% of the CPUs"). A living child's children times hold its own ended children."""
    me = psutil.Process(os.getpid())
    procs = [me]
    try:
        procs += me.children(recursive=True)
    except psutil.Error:
        pass
    total = 0.0
    for p in procs:
        try:
            ct = p.cpu_times()
            total += ct.user + ct.system + ct.children_user + ct.children_system
        except psutil.Error:
            pass
    return total


@dataclass
class Snapshot:
    wall: float
    busy: float
    steal: float
    total: float
    own: float


def snapshot() -> Snapshot:
    busy, steal, total = _cpu_totals()
    return Snapshot(time.monotonic(), busy, steal, total, _own_tree_cpu())


def between(a: Snapshot, b: Snapshot) -> dict:
    """The machine's state between two snapshots, as plain data."""
    ncpu = psutil.cpu_count() or 1
    wall = max(1e-9, b.wall - a.wall)
    total = max(1e-9, b.total - a.total)
    others = max(0.0, (b.busy - a.busy) - max(0.0, b.own - a.own))
    load1, load5, load15 = os.getloadavg()
    state = {
        "seconds": round(wall, 3),
        "load_avg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "cpus": ncpu,
        "steal_share": round((b.steal - a.steal) / total, 4),
        "others_cpu_share": round(min(1.0, others / (wall * ncpu)), 4),
    }
    state["busy"] = state["others_cpu_share"] > BUSY_OTHERS or state["steal_share"] > BUSY_STEAL
    return state


class Watch:
    """``with Watch() as w: ...`` then ``w.state``."""

    def __enter__(self) -> "Watch":
        self._a = snapshot()
        self.state: dict = {}
        return self

    def __exit__(self, *exc: object) -> None:
        self.state = between(self._a, snapshot())


def describe(states: dict[str, dict]) -> list[str]:
    """Human lines for the parts (producers, rounds) that ran while the machine was busy."""
    out = []
    for name, s in states.items():
        if s.get("busy"):
            out.append(f"{name}: other processes used {s['others_cpu_share']:.0%} of the CPUs, steal "
                       f"{s['steal_share']:.0%}, load average {s['load_avg'][0]:g} on {s['cpus']} CPUs")
    return out
