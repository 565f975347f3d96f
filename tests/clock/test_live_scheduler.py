"""LiveClock: one scheduler per loop, the coarse timing wheel, and the never-backwards reading."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

import targets.clock.live as live
from targets.clock import NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TimeEvent

MS = NANOS_IN_MILLISECOND
REAL_CAP_S = 20.0


async def wait_for(predicate, what: str) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + REAL_CAP_S
    while not predicate():
        if loop.time() > give_up:
            pytest.fail(f"{what} did not happen within {REAL_CAP_S} s of real time")
        await asyncio.sleep(0.002)


def live_handles(loop: asyncio.AbstractEventLoop) -> int:
    """Loop timer handles still armed (asyncio keeps cancelled ones in its heap for a while)."""
    return sum(1 for h in loop._scheduled if not h.cancelled())  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_ten_thousand_timers_cost_no_task_and_at_most_two_loop_handles() -> None:
    loop = asyncio.get_running_loop()
    clock = LiveClock()
    tasks_before = len(asyncio.all_tasks())
    handles_before = live_handles(loop)
    for i in range(5_000):
        clock.set_timer(f"exact{i}", 60 * NANOS_IN_SECOND + i, lambda e: None)
        clock.set_timer(f"coarse{i}", 60 * NANOS_IN_SECOND, lambda e: None, coarse=True)
    clock.set_time_alert("alert", clock.timestamp_ns() + 3_600 * NANOS_IN_SECOND, lambda e: None)
    assert clock.timer_count == 10_001
    assert len(asyncio.all_tasks()) == tasks_before
    assert live_handles(loop) - handles_before <= 2  # one wake for the heap, one tick for the wheel
    clock.cancel_timers()
    assert live_handles(loop) == handles_before


@pytest.mark.asyncio
async def test_coarse_timers_deliver_every_beat_with_exact_ts_event() -> None:
    clock = LiveClock(tick_ns=2 * MS, wheel_slots=16)  # 32 ms per revolution: 40 ms beats lap the wheel
    beats: dict[str, list[TimeEvent]] = {}
    start = clock.timestamp_ns() + 5 * MS
    n_timers, n_beats = 300, 4
    intervals = {f"hb{i}": (10 + 10 * (i % 4)) * MS for i in range(n_timers)}
    for name, iv in intervals.items():
        beats[name] = []
        clock.set_timer(name, iv, beats[name].append, start_time_ns=start,
                        stop_time_ns=start + n_beats * iv, coarse=True)
    await wait_for(lambda: clock.timer_count == 0, "every coarse timer finishing")
    for name, iv in intervals.items():
        assert [e.ts_event for e in beats[name]] == [start + k * iv for k in range(1, n_beats + 1)], name
        # delivered on the first tick at or after its due time, never before it
        assert all(e.ts_init >= e.ts_event - MS for e in beats[name])


@pytest.mark.asyncio
async def test_exact_timers_lose_no_beat_and_do_not_drift_when_callbacks_are_slow() -> None:
    clock = LiveClock()
    events: list[TimeEvent] = []

    def slow(event: TimeEvent) -> None:
        events.append(event)
        time.sleep(0.004)  # each callback costs more than the interval

    start = clock.timestamp_ns()
    clock.set_timer("slow", 3 * MS, slow, start_time_ns=start, stop_time_ns=start + 30 * MS)
    await wait_for(lambda: clock.timer_count == 0, "the slow timer finishing")
    assert [e.ts_event for e in events] == [start + k * 3 * MS for k in range(1, 11)]


@pytest.mark.asyncio
async def test_a_raising_callback_is_reported_and_the_others_still_fire() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict] = []
    loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))
    try:
        clock = LiveClock(tick_ns=MS)
        good: list[TimeEvent] = []

        def bad(event: TimeEvent) -> None:
            raise RuntimeError("callback failure")

        start = clock.timestamp_ns()
        clock.set_timer("bad", 2 * MS, bad, start_time_ns=start, stop_time_ns=start + 6 * MS)
        clock.set_timer("bad-coarse", 2 * MS, bad, start_time_ns=start, stop_time_ns=start + 6 * MS, coarse=True)
        clock.set_timer("good", 2 * MS, good.append, start_time_ns=start, stop_time_ns=start + 6 * MS)
        await wait_for(lambda: clock.timer_count == 0, "all three timers finishing")
        assert len(good) == 3
        assert len(reported) == 6
        assert all(isinstance(ctx["exception"], RuntimeError) for ctx in reported)
        assert "'bad" in reported[0]["message"]
    finally:
        loop.set_exception_handler(None)


def test_setting_a_timer_outside_a_loop_is_a_clear_error_and_leaves_the_name_free() -> None:
    clock = LiveClock()
    with pytest.raises(RuntimeError, match="running loop"):
        clock.set_timer("t", MS, lambda e: None)
    with pytest.raises(RuntimeError, match="running loop"):
        clock.set_time_alert("a", clock.timestamp_ns() + NANOS_IN_SECOND, lambda e: None)
    assert clock.timer_names == [] and clock.timer_count == 0


@pytest.mark.asyncio
async def test_cancel_timers_keeps_sleepers_and_timeouts_working() -> None:
    clock = LiveClock()
    clock.set_timer("t", MS, lambda e: None)
    sleeper = asyncio.create_task(clock.sleep(5 * MS))
    await asyncio.sleep(0)
    clock.cancel_timers()
    await asyncio.wait_for(sleeper, REAL_CAP_S)
    with pytest.raises(TimeoutError):
        async with clock.timeout(2 * MS):
            await asyncio.Event().wait()


@pytest.mark.asyncio
async def test_a_timer_set_by_a_callback_while_the_heap_is_served_fires() -> None:
    clock = LiveClock()
    seen: list[str] = []

    def first(event: TimeEvent) -> None:
        seen.append(event.name)
        clock.set_time_alert("second", clock.timestamp_ns() + MS, lambda e: seen.append(e.name))

    clock.set_time_alert("first", clock.timestamp_ns() + 2 * MS, first)
    await wait_for(lambda: len(seen) == 2, "the alert set by a callback")
    assert seen == ["first", "second"]


# --- never backwards -------------------------------------------------------------------------
def test_timestamps_plateau_when_the_wall_clock_steps_back_then_resume(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = iter([1_000, 2_000, 1_500, 1_999, 2_000, 2_001, 500, 3_000])
    monkeypatch.setattr(live, "_time_ns", lambda: next(wall))
    monkeypatch.setattr(live, "_last_ns", 0)
    clock = LiveClock()
    readings = [clock.timestamp_ns() for _ in range(8)]
    assert readings == [1_000, 2_000, 2_000, 2_000, 2_000, 2_001, 2_001, 3_000]


def test_every_reading_helper_goes_through_the_guarded_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = iter([5 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND])
    monkeypatch.setattr(live, "_time_ns", lambda: next(wall))
    monkeypatch.setattr(live, "_last_ns", 0)
    clock = LiveClock()
    assert clock.timestamp_ns() == 5 * NANOS_IN_SECOND
    assert clock.timestamp_ms() == 5_000
    assert clock.timestamp_us() == 5_000_000


def test_utc_now_never_goes_backwards(monkeypatch: pytest.MonkeyPatch) -> None:
    """utc_now reads datetime.now directly (cheaper) and is clamped the same way as timestamp_ns."""
    t = [datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 4, tzinfo=UTC),
         datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC)]  # fmt: skip
    wall = iter(t)
    monkeypatch.setattr(live, "_utc_now", lambda tz: next(wall))
    monkeypatch.setattr(live, "_last_dt", datetime(1970, 1, 1, tzinfo=UTC))
    clock = LiveClock()
    assert [clock.utc_now(), clock.utc_now(), clock.utc_now()] == [t[0], t[0], t[2]]


@pytest.mark.asyncio
async def test_a_wall_clock_step_back_does_not_bend_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = LiveClock()
    events: list[TimeEvent] = []
    start = clock.timestamp_ns()
    clock.set_timer("t", 3 * MS, events.append, start_time_ns=start, stop_time_ns=start + 12 * MS)
    real = time.time_ns
    monkeypatch.setattr(live, "_time_ns", lambda: real() - 3_600 * NANOS_IN_SECOND)  # an hour back
    await wait_for(lambda: clock.timer_count == 0, "the timer finishing after a step back")
    assert [e.ts_event for e in events] == [start + k * 3 * MS for k in range(1, 5)]
    assert all(e.ts_init >= start for e in events)  # readings plateaued, never went back


@pytest.mark.asyncio
async def test_coarse_timers_catch_up_after_a_stall_and_below_one_tick() -> None:
    clock = LiveClock(tick_ns=10 * MS)
    fast: list[TimeEvent] = []
    per_tick: list[TimeEvent] = []
    delivered_per_tick: list[int] = []
    serve_tick = clock._on_tick

    def counting_tick() -> None:
        before = len(per_tick)
        serve_tick()
        delivered_per_tick.append(len(per_tick) - before)

    clock._on_tick = counting_tick  # type: ignore[method-assign]
    start = clock.timestamp_ns()
    clock.set_timer("fast", 2 * MS, fast.append, start_time_ns=start, stop_time_ns=start + 60 * MS, coarse=True)
    clock.set_timer("per-tick", 10 * MS, per_tick.append, start_time_ns=start,
                    stop_time_ns=start + 100 * MS, coarse=True)
    await asyncio.sleep(0.015)
    time.sleep(0.05)  # the loop stalls for five ticks
    await wait_for(lambda: clock.timer_count == 0, "both coarse timers finishing")
    assert [e.ts_event for e in fast] == [start + k * 2 * MS for k in range(1, 31)]
    assert [e.ts_event for e in per_tick] == [start + k * 10 * MS for k in range(1, 11)]
    # the backlog left by the stall was delivered in one go, not one beat per tick
    assert max(delivered_per_tick) >= 3
