"""TimingWheel (pure data structure) and the integer unit conversions."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from targets.clock import (
    NANOS_IN_DAY,
    NANOS_IN_HOUR,
    NANOS_IN_MICROSECOND,
    NANOS_IN_MILLISECOND,
    NANOS_IN_MINUTE,
    NANOS_IN_SECOND,
    TimingWheel,
    micros_to_nanos,
    millis_to_nanos,
    nanos_to_micros,
    nanos_to_millis,
    nanos_to_secs,
    nanos_to_unix_secs,
    secs_to_nanos,
)


# --- TimingWheel ----------------------------------------------------------------------------
class CountingBucket(dict):
    """A wheel bucket that counts writes and deletes, to show add/remove touch one bucket only."""

    writes = 0

    def __setitem__(self, key, value):  # type: ignore[no-untyped-def]
        CountingBucket.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):  # type: ignore[no-untyped-def]
        CountingBucket.writes += 1
        super().__delitem__(key)


def test_add_remove_and_re_add() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=8)
    wheel.add("a", 35)
    assert "a" in wheel and len(wheel) == 1
    wheel.add("a", 75)  # re-adding moves it: still one entry
    assert len(wheel) == 1
    assert wheel.expire(4) == []
    assert wheel.remove("a") is True
    assert wheel.remove("a") is False
    assert "a" not in wheel and len(wheel) == 0
    wheel.add("a", 55)
    assert wheel.expire(8) == ["a"]


@pytest.mark.parametrize("size", [10, 10_000])
def test_add_remove_re_add_touch_one_bucket_whatever_the_size(size: int) -> None:
    wheel: TimingWheel[int] = TimingWheel(tick_ns=1, slots=64)
    wheel._slots = [CountingBucket() for _ in range(64)]
    for i in range(size):
        wheel.add(i, 1 + i % 1000)
    CountingBucket.writes = 0
    wheel.remove(5)
    assert CountingBucket.writes == 1
    CountingBucket.writes = 0
    wheel.add(5, 40)  # not present: one write
    assert CountingBucket.writes == 1
    CountingBucket.writes = 0
    wheel.add(5, 900)  # move: one delete + one write
    assert CountingBucket.writes == 2


def test_expiry_in_deadline_order_then_insertion_order() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=16)
    for name, deadline in [("late", 50), ("early", 11), ("tie1", 30), ("tie2", 25), ("mid", 21)]:
        wheel.add(name, deadline)
    wheel.add("tie1b", 30)
    # ticks: late 5, early 2, tie1 3, tie2 3 (25 rounds up to 30), mid 3, tie1b 3: exact deadlines
    # order them (the most overdue first), insertion order breaks ties
    assert wheel.expire(1) == []
    assert wheel.expire(3) == ["early", "mid", "tie2", "tie1", "tie1b"]
    assert wheel.expire(4) == []
    assert wheel.expire(5) == ["late"]
    assert len(wheel) == 0


def test_deadlines_are_rounded_up_never_down() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=8)
    assert [wheel.tick_of(d) for d in (0, 1, 9, 10, 11, 20)] == [0, 1, 1, 1, 2, 2]
    wheel.add("at15", 15)
    wheel.add("at20", 20)
    assert wheel.expire(1) == []  # tick 1 ends at 10 ns: neither is due
    assert wheel.expire(2) == ["at15", "at20"]


def test_a_deadline_already_passed_goes_to_the_next_tick() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=8, start_tick=100)
    wheel.add("past", 5)
    assert wheel.next_tick() == 101
    assert wheel.expire(100) == []
    assert wheel.expire(101) == ["past"]


def test_deadlines_beyond_one_revolution_wait_for_their_round() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=1, slots=8)
    wheel.add("near", 3)
    wheel.add("lap1", 11)  # same slot as "near", one revolution later
    wheel.add("lap3", 27)  # same slot, three revolutions later
    wheel.add("other", 12)
    for tick in range(1, 30):
        due = wheel.expire(tick)
        expected = {3: ["near"], 11: ["lap1"], 12: ["other"], 27: ["lap3"]}.get(tick, [])
        assert due == expected, tick
    assert len(wheel) == 0


def test_a_long_gap_expires_everything_due_in_order() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=1, slots=8)
    for name, tick in [("c", 19), ("a", 3), ("d", 27), ("b", 11), ("e", 8)]:
        wheel.add(name, tick)
    assert wheel.expire(20) == ["a", "e", "b", "c"]  # 17 ticks at once: more than two revolutions
    assert wheel.next_tick() == 27
    assert wheel.expire(100) == ["d"]
    assert wheel.next_tick() is None


def test_expire_due_takes_a_bucket_in_part_and_next_due_is_the_earliest_deadline() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=8)
    for name, deadline in [("b", 27), ("a", 22), ("c", 30), ("d", 45)]:
        wheel.add(name, deadline)
    assert wheel.next_due() == 22
    assert wheel.expire_due(25) == ["a"]  # inside tick 3 (21..30): only what is due by 25
    assert wheel.next_due() == 27
    assert wheel.add_new("a", 24) is True  # already due: the caller's backlog
    assert wheel.expire_due(29) == ["a", "b"]
    assert wheel.add_new("a", 40) is False
    assert wheel.expire_due(40) == ["c", "a"]
    assert wheel.next_due() == 45 and wheel.next_occupied_tick() == 5


def test_next_due_with_a_horizon_stops_at_a_deadline_inside_it_else_gives_the_earliest() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=10, slots=8)
    for name, deadline in [("b", 27), ("a", 22), ("c", 24), ("d", 45)]:
        wheel.add(name, deadline)
    assert wheel.next_due() == 22
    assert wheel.next_due(horizon_ns=27) == 27  # the first in the bucket inside the horizon will do
    assert wheel.next_due(horizon_ns=23) == 22  # none of 27 or 24 is inside it: the scan goes on
    assert wheel.next_due(horizon_ns=10) == 22  # no deadline inside: the earliest, as without one
    assert wheel.expire_due(30) == ["a", "c", "b"]
    assert wheel.next_due(horizon_ns=100) == 45


def test_items_added_after_a_gap_are_not_lost() -> None:
    wheel: TimingWheel[str] = TimingWheel(tick_ns=1, slots=8)
    wheel.expire(1_000)
    wheel.add("x", 1_003)
    assert wheel.expire(1_002) == []
    assert wheel.expire(1_003) == ["x"]


@pytest.mark.parametrize("kwargs", [{"tick_ns": 0}, {"tick_ns": -1}, {"tick_ns": 10, "slots": 0}])
def test_bad_wheel_shapes_are_value_errors(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        TimingWheel(**kwargs)


# --- units -----------------------------------------------------------------------------------
def test_constants() -> None:
    assert NANOS_IN_MICROSECOND == 1_000
    assert NANOS_IN_MILLISECOND == 1_000_000
    assert NANOS_IN_SECOND == 1_000_000_000
    assert NANOS_IN_MINUTE == 60 * NANOS_IN_SECOND
    assert NANOS_IN_HOUR == 3_600 * NANOS_IN_SECOND
    assert NANOS_IN_DAY == 86_400 * NANOS_IN_SECOND


@pytest.mark.parametrize(
    ("fn", "value", "expected"),
    [
        (secs_to_nanos, 0.1, 100_000_000),
        (secs_to_nanos, 0.3, 300_000_000),
        (secs_to_nanos, 1.1, 1_100_000_000),
        (secs_to_nanos, "1700000000.123456789", 1_700_000_000_123_456_789),
        (secs_to_nanos, 1_700_000_000.5, 1_700_000_000_500_000_000),
        (secs_to_nanos, 2, 2_000_000_000),
        (secs_to_nanos, "0.000000001", 1),
        (secs_to_nanos, Decimal("1.5"), 1_500_000_000),
        (secs_to_nanos, Fraction(1, 8), 125_000_000),
        (secs_to_nanos, -0.25, -250_000_000),
        (millis_to_nanos, 0.001, 1_000),
        (millis_to_nanos, 2.5, 2_500_000),
        (millis_to_nanos, 7, 7_000_000),
        (micros_to_nanos, 0.001, 1),
        (micros_to_nanos, 1.5, 1_500),
        (micros_to_nanos, " 3 ", 3_000),
    ],
)
def test_conversions_to_nanos_are_exact_ints(fn, value, expected: int) -> None:
    result = fn(value)
    assert type(result) is int and result == expected


@pytest.mark.parametrize(
    ("fn", "value"),
    [(secs_to_nanos, 1e-10), (secs_to_nanos, "0.0000000005"), (millis_to_nanos, 0.0000001),
     (micros_to_nanos, 0.0005), (micros_to_nanos, Fraction(1, 3))],
)
def test_sub_nanosecond_values_are_value_errors(fn, value) -> None:
    with pytest.raises(ValueError, match="whole number of nanoseconds"):
        fn(value)


@pytest.mark.parametrize("value", ["abc", "", float("inf"), float("-inf"), float("nan"), Decimal("NaN")])
def test_non_numbers_are_value_errors_naming_the_value(value) -> None:
    with pytest.raises(ValueError, match="not a finite number"):
        secs_to_nanos(value)


@pytest.mark.parametrize("value", [True, None, [1], b"1"])
def test_non_numeric_types_are_type_errors(value) -> None:
    with pytest.raises(TypeError):
        secs_to_nanos(value)


def test_conversions_from_nanos_floor_and_stay_ints() -> None:
    assert nanos_to_millis(1_999_999) == 1 and type(nanos_to_millis(1_999_999)) is int
    assert nanos_to_micros(1_999) == 1
    assert nanos_to_unix_secs(1_700_000_000_999_999_999) == 1_700_000_000
    assert nanos_to_millis(-1) == -1  # floor, not truncation
    assert nanos_to_secs(1_500_000_000) == 1.5
