"""How busy the machine was while something was measured: load average, CPU steal, and the CPU
other processes used.

A measurement taken while other processes used much of the CPU is noisier, and an unpaired one
is biased by it; each run and each round records its state, and a round is flagged busy when
other processes used more than ``BUSY_OTHERS`` of the machine's CPU or the hypervisor stole more
than ``BUSY_STEAL`` (the report says so at the top).

Other processes, on Linux, are counted from ``/proc`` as what they are rather than as whatever
this process's tree did not use: the processes outside the tree that lived through the interval
(with the ended children they waited for), and the new ones a living process outside the tree
started. Left out are new processes adopted by init and their descendants: the orphans of this
run's own steps (a container engine's shims and payloads, the browser's helpers), which leave the
tree as they start. Counted as "everything but this tree", they made the frontend and containers
steps of every idle quick run "busy" with 39-45% of the CPUs, of which other processes' own was
about 1.4% (measured over the frontend step: 53 CPU seconds in the tree while alive, 1.1 outside).
Elsewhere (no ``/proc``) it is the machine's busy time less this tree's, as before.
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


# A process in /proc: (ppid, start time in clock ticks since boot, its own CPU seconds, the CPU
# seconds of the ended children it waited for).
Proc = tuple[int, int, float, float]


def _proc_table() -> dict[int, Proc] | None:
    """Every process on a Linux machine from ``/proc/<pid>/stat`` (one read each, no psutil objects:
    a snapshot is taken around every microbenchmark pair); None where there is no ``/proc``."""
    try:
        names = os.listdir("/proc")
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None
    table: dict[int, Proc] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            rest = data[data.rindex(b")") + 2:].split()  # fields from the 3rd (state) on; the name may hold spaces
            ppid, start = int(rest[1]), int(rest[19])
            utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
        except (OSError, ValueError, IndexError):
            continue  # ended meanwhile
        table[int(name)] = (ppid, start, (utime + stime) / tick, (cutime + cstime) / tick)
    return table


def _subtree(table: dict[int, Proc], roots: set[int]) -> set[int]:
    """``roots`` and all their descendants in ``table``."""
    kids: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in table.items():
        kids.setdefault(ppid, []).append(pid)
    seen, todo = set(), [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(kids.get(pid, ()))
    return seen


def others_cpu(table: dict[int, Proc], mine: set[int]) -> dict[tuple[int, int], float]:
    """Pure: the CPU seconds so far of every process outside ``mine`` (this run's tree), keyed by
    (pid, start): its own and its waited-for children's, but init's own only (init reaps every
    orphan, this run's too). ``others_between`` compares two of these."""
    return {(pid, start): own + (kids if pid != 1 else 0.0)
            for pid, (_ppid, start, own, kids) in table.items() if pid not in mine}


@dataclass
class Snapshot:
    wall: float
    busy: float
    steal: float
    total: float
    own: float
    others: dict[tuple[int, int], float] | None = None  # others_cpu, where /proc exists
    table: dict[int, Proc] | None = None
    mine: frozenset[tuple[int, int]] = frozenset()  # this run's tree, as (pid, start)


def snapshot() -> Snapshot:
    busy, steal, total = _cpu_totals()
    table = _proc_table()
    if table is None:
        return Snapshot(time.monotonic(), busy, steal, total, _own_tree_cpu())
    mine = _subtree(table, {os.getpid()})
    own = sum(table[pid][2] + table[pid][3] for pid in mine)  # as _own_tree_cpu, from the same reads
    return Snapshot(time.monotonic(), busy, steal, total, own, others_cpu(table, mine), table,
                    frozenset((pid, table[pid][1]) for pid in mine))


def others_between(a: Snapshot, b: Snapshot) -> float | None:
    """CPU seconds other processes used between two snapshots (see the module docstring), or None
    without ``/proc``. A process outside the tree in both counts its growth; a new one counts whole,
    unless it hangs from a process that was this run's at ``a`` or that init adopted after ``a``
    (this run's orphans)."""
    if a.others is None or b.others is None or a.table is None or b.table is None:
        return None
    newest = max((start for _ppid, start, *_r in a.table.values()), default=0)
    roots = {pid for pid, (ppid, start, *_r) in b.table.items()
             if (ppid == 1 and start > newest) or (pid, start) in a.mine}
    orphans = _subtree(b.table, roots)
    used = 0.0
    for key, cpu in b.others.items():
        if key in a.others:
            used += max(0.0, cpu - a.others[key])
        elif key[0] not in orphans:
            used += cpu
    return used


def between(a: Snapshot, b: Snapshot) -> dict:
    """The machine's state between two snapshots, as plain data."""
    ncpu = psutil.cpu_count() or 1
    wall = max(1e-9, b.wall - a.wall)
    total = max(1e-9, b.total - a.total)
    unattributed = max(0.0, (b.busy - a.busy) - max(0.0, b.own - a.own))  # all but this tree's: the old measure
    counted = others_between(a, b)
    others = unattributed if counted is None else counted
    load1, load5, load15 = os.getloadavg()
    state = {
        "seconds": round(wall, 3),
        "load_avg": [round(load1, 2), round(load5, 2), round(load15, 2)],
        "cpus": ncpu,
        "steal_share": round((b.steal - a.steal) / total, 4),
        "others_cpu_share": round(min(1.0, others / (wall * ncpu)), 4),
        # the machine's busy time less this tree's: other processes plus this run's orphans and
        # the processes that came and went between the snapshots (for the record, not judged)
        "not_this_tree_cpu_share": round(min(1.0, unattributed / (wall * ncpu)), 4),
        "others_from": "/proc" if counted is not None else "busy less this tree",
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
