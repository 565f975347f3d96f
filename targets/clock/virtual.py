"""TestClock: time that moves only when told, so every run of a scenario is the same."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from .base import ClockBase
from .events import TimeEvent, Timer


class _Call:
    """An internal one-shot callback (sleep wake-ups, timeout scopes), ordered with the timers."""

    __slots__ = ("fn", "cancelled")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TestClock(ClockBase):
    """A clock whose time is set by the caller.

    ``advance_time`` fires every due timer, alert and sleeper in time order (ties in the order
    they were set); each callback sees the clock at its own event's time. Everything it does is
    a pure function of the calls made, hence bit-for-bit reproducible.
    """

    __test__ = False  # not a pytest test class, despite the name
    kind = "test"

    def __init__(self, start_time_ns: int = 0) -> None:
        super().__init__()
        if not isinstance(start_time_ns, int) or start_time_ns < 0:
            raise ValueError(f"start_time_ns must be an int >= 0, got {start_time_ns!r}")
        self._time = start_time_ns
        # Entries: (due_ns, seq, item, gen). item is a Timer or a _Call; gen guards against re-use.
        self._heap: list[tuple[int, int, Timer | _Call, int]] = []
        self._advancing = False

    # --- reading -------------------------------------------------------------------------
    def timestamp_ns(self) -> int:
        return self._time

    def monotonic_ns(self) -> int:
        return self._time

    # --- scheduler -----------------------------------------------------------------------
    def _arm(self, timer: Timer) -> None:
        heapq.heappush(self._heap, (timer.next_ns, timer.seq, timer, timer.gen))

    _rearm = _arm

    def _disarm(self, timer: Timer) -> None:
        pass  # its heap entry goes stale through timer.gen

    def _call_at(self, time_ns: int, fn: Callable[[], object]) -> _Call:
        call = _Call(fn)
        heapq.heappush(self._heap, (max(time_ns, self._time), self._next_seq(), call, 0))
        return call

    def next_deadline_ns(self) -> int | None:
        """The earliest pending firing of any timer, alert or sleeper, or None."""
        heap = self._heap
        while heap:
            _, _, item, gen = heap[0]
            if item.__class__ is _Call:
                if not item.cancelled:  # type: ignore[union-attr]
                    return heap[0][0]
            elif gen == item.gen and self._timers.get(item.name) is item:  # type: ignore[union-attr]
                return heap[0][0]
            heapq.heappop(heap)
        return None

    def advance_time(self, to_time_ns: int) -> list[TimeEvent]:
        """Move time forward to ``to_time_ns``, firing what falls due; returns the events fired."""
        if not isinstance(to_time_ns, int) or isinstance(to_time_ns, bool):
            raise TypeError(f"to_time_ns must be an int of nanoseconds, got {type(to_time_ns).__name__}")
        if to_time_ns < self._time:
            raise ValueError(f"time cannot move backwards: now {self._time}, asked for {to_time_ns}")
        if self._advancing:
            raise RuntimeError("advance_time() called from inside a timer callback")
        self._advancing = True
        fired: list[TimeEvent] = []
        heap = self._heap
        timers = self._timers
        pop = heapq.heappop
        try:
            while heap and heap[0][0] <= to_time_ns:
                due, _, item, gen = pop(heap)
                if item.__class__ is _Call:
                    if not item.cancelled:  # type: ignore[union-attr]
                        self._time = due
                        item.fn()  # type: ignore[union-attr]
                    continue
                if gen != item.gen or timers.get(item.name) is not item:  # type: ignore[union-attr]
                    continue  # cancelled, or its name since reused
                self._time = due
                fired.append(self._fire(item, due))  # type: ignore[arg-type]
            self._time = to_time_ns
        finally:
            self._advancing = False
        return fired

    def advance_by(self, duration_ns: int) -> list[TimeEvent]:
        return self.advance_time(self._time + duration_ns)

    def set_time(self, time_ns: int) -> list[TimeEvent]:
        """Same as ``advance_time``: setting the time never skips what fell due on the way."""
        return self.advance_time(time_ns)
