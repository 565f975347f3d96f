"""One driver per build, so the conformance suite is written once.

The clocked build runs on a TestClock that the test advances; the baseline runs on real time
with short intervals, and "eventually" polls (behaviour only: never a timing bound beyond
"it happened within a generous limit").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from core.order_management.business_days import BusinessCalendar, TradingDay
from core.order_management.domain import Instrument
from core.order_management.venue import Quote
from harness import builds
from targets.clock import NANOS_IN_MILLISECOND, TestClock

MS = NANOS_IN_MILLISECOND
START_NS = 1_756_128_600_000_000_000  # Monday 2025-08-25 13:30 UTC
# Short "days" so DAY expiries and T+N settlement happen within a test, on both builds.
DAY_NS = 40 * MS
INSTRUMENTS = {
    "AAPL": Instrument("AAPL", Decimal("0.01"), 1, 1),
    "FX": Instrument("FX", Decimal("0.0001"), 1000, 2),
    "T0": Instrument("T0", Decimal("0.01"), 1, 0),
}


def quote(symbol: str = "AAPL", bid: str = "99.99", ask: str = "100.01", size: int = 1000,
          levels: int = 3, step: str = "0.01", volume: int = 0) -> Quote:  # fmt: skip
    s = Decimal(step)
    bids = tuple((Decimal(bid) - s * i, size) for i in range(levels))
    asks = tuple((Decimal(ask) + s * i, size) for i in range(levels))
    return Quote(symbol, bids, asks, volume)


class ClockedDriver:
    build = "clocked"

    def __init__(self) -> None:
        self.clock = TestClock(START_NS)
        self.stack = builds.order_stack(
            self.build, self.clock, instruments=INSTRUMENTS, calendar=BusinessCalendar(day_ns=DAY_NS),
            trading_day=TradingDay(30 * MS, day_ns=DAY_NS),
        )  # fmt: skip

    def now(self) -> int:
        return self.clock.timestamp_ns()

    async def advance(self, ns: int) -> None:
        self.clock.advance_by(ns)

    async def eventually(self, pred: Callable[[], bool], what: str) -> None:
        assert pred(), what

    async def close(self) -> None:
        await self.stack.stop()


class BaselineDriver:
    build = "baseline"

    def __init__(self) -> None:
        self.stack = builds.order_stack(
            self.build, instruments=INSTRUMENTS, calendar=BusinessCalendar(day_ns=DAY_NS),
            trading_day=TradingDay(30 * MS, day_ns=DAY_NS), settlement_options={"poll_interval_ns": 2 * MS},
        )  # fmt: skip

    def now(self) -> int:
        return time.time_ns()

    async def advance(self, ns: int) -> None:
        await asyncio.sleep(ns / 1e9)

    async def eventually(self, pred: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not pred():
            if time.monotonic() > deadline:
                raise AssertionError(f"did not happen within {timeout_s} s: {what}")
            await asyncio.sleep(0.002)

    async def close(self) -> None:
        await self.stack.stop()


DRIVERS = {d.build: d for d in (ClockedDriver, BaselineDriver)}
