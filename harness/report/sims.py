"""Real-time measurements behind criteria that no microbenchmark covers, as metric records.

Each runs both builds on a fresh asyncio loop, alternating which goes first over ``repeats``, on
real time (a LiveClock for the clocked build, system time for the baseline): nothing here is
simulated except the load pattern itself.

- ``ems_slice_lateness``: TWAP slices of each EMS; per slice ``fired_ns - scheduled_ns`` as the
  EMS recorded it (each build's own time source).
- ``connection_tracker``: idle connections closed by each connection tracker; per connection the
  close time (``time.time_ns()`` in the close callback, the same for both builds) minus its idle
  deadline (the driver's ``time.time_ns()`` when it marked the connection idle, plus the timeout),
  and the process CPU spent per tracked connection in each repeat.
- ``heartbeats``: harness/heartbeats.py's LiveClock coarse timers against asyncio sleep loops, per
  repeat: CPU per wall second, beats missing, p99 lateness, the share of due beats delivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from harness import builds
from harness.builds import BUILDS
from harness.results import MetricRecord

Log = Callable[[str], None]


def _order(rep: int) -> tuple[str, ...]:
    return BUILDS if rep % 2 == 0 else tuple(reversed(BUILDS))


def _live_clock(build: str):  # type: ignore[no-untyped-def]
    """A fresh LiveClock for the clocked build, none for the baseline (it reads system time)."""
    from targets.clock import LiveClock

    return LiveClock() if builds.needs_clock(build) else None


# --- EMS slices -------------------------------------------------------------------------------


def _deep_quotes(instruments: dict) -> list:
    from core.order_management.venue import Quote

    out = []
    for sym, inst in instruments.items():
        tick = inst.tick_size
        mid = Decimal(100)
        bids = tuple((mid - tick * (i + 1), 10**12) for i in range(5))
        asks = tuple((mid + tick * (i + 1), 10**12) for i in range(5))
        out.append(Quote(sym, bids, asks, 0))
    return out


def _ems_once(build: str, algos: int, slices: int, duration_ns: int) -> list[int]:
    """One run: ``algos`` TWAPs of ``slices`` slices over ``duration_ns``; lateness per slice (ns)."""
    from core.order_management.algos import AlgoKind, AlgoRequest, AlgoState
    from core.order_management.domain import Side, default_instruments

    instruments = default_instruments()
    symbols = sorted(s for s, i in instruments.items() if i.lot_size == 1)

    async def main() -> list[int]:
        stack = builds.order_stack(build, _live_clock(build), instruments=instruments)
        for q in _deep_quotes(instruments):
            stack.oms.on_quote(q)
        reqs = [AlgoRequest(symbols[i % len(symbols)], Side.BUY, 10 * slices, AlgoKind.TWAP, duration_ns, slices=slices)
                for i in range(algos)]  # fmt: skip
        started = [stack.ems.start(r) for r in reqs]
        deadline = time.monotonic() + duration_ns / 1e9 + 10.0
        while any(a.state is AlgoState.RUNNING for a in started) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await stack.stop()
        late = [sl.fired_ns - sl.scheduled_ns for a in started for sl in a.slices if sl.fired_ns is not None]
        missing = sum(1 for a in started for sl in a.slices if sl.fired_ns is None)
        if missing:
            raise RuntimeError(f"{build} EMS: {missing} slice(s) never fired within the run")
        return late

    return asyncio.run(main())


def ems_slice_lateness(quick: bool, log: Log = print) -> list[MetricRecord]:
    algos, slices, dur_s, repeats = (10, 20, 2, 2) if quick else (20, 50, 5, 4)
    samples: dict[str, list[int]] = {b: [] for b in BUILDS}
    for rep in range(repeats):
        for b in _order(rep):
            samples[b] += _ems_once(b, algos, slices, dur_s * 1_000_000_000)
    log(f"  ems: {repeats} repeats x {algos} TWAPs x {slices} slices over {dur_s}s per build")
    extra = {"algos": algos, "slices": slices, "duration_s": dur_s, "repeats": repeats,
             "definition": "fired_ns - scheduled_ns of each TWAP slice, as the EMS recorded it"}
    return [MetricRecord("sim.ems.slice_lateness", b, "ns", [abs(v) for v in samples[b]], source="sims.ems",
                         extra=dict(extra, early=sum(1 for v in samples[b] if v < 0))) for b in BUILDS]


# --- connection tracker ---------------------------------------------------------------------------


def _tracker_once(build: str, conns: int, timeout_ns: int, spread_ns: int) -> tuple[list[int], int]:
    """Open ``conns`` connections spread over ``spread_ns``, one request each, then idle; half get a
    second request halfway through their idle time (the deadline moves). Returns the lateness of
    each close and the process CPU (ns) of the whole run."""

    async def main() -> tuple[list[int], int]:
        tracker = builds.make("connection_tracker", build, clock=_live_clock(build), idle_timeout_ns=timeout_ns)
        deadlines: dict[int, int] = {}
        late: list[int] = []

        def closer(cid: int) -> Callable[[], None]:
            def close() -> None:
                late.append(time.time_ns() - deadlines[cid])
            return close

        cpu0 = time.process_time_ns()
        tracker.start()
        batches = 50
        per = max(1, conns // batches)
        cid = 0
        for b in range(batches):
            for _ in range(per):
                tracker.register(cid, closer(cid))
                tracker.busy(cid)
                tracker.idle(cid)
                deadlines[cid] = time.time_ns() + timeout_ns
                cid += 1
            if b == batches // 2:  # a second request on the first half, half a timeout after it went idle
                await asyncio.sleep(max(0.0, timeout_ns / 2e9 - spread_ns / 2e9))
                for c in range(cid // 2):
                    tracker.busy(c)
                    tracker.idle(c)
                    deadlines[c] = time.time_ns() + timeout_ns
            await asyncio.sleep(spread_ns / batches / 1e9)
        end = time.monotonic() + timeout_ns / 1e9 + 3.0
        while len(late) < cid and time.monotonic() < end:
            await asyncio.sleep(0.02)
        tracker.stop()
        cpu = time.process_time_ns() - cpu0
        if len(late) < cid:
            raise RuntimeError(f"{build} tracker closed {len(late)} of {cid} idle connections within the run")
        return late, cpu

    return asyncio.run(main())


def connection_tracker(quick: bool, log: Log = print) -> list[MetricRecord]:
    conns, timeout_s, spread_s, repeats = (2000, 1, 0.5, 3) if quick else (10000, 1, 1.0, 5)
    late: dict[str, list[int]] = {b: [] for b in BUILDS}
    cpu: dict[str, list[int]] = {b: [] for b in BUILDS}
    for rep in range(repeats):
        for b in _order(rep):
            lt, c = _tracker_once(b, conns, timeout_s * 1_000_000_000, int(spread_s * 1e9))
            late[b] += lt
            cpu[b].append(max(1, c // len(lt)))
    log(f"  connection tracker: {repeats} repeats x {conns} idle connections, timeout {timeout_s}s, per build")
    extra = {"connections": conns, "idle_timeout_s": timeout_s, "repeats": repeats,
             "baseline_poll_interval_s": 1.0}
    out = []
    for b in BUILDS:
        out.append(MetricRecord("bench.lb.connection_tracker", b, "ns/op", cpu[b], source="sims.tracker",
                                extra=dict(extra, definition="process CPU ns per tracked connection (open, "
                                           "request, idle, maybe a second request, close at deadline), one value per repeat")))
        out.append(MetricRecord("sim.lb.idle_close_lateness", b, "ns", [abs(v) for v in late[b]], source="sims.tracker",
                                extra=dict(extra, early=sum(1 for v in late[b] if v < 0),
                                           definition="close time minus idle deadline, |ns|, per connection")))
    return out


# --- heartbeats ---------------------------------------------------------------------------------


def heartbeats(quick: bool, log: Log = print) -> list[MetricRecord]:
    from harness.heartbeats import RUNS

    n, wall_ns, repeats = (10_000, 2_000_000_000, 3) if quick else (10_000, 3_000_000_000, 5)
    runs: dict[str, list[dict]] = {b: [] for b in BUILDS}
    for rep in range(repeats):
        for b in _order(rep):
            runs[b].append(RUNS[b](n, duration_ns=wall_ns))
    tick = runs["clocked"][0].get("tick_ns")
    log(f"  heartbeats: {repeats} repeats x {n} heartbeats of 1s for {wall_ns / 1e9:g}s per build")
    out = []
    for b in BUILDS:
        rs = runs[b]
        extra = {"timers": n, "wall_s": wall_ns / 1e9, "repeats": repeats, "tick_ns": tick,
                 "runs": [{k: v for k, v in r.items()} for r in rs]}
        out.append(MetricRecord("sim.heartbeats.cpu", b, "ppm", [round(r["cpu_per_wall_s"] * 1e6) for r in rs],
                                source="sims.heartbeats", extra=dict(extra, definition="CPU seconds per wall second, ppm")))
        out.append(MetricRecord("sim.heartbeats.beats_missing", b, "count", [int(r["beats_missing"]) for r in rs],
                                source="sims.heartbeats", extra=extra))
        p99 = [int(r["lateness_p99_ns"]) for r in rs if r["lateness_p99_ns"] is not None]
        if p99:
            out.append(MetricRecord("sim.heartbeats.lateness_p99", b, "ns", p99, source="sims.heartbeats", extra=extra))
        share = [round(1e6 * r["beats_delivered"] / r["beats_due"]) for r in rs if r["beats_due"]]
        if share:
            out.append(MetricRecord("sim.heartbeats.delivered_share", b, "ppm", share, lower_is_better=False,
                                    source="sims.heartbeats", extra=extra))
    return out
