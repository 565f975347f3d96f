"""Arming a clock alert for a time that may already have passed by the time it is armed.

``Clock.set_time_alert`` refuses a time in the past. On a LiveClock, "now" read by the caller
can be microseconds in the past when the clock checks it, so "fire as soon as possible" needs
a retry with a time just ahead of the clock.
"""

from __future__ import annotations

from targets.clock import Clock, TimeEventHandler

_ASAP_MARGIN_NS = 1_000


def arm_alert(clock: Clock, name: str, time_ns: int, callback: TimeEventHandler) -> int:
    """Set alert ``name`` at ``time_ns``, or just after now if that has passed; returns the time used."""
    margin = _ASAP_MARGIN_NS
    for _ in range(30):
        try:
            clock.set_time_alert(name, time_ns, callback)
            return time_ns
        except ValueError:
            now = clock.timestamp_ns()
            if time_ns >= now or name in clock.timer_names:
                raise  # not a "time in the past" refusal
            time_ns = now + margin
            margin *= 2  # the check itself can take microseconds on a busy machine
    raise RuntimeError(f"could not arm alert {name!r}: the clock kept moving past it")
