"""Order timing from one clock: every stage of every order stamped by the same ``Clock``.

Because all stamps come from one clock, stage latencies are consistent with each other and with
every other clocked component's timestamps, and under a ``TestClock`` they are reproducible.

The plan's file: ``order_clock_controller.py`` (``OrderClockController``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from targets.clock import Clock

from core.order_management.stage_timing import StageTimes


class OrderTimingController(StageTimes):
    """Implements ``OrderTiming``: ``stamp`` reads the injected clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self._now = clock.timestamp_ns

    def stamp(self, order_id: str, stage: int) -> int:
        """Record ``stage`` of ``order_id`` now; returns the time stamped."""
        ts = self._now()
        self.record(order_id, stage, ts)
        return ts
