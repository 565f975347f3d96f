"""Order timing as written before the plan: each stage stamped with ``time.time_ns()``.

The plan's file: ``order_clock_controller.py`` (``OrderClockController``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

import time

from core.order_management.stage_timing import StageTimes


class OrderTimingController(StageTimes):
    """Implements ``OrderTiming``: ``stamp`` reads the system's wall clock."""

    def stamp(self, order_id: str, stage: int) -> int:
        ts = time.time_ns()
        self.record(order_id, stage, ts)
        return ts
