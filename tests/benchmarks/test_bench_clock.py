"""Clock microbenchmarks (issue 2): reading, TestClock throughput, and real-time heartbeats.

Convention (harness/microbench.py): ``benchmark.group`` names the pair, ``extra_info["build"]``
is clocked / baseline / reference, ``extra_info["ops"]`` is the operations in one round.
With --benchmark-disable (the default in pytest) each runs once, on a smaller size, as a test.

The Clock's hot paths have two implementations (targets/clock/_impl.py): the ``clocked`` rows run
the one in use (the C accelerator when built), the ``pure`` variants force pure Python in the same
run, so the two stand side by side (build ``clocked (pure Python)``, shown as a reference).
The pure and NautilusTrader variants of a pair are marked ``every_pair``: in a paired run
(harness/measure/pairing.py) they run in every pair beside time.time_ns() and the C clock, so their
ratios come with intervals. ``clockbench run`` keeps NautilusTrader's (when installed) and deselects
the pure variants and the 100,000-timer sizes (they are for ``clockbench bench``: A/B and scale
figures, not criteria).
"""

from __future__ import annotations

from datetime import datetime, timezone
from itertools import repeat
import time

import pytest

from harness.heartbeats import run_clock_heartbeats, run_sleep_heartbeats
from targets.clock import NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TestClock, _impl

CALLS = 10_000  # reads per round, so the per-call cost stands out from the loop's
# A read costs 60-70 ns, so its items are short, and a preempted stretch landing on one item of a
# pair (2-3 of 10 pairs at 86-109 ns, either build, at load 1) left FD-TIMESTAMP-NS's paired interval
# wider than its threshold allows (INCONCLUSIVE in two quick runs of 80625b0): the reads run three
# times as many pairs as the other benchmarks (harness/measure/pairing.py, more_pairs), a few seconds.
READS_PAIRS = pytest.mark.more_pairs(3)
PURE = "clocked (pure Python)"


@pytest.fixture
def pure_python():
    """Force the pure-Python implementation for one benchmark, then restore the one in use."""
    before = _impl.name
    _impl.use("python")
    yield
    _impl.use(before)


def _calls(fn, n: int = CALLS) -> None:
    for _ in repeat(None, n):
        fn()


def _mark(benchmark, group: str, build: str, ops: int = 1) -> None:
    benchmark.group = group
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = ops


# --- reading ----------------------------------------------------------------------------------
@READS_PAIRS
def test_timestamp_ns_baseline(benchmark) -> None:
    _mark(benchmark, "clock.timestamp_ns", "baseline", CALLS)
    benchmark(_calls, time.time_ns)


@READS_PAIRS
def test_timestamp_ns_clocked(benchmark) -> None:
    _mark(benchmark, "clock.timestamp_ns", "clocked", CALLS)
    benchmark(_calls, LiveClock().timestamp_ns)


@pytest.mark.every_pair
@READS_PAIRS
def test_timestamp_ns_clocked_pure(benchmark, pure_python) -> None:
    _mark(benchmark, "clock.timestamp_ns", PURE, CALLS)
    benchmark.extra_info["clock_impl"] = _impl.name
    benchmark(_calls, LiveClock().timestamp_ns)


@pytest.mark.every_pair
@READS_PAIRS
def test_timestamp_ns_nautilus(benchmark) -> None:
    component = pytest.importorskip("nautilus_trader.common.component")
    _mark(benchmark, "clock.timestamp_ns", "reference", CALLS)
    benchmark(_calls, component.LiveClock().timestamp_ns)


@READS_PAIRS
def test_utc_now_baseline(benchmark) -> None:
    _mark(benchmark, "clock.utc_now", "baseline", CALLS)
    utc = timezone.utc
    benchmark(_calls, lambda: datetime.now(utc))


@READS_PAIRS
def test_utc_now_clocked(benchmark) -> None:
    _mark(benchmark, "clock.utc_now", "clocked", CALLS)
    benchmark(_calls, LiveClock().utc_now)


@pytest.mark.every_pair
@READS_PAIRS
def test_utc_now_clocked_pure(benchmark, pure_python) -> None:
    _mark(benchmark, "clock.utc_now", PURE, CALLS)
    benchmark.extra_info["clock_impl"] = _impl.name
    benchmark(_calls, LiveClock().utc_now)


@pytest.mark.every_pair
@READS_PAIRS
def test_utc_now_nautilus(benchmark) -> None:
    component = pytest.importorskip("nautilus_trader.common.component")
    _mark(benchmark, "clock.utc_now", "reference", CALLS)
    benchmark(_calls, component.LiveClock().utc_now)


# --- TestClock throughput -----------------------------------------------------------------------
STEP_NS = 1 * NANOS_IN_MILLISECOND
STEPS = 100_000


