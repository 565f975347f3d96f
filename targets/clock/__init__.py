"""One clock for the whole stack: ``LiveClock`` in production, ``TestClock`` in tests.

Time is an ``int`` of nanoseconds since the UNIX epoch. Components take a ``Clock`` and never
read system time, sleep or wait on their own: timers, alerts, ``sleep`` and ``timeout`` come
from the clock, so the same component runs in real time or in reproducible virtual time.
"""

from .base import Clock, ClockBase, TimeoutScope, ns_to_datetime
from .events import TimeEvent, TimeEventHandler
from .live import LiveClock
from .loop import ClockDeadlockError, VirtualTimeLoop, run_virtual
from .units import (
    NANOS_IN_DAY,
    NANOS_IN_HOUR,
    NANOS_IN_MICROSECOND,
    NANOS_IN_MILLISECOND,
    NANOS_IN_MINUTE,
    NANOS_IN_SECOND,
    micros_to_nanos,
    millis_to_nanos,
    nanos_to_micros,
    nanos_to_millis,
    nanos_to_secs,
    nanos_to_unix_secs,
    secs_to_nanos,
)
from .virtual import TestClock
from .wheel import TimingWheel
from . import _impl

_impl.finish_import()  # every module exists now: apply the C-or-Python choice

__all__ = [
    "Clock",
    "ClockBase",
    "ClockDeadlockError",
    "LiveClock",
    "NANOS_IN_DAY",
    "NANOS_IN_HOUR",
    "NANOS_IN_MICROSECOND",
    "NANOS_IN_MILLISECOND",
    "NANOS_IN_MINUTE",
    "NANOS_IN_SECOND",
    "TestClock",
    "TimeEvent",
    "TimeEventHandler",
    "TimeoutScope",
    "TimingWheel",
    "VirtualTimeLoop",
    "micros_to_nanos",
    "millis_to_nanos",
    "nanos_to_micros",
    "nanos_to_millis",
    "nanos_to_secs",
    "nanos_to_unix_secs",
    "ns_to_datetime",
    "run_virtual",
    "secs_to_nanos",
]
