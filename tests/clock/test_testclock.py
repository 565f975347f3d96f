"""TestClock specifics: time moves only when told, in order, and everything is reproducible."""

from __future__ import annotations

import asyncio

import pytest

from targets.clock import NANOS_IN_SECOND, TestClock, TimeEvent, ns_to_datetime

S = NANOS_IN_SECOND


def test_starts_where_told_and_moves_only_when_told() -> None:
    clock = TestClock(5 * S)
    assert clock.timestamp_ns() == 5 * S and clock.monotonic_ns() == 5 * S
    assert clock.timestamp_ns() == 5 * S
    assert clock.advance_time(7 * S) == []
    assert clock.timestamp_ns() == 7 * S
    clock.advance_by(3)
    assert clock.timestamp_ns() == 7 * S + 3
    clock.set_time(9 * S)
    assert clock.timestamp_ns() == 9 * S
    assert TestClock().timestamp_ns() == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "0", None])
def test_bad_start_time_is_a_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="start_time_ns"):
        TestClock(bad)  # type: ignore[arg-type]


def test_moving_backwards_is_a_value_error_and_changes_nothing() -> None:
    clock = TestClock(10 * S)
    fired: list[TimeEvent] = []
    clock.set_time_alert("a", 11 * S, fired.append)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_time(10 * S - 1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set_time(0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance_by(-1)
    assert clock.timestamp_ns() == 10 * S and fired == []
    with pytest.raises(TypeError, match="int of nanoseconds"):
        clock.advance_time(11.0 * S)  # type: ignore[arg-type]
    assert clock.advance_time(10 * S) == []  # standing still is allowed


def test_fires_in_time_order_with_ties_in_set_order_and_returns_the_events() -> None:
    clock = TestClock(0)
    seen: list[tuple[str, int, int]] = []

    def cb(event: TimeEvent) -> None:
        seen.append((event.name, event.ts_event, clock.timestamp_ns()))

    clock.set_timer("every3", 3 * S, cb)
    clock.set_timer("every2", 2 * S, cb)
    clock.set_time_alert("at6", 6 * S, cb)
    clock.set_time_alert("at1", 1 * S, cb)
    events = clock.advance_time(6 * S)
    expected = [
        ("at1", 1 * S), ("every2", 2 * S), ("every3", 3 * S), ("every2", 4 * S),
        ("every3", 6 * S), ("every2", 6 * S), ("at6", 6 * S),
    ]
    assert [(e.name, e.ts_event) for e in events] == expected
    # each callback saw the clock at its own event's time, not at the end of the advance
    assert seen == [(name, t, t) for name, t in expected]
    assert all(e.ts_init == e.ts_event for e in events)
    assert [e.event_id for e in events] == list(range(1, 8))
    assert clock.timestamp_ns() == 6 * S


def test_set_time_never_skips_what_fell_due_on_the_way() -> None:
    clock = TestClock(0)
    clock.set_timer("t", S, lambda e: None)
    assert [e.ts_event for e in clock.set_time(3 * S)] == [S, 2 * S, 3 * S]


def test_timers_and_alerts_set_by_callbacks_fire_in_the_same_advance() -> None:
    clock = TestClock(0)
    names: list[tuple[str, int]] = []

    def spawner(event: TimeEvent) -> None:
        names.append((event.name, event.ts_event))
        if event.name == "root":
            clock.set_time_alert("same-instant", clock.timestamp_ns(), spawner)
            clock.set_time_alert("child", event.ts_event + S, spawner)
            clock.set_timer("grandchildren", 2 * S, spawner, stop_time_ns=event.ts_event + 6 * S)

    clock.set_time_alert("root", 10 * S, spawner)
    clock.set_time_alert("bystander", 11 * S, spawner)
    events = clock.advance_time(20 * S)
    assert [(e.name, e.ts_event) for e in events] == names == [
        ("root", 10 * S), ("same-instant", 10 * S), ("bystander", 11 * S), ("child", 11 * S),
        ("grandchildren", 12 * S), ("grandchildren", 14 * S), ("grandchildren", 16 * S),
    ]
    assert clock.timer_count == 0


def test_a_timer_that_stops_on_a_firing_includes_it() -> None:
    clock = TestClock(0)
    events = clock.set_timer("t", 2, lambda e: None, stop_time_ns=6) or clock.advance_time(100)
    assert [e.ts_event for e in events] == [2, 4, 6]
    assert clock.timer_count == 0


def test_start_in_the_past_keeps_a_firing_due_exactly_now() -> None:
    # A firing at exactly "now" is not missed (an alert at now is allowed too): it fires next advance.
    clock = TestClock(100)
    clock.set_timer("t", 10, lambda e: None, start_time_ns=80)
    assert clock.next_time_ns("t") == 100
    assert [e.ts_event for e in clock.advance_time(120)] == [100, 110, 120]


def test_alert_at_now_fires_on_the_next_advance() -> None:
    clock = TestClock(50)
    clock.set_time_alert("now", 50, lambda e: None)
    assert [e.ts_event for e in clock.advance_time(50)] == [50]


def test_advancing_from_a_callback_is_refused() -> None:
    clock = TestClock(0)
    clock.set_time_alert("a", 1, lambda e: clock.advance_time(5))
    with pytest.raises(RuntimeError, match="inside a timer callback"):
        clock.advance_time(2)
    # the clock is usable afterwards
    clock.set_time_alert("b", 3, lambda e: None)
    assert [e.name for e in clock.advance_time(4)] == ["b"]


def test_a_raising_callback_propagates_and_leaves_the_clock_consistent() -> None:
    clock = TestClock(0)

    def boom(event: TimeEvent) -> None:
        if event.ts_event == 2:
            raise RuntimeError("boom")

    clock.set_timer("t", 1, boom)
    with pytest.raises(RuntimeError, match="boom"):
        clock.advance_time(5)
    assert clock.timestamp_ns() == 2
    assert clock.next_time_ns("t") == 3
    assert [e.ts_event for e in clock.advance_time(5)] == [3, 4, 5]


def test_next_deadline_skips_cancelled_entries() -> None:
    clock = TestClock(0)
    assert clock.next_deadline_ns() is None
    clock.set_time_alert("a", 5, lambda e: None)
    clock.set_timer("b", 7, lambda e: None)
    assert clock.next_deadline_ns() == 5
    clock.cancel_timer("a")
    assert clock.next_deadline_ns() == 7
    clock.cancel_timer("b")
    assert clock.next_deadline_ns() is None


def test_a_reused_name_does_not_resurrect_the_cancelled_timer() -> None:
    clock = TestClock(0)
    clock.set_timer("x", 2, lambda e: None)
    clock.cancel_timer("x")
    clock.set_timer("x", 3, lambda e: None)
    assert [e.ts_event for e in clock.advance_time(6)] == [3, 6]


def test_utc_now_is_exact_to_the_microsecond() -> None:
    for ns in (0, 1, 999, 1_000, 1_700_000_000_123_456_789, 4_102_444_799_999_999_999, 8_000_000_000_999_999_000):
        clock = TestClock(ns)
        assert clock.utc_now() == ns_to_datetime(ns)
        assert clock.timestamp_us() == ns // 1_000 and clock.timestamp_ms() == ns // 1_000_000


# --- async code on a TestClock -----------------------------------------------------------------
@pytest.mark.asyncio
async def test_async_sleepers_wake_when_time_is_advanced_past_their_deadline() -> None:
    clock = TestClock(0)
    woke: list[tuple[str, int]] = []

    async def sleeper(name: str, ns: int) -> None:
        await clock.sleep(ns)
        woke.append((name, clock.timestamp_ns()))

    tasks = [asyncio.create_task(sleeper("slow", 5 * S)), asyncio.create_task(sleeper("fast", 2 * S))]
    await asyncio.sleep(0)
    clock.advance_time(1 * S)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance_time(3 * S)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert woke == [("fast", 3 * S)]  # it resumes at the time the advance ended
    clock.advance_time(10 * S)
    await asyncio.gather(*tasks)
    assert [name for name, _ in woke] == ["fast", "slow"]


@pytest.mark.asyncio
async def test_timeout_on_a_testclock_expires_only_when_advanced() -> None:
    clock = TestClock(0)

    async def guarded() -> None:
        async with clock.timeout(5 * S):
            await asyncio.Event().wait()

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0)
    clock.advance_time(4 * S)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not task.done()
    clock.advance_time(5 * S)
    with pytest.raises(TimeoutError):
        await task


@pytest.mark.asyncio
async def test_sleeper_deadline_orders_with_timers() -> None:
    clock = TestClock(0)
    order: list[str] = []
    clock.set_time_alert("before", 2 * S, lambda e: order.append("alert@2"))

    async def sleeper() -> None:
        await clock.sleep(2 * S)
        order.append("sleeper")

    task = asyncio.create_task(sleeper())
    await asyncio.sleep(0)
    clock.set_time_alert("after", 2 * S, lambda e: order.append("alert@2-later"))
    clock.advance_time(2 * S)
    await task
    assert order == ["alert@2", "alert@2-later", "sleeper"]


def test_same_calls_give_the_same_events() -> None:
    def scenario() -> list[TimeEvent]:
        clock = TestClock(1_000)
        out: list[TimeEvent] = []

        def cb(event: TimeEvent) -> None:
            if event.name == "a" and event.ts_event % 21 == 0:
                clock.set_time_alert(f"spawn{event.event_id}", event.ts_event + 4, cb)

        clock.set_timer("a", 7, cb)
        clock.set_timer("b", 3, cb, start_time_ns=1_001)
        for t in range(1_000, 1_300, 13):
            out += clock.advance_time(t)
        return out

    first, second = scenario(), scenario()
    assert len(first) > 10 and {e.name for e in first} >= {"a", "b"}  # not two empty lists
    assert first == second


def _mixed_scenario() -> list[tuple]:
    """Timers of 12 intervals (more than the C queue's 8 lanes, so re-arms take the heap too),
    ties at one instant, alerts, cancels and re-sets from callbacks, a raising callback, and
    both one big advance and small steps; returns everything observable."""
    import random

    rng = random.Random(7)
    clock = TestClock(1_000)
    log: list[tuple] = []

    def cb(event: TimeEvent) -> None:
        log.append(("fire", event, clock.timestamp_ns()))
        if event.event_id % 17 == 0 and clock.has_timer(event.name):
            clock.cancel_timer(event.name)
            clock.set_timer(event.name, 7 + event.event_id % 5, cb)
        if event.event_id % 23 == 0:
            clock.set_time_alert(f"a{event.event_id}", clock.timestamp_ns(), cb)
        if event.event_id == 300:
            raise RuntimeError("boom")

    for i in range(60):
        clock.set_timer(f"t{i}", 3 + i % 12, cb, start_time_ns=1_000 + rng.randrange(0, 5),
                        stop_time_ns=None if i % 4 else 1_000 + 200 + i)
    for i in range(10):
        clock.set_time_alert(f"x{i}", 1_000 + rng.randrange(0, 300), cb)
    for step in range(1, 60):
        try:
            log.append(("step", tuple(clock.advance_time(1_000 + step * 5))))
        except RuntimeError as exc:
            log.append(("raised", str(exc), clock.timestamp_ns()))
        if step % 9 == 0:
            name = f"t{step}"
            if clock.has_timer(name):
                clock.cancel_timer(name)
        log.append(("next", clock.next_deadline_ns(), clock.timer_names))
    log.append(("big", tuple(clock.advance_time(50_000))))
    log.append(("end", clock.timestamp_ns(), clock.timer_names, clock.next_deadline_ns()))
    return log


def test_c_and_pure_queues_fire_the_same_events_in_the_same_order() -> None:
    from targets.clock import _impl

    if "c" not in _impl.available():
        pytest.skip("the C accelerator is not built")
    before = _impl.name
    try:
        runs = {}
        for which in ("c", "python"):
            _impl.use(which)
            runs[which] = _mixed_scenario()
    finally:
        _impl.use(before)
    assert any(entry[0] == "raised" for entry in runs["c"])
    assert len(runs["c"]) > 1_000
    assert runs["c"] == runs["python"]
