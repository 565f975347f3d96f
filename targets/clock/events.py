"""Time events as plain data, and the timers that produce them."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class TimeEvent(NamedTuple):
    """One firing of a timer or alert.

    ``ts_event`` is when it was due (for a timer, exactly start + k * interval);
    ``ts_init`` is the clock's time when it was delivered. Their difference is the lateness.
    """

    name: str
    event_id: int
    ts_event: int
    ts_init: int


TimeEventHandler = Callable[[TimeEvent], object]


class Timer:
    """A named, armed timer or alert; internal bookkeeping shared by both clocks."""

    __slots__ = ("name", "seq", "interval_ns", "next_ns", "stop_ns", "callback", "coarse", "due", "gen")

    def __init__(
        self,
        name: str,
        seq: int,
        interval_ns: int,
        next_ns: int,
        stop_ns: int | None,
        callback: TimeEventHandler,
        coarse: bool,
    ) -> None:
        self.name = name
        self.seq = seq  # creation order: breaks ties between timers due at the same instant
        self.interval_ns = interval_ns  # 0 for a one-shot alert
        self.next_ns = next_ns  # the clock time of the next firing
        self.stop_ns = stop_ns
        self.callback = callback
        self.coarse = coarse
        self.due = next_ns  # the scheduler's key (monotonic for LiveClock, clock time for TestClock)
        self.gen = 0  # bumped on cancel so stale heap entries are skipped

    def advance(self) -> bool:
        """Move to the next firing; False when the timer is finished."""
        if self.interval_ns == 0:
            return False
        self.next_ns += self.interval_ns
        self.due += self.interval_ns
        return self.stop_ns is None or self.next_ns <= self.stop_ns


class Call:
    """An internal one-shot callback (sleep wake-ups, timeout scopes), ordered with the timers in
    either clock's queue; ``cancel`` marks it so the queue skips it when it falls due."""

    __slots__ = ("fn", "cancelled")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