def _armed_clock(n_timers: int, counter: list[int]) -> TestClock:
    """n recurring timers, staggered over their interval; about ten firings per 1 ms step."""
    clock = TestClock(0)
    interval = STEP_NS * max(1, n_timers // 10)

    def on_beat(event) -> None:  # a callback that does a little work, as a real one would
        counter[0] += 1

    for i in range(n_timers):
        clock.set_timer(f"t{i}", interval, on_beat, start_time_ns=i * interval // n_timers)
    return clock


def _advance_big(clock: TestClock, counter: list[int], steps: int) -> int:
    events = clock.advance_time(steps * STEP_NS)
    assert counter[0] == len(events)
    return len(events)


def _advance_steps(clock: TestClock, counter: list[int], steps: int) -> int:
    fired = 0
    advance = clock.advance_time
    for k in range(1, steps + 1):
        fired += len(advance(k * STEP_NS))
    assert counter[0] == fired
    return fired


@pytest.mark.parametrize("impl", ["in_use", "pure"])
@pytest.mark.parametrize("n_timers", [1, 1_000, 10_000, 100_000], ids=lambda n: f"{n}timers")  # -k can tell 1000timers from 10000timers
@pytest.mark.parametrize("mode", ["big", "steps"])
def test_testclock_advance(benchmark, n_timers: int, mode: str, impl: str) -> None:
    if benchmark.disabled and n_timers > 10_000:
        pytest.skip("100,000 timers: a benchmark-only size (its set-up alone is too slow for the test suite)")
    steps = 2_000 if benchmark.disabled else STEPS  # a smaller run when it only runs as a test

    def setup():
        counter = [0]
        return (_armed_clock(n_timers, counter), counter, steps), {}

    before = _impl.name
    _impl.use("python" if impl == "pure" else before)
    try:
        fn = _advance_big if mode == "big" else _advance_steps
        benchmark.group = f"testclock.advance.{mode}[{n_timers}]"
        benchmark.extra_info["build"] = PURE if impl == "pure" else "clocked"
        benchmark.extra_info["clock_impl"] = _impl.name
        benchmark.extra_info["steps"] = 1 if mode == "big" else steps
        fired = benchmark.pedantic(fn, setup=setup, rounds=3, iterations=1, warmup_rounds=0)
    finally:
        _impl.use(before)
    interval, span = STEP_NS * max(1, n_timers // 10), steps * STEP_NS
    assert fired == sum((span - i * interval // n_timers) // interval for i in range(n_timers))
    benchmark.extra_info["ops"] = fired  # events per round: events/s = ops / median


def test_testclock_set_10000_timers(benchmark) -> None:
    def set_timers(clock: TestClock) -> TestClock:
        cb = lambda e: None  # noqa: E731
        for i in range(10_000):
            clock.set_timer(f"t{i}", NANOS_IN_SECOND, cb, start_time_ns=i)
        return clock

    _mark(benchmark, "testclock.set_timers[10000]", "clocked", 10_000)
    clock = benchmark.pedantic(set_timers, setup=lambda: ((TestClock(0),), {}), rounds=5, iterations=1)
    assert clock.timer_count == 10_000


# --- heartbeats (real time) -------------------------------------------------------------------
HEARTBEATS = 10_000
HEARTBEAT_WALL_NS = 3 * NANOS_IN_SECOND


def _heartbeat_bench(benchmark, build: str, run) -> dict:
    n, wall = (HEARTBEATS, HEARTBEAT_WALL_NS) if not benchmark.disabled else (1_000, 1_500 * NANOS_IN_MILLISECOND)
    benchmark.group = f"clock.heartbeats[{HEARTBEATS}]"
    benchmark.extra_info["build"] = build
    figures = benchmark.pedantic(run, args=(n,), kwargs={"duration_ns": wall}, rounds=1, iterations=1)
    # The round's wall time is fixed by design: compare cpu_per_wall_s, beats and lateness instead.
    benchmark.extra_info["note"] = "wall time is fixed; compare extra_info cpu_per_wall_s, beats_*, lateness_*"
    benchmark.extra_info.update(figures)
    assert figures["beats_due"] > 0 and figures["beats_delivered"] > 0
    return figures


def test_heartbeats_baseline(benchmark) -> None:
    _heartbeat_bench(benchmark, "baseline", run_sleep_heartbeats)


def test_heartbeats_clocked(benchmark) -> None:
    figures = _heartbeat_bench(benchmark, "clocked", run_clock_heartbeats)
    assert figures["tasks"] == 0  # served by the clock's scheduler, not by a task per heartbeat
    # one loop wake-up per wake gap (at least half a tick apart), not one per beat or per bucket:
    # thousands of beats a second, at most wall / (tick / 2) + 1 looks at the wheel
    assert 0 < figures["looks"] <= figures["wall_s"] * NANOS_IN_SECOND / (figures["tick_ns"] // 2) + 1
    assert figures["beats_delivered"] >= 2 * figures["looks"]  # several beats per look


@pytest.mark.every_pair
def test_heartbeats_clocked_pure(benchmark, pure_python) -> None:
    figures = _heartbeat_bench(benchmark, PURE, run_clock_heartbeats)
    assert figures["tasks"] == 0 and figures["clock_impl"] == "python"
