"""Load-balancing measurement: the connection tracker of each build on real time.

Idle connections closed by each connection tracker; per connection the close time
(``time.time_ns()`` in the close callback, the same for both builds) minus its idle deadline (the
driver's ``time.time_ns()`` when it marked the connection idle, plus the timeout), and the process
CPU spent per tracked connection in each repeat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from harness import builds
from harness.builds import BUILDS
from harness.results import MetricRecord

from . import Log, in_repeats, live_clock


# --- connection tracker ---------------------------------------------------------------------------


def _tracker_once(build: str, conns: int, timeout_ns: int, spread_ns: int) -> tuple[list[int], int]:
    """Open ``conns`` connections spread over ``spread_ns``, one request each, then idle; half get a
    second request halfway through their idle time (the deadline moves). Returns the lateness of
    each close and the process CPU (ns) of the whole run."""

    async def main() -> tuple[list[int], int]:
        tracker = builds.make("connection_tracker", build, clock=live_clock(build), idle_timeout_ns=timeout_ns)
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
    runs, _order = in_repeats(repeats, lambda b, _rep: _tracker_once(b, conns, timeout_s * 1_000_000_000,
                                                                    int(spread_s * 1e9)))
    late = {b: [v for lt, _c in runs[b] for v in lt] for b in BUILDS}
    cpu = {b: [max(1, c // len(lt)) for lt, c in runs[b]] for b in BUILDS}
    log(f"  connection tracker: {repeats} repeats x {conns} idle connections, timeout {timeout_s}s, per build")
    extra = {"connections": conns, "idle_timeout_s": timeout_s, "repeats": repeats,
             "baseline_poll_interval_s": 1.0}
    out = []
    for b in BUILDS:
        out.append(MetricRecord("bench.lb.connection_tracker", b, "ns/op", cpu[b], kind="rounds", source="sims.tracker",
                                extra=dict(extra, definition="process CPU ns per tracked connection (open, "
                                           "request, idle, maybe a second request, close at deadline), one value per repeat")))
        out.append(MetricRecord("sim.lb.idle_close_lateness", b, "ns", [abs(v) for v in late[b]], source="sims.tracker",
                                extra=dict(extra, early=sum(1 for v in late[b] if v < 0),
                                           definition="close time minus idle deadline, |ns|, per connection")))
    return out
