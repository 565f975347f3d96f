"""One conformance suite for both clocks: what every component may rely on, live or virtual.

LiveClock runs with real intervals of a few milliseconds; the tests assert order, counts and
exact schedules (ts_event = start + k * interval), never how quickly anything happened.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from targets.clock import (
    NANOS_IN_MICROSECOND,
    NANOS_IN_MILLISECOND,
    NANOS_IN_SECOND,
    Clock,
    TimeEvent,
)

MS = NANOS_IN_MILLISECOND
IV = 5 * MS  # the suite's timer interval

pytestmark = pytest.mark.asyncio


def recorder() -> tuple[list[TimeEvent], object]:
    events: list[TimeEvent] = []
    return events, events.append


# --- reading ---------------------------------------------------------------------------------
async def test_reading_is_int_nanoseconds_and_never_decreases(driver) -> None:
    clock = driver.clock
    assert isinstance(clock, Clock)
    assert clock.kind == driver.kind
    previous = clock.timestamp_ns()
    previous_mono = clock.monotonic_ns()
    for _ in range(2_000):
        now = clock.timestamp_ns()
        mono = clock.monotonic_ns()
        assert type(now) is int and type(mono) is int
        assert now >= previous and mono >= previous_mono
        previous, previous_mono = now, mono


async def test_reading_units_agree(driver) -> None:
    clock = driver.clock
    before = clock.timestamp_ns()
    us, ms, secs, dt = clock.timestamp_us(), clock.timestamp_ms(), clock.timestamp(), clock.utc_now()
    after = clock.timestamp_ns()
    assert type(us) is int and type(ms) is int and type(secs) is float
    assert before // NANOS_IN_MICROSECOND <= us <= after // NANOS_IN_MICROSECOND
    assert before // NANOS_IN_MILLISECOND <= ms <= after // NANOS_IN_MILLISECOND
    assert before / NANOS_IN_SECOND - 1e-6 <= secs <= after / NANOS_IN_SECOND + 1e-6
    assert dt.tzinfo is not None and dt.utcoffset().total_seconds() == 0
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    dt_us = (dt - epoch) // __import__("datetime").timedelta(microseconds=1)
    assert before // NANOS_IN_MICROSECOND <= dt_us <= after // NANOS_IN_MICROSECOND


# --- timers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("coarse", [False, True], ids=["exact", "coarse"])
async def test_timer_fires_at_start_plus_k_intervals_up_to_stop(driver, coarse: bool) -> None:
    clock = driver.clock
    events, cb = recorder()
    start = clock.timestamp_ns()
    clock.set_timer("t", IV, cb, start_time_ns=start, stop_time_ns=start + 4 * IV, coarse=coarse)
    assert clock.timer_names == ["t"] and clock.timer_count == 1
    await driver.wait_until(lambda: clock.timer_count == 0, "a timer with stop_time_ns finishing")
    assert [e.ts_event for e in events] == [start + k * IV for k in range(1, 5)]
    assert [e.name for e in events] == ["t"] * 4
    ids = [e.event_id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert all(type(e.ts_init) is int for e in events)
    assert clock.timer_names == []


async def test_timer_without_start_counts_from_now(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    before = clock.timestamp_ns()
    clock.set_timer("t", IV, cb)
    after = clock.timestamp_ns()
    first = clock.next_time_ns("t")
    assert before + IV <= first <= after + IV
    await driver.wait_until(lambda: len(events) >= 3, "three firings")
    clock.cancel_timer("t")
    assert [e.ts_event for e in events[:3]] == [first, first + IV, first + 2 * IV]


async def test_timers_due_together_fire_in_set_order(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    # A start 50 ms ahead: on a busy machine real time can pass start + 3 IV while the three are
    # set (then the last set_timer rightly refuses a timer whose every firing is past).
    start = clock.timestamp_ns() + 50 * MS
    for name in ("b", "a", "c"):
        clock.set_timer(name, IV, cb, start_time_ns=start, stop_time_ns=start + 3 * IV)
    await driver.wait_until(lambda: clock.timer_count == 0, "three timers finishing")
    assert [(e.ts_event, e.name) for e in events] == [
        (start + k * IV, name) for k in (1, 2, 3) for name in ("b", "a", "c")
    ]


async def test_alert_fires_once_at_its_time_and_frees_its_name(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    at = clock.timestamp_ns() + 2 * IV
    clock.set_time_alert("a", at, cb)
    assert clock.next_time_ns("a") == at
    await driver.wait_until(lambda: bool(events), "the alert")
    await driver.elapse(3 * IV)
    assert [(e.name, e.ts_event) for e in events] == [("a", at)]
    assert clock.timer_names == [] and clock.timer_count == 0
    clock.set_time_alert("a", clock.timestamp_ns() + IV, cb)  # the name is free again
    await driver.wait_until(lambda: len(events) == 2, "the re-used alert")


async def test_cancel_stops_a_timer_and_unknown_names_are_key_errors(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    clock.set_timer("t", IV, cb)
    # far enough ahead that a loaded machine's stall cannot let it fire before it is cancelled
    clock.set_time_alert("later", clock.timestamp_ns() + 200 * IV, cb)
    await driver.wait_until(lambda: len(events) >= 2, "two firings")
    clock.cancel_timer("t")
    clock.cancel_timer("later")
    seen = len(events)
    await driver.elapse(6 * IV)
    assert len(events) == seen
    assert clock.timer_count == 0
    with pytest.raises(KeyError, match="no timer named 't'"):
        clock.cancel_timer("t")
    with pytest.raises(KeyError):
        clock.next_time_ns("t")


async def test_cancel_timers_cancels_everything(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    for i in range(5):
        clock.set_timer(f"t{i}", IV, cb, coarse=bool(i % 2))
    clock.set_time_alert("a", clock.timestamp_ns() + IV, cb)
    assert clock.timer_count == 6
    clock.cancel_timers()
    assert clock.timer_count == 0 and clock.timer_names == []
    await driver.elapse(4 * IV)
    assert events == []
    # and the clock still works afterwards
    clock.set_time_alert("a", clock.timestamp_ns() + IV, cb)
    await driver.wait_until(lambda: len(events) == 1, "an alert after cancel_timers")


async def test_timer_names_are_sorted_and_counted(driver) -> None:
    clock = driver.clock
    far = clock.timestamp_ns() + 3600 * NANOS_IN_SECOND
    for name in ("zeta", "alpha", "mid"):
        clock.set_time_alert(name, far, lambda e: None)
    clock.set_timer("beta", NANOS_IN_SECOND * 60, lambda e: None)
    assert clock.timer_names == ["alpha", "beta", "mid", "zeta"]
    assert clock.timer_count == 4
    clock.cancel_timers()


async def test_next_time_ns_follows_the_schedule(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    start = clock.timestamp_ns()
    clock.set_timer("t", IV, cb, start_time_ns=start)
    assert clock.next_time_ns("t") == start + IV
    await driver.wait_until(lambda: len(events) >= 2, "two firings")
    clock.cancel_timer("t")
    assert events[0].ts_event == start + IV and events[1].ts_event == start + 2 * IV


async def test_start_in_the_past_skips_missed_firings_without_a_burst(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    now = clock.timestamp_ns()
    start = now - 10 * IV - IV // 2
    clock.set_timer("t", IV, cb, start_time_ns=start)
    first = clock.next_time_ns("t")
    assert now <= first < now + IV
    assert (first - start) % IV == 0
    await driver.wait_until(lambda: len(events) >= 2, "two firings")
    clock.cancel_timer("t")
    assert events[0].ts_event == first and events[1].ts_event == first + IV


# --- validation -------------------------------------------------------------------------------
async def test_duplicate_names_are_value_errors(driver) -> None:
    clock = driver.clock
    far = clock.timestamp_ns() + 3600 * NANOS_IN_SECOND
    clock.set_timer("x", NANOS_IN_SECOND, lambda e: None)
    with pytest.raises(ValueError, match="'x' is already set"):
        clock.set_timer("x", NANOS_IN_SECOND, lambda e: None)
    with pytest.raises(ValueError, match="'x' is already set"):
        clock.set_time_alert("x", far, lambda e: None)
    clock.set_time_alert("y", far, lambda e: None)
    with pytest.raises(ValueError, match="'y' is already set"):
        clock.set_timer("y", NANOS_IN_SECOND, lambda e: None, coarse=True)
    assert clock.timer_names == ["x", "y"]
    clock.cancel_timers()


@pytest.mark.parametrize("interval", [0, -1, -NANOS_IN_SECOND])
async def test_interval_must_be_positive(driver, interval: int) -> None:
    with pytest.raises(ValueError, match="interval_ns must be > 0"):
        driver.clock.set_timer("t", interval, lambda e: None)
    assert driver.clock.timer_count == 0


async def test_alert_in_the_past_and_bad_stop_are_value_errors(driver) -> None:
    clock = driver.clock
    now = clock.timestamp_ns()
    with pytest.raises(ValueError, match="in the past"):
        clock.set_time_alert("a", now - 1, lambda e: None)
    with pytest.raises(ValueError, match="before its first firing"):
        clock.set_timer("t", IV, lambda e: None, start_time_ns=now, stop_time_ns=now + IV - 1)
    with pytest.raises(ValueError, match="already in the past"):
        clock.set_timer("t", IV, lambda e: None, start_time_ns=now - 10 * IV, stop_time_ns=now - 5 * IV)
    with pytest.raises(ValueError, match="non-empty string"):
        clock.set_timer("", IV, lambda e: None)
    assert clock.timer_count == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.set_timer("t", 1.0e6, lambda e: None),
        lambda c: c.set_timer("t", True, lambda e: None),
        lambda c: c.set_timer("t", 10**6, lambda e: None, start_time_ns=float(c.timestamp_ns())),
        lambda c: c.set_timer("t", 10**6, lambda e: None, stop_time_ns=c.timestamp_ns() + 1e9),
        lambda c: c.set_time_alert("t", float(c.timestamp_ns() + 10**9), lambda e: None),
        lambda c: c.set_timer("t", 10**6, "not callable"),
        lambda c: c.set_time_alert("t", c.timestamp_ns() + 10**9, None),
        lambda c: c.timeout(0.5),
        lambda c: c.timeout_at(float(c.timestamp_ns())),
    ],
    ids=["float-interval", "bool-interval", "float-start", "float-stop", "float-alert",
         "timer-callback", "alert-callback", "float-timeout", "float-timeout-at"],
)
async def test_float_nanoseconds_are_type_errors(driver, call) -> None:
    with pytest.raises(TypeError):
        call(driver.clock)
    assert driver.clock.timer_count == 0


async def test_sleep_rejects_floats_and_negative_durations(driver) -> None:
    with pytest.raises(TypeError, match="int of nanoseconds"):
        await driver.clock.sleep(0.001)
    with pytest.raises(TypeError, match="int of nanoseconds"):
        await driver.clock.sleep_until(float(driver.clock.timestamp_ns()))
    with pytest.raises(ValueError, match=">= 0"):
        await driver.clock.sleep(-1)


# --- callbacks that change the timers ----------------------------------------------------------
async def test_callback_may_cancel_its_own_timer(driver) -> None:
    clock = driver.clock
    events: list[TimeEvent] = []

    def once(event: TimeEvent) -> None:
        events.append(event)
        clock.cancel_timer(event.name)

    clock.set_timer("self-cancelling", IV, once)
    await driver.wait_until(lambda: bool(events), "the first firing")
    await driver.elapse(5 * IV)
    assert len(events) == 1 and clock.timer_count == 0


@pytest.mark.parametrize("coarse", [False, True], ids=["exact", "coarse"])
async def test_callback_may_set_new_timers_and_reuse_its_alert_name(driver, coarse: bool) -> None:
    clock = driver.clock
    chain: list[TimeEvent] = []
    ticks: list[TimeEvent] = []

    def relay(event: TimeEvent) -> None:
        chain.append(event)
        if len(chain) < 3:  # the alert's name is free inside its own callback
            # allow_past: on a busy machine a LiveClock callback can run more than IV late
            clock.set_time_alert("relay", event.ts_event + IV, relay, allow_past=True)
        else:
            start = clock.timestamp_ns()
            clock.set_timer("spawned", IV, ticks.append, start_time_ns=start,
                            stop_time_ns=start + 2 * IV, coarse=coarse)

    first = clock.timestamp_ns() + IV
    clock.set_time_alert("relay", first, relay)
    await driver.wait_until(lambda: len(ticks) == 2, "the timer set by a callback")
    assert [e.ts_event for e in chain] == [first, first + IV, first + 2 * IV]
    assert ticks[1].ts_event - ticks[0].ts_event == IV
    assert clock.timer_count == 0


async def test_callback_cancelling_another_due_timer_prevents_its_firing(driver) -> None:
    clock = driver.clock
    events, cb = recorder()
    at = clock.timestamp_ns() + 2 * IV

    def killer(event: TimeEvent) -> None:
        events.append(event)
        clock.cancel_timer("victim")

    clock.set_time_alert("killer", at, killer)
    clock.set_time_alert("victim", at, cb)  # same instant, set later: fires after killer
    await driver.wait_until(lambda: bool(events), "the killer alert")
    await driver.elapse(3 * IV)
    assert [e.name for e in events] == ["killer"]


# --- async --------------------------------------------------------------------------------------
async def test_sleep_and_sleep_until_wait_for_clock_time(driver) -> None:
    clock = driver.clock

    async def body() -> tuple[int, int, int, int]:
        t0 = clock.timestamp_ns()
        await clock.sleep(3 * IV)
        t1 = clock.timestamp_ns()
        await clock.sleep_until(t1 + 2 * IV)
        t2 = clock.timestamp_ns()
        await clock.sleep(0)
        return t0, t1, t2, clock.timestamp_ns()

    t0, t1, t2, t3 = await driver.run(body())
    assert t1 >= t0 + 3 * IV
    assert t2 >= t1 + 2 * IV
    assert t3 >= t2


async def test_timeout_raises_timeout_error_when_the_body_overruns(driver) -> None:
    clock = driver.clock

    async def body() -> tuple[int, object]:
        scope = clock.timeout(2 * IV)
        with pytest.raises(TimeoutError):
            async with scope:
                await clock.sleep(3600 * NANOS_IN_SECOND)
        return clock.timestamp_ns(), scope

    start = clock.timestamp_ns()
    end, scope = await driver.run(body())
    assert scope.expired
    assert end >= start + 2 * IV
    assert scope.deadline_ns >= start + 2 * IV


async def test_timeout_also_interrupts_sleep_until_and_foreign_awaits(driver) -> None:
    clock = driver.clock

    async def body() -> None:
        with pytest.raises(TimeoutError):
            async with clock.timeout_at(clock.timestamp_ns() + IV):
                await clock.sleep_until(clock.timestamp_ns() + 3600 * NANOS_IN_SECOND)
        with pytest.raises(TimeoutError):
            async with clock.timeout(IV):
                await asyncio.Event().wait()  # something that is not the clock's

    await driver.run(body())


async def test_timeout_does_not_fire_when_the_body_finishes_in_time(driver) -> None:
    clock = driver.clock

    async def body() -> str:
        scope = clock.timeout(60 * IV)
        async with scope:
            await clock.sleep(IV)
        assert not scope.expired
        # the deadline passing later must not cancel the task that left the scope
        await clock.sleep(80 * IV)
        await asyncio.sleep(0)
        return "done"

    assert await driver.run(body()) == "done"


async def test_timeout_in_the_past_expires_at_the_first_await(driver) -> None:
    clock = driver.clock

    async def body() -> bool:
        scope = clock.timeout_at(clock.timestamp_ns() - NANOS_IN_SECOND)
        with pytest.raises(TimeoutError):
            async with scope:
                await clock.sleep(3600 * NANOS_IN_SECOND)
        return scope.expired

    assert await driver.run(body())


async def test_nested_timeouts_report_the_inner_one(driver) -> None:
    clock = driver.clock

    async def body() -> str:
        async with clock.timeout(100 * IV):
            with pytest.raises(TimeoutError):
                async with clock.timeout(IV):
                    await clock.sleep(3600 * NANOS_IN_SECOND)
            await clock.sleep(IV)
        return "outer survived"

    assert await driver.run(body()) == "outer survived"
