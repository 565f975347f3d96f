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
import gc
import time
from collections.abc import Callable, Iterable
from typing import Any

from targets.clock import NANOS_IN_MICROSECOND, NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TimeEvent, _impl

Figures = dict[str, Any]


def _percentile(sorted_values: list[int], q: float) -> int | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def summarize(
    beats: Iterable[tuple[int, int]],
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


def _window_start(base_ns: int, setup_end_ns: int, interval_ns: int) -> int:
    """The measured window starts at the first beat, unless setting up outlasted the lead (a busy
    machine, or a collection of the cyclic GC over 100,000 fresh timers, which took 0.2-0.5 s at
    load 16): the beats due meanwhile are a backlog of set-up, not the schedulers' lateness, so
    the window then starts one interval after the set-up ended, when that backlog is delivered."""
    return base_ns if setup_end_ns <= base_ns else setup_end_ns + interval_ns


# Both runs end their set-up with gc.collect(): n fresh timers (or tasks) are a debt of the cyclic
# GC's oldest generation, which CPython pays with full collections once they outnumber a quarter
# of the long-lived objects: at 100,000 timers, pauses of 80-330 ms (load 16-20) that landed in
# the measured window as lateness of whichever beats were due. That is set-up, paid once; after
# the collection neither run makes long-lived objects, so no full collection falls in the window.


def _recorder() -> tuple[list[int], list[int], Callable[[int], None], Callable[[int], None]]:
    """Two lists of ints, (nominal, delivered), and their bound ``append``s, which the beats call
    directly. The instrument is the same per beat in both builds and as light as Python allows:
    ints are not tracked by the cyclic GC, so appending them allocates nothing a collection would
    walk (a list of tuples did, in both builds, and its collections showed up as lateness); a list
    append costs about half an ``array('q')`` append (which converts every int), and calling the
    appends directly saves a Python call per beat. The per-beat instrument was about 40% of the
    clocked run's instructions under callgrind with arrays behind a ``record`` function (issue 19),
    a fixed cost in both builds that only blurred what the criterion compares: the timers' cost."""
    nominal: list[int] = []
    delivered: list[int] = []
    return nominal, delivered, nominal.append, delivered.append


async def _window(
    sleep_until: Callable[[int], Any], start_ns: int, end_ns: int, on_start: Callable[[], None] | None = None
) -> tuple[tuple[int, int], int]:
    await sleep_until(start_ns)
    if on_start is not None:
        on_start()
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
        nominal, delivered, add_nominal, add_delivered = _recorder()

        def beat(event: TimeEvent) -> None:
            add_nominal(event.ts_event)
            add_delivered(event.ts_init)

        base = clock.timestamp_ns() + lead_ns
        firsts = _firsts(n, base, interval_ns)
        for i, first in enumerate(firsts):
            clock.set_timer(f"hb{i}", interval_ns, beat, start_time_ns=first - interval_ns, coarse=True)
        gc.collect()  # pay the set-up's collection debt now (see _settle_gc)
        setup_end = clock.timestamp_ns()
        start = _window_start(base, setup_end, interval_ns)
        looks_at_start = [0]  # the window may start an interval after set-up: count its looks only

        def mark() -> None:
            looks_at_start[0] = clock.looks

        window, cpu = await _window(clock.sleep_until, start, start + duration_ns, mark)
        looks = clock.looks - looks_at_start[0]
        clock.cancel_timers()
        figures = summarize(zip(nominal, delivered), firsts, interval_ns, window, cpu, settle_ns)
        figures.update(setup_overrun_ns=max(0, setup_end - base))
        # looks: the wheel's loop wake-ups (each costs 50-100 us of CPU here, most of the run's);
        # wake_gap_ns and overrun_ns: the gap in force at the end and the overrun estimate it was given
        figures.update(looks=looks, looks_per_s=looks / figures["wall_s"], adaptive_gap=clock.adaptive_gap,
                       overrun_ns=clock.overrun_ns)
        figures.update(kind="LiveClock coarse timers", tick_ns=tick_ns, wake_gap_ns=clock.wake_gap_ns,
                       tasks=len(asyncio.all_tasks()) - 1, clock_impl=_impl.name,
                       wake="timerfd" if clock._wake_fd is not None else "call_later")
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
        nominals, delivered, add_nominal, add_delivered = _recorder()

        async def heartbeat(first_ns: int) -> None:
            await asyncio.sleep((first_ns - time.time_ns()) / NANOS_IN_SECOND)
            nominal = first_ns
            while True:
                add_nominal(nominal)
                add_delivered(time.time_ns())
                nominal += interval_ns
                await asyncio.sleep(interval_s)

        async def sleep_until(wall_ns: int) -> None:
            await asyncio.sleep(max(0, wall_ns - time.time_ns()) / NANOS_IN_SECOND)

        base = time.time_ns() + lead_ns
        firsts = _firsts(n, base, interval_ns)
        tasks = [asyncio.create_task(heartbeat(first)) for first in firsts]
        await asyncio.sleep(0)  # every task has taken its first step: set up
        gc.collect()  # pay the set-up's collection debt now, as for the clocked run
        setup_end = time.time_ns()
        start = _window_start(base, setup_end, interval_ns)
        window, cpu = await _window(sleep_until, start, start + duration_ns)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        figures = summarize(zip(nominals, delivered), firsts, interval_ns, window, cpu, settle_ns)
        figures.update(kind="asyncio.sleep loop per heartbeat", tasks=len(tasks), setup_overrun_ns=max(0, setup_end - base))
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
