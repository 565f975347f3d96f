"""An asyncio event loop that runs on a TestClock's virtual time.

``loop.time()`` is the TestClock's time, so ``asyncio.sleep``, ``asyncio.timeout`` and any
third-party code that schedules on the loop follow virtual time with no monkeypatching.

With ``autojump=True`` a whole asyncio program runs in virtual time at full speed: when no task
is ready and nothing arrives on a socket, time jumps to the next deadline (the loop's own or the
clock's). Real I/O is respected: while sockets other than the loop's own are registered (a
database connection, say) or executor jobs run (a DNS lookup, ``asyncio.to_thread``), the
loop first waits ``io_grace_ns`` of real time for them before jumping, so a slow answer is
not turned into a false timeout. When nothing at all can ever wake the program, it raises
``ClockDeadlockError`` instead of hanging.
"""

from __future__ import annotations

import asyncio
import heapq
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

from .units import NANOS_IN_MILLISECOND, NANOS_IN_SECOND
from .virtual import TestClock

T = TypeVar("T")


class ClockDeadlockError(RuntimeError):
    """Every task waits, no deadline is pending and no I/O arrives: the program can never proceed."""


class _JumpingSelector(selectors.BaseSelector):
    """Wraps the real selector; decides between waiting for I/O and jumping virtual time."""

    def __init__(self, loop_ref: VirtualTimeLoop) -> None:
        self._real = selectors.DefaultSelector()
        self._loop = loop_ref

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        if timeout is not None and timeout <= 0:
            return self._real.select(0)
        if not loop.autojump:
            # Virtual deadlines can only be reached by code that advances the clock, which
            # runs on this loop (or wakes it through its self-pipe): wait for real I/O only.
            events = self._real.select(loop.hang_timeout_ns / NANOS_IN_SECOND)
            if not events and not loop._has_ready():
                raise ClockDeadlockError(
                    f"no task made progress for {loop.hang_timeout_ns / NANOS_IN_SECOND:g} s of real time: "
                    "all wait on virtual time that nothing advances (use autojump=True or advance the clock)"
                )
            return events
        events = self._real.select(0)
        if events:
            return events
        # Real work in flight: sockets other than the loop's self-pipe, or executor jobs (DNS
        # lookups, asyncio.to_thread), which report back through the self-pipe when done.
        if (len(self._real.get_map()) > 1 or loop._executor_jobs) and loop.io_grace_ns > 0:
            events = self._real.select(loop.io_grace_ns / NANOS_IN_SECOND)
            if events:
                return events
        target = loop._next_deadline_ns()
        if target is None:
            events = self._real.select(loop.hang_timeout_ns / NANOS_IN_SECOND)
            if events:
                return events
            raise ClockDeadlockError(
                "deadlock: every task is waiting, no timer or deadline is pending, and no I/O arrived "
                f"within {loop.hang_timeout_ns / NANOS_IN_SECOND:g} s of real time"
            )
        loop.clock.advance_time(target)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose ``time()`` is a TestClock's (in seconds since the loop was made)."""

    def __init__(
        self,
        clock: TestClock,
        *,
        autojump: bool = False,
        io_grace_ns: int = 20 * NANOS_IN_MILLISECOND,
        hang_timeout_ns: int = 5 * NANOS_IN_SECOND,
    ) -> None:
        self.clock = clock
        self.autojump = autojump
        self.io_grace_ns = io_grace_ns
        self.hang_timeout_ns = hang_timeout_ns
        self._origin_ns = clock.timestamp_ns()
        self._executor_jobs = 0
        super().__init__(_JumpingSelector(self))
        self._clock_resolution = 1e-6

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        """Counts jobs in flight, so autojump gives them the same grace as a socket."""
        future = super().run_in_executor(executor, func, *args)
        self._executor_jobs += 1
        future.add_done_callback(self._executor_job_done)
        return future

    def _executor_job_done(self, _future: asyncio.Future[Any]) -> None:
        self._executor_jobs -= 1

    def time(self) -> float:
        return (self.clock._time - self._origin_ns) / NANOS_IN_SECOND

    def _has_ready(self) -> bool:
        return bool(self._ready)  # type: ignore[attr-defined]

    def _next_deadline_ns(self) -> int | None:
        candidates = []
        scheduled = self._scheduled  # type: ignore[attr-defined]
        while scheduled and scheduled[0]._cancelled:
            # asyncio drops cancelled handles lazily; skip them so they never cause a jump
            heapq.heappop(scheduled)
            self._timer_cancelled_count -= 1  # type: ignore[attr-defined]
        if scheduled:
            when = scheduled[0]._when
            candidates.append(self._origin_ns + round(when * NANOS_IN_SECOND))
        own = self.clock.next_deadline_ns()
        if own is not None:
            candidates.append(own)
        if not candidates:
            return None
        return max(min(candidates), self.clock._time)


def run_virtual(
    main: Coroutine[Any, Any, T],
    clock: TestClock | None = None,
    *,
    autojump: bool = True,
    io_grace_ns: int = 20 * NANOS_IN_MILLISECOND,
    hang_timeout_ns: int = 5 * NANOS_IN_SECOND,
) -> T:
    """Run ``main`` to completion on a VirtualTimeLoop (``asyncio.run`` for virtual time)."""
    clock = clock if clock is not None else TestClock(0)
    loop = VirtualTimeLoop(clock, autojump=autojump, io_grace_ns=io_grace_ns, hang_timeout_ns=hang_timeout_ns)
    runner = asyncio.Runner(loop_factory=lambda: loop)
    try:
        return runner.run(main)
    finally:
        runner.close()
