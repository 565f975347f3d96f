"""LiveClock: one scheduler per loop, the coarse timing wheel, and the never-backwards reading."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import targets.clock.live as live
from targets.clock import NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TimeEvent, _impl

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
    start = clock.timestamp_ns() + 200 * MS  # ahead: setting 300 timers on a loaded machine takes a while
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

    start = clock.timestamp_ns() + 100 * MS  # ahead: a busy machine must not make the stop time past
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

        start = clock.timestamp_ns() + 100 * MS  # ahead: a busy machine must not make a stop time past
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
@pytest.fixture
def wall(clock_impl: str):
    """Replace the system wall clock with a scripted one (through _impl's test hook), then restore it."""

    def install(source, reset: bool = True) -> None:
        _impl.set_wall_source(source, reset)

    yield install
    _impl.set_wall_source(None, True)


def test_timestamps_plateau_when_the_wall_clock_steps_back_then_resume(wall) -> None:
    readings_in = iter([1_000, 2_000, 1_500, 1_999, 2_000, 2_001, 500, 3_000])
    wall(lambda: next(readings_in))
    clock = LiveClock()
    readings = [clock.timestamp_ns() for _ in range(8)]
    assert readings == [1_000, 2_000, 2_000, 2_000, 2_000, 2_001, 2_001, 3_000]


def test_every_reading_helper_goes_through_the_guarded_clock(wall) -> None:
    readings_in = iter([5 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND, 4 * NANOS_IN_SECOND])
    wall(lambda: next(readings_in))
    clock = LiveClock()
    assert clock.timestamp_ns() == 5 * NANOS_IN_SECOND
    assert clock.timestamp_ms() == 5_000
    assert clock.timestamp_us() == 5_000_000


def test_utc_now_never_goes_backwards(wall) -> None:
    s = NANOS_IN_SECOND
    base = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * s
    readings_in = iter([base + 5 * s + 123_456_789, base + 4 * s, base + 6 * s])
    wall(lambda: next(readings_in))
    clock = LiveClock()
    got = [clock.utc_now(), clock.utc_now(), clock.utc_now()]
    first = datetime(2026, 1, 1, 0, 0, 5, 123_456, tzinfo=UTC)
    assert got == [first, first, datetime(2026, 1, 1, 0, 0, 6, tzinfo=UTC)]
    assert all(d.tzinfo is UTC for d in got)


def test_utc_now_reads_the_real_wall_clock() -> None:
    before = datetime.now(UTC)
    now = LiveClock().utc_now()
    after = datetime.now(UTC)
    assert before <= now <= after and now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_never_backwards_holds_across_threads_while_the_wall_clock_steps(wall) -> None:
    """Readers check their own sequences never decrease, and that no reading is below one
    another thread had already finished returning, while a thread steps the wall clock back
    and forth by up to a second. (C: an atomic compare-and-swap max; pure Python: the GIL.)"""
    state = {"offset": 0}
    real = time.time_ns
    wall(lambda: real() + state["offset"], reset=True)
    clock = LiveClock()
    stop = threading.Event()
    published = [0]  # the largest value some reader has finished reading
    errors: list[str] = []

    def stepper() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            state["offset"] = -((k * 7919) % 1_000) * MS  # 0..999 ms back, jumping around
            time.sleep(0.0002)

    def reader(idx: int) -> None:
        last = 0
        for _ in range(30_000):
            floor = published[0]
            t = clock.timestamp_ns()
            if t < last or t < floor:
                errors.append(f"reader {idx}: {t} after {last} (floor {floor})")
                return
            last = t
            if t > published[0]:
                published[0] = t

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    step = threading.Thread(target=stepper)
    step.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    step.join()
    assert errors == []
    assert state["offset"] != 0  # the stepper really ran


@pytest.mark.asyncio
async def test_a_wall_clock_step_back_does_not_bend_the_schedule(wall) -> None:
    clock = LiveClock()
    events: list[TimeEvent] = []
    before_step = clock.timestamp_ns()
    start = before_step + 100 * MS  # ahead: a stall must not make the first firings past
    clock.set_timer("t", 3 * MS, events.append, start_time_ns=start, stop_time_ns=start + 12 * MS)
    real = time.time_ns
    wall(lambda: real() - 3_600 * NANOS_IN_SECOND, reset=False)  # an hour back: readings must plateau
    await wait_for(lambda: clock.timer_count == 0, "the timer finishing after a step back")
    assert [e.ts_event for e in events] == [start + k * 3 * MS for k in range(1, 5)]
    assert all(e.ts_init >= before_step for e in events)  # readings plateaued, never went back


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
    start = clock.timestamp_ns() + 50 * MS  # ahead: a loaded machine must not make the first firings past
    clock.set_timer("fast", 2 * MS, fast.append, start_time_ns=start, stop_time_ns=start + 60 * MS, coarse=True)
    clock.set_timer("per-tick", 10 * MS, per_tick.append, start_time_ns=start,
                    stop_time_ns=start + 100 * MS, coarse=True)
    await asyncio.sleep(0.065)
    time.sleep(0.05)  # the loop stalls for five ticks
    await wait_for(lambda: clock.timer_count == 0, "both coarse timers finishing")
    assert [e.ts_event for e in fast] == [start + k * 2 * MS for k in range(1, 31)]
    assert [e.ts_event for e in per_tick] == [start + k * 10 * MS for k in range(1, 11)]
    # the backlog left by the stall was delivered in one go, not one beat per tick
    assert max(delivered_per_tick) >= 3


def test_the_wheel_is_looked_at_when_its_earliest_deadline_falls_due_at_most_once_per_gap(monkeypatch) -> None:
    """Coarse timers keep their exact deadlines: the wheel is looked at when the earliest one falls
    due (not at the end of its tick), and after a delivery not again before wake_gap_ns, so a beat
    waits at most the gap (plus the loop's wake-up latency), never a whole tick. Monotonic time is
    scripted here and the wakes are run by hand, so this asserts the schedule, not a timing."""
    fake = [10**12 + 3 * MS // 10]  # not on a tick boundary
    monkeypatch.setattr(live, "_monotonic_ns", lambda: fake[0])
    loop = asyncio.new_event_loop()
    try:
        clock = LiveClock(tick_ns=10 * MS, wake_gap_ns=4 * MS, loop=loop)
        seen: list[tuple[str, int]] = []
        wall = clock.timestamp_ns() + NANOS_IN_SECOND  # ahead: the real wall clock must not pass the stops
        for name, after in [("a", 1_300_000), ("b", 2_100_000), ("c", 7 * MS)]:
            clock.set_timer(name, after, lambda e: seen.append((e.name, fake[0])), start_time_ns=wall,
                            stop_time_ns=wall + after, coarse=True)
        due = {name: clock._timers[name].due for name in "abc"}
        assert clock._tick_at == due["a"]  # the earliest exact deadline, not the tick's end
        fake[0] = due["a"]
        clock._on_tick()
        assert [n for n, _ in seen] == ["a"]
        assert clock._tick_at == due["a"] + 4 * MS  # b is due sooner, but the gap holds it back
        fake[0] = clock._tick_at
        clock._on_tick()
        assert [n for n, _ in seen] == ["a", "b"]
        assert clock._tick_at == max(due["c"], fake[0] + 4 * MS)
        fake[0] = clock._tick_at
        clock._on_tick()
        assert [n for n, _ in seen] == ["a", "b", "c"] and clock.timer_count == 0
        assert all(0 <= at - due[n] <= 4 * MS for n, at in seen)
        assert clock._tick_handle is None or clock._tick_at is None or clock._coarse_len() == 0
    finally:
        loop.close()


@pytest.mark.parametrize("gap", [-1, 10 * MS + 1])
def test_a_wake_gap_outside_zero_to_one_tick_is_a_value_error(gap: int) -> None:
    with pytest.raises(ValueError, match="wake_gap_ns"):
        LiveClock(tick_ns=10 * MS, wake_gap_ns=gap)


@pytest.mark.parametrize("overrun", [0, 1 * MS, 3 * MS, 4 * MS, 6 * MS, 50 * MS, -1])
def test_the_wake_gap_takes_what_the_tick_leaves_after_the_overrun_and_never_less_than_half(overrun: int) -> None:
    tick = 10 * MS
    gap = live.wake_gap_for(tick, overrun)
    assert tick // 2 <= gap <= tick - tick // 10
    if tick // 2 < gap:  # the floor aside, a beat due just after a look is delivered within 90% of a tick
        assert gap + max(0, overrun) == tick - tick // 10
    assert live.wake_gap_for(tick, overrun + MS) <= gap  # a longer overrun never widens the gap


def test_the_gaps_overrun_estimate_ignores_one_stall_and_follows_a_second() -> None:
    """The estimate is the decaying second-highest overrun: an isolated stall moves only the top."""
    top, second = 0, 0
    for overrun in [200_000] * 10:
        top, second = live.overrun_peaks(top, second, overrun)
    assert 190_000 < second <= top == 200_000
    top, second = live.overrun_peaks(top, second, 4 * MS)  # one stall
    assert top == 4 * MS and 190_000 < second < 200_000
    for _ in range(100):  # normal looks: the estimate stays at the usual overrun, the stall decays
        top, second = live.overrun_peaks(top, second, 200_000)
    assert second == 200_000 and 2 * MS < top < 4 * MS
    top, second = live.overrun_peaks(top, second, 3 * MS)  # a second stall within the decay counts
    assert 2 * MS < second and top == 3 * MS  # (the first, decayed a little, is now the second peak)
    for _ in range(180):  # about a half-life of looks without a stall
        top, second = live.overrun_peaks(top, second, 0)
    assert 1 * MS < second < 2 * MS
    for _ in range(5000):  # the estimate never holds an old stall for good
        top, second = live.overrun_peaks(top, second, 0)
    assert top < 1000 and second < 1000


def _scripted_clock(monkeypatch, **kwargs):
    """A LiveClock whose monotonic time is a list the test moves; its looks are run by hand.

    The wall clock the schedules are converted with moves with it: against the real one, a loaded
    machine's few milliseconds between two set_timer calls re-based the wall-to-monotonic offset
    and put two timers' deadlines out of their order (a flaky order test)."""
    fake = [10**12 + 3 * MS // 10]
    monkeypatch.setattr(live, "_monotonic_ns", lambda: fake[0])
    wall_minus_mono = time.time_ns() - fake[0]
    monkeypatch.setattr(live, "live_timestamp_ns", lambda: fake[0] + wall_minus_mono)
    loop = asyncio.new_event_loop()
    return fake, loop, LiveClock(loop=loop, **kwargs)


def test_an_adaptive_wheel_widens_its_gap_on_short_overruns_and_narrows_it_on_long_ones(monkeypatch) -> None:
    """The next look is planned one gap after this one started, the gap given by the overrun
    this look measured (from when it was planned to when its deliveries ended)."""
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS)
    try:
        assert clock.adaptive_gap and clock.wake_gap_ns == 9 * MS
        wall = clock.timestamp_ns() + NANOS_IN_SECOND  # ahead of the real wall clock
        for i in range(200):  # dense beats: every look finds some due, so the gap alone spaces them
            clock.set_timer(f"hb{i}", 100 * MS, lambda e: None, start_time_ns=wall + i * MS // 2, coarse=True)
        fake[0] = clock._tick_at
        start = fake[0]
        clock._on_tick()  # on time, instantly done: no overrun
        assert clock.overrun_ns == 0 and clock._tick_at == start + 9 * MS
        fake[0] = clock._tick_at + 3 * MS  # woken 3 ms late: one stall alone leaves the gap as it was
        start = fake[0]
        clock._on_tick()
        assert clock.overrun_ns == 0 and clock.wake_gap_ns == 9 * MS and clock._tick_at == start + 9 * MS
        fake[0] = clock._tick_at + 3 * MS  # and again, soon after: stalls recur, the gap narrows
        start = fake[0]
        clock._on_tick()
        assert 0 < 3 * MS - clock.overrun_ns < 3 * MS // 100 and clock.wake_gap_ns == live.wake_gap_for(10 * MS, clock.overrun_ns)
        assert clock._tick_at == start + clock.wake_gap_ns < start + 6 * MS + 3 * MS // 100
        fake[0] = clock._tick_at  # on time again: the peaks decay slowly, the gap widens slowly
        start = fake[0]
        clock._on_tick()
        assert 0 < 3 * MS - clock.overrun_ns < 3 * MS // 50
        assert clock._tick_at == start + live.wake_gap_for(10 * MS, clock.overrun_ns)
        assert clock.looks == 4
    finally:
        clock.cancel_timers()
        loop.close()


def test_an_adaptive_wheel_delivers_every_beat_once_in_deadline_order_and_never_early(monkeypatch) -> None:
    """10,000 beats staggered over a second (as the heartbeat producer sets them), looked at with
    random lateness: none lost, none twice, none before its time, in deadline order per look and
    overall, and each within its look's overrun plus the gap in force when that look was planned."""
    import random

    rng = random.Random(19)
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS)
    seen: list[tuple[int, int]] = []
    try:
        wall = clock.timestamp_ns() + NANOS_IN_SECOND  # ahead of the real wall clock
        n, interval = 10_000, NANOS_IN_SECOND
        shift: dict[str, int] = {}  # per timer, monotonic deadline minus wall-clock schedule

        def beat(e: TimeEvent) -> None:
            seen.append((e.ts_event + shift[e.name], fake[0]))

        for i in range(n):
            clock.set_timer(f"hb{i}", interval, beat, start_time_ns=wall + i * interval // n, coarse=True)
            timer = clock._timers[f"hb{i}"]
            shift[timer.name] = timer.due - timer.next_ns
        end = fake[0] + 5 * interval  # the schedule starts a second ahead: three rounds and more
        worst_allowed = 0
        while clock._tick_at is not None and clock._tick_at < end:
            gap_planned = clock.wake_gap_ns
            late = rng.choice([0, 0, 0, 200_000, 1 * MS, 4 * MS])
            fake[0] = clock._tick_at + late
            before = len(seen)
            clock._on_tick()
            worst_allowed = max(worst_allowed, gap_planned + late)
            batch = seen[before:]
            assert clock._coarse_len() == clock.timer_count  # nothing left marked in flight or lost
            assert all(nominal <= at for nominal, at in batch)  # never early
            assert [b[0] for b in batch] == sorted(b[0] for b in batch)
        nominals = [nominal for nominal, _ in seen]
        assert nominals == sorted(nominals) and len(set(nominals)) == len(nominals)
        last = max(nominals)
        expected = sorted(wall + i * interval // n + k * interval + shift[f"hb{i}"] for i in range(n) for k in range(1, 5))
        assert nominals == [x for x in expected if x <= last] and len(nominals) > 2 * n
        assert max(at - nominal for nominal, at in seen) <= worst_allowed
    finally:
        clock.cancel_timers()
        loop.close()


@pytest.mark.parametrize("reuse_name", [False, True])
def test_a_coarse_beat_cancelled_by_an_earlier_beat_of_the_same_look_does_not_fire(monkeypatch, reuse_name: bool) -> None:
    """The victim has left the wheel with the killer (one look takes both); the killer cancels it,
    and may set a new timer under its name at once: the old victim must not fire, the new one
    fires at its own time, once."""
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS, wake_gap_ns=5 * MS)
    seen: list[tuple[str, int]] = []
    try:
        wall = clock.timestamp_ns() + NANOS_IN_SECOND  # ahead: the real wall clock must not overtake it

        def killer(e: TimeEvent) -> None:
            seen.append((e.name, e.ts_event))
            clock.cancel_timer("victim")
            if reuse_name:
                clock.set_timer("victim", 20 * MS, lambda ev: seen.append(("new victim", ev.ts_event)),
                                start_time_ns=wall, stop_time_ns=wall + 20 * MS, coarse=True)

        clock.set_timer("killer", 2 * MS, killer, start_time_ns=wall, stop_time_ns=wall + 2 * MS, coarse=True)
        clock.set_timer("victim", 3 * MS, lambda e: seen.append(("old victim", e.ts_event)), start_time_ns=wall,
                        coarse=True)
        fake[0] = clock._timers["victim"].due + 1  # one look takes both
        clock._on_tick()
        assert [n for n, _ in seen] == ["killer"]
        assert clock._coarse_len() == clock.timer_count == (1 if reuse_name else 0)
        for _ in range(10):  # later looks: the old victim never fires, the new one once
            if clock._tick_at is None:
                break
            fake[0] = max(fake[0] + 5 * MS, clock._tick_at)
            clock._on_tick()
        assert [n for n, _ in seen] == (["killer", "new victim"] if reuse_name else ["killer"])
        assert clock.timer_count == 0 and clock._coarse_len() == 0
    finally:
        clock.cancel_timers()
        loop.close()


def test_an_interrupt_escaping_a_coarse_batch_leaves_the_store_consistent(monkeypatch) -> None:
    """KeyboardInterrupt goes through the firing loop (as in the pure loop); the batch it abandons
    must leave no more in the coarse store than is armed, and the next look must work."""
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS, wake_gap_ns=5 * MS)
    try:
        wall = clock.timestamp_ns() + NANOS_IN_SECOND

        def interrupt(e: TimeEvent) -> None:
            raise KeyboardInterrupt

        clock.set_timer("a", 2 * MS, interrupt, start_time_ns=wall, coarse=True)
        for name in "bc":
            clock.set_timer(name, 3 * MS, lambda e: None, start_time_ns=wall, coarse=True)
        fake[0] = clock._timers["c"].due + 1  # one look takes all three
        with pytest.raises(KeyboardInterrupt):
            clock._on_tick()
        assert clock._coarse_len() <= clock.timer_count
        clock.cancel_timer("a")
        fake[0] += 10 * MS
        clock._on_tick()  # what is left of the batch fires or is gone; nothing is stuck
        assert clock._coarse_len() <= clock.timer_count
    finally:
        clock.cancel_timers()
        loop.close()


@pytest.mark.asyncio
async def test_the_wheel_is_woken_by_a_timerfd_with_the_c_accelerator_and_by_call_later_without(clock_impl) -> None:
    """With C on Linux the wheel's wake is a timerfd reader (no loop timer handle); pure Python uses
    call_later. Either way the beats come on schedule, never early, and once nothing is armed the
    fd is disarmed: an expired timerfd left readable would spin the loop."""
    import select
    import sys

    loop = asyncio.get_running_loop()
    clock = LiveClock(tick_ns=2 * MS)
    handles_before = live_handles(loop)
    seen: list[tuple[int, int]] = []
    start = clock.timestamp_ns() + 20 * MS
    clock.set_timer("hb", 5 * MS, lambda e: seen.append((e.ts_event, e.ts_init)), start_time_ns=start,
                    stop_time_ns=start + 20 * MS, coarse=True)
    by_fd = clock_impl == "c" and sys.platform == "linux"
    assert (clock._wake_fd is not None) == by_fd
    assert live_handles(loop) - handles_before == (0 if by_fd else 1)
    await wait_for(lambda: clock.timer_count == 0, "the timer's four beats")
    assert [nominal for nominal, _ in seen] == [start + k * 5 * MS for k in range(1, 5)]
    assert all(nominal <= at for nominal, at in seen)
    if by_fd:
        poller = select.epoll()
        try:
            poller.register(clock._wake_fd, select.EPOLLIN)
            assert poller.poll(0.02) == []  # disarmed: not readable
        finally:
            poller.close()
        # and off the loop while idle (a reader would keep the clock alive), back on the next timer
        assert clock._wake_fd not in loop._selector.get_map()  # type: ignore[attr-defined]
        clock.set_timer("again", 5 * MS, lambda e: seen.append((e.ts_event, e.ts_init)), coarse=True,
                        stop_time_ns=clock.timestamp_ns() + 6 * MS)
        assert clock._wake_fd in loop._selector.get_map()  # type: ignore[attr-defined]
        await wait_for(lambda: clock.timer_count == 0, "the second timer's beat")
        assert len(seen) == 5


def test_coarse_timers_cancelled_and_set_again_in_bulk_keep_every_live_beat_in_order(monkeypatch) -> None:
    """Idle timeouts re-armed on every message: thousands of cancels between looks (the C queue
    skips their entries and compacts itself once they outnumber the live ones). Every live
    heartbeat still beats on schedule, in deadline order, and no cancelled timer ever fires."""
    import random

    rng = random.Random(11)
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS)
    seen: list[tuple[int, str, int]] = []  # (nominal monotonic deadline, name, look)
    look = [0]
    shift: dict[str, int] = {}
    try:
        wall = clock.timestamp_ns() + NANOS_IN_SECOND

        def beat(e: TimeEvent) -> None:
            seen.append((e.ts_event + shift[e.name], e.name, look[0]))

        def arm(name: str, interval: int, first: int) -> None:
            clock.set_timer(name, interval, beat, start_time_ns=first - interval, coarse=True)
            timer = clock._timers[name]
            shift[name] = timer.due - timer.next_ns

        for i in range(300):
            arm(f"hb{i}", 100 * MS, wall + i * 100 * MS // 300)
        cancelled_at: dict[str, int] = {}
        end = clock._timers["hb0"].due + 500 * MS  # five rounds of heartbeats
        k = 0
        while fake[0] < end:
            k += 1
            fake[0] = clock._tick_at
            look[0] = k
            clock._on_tick()
            for j in range(40):  # 40 idle timeouts re-armed per look: thousands of cancels in all
                name = f"idle{j}"
                if clock.has_timer(name):
                    clock.cancel_timer(name)
                arm(name, 30 * MS, fake[0] + rng.randrange(5 * MS, 2_000 * MS))  # most never fall due
            if k % 10 == 5:  # now and then a heartbeat goes for good
                victim = f"hb{rng.randrange(300)}"
                if clock.has_timer(victim):
                    clock.cancel_timer(victim)
                    cancelled_at[victim] = k
            assert clock._coarse_len() == clock.timer_count
        beats = [(nominal, name) for nominal, name, _ in seen if name.startswith("hb")]
        assert [n for n, _ in beats] == sorted(n for n, _ in beats)
        for name, k in cancelled_at.items():
            assert all(at <= k for _, n, at in seen if n == name)
        last = fake[0] - 10 * MS  # everything due this long before the last look has been delivered
        for i in range(300):
            name = f"hb{i}"
            got = [nominal for nominal, n in beats if n == name]
            first = wall + i * 100 * MS // 300 + shift[name]
            want = [first + r * 100 * MS for r in range(len(got))]
            assert got == want  # on schedule, none lost or doubled
            if name not in cancelled_at:
                assert got and got[-1] + 100 * MS > last
    finally:
        clock.cancel_timers()
        loop.close()


def test_events_and_ints_a_callback_keeps_never_change_after_it_returns(monkeypatch) -> None:
    """The C firing loop refills an event no callback kept, and recycles ints only it holds (the
    spare event's, a timer's due): whatever a callback does keep (an event, or an int taken from
    one) must keep its value through every later beat, and each timer's schedule must stay exact."""
    fake, loop, clock = _scripted_clock(monkeypatch, tick_ns=10 * MS)
    kept_events: list[tuple[TimeEvent, tuple[int, int, int, int]]] = []
    kept_ints: list[tuple[int, int]] = []
    seen: list[tuple[str, int, int, int]] = []  # copies made at delivery: (name, event_id, ts_event, ts_init)
    try:
        wall = clock.timestamp_ns() + NANOS_IN_SECOND
        n, interval = 300, 10 * MS

        def beat(e: TimeEvent) -> None:
            copy = (e.name, int(str(e.event_id)), int(str(e.ts_event)), int(str(e.ts_init)))
            seen.append(copy)
            if e.event_id % 3 == 0:
                kept_events.append((e, copy[1:]))
            elif e.event_id % 5 == 0:
                kept_ints.extend([(e.ts_event, copy[2]), (e.ts_init, copy[3]), (e.event_id, copy[1])])

        shift, first = {}, {}
        for i in range(n):
            clock.set_timer(f"hb{i}", interval, beat, start_time_ns=wall + i * interval // n, coarse=True)
            timer = clock._timers[f"hb{i}"]
            shift[timer.name], first[timer.name] = timer.due - timer.next_ns, timer.next_ns
        for _ in range(60):
            fake[0] = clock._tick_at + 1 * MS
            clock._on_tick()
        assert len(seen) > 5 * n and len(kept_events) > n and len(kept_ints) > n  # (a raising beat is only reported)
        assert [s[1] for s in seen] == list(range(seen[0][1], seen[0][1] + len(seen)))  # one id per beat
        for e, (eid, ts_event, ts_init) in kept_events:
            assert (e.event_id, e.ts_event, e.ts_init) == (eid, ts_event, ts_init)
        for value, copy in kept_ints:
            assert value == copy
        by_timer: dict[str, list[int]] = {}
        for name, _, ts_event, _ in seen:
            by_timer.setdefault(name, []).append(ts_event)
        for name, beats in by_timer.items():
            assert beats == [first[name] + k * interval for k in range(len(beats))]
            timer = clock._timers[name]
            assert timer.next_ns == beats[-1] + interval and timer.due - timer.next_ns == shift[name]
    finally:
        clock.cancel_timers()
        loop.close()
