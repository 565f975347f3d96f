"""Property tests: TestClock against a brute-force model that enumerates every firing.

The model knows nothing about heaps: for each armed timer it lists start + k*interval up to the
target time, sorts everything by (time, set order) and compares with what TestClock fired.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from targets.clock import TestClock, TimeEvent, ns_to_datetime

NAMES = ["a", "b", "c", "d", "e"]


@dataclass
class ModelTimer:
    name: str
    order: int  # set order: breaks ties
    next_ns: int
    interval: int  # 0: a one-shot alert
    stop: int | None


class Model:
    """The obvious, slow implementation of the TestClock contract."""

    def __init__(self, start: int) -> None:
        self.now = start
        self.timers: dict[str, ModelTimer] = {}
        self.order = 0
        self.event_id = 0

    def set_timer(self, name: str, interval: int, start: int | None, stop: int | None) -> None:
        if name in self.timers:
            raise ValueError("duplicate")
        if interval <= 0:
            raise ValueError("interval")
        begin = self.now if start is None else start
        firings = (begin + k * interval for k in range(1, 10**9))
        first = next(t for t in firings if t >= self.now)  # firings before now are skipped
        if stop is not None and (stop < begin + interval or first > stop):
            raise ValueError("stop")
        self.order += 1
        self.timers[name] = ModelTimer(name, self.order, first, interval, stop)

    def set_alert(self, name: str, at: int) -> None:
        if name in self.timers:
            raise ValueError("duplicate")
        if at < self.now:
            raise ValueError("past")
        self.order += 1
        self.timers[name] = ModelTimer(name, self.order, at, 0, None)

    def cancel(self, name: str) -> None:
        if name not in self.timers:
            raise KeyError(name)
        del self.timers[name]

    def advance(self, to: int) -> list[tuple[str, int, int, int]]:
        if to < self.now:
            raise ValueError("backwards")
        firings: list[tuple[int, int, str]] = []
        for timer in list(self.timers.values()):
            t = timer.next_ns
            while t <= to and (timer.stop is None or t <= timer.stop):
                firings.append((t, timer.order, timer.name))
                if timer.interval == 0:
                    break
                t += timer.interval
            if timer.interval == 0:
                if timer.next_ns <= to:
                    del self.timers[timer.name]
            elif timer.stop is not None and t > timer.stop:
                del self.timers[timer.name]
            else:
                timer.next_ns = t
        firings.sort()
        out = []
        for t, _, name in firings:
            self.event_id += 1
            out.append((name, self.event_id, t, t))
        self.now = to
        return out


small_time = st.integers(min_value=0, max_value=200)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("timer"), st.sampled_from(NAMES), st.integers(-2, 40),
                  st.none() | st.integers(-50, 50), st.none() | st.integers(0, 300)),
        st.tuples(st.just("alert"), st.sampled_from(NAMES), st.integers(-20, 150)),
        st.tuples(st.just("cancel"), st.sampled_from(NAMES)),
        st.tuples(st.just("advance"), st.integers(-5, 120)),
    ),
    max_size=40,
)


def apply(clock: TestClock, op: tuple) -> object:
    """Run one operation on the clock; returns its events or the type of error it raised."""
    noop = lambda e: None  # noqa: E731
    try:
        if op[0] == "timer":
            _, name, interval, start_off, stop_off = op
            now = clock.timestamp_ns()
            start = None if start_off is None else max(0, now + start_off)
            stop = None if stop_off is None else now + stop_off
            clock.set_timer(name, interval, noop, start_time_ns=start, stop_time_ns=stop)
        elif op[0] == "alert":
            clock.set_time_alert(op[1], clock.timestamp_ns() + op[2], noop)
        elif op[0] == "cancel":
            clock.cancel_timer(op[1])
        else:
            return [tuple(e) for e in clock.advance_time(clock.timestamp_ns() + op[1])]
    except (ValueError, KeyError) as exc:
        return type(exc)
    return None


def apply_model(model: Model, op: tuple) -> object:
    try:
        if op[0] == "timer":
            _, name, interval, start_off, stop_off = op
            start = None if start_off is None else max(0, model.now + start_off)
            stop = None if stop_off is None else model.now + stop_off
            model.set_timer(name, interval, start, stop)
        elif op[0] == "alert":
            model.set_alert(op[1], model.now + op[2])
        elif op[0] == "cancel":
            model.cancel(op[1])
        else:
            return model.advance(model.now + op[1])
    except (ValueError, KeyError) as exc:
        return type(exc)
    return None


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 10**6), ops=ops)
def test_testclock_matches_the_brute_force_model(start: int, ops: list[tuple]) -> None:
    clock, model = TestClock(start), Model(start)
    for op in ops:
        assert apply(clock, op) == apply_model(model, op), op
        assert clock.timestamp_ns() == model.now
        assert clock.timer_names == sorted(model.timers)
        assert clock.timer_count == len(model.timers)
        for name, timer in model.timers.items():
            assert clock.next_time_ns(name) == timer.next_ns
    # finally drain a long way ahead: everything left fires exactly as enumerated
    assert apply(clock, ("advance", 500)) == apply_model(model, ("advance", 500))


@settings(max_examples=100, deadline=None)
@given(start=st.integers(0, 10**6), ops=ops)
def test_same_operations_give_the_same_events(start: int, ops: list[tuple]) -> None:
    def run() -> list[object]:
        clock = TestClock(start)
        return [apply(clock, op) for op in ops] + [apply(clock, ("advance", 500))]

    first, second = run(), run()
    assert len(first) == len(ops) + 1  # one answer per operation: the comparison is never vacuous
    assert first == second


@settings(max_examples=200, deadline=None)
@given(
    intervals=st.lists(st.integers(1, 30), min_size=1, max_size=6),
    steps=st.lists(st.integers(0, 25), min_size=1, max_size=30),
)
def test_events_come_out_in_time_then_set_order_whatever_the_steps(intervals: list[int], steps: list[int]) -> None:
    clock = TestClock(0)
    seen_in_callback: list[tuple[int, int]] = []

    def cb(event: TimeEvent) -> None:
        seen_in_callback.append((event.ts_event, clock.timestamp_ns()))

    for i, iv in enumerate(intervals):
        clock.set_timer(f"t{i}", iv, cb)
    fired: list[TimeEvent] = []
    for step in steps:
        fired += clock.advance_by(step)
    keys = [(e.ts_event, int(e.name[1:])) for e in fired]
    assert keys == sorted(keys)
    assert all(ts == now for ts, now in seen_in_callback)
    # and it is the same as one big advance
    big = TestClock(0)
    for i, iv in enumerate(intervals):
        big.set_timer(f"t{i}", iv, lambda e: None)
    assert [tuple(e) for e in big.advance_time(sum(steps))] == [tuple(e) for e in fired]


@settings(max_examples=300, deadline=None)
@given(ns=st.integers(min_value=0, max_value=8_000_000_000 * 10**9))  # to the year 2223
def test_utc_now_equals_the_exact_conversion(ns: int) -> None:
    assert TestClock(ns).utc_now() == ns_to_datetime(ns)
