"""The Clock interface, and the logic both clocks share (names, validation, sleeping, timeouts)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, runtime_checkable

from .events import TimeEvent, TimeEventHandler, Timer
from .units import NANOS_IN_MICROSECOND, NANOS_IN_MILLISECOND, NANOS_IN_SECOND

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_fromtimestamp = datetime.fromtimestamp


@runtime_checkable
class Clock(Protocol):
    """What every clocked component is given. Time is an int of nanoseconds since the UNIX epoch."""

    kind: str

    def timestamp_ns(self) -> int: ...
    def timestamp_us(self) -> int: ...
    def timestamp_ms(self) -> int: ...
    def timestamp(self) -> float: ...
    def utc_now(self) -> datetime: ...
    def monotonic_ns(self) -> int: ...

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventHandler,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        *,
        coarse: bool = False,
    ) -> None: ...
    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventHandler, *, allow_past: bool = False
    ) -> None: ...
    def cancel_timer(self, name: str) -> None: ...
    def cancel_timers(self) -> None: ...
    @property
    def timer_names(self) -> list[str]: ...
    @property
    def timer_count(self) -> int: ...
    def has_timer(self, name: str) -> bool: ...
    def next_time_ns(self, name: str) -> int: ...

    async def sleep(self, duration_ns: int) -> None: ...
    async def sleep_until(self, time_ns: int) -> None: ...
    def timeout(self, duration_ns: int) -> "TimeoutScope": ...
    def timeout_at(self, deadline_ns: int) -> "TimeoutScope": ...


class CallHandle(Protocol):
    def cancel(self) -> None: ...


def ns_to_datetime(ns: int) -> datetime:
    """An aware UTC datetime, truncated to the microsecond (datetime's resolution)."""
    return _EPOCH + timedelta(microseconds=ns // NANOS_IN_MICROSECOND)


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int of nanoseconds, got {type(value).__name__}")
    return value


class ClockBase:
    """Timer registry and validation; subclasses provide time and a scheduler."""

    kind = "abstract"

    def __init__(self) -> None:
        self._timers: dict[str, Timer] = {}
        self._seq = 0
        self._event_id = 0

    # --- reading -------------------------------------------------------------------------
    def timestamp_ns(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def monotonic_ns(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def timestamp_us(self) -> int:
        return self.timestamp_ns() // NANOS_IN_MICROSECOND

    def timestamp_ms(self) -> int:
        return self.timestamp_ns() // NANOS_IN_MILLISECOND

    def timestamp(self) -> float:
        """Float seconds, for display only."""
        return self.timestamp_ns() / NANOS_IN_SECOND

    def utc_now(self) -> datetime:
        # Whole microseconds / 1e6 is within 0.25 us of the exact value for any date before 2242,
        # so fromtimestamp's rounding to the microsecond recovers it exactly: no precision is lost,
        # and it is twice as fast as building a timedelta.
        return _fromtimestamp((self.timestamp_ns() // NANOS_IN_MICROSECOND) / 1e6, UTC)

    # --- timers --------------------------------------------------------------------------
    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a timer name must be a non-empty string, got {name!r}")
        if name in self._timers:
            raise ValueError(f"a timer named {name!r} is already set: cancel it first or pick another name")

    def set_timer(
        self,
        name: str,
        interval_ns: int,
        callback: TimeEventHandler,
        start_time_ns: int | None = None,
        stop_time_ns: int | None = None,
        *,
        coarse: bool = False,
    ) -> None:
        """Fire ``callback`` at start + k*interval for k = 1, 2, ... (up to ``stop_time_ns``).

        The schedule is computed from the start, never from the last firing, so it does not
        drift whatever the callbacks cost. ``coarse=True`` asks for a timing-wheel slot, cheaper
        for heartbeats and idle timeouts, delivered at most one wheel tick late.
        """
        self._check_name(name)
        _check_int("interval_ns", interval_ns)
        if interval_ns <= 0:
            raise ValueError(f"timer {name!r}: interval_ns must be > 0, got {interval_ns}")
        if not callable(callback):
            raise TypeError(f"timer {name!r}: callback must be callable")
        now = self.timestamp_ns()
        start = now if start_time_ns is None else _check_int("start_time_ns", start_time_ns)
        first = start + interval_ns
        if stop_time_ns is not None:
            _check_int("stop_time_ns", stop_time_ns)
            if stop_time_ns < first:
                raise ValueError(
                    f"timer {name!r}: stop_time_ns {stop_time_ns} is before its first firing at {first}"
                )
        if first < now:
            # A start in the past: skip the firings already missed rather than firing a burst.
            # A firing due exactly now is not missed (as an alert at now is allowed): round up.
            missed = -(-(now - first) // interval_ns)
            first += missed * interval_ns
            if stop_time_ns is not None and first > stop_time_ns:
                raise ValueError(f"timer {name!r}: every firing up to stop_time_ns is already in the past")
        timer = Timer(name, self._next_seq(), interval_ns, first, stop_time_ns, callback, coarse)
        self._arm(timer)  # first: if arming fails (no running loop), the name must stay free
        self._timers[name] = timer

    def set_time_alert(
        self, name: str, alert_time_ns: int, callback: TimeEventHandler, *, allow_past: bool = False
    ) -> None:
        """Fire ``callback`` once at ``alert_time_ns``.

        An alert in the past is a ValueError, unless ``allow_past``: then it fires as soon as the
        clock's scheduler runs, with ``ts_event`` the time asked for. Real time moves between
        reading the clock and setting the alert, so "now, or as soon as possible" needs it.
        """
        self._check_name(name)
        _check_int("alert_time_ns", alert_time_ns)
        if not callable(callback):
            raise TypeError(f"alert {name!r}: callback must be callable")
        now = self.timestamp_ns()
        if alert_time_ns < now and not allow_past:
            raise ValueError(f"alert {name!r}: alert_time_ns {alert_time_ns} is in the past (now is {now})")
        timer = Timer(name, self._next_seq(), 0, alert_time_ns, None, callback, False)
        self._arm(timer)  # first: if arming fails (no running loop), the name must stay free
        self._timers[name] = timer

    def cancel_timer(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is None:
            raise KeyError(f"no timer named {name!r}")
        timer.gen += 1
        self._disarm(timer)

    def cancel_timers(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)

    @property
    def timer_names(self) -> list[str]:
        return sorted(self._timers)

    @property
    def timer_count(self) -> int:
        return len(self._timers)

    def has_timer(self, name: str) -> bool:
        """O(1), unlike ``name in timer_names`` (which sorts every name)."""
        return name in self._timers

    def next_time_ns(self, name: str) -> int:
        timer = self._timers.get(name)
        if timer is None:
            raise KeyError(f"no timer named {name!r}")
        return timer.next_ns

    def _fire(self, timer: Timer, ts_init: int) -> TimeEvent:
        """Deliver one firing: re-arm (or retire) the timer first, so its callback may cancel or reuse it."""
        self._event_id += 1
        event = TimeEvent(timer.name, self._event_id, timer.next_ns, ts_init)
        if timer.advance():
            self._rearm(timer)
        else:
            if self._timers.get(timer.name) is timer:
                del self._timers[timer.name]
        timer.callback(event)
        return event

    # --- scheduler hooks -----------------------------------------------------------------
    def _arm(self, timer: Timer) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _rearm(self, timer: Timer) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _disarm(self, timer: Timer) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _call_at(self, time_ns: int, fn: Callable[[], object]) -> CallHandle:  # pragma: no cover
        raise NotImplementedError

    # --- async ---------------------------------------------------------------------------
    async def sleep_until(self, time_ns: int) -> None:
        """Suspend the current task until the clock reaches ``time_ns``."""
        _check_int("time_ns", time_ns)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        handle = self._call_at(time_ns, wake)
        try:
            await future
        finally:
            handle.cancel()

    async def sleep(self, duration_ns: int) -> None:
        _check_int("duration_ns", duration_ns)
        if duration_ns < 0:
            raise ValueError(f"duration_ns must be >= 0, got {duration_ns}")
        await self.sleep_until(self.timestamp_ns() + duration_ns)

    def timeout(self, duration_ns: int) -> TimeoutScope:
        """``async with clock.timeout(d):`` raises TimeoutError if the block outlives ``d`` ns."""
        _check_int("duration_ns", duration_ns)
        return TimeoutScope(self, self.timestamp_ns() + duration_ns)

    def timeout_at(self, deadline_ns: int) -> TimeoutScope:
        _check_int("deadline_ns", deadline_ns)
        return TimeoutScope(self, deadline_ns)


class TimeoutScope:
    """Cancels the enclosing task at a clock deadline and turns that into ``TimeoutError``."""

    def __init__(self, clock: ClockBase, deadline_ns: int) -> None:
        self.deadline_ns = deadline_ns
        self._clock = clock
        self._task: asyncio.Task[object] | None = None
        self._handle: CallHandle | None = None
        self.expired = False

    def _expire(self) -> None:
        self.expired = True
        assert self._task is not None
        self._task.cancel()

    async def __aenter__(self) -> TimeoutScope:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("clock.timeout() must be used inside an asyncio task")
        self._task = task
        self._handle = self._clock._call_at(self.deadline_ns, self._expire)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._handle is not None and self._task is not None
        self._handle.cancel()
        if self.expired:
            if self._task.uncancel() == 0 and exc_type is asyncio.CancelledError:
                raise TimeoutError(f"deadline {self.deadline_ns} ns passed") from exc
        return False
