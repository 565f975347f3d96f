"""Heartbeats measured for real: LiveClock coarse timers against asyncio sleep loops.

Both runs drive ``n`` recurring heartbeats, staggered evenly across one interval (as connections
opened at different moments would be), on a fresh asyncio loop for a fixed stretch of wall time,
and return the same figures:

- ``cpu_per_wall_s``: process CPU seconds spent per second of wall time in the measured window;
- ``beats_due`` / ``beats_delivered``: beats whose nominal time (first + k * interval) falls in
  the window, ``settle_ns`` before its end excluded so a beat still in flight is not counted lost,
  and how many of those were actually delivered before the window closed;
- ``lateness_*_ns``: delivery time minus nominal time, over the delivered beats (p50, p99, max).

The baseline is the idiomatic heartbeat task: beat, ``await asyncio.sleep(interval)``, repeat.
Its schedule drifts by each wake-up's lateness; LiveClock's is fixed at first + k * interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from targets.clock import NANOS_IN_MICROSECOND, NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TimeEvent, _impl

Figures = dict[str, Any]


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def summarize(
    beats: list[tuple[int, int]],
    firsts: list[int],
    interval_ns: int,
    window: tuple[int, int],
    cpu_ns: int,
    settle_ns: int,
) -> Figures:
    """Pure: figures from (nominal_ns, delivered_ns) beats and the measured window."""
    w_start, w_end = window
    cutoff = w_end - settle_ns
    due = 0
    for first in firsts:
        if first > cutoff:
            continue
        last_k = (cutoff - first) // interval_ns
        first_k = 0 if first >= w_start else -(-(w_start - first) // interval_ns)
        due += max(0, last_k - first_k + 1)
    counted = [(nominal, at) for nominal, at in beats if w_start <= nominal <= cutoff and at <= w_end]
    lateness = sorted(at - nominal for nominal, at in counted)
    wall_ns = w_end - w_start
    return {
        "timers": len(firsts),
        "interval_ns": interval_ns,
        "wall_s": wall_ns / NANOS_IN_SECOND,
        "cpu_s": cpu_ns / NANOS_IN_SECOND,
        "cpu_per_wall_s": cpu_ns / wall_ns,
        "beats_due": due,
        "beats_delivered": len(counted),
        "beats_missing": due - len(counted),
        "lateness_p50_ns": _percentile(lateness, 0.50),
        "lateness_p99_ns": _percentile(lateness, 0.99),
        "lateness_max_ns": lateness[-1] if lateness else None,
    }


def _lead(n: int) -> int:
    """Time from the start to the first beat: setting up n heartbeats takes a few microseconds
    each (more on a busy machine), and a set-up outlasting the lead would start the window with
    a backlog of beats already late (at 100,000 timers a fixed 300 ms was not enough)."""
    return 300 * NANOS_IN_MILLISECOND + n * 20 * NANOS_IN_MICROSECOND


def _firsts(n: int, base_ns: int, interval_ns: int) -> list[int]:
    return [base_ns + i * interval_ns // n for i in range(n)]


async def _window(sleep_until: Callable[[int], Any], start_ns: int, end_ns: int) -> tuple[tuple[int, int], int]:
    await sleep_until(start_ns)
    cpu0, wall0 = time.process_time_ns(), time.time_ns()
    await sleep_until(end_ns)
    cpu1, wall1 = time.process_time_ns(), time.time_ns()
    return (wall0, wall1), cpu1 - cpu0


def run_clock_heartbeats(
    n: int = 10_000,
    interval_ns: int = NANOS_IN_SECOND,
    duration_ns: int = 3 * NANOS_IN_SECOND,
    *,
    tick_ns: int = 10 * NANOS_IN_MILLISECOND,
    lead_ns: int | None = None,
    settle_ns: int = 50 * NANOS_IN_MILLISECOND,
    wake_gap_ns: int | None = None,
) -> Figures:
    """``n`` coarse LiveClock timers; returns the figures described in the module docstring."""
    lead_ns = _lead(n) if lead_ns is None else lead_ns

    async def main() -> Figures:
        clock = LiveClock(tick_ns=tick_ns, wake_gap_ns=wake_gap_ns)
        beats: list[tuple[int, int]] = []
        record = beats.append

        def beat(event: TimeEvent) -> None:
            record((event.ts_event, event.ts_init))

        base = clock.timestamp_ns() + lead_ns
        firsts = _firsts(n, base, interval_ns)
        for i, first in enumerate(firsts):
            clock.set_timer(f"hb{i}", interval_ns, beat, start_time_ns=first - interval_ns, coarse=True)
        window, cpu = await _window(clock.sleep_until, base, base + duration_ns)
        clock.cancel_timers()
        figures = summarize(beats, firsts, interval_ns, window, cpu, settle_ns)
        figures.update(kind="LiveClock coarse timers", tick_ns=tick_ns, wake_gap_ns=clock.wake_gap_ns,
                       tasks=len(asyncio.all_tasks()) - 1, clock_impl=_impl.name)
        return figures

    return asyncio.run(main())


def run_sleep_heartbeats(
    n: int = 10_000,
    interval_ns: int = NANOS_IN_SECOND,
    duration_ns: int = 3 * NANOS_IN_SECOND,
    *,
    lead_ns: int | None = None,
    settle_ns: int = 50 * NANOS_IN_MILLISECOND,
) -> Figures:
    """The baseline: ``n`` tasks, each ``beat(); await asyncio.sleep(interval)`` in a loop."""
    lead_ns = _lead(n) if lead_ns is None else lead_ns
    interval_s = interval_ns / NANOS_IN_SECOND

    async def main() -> Figures:
        beats: list[tuple[int, int]] = []
        record = beats.append

        async def heartbeat(first_ns: int) -> None:
            await asyncio.sleep((first_ns - time.time_ns()) / NANOS_IN_SECOND)
            nominal = first_ns
            while True:
                record((nominal, time.time_ns()))
                nominal += interval_ns
                await asyncio.sleep(interval_s)

        async def sleep_until(wall_ns: int) -> None:
            await asyncio.sleep(max(0, wall_ns - time.time_ns()) / NANOS_IN_SECOND)

        base = time.time_ns() + lead_ns
        firsts = _firsts(n, base, interval_ns)
        tasks = [asyncio.create_task(heartbeat(first)) for first in firsts]
        window, cpu = await _window(sleep_until, base, base + duration_ns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        figures = summarize(beats, firsts, interval_ns, window, cpu, settle_ns)
        figures.update(kind="asyncio.sleep loop per heartbeat", tasks=len(tasks))
        return figures

    return asyncio.run(main())


# Which run measures which build (sims.heartbeats and the microbenchmark look it up by build name).
RUNS: dict[str, Callable[..., Figures]] = {"clocked": run_clock_heartbeats, "baseline": run_sleep_heartbeats}


# --- the same work on virtual time, for instruction counts ------------------------------------
def run_virtual_heartbeats(build: str, n: int = 10_000, seconds: int = 5, interval_ns: int = NANOS_IN_SECOND) -> int:
    """Run one build's heartbeats for ``seconds`` of *virtual* time on a VirtualTimeLoop; returns beats.

    The asyncio code paths are the real ones (tasks, ``asyncio.sleep``, ``call_later``, the
    LiveClock wheel and its wakes); only the waits are replaced by jumps of virtual time, so the
    process does exactly the work of a real run, minus sleeping and minus other processes'
    interference. Under ``valgrind --tool=callgrind`` its instruction count is a CPU figure a busy
    machine cannot disturb (a model: it leaves out the kernel's share, epoll and wake-ups).
    LiveClock reads the monotonic clock directly, so for this run it is pointed at the virtual one.
    """
    from targets.clock import TestClock, run_virtual
    from targets.clock import live

    clock_v = TestClock(1_000 * NANOS_IN_SECOND)
    beats: list[tuple[int, int]] = []
    record = beats.append
    end = clock_v.timestamp_ns() + seconds * NANOS_IN_SECOND

    async def sleeping() -> None:
        async def heartbeat(first_ns: int) -> None:
            await asyncio.sleep((first_ns - clock_v._time) / NANOS_IN_SECOND)
            nominal = first_ns
            while True:
                record((nominal, time.time_ns()))
                nominal += interval_ns
                await asyncio.sleep(interval_ns / NANOS_IN_SECOND)

        firsts = _firsts(n, clock_v._time + interval_ns // 10, interval_ns)
        tasks = [asyncio.create_task(heartbeat(f)) for f in firsts]
        await asyncio.sleep((end - clock_v._time) / NANOS_IN_SECOND)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def clocked() -> None:
        clock = LiveClock()

        def beat(event: TimeEvent) -> None:
            record((event.ts_event, event.ts_init))

        firsts = _firsts(n, clock.timestamp_ns() + interval_ns // 10, interval_ns)
        for i, first in enumerate(firsts):
            clock.set_timer(f"hb{i}", interval_ns, beat, start_time_ns=first - interval_ns, coarse=True)
        await asyncio.sleep((end - clock_v._time) / NANOS_IN_SECOND)
        clock.cancel_timers()

    real_monotonic = live._monotonic_ns
    live._monotonic_ns = lambda: clock_v._time  # the wheel follows virtual time
    try:
        run_virtual(clocked() if build == "clocked" else sleeping(), clock_v, io_grace_ns=0)
    finally:
        live._monotonic_ns = real_monotonic
    return len(beats)


if __name__ == "__main__":  # python -m harness.heartbeats clocked|baseline N SECONDS
    import sys

    print(run_virtual_heartbeats(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
