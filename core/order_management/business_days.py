"""Business-day arithmetic for settlement (T+N), on integer nanoseconds.

A "day" is ``day_ns`` long and day 0 starts at the UNIX epoch (a Thursday), so with the default
``day_ns = NANOS_IN_DAY`` these are UTC calendar days. Tests of real-time code may pass a short
``day_ns`` (say 40 ms): weekends and holidays then come round every few hundred milliseconds and
the same logic is exercised without waiting days.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from core.units import NANOS_IN_DAY, NS_PER_HOUR

_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class BusinessCalendar:
    """Which days are business days: Monday to Friday, minus an optional set of holidays."""

    def __init__(self, holidays: Iterable[date | int] = (), *, day_ns: int = NANOS_IN_DAY,
                 settle_offset_ns: int = 0) -> None:  # fmt: skip
        if not isinstance(day_ns, int) or day_ns <= 0:
            raise ValueError(f"day_ns must be an int > 0, got {day_ns!r}")
        if not isinstance(settle_offset_ns, int) or not 0 <= settle_offset_ns < day_ns:
            raise ValueError(f"settle_offset_ns must be an int in [0, day_ns), got {settle_offset_ns!r}")
        self.day_ns = day_ns
        self.settle_offset_ns = settle_offset_ns
        self.holidays = frozenset(h if isinstance(h, int) else (h - _EPOCH_DATE).days for h in holidays)

    def day_of(self, ts_ns: int) -> int:
        return ts_ns // self.day_ns

    def is_business_day(self, day: int) -> bool:
        return (day + _EPOCH_WEEKDAY) % 7 < 5 and day not in self.holidays

    def add_business_days(self, day: int, n: int) -> int:
        """The business day ``n`` business days after ``day`` (a non-business ``day`` first rolls forward)."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        while not self.is_business_day(day):
            day += 1
        for _ in range(n):
            day += 1
            while not self.is_business_day(day):
                day += 1
        return day

    def settlement_ns(self, trade_ns: int, n: int) -> int:
        """When a trade made at ``trade_ns`` settles at T+``n``: the start of the settlement day
        plus ``settle_offset_ns``, but never before the trade itself (a T+0 trade settles at once
        if the day's settlement run has passed)."""
        day = self.add_business_days(self.day_of(trade_ns), n)
        return max(trade_ns, day * self.day_ns + self.settle_offset_ns)

    def date_of_day(self, day: int) -> date:
        """The calendar date of ``day`` (meaningful only with the default day length)."""
        return date.fromordinal(_EPOCH_DATE.toordinal() + day)


class TradingDay:
    """When DAY orders expire: at ``close_offset_ns`` into each day of ``day_ns`` (default 21:00 UTC)."""

    def __init__(self, close_offset_ns: int = 21 * NS_PER_HOUR, *, day_ns: int = NANOS_IN_DAY) -> None:
        if not isinstance(day_ns, int) or day_ns <= 0:
            raise ValueError(f"day_ns must be an int > 0, got {day_ns!r}")
        if not isinstance(close_offset_ns, int) or not 0 <= close_offset_ns < day_ns:
            raise ValueError(f"close_offset_ns must be an int in [0, day_ns), got {close_offset_ns!r}")
        self.close_offset_ns = close_offset_ns
        self.day_ns = day_ns

    def expiry_ns(self, receive_ns: int) -> int:
        """The first close strictly after ``receive_ns`` (an order received at or after today's
        close is good for the next day)."""
        close = (receive_ns // self.day_ns) * self.day_ns + self.close_offset_ns
        return close if close > receive_ns else close + self.day_ns
