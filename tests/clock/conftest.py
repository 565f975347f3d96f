"""Every clock test runs against both implementations of the hot paths (C accelerator and pure
Python, see targets/clock/_impl.py), through the autouse ``clock_impl`` fixture.

Drivers let the same conformance test run against LiveClock (real time) and TestClock.

A driver knows how to let clock time pass: real sleeping for LiveClock, manual advancing for
TestClock. Waits are bounded only to turn a hang into a failure; no test asserts how fast
anything happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from targets.clock import NANOS_IN_MILLISECOND, NANOS_IN_SECOND, LiveClock, TestClock, _impl
from tests.conftest import missing

MS = NANOS_IN_MILLISECOND
START_NS = 1_700_000_000 * NANOS_IN_SECOND  # TestClock's epoch for the conformance suite
REAL_CAP_S = 10.0  # a LiveClock wait this long means "never happened": a failure, not a timing claim


class Driver:
    kind: str
    clock: Any

    async def elapse(self, duration_ns: int) -> None:
        raise NotImplementedError

    async def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        raise NotImplementedError

    async def run(self, aw: Awaitable[Any]) -> Any:
        raise NotImplementedError


class LiveDriver(Driver):
    kind = "live"

    def __init__(self) -> None:
        # A 1 ms wheel tick so coarse timers can serve the suite's few-ms intervals.
        self.clock = LiveClock(tick_ns=1 * MS)

    async def elapse(self, duration_ns: int) -> None:
        await asyncio.sleep(duration_ns / NANOS_IN_SECOND)

    async def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + REAL_CAP_S
        while not predicate():
            if loop.time() > give_up:
                pytest.fail(f"LiveClock: {what} did not happen within {REAL_CAP_S} s of real time")
            await asyncio.sleep(0.001)

    async def run(self, aw: Awaitable[Any]) -> Any:
        return await asyncio.wait_for(aw, REAL_CAP_S)


class ManualDriver(Driver):
    """TestClock on the test's ordinary asyncio loop, advanced by hand 1 ms at a time."""

    kind = "test"
    step_ns = 1 * MS
    max_steps = 100_000

    def __init__(self) -> None:
        self.clock = TestClock(START_NS)

    async def _settle(self) -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    async def elapse(self, duration_ns: int) -> None:
        await self._settle()
        self.clock.advance_by(duration_ns)
        await self._settle()

    async def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        for _ in range(self.max_steps):
            if predicate():
                return
            await self.elapse(self.step_ns)
        pytest.fail(f"TestClock: {what} did not happen within {self.max_steps} steps")

    async def run(self, aw: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(aw)
        for _ in range(self.max_steps):
            await self._settle()
            if task.done():
                return task.result()
            self.clock.advance_by(self.step_ns)
        task.cancel()
        pytest.fail("TestClock: the coroutine did not finish")


@pytest.fixture(params=["live", "test"])
def driver(request: pytest.FixtureRequest) -> Driver:
    return LiveDriver() if request.param == "live" else ManualDriver()


@pytest.fixture(params=["c", "python"], autouse=True)
def clock_impl(request: pytest.FixtureRequest) -> Any:
    """Run the test with the C accelerator, then with pure Python (under CI=true a missing C build fails)."""
    if request.param not in _impl.available():
        missing("the clock's C accelerator", _impl.describe()["c_error"] or "not built (pip install -e . builds it)")
    before = _impl.name
    _impl.use(request.param)
    yield request.param
    _impl.use(before)
