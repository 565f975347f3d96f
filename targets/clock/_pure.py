"""The never-backwards wall-clock readings in pure Python: the twins of ``_cclock.c``'s.

Used when the C accelerator is not built or ``CLOCKBENCH_PURE_CLOCK=1`` (see ``_impl.py``).
Thread safety rests on CPython 3.11's GIL: a thread switch happens only at an eval-breaker
point (a call, a backward jump), and there is none between the ``t > _last_ns`` test and the
store, so two threads cannot interleave there and lower the last value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_time_ns: Callable[[], int] = time.time_ns
_last_ns = 0


def timestamp_ns() -> int:
    """Wall-clock nanoseconds that never decrease within this process."""
    global _last_ns
    t = _time_ns()
    if t > _last_ns:
        _last_ns = t
        return t
    return _last_ns


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_utc_now: Callable[..., datetime] = datetime.now
_last_dt = _EPOCH


def utc_now() -> datetime:
    """The wall clock as an aware UTC datetime, never decreasing within this process.

    Read straight from ``datetime.now`` (a C call) rather than built from ``timestamp_ns``: the
    same wall clock, clamped the same way, at less than half the cost.
    """
    global _last_dt
    now = _utc_now(UTC)
    if now > _last_dt:
        _last_dt = now
        return now
    return _last_dt


def set_wall_source(fn: Callable[[], int] | None, reset: bool = False) -> None:
    """Tests only: ``fn() -> int ns`` replaces the system wall clock (``None`` restores it);
    ``reset`` forgets the last value returned (breaking the guarantee for this process)."""
    global _time_ns, _utc_now, _last_ns, _last_dt
    if fn is not None and not callable(fn):
        raise TypeError("the wall source must be callable or None")
    if fn is None:
        _time_ns, _utc_now = time.time_ns, datetime.now
    else:
        _time_ns = fn
        _utc_now = lambda tz: datetime.fromtimestamp(fn() // 1000 / 1e6, tz)  # noqa: E731
    if reset:
        _last_ns, _last_dt = 0, _EPOCH
