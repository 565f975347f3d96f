"""Order timing as written before the plan: each stage stamped with ``time.time_ns()``."""

from __future__ import annotations

import time

from targets.order_management.stage_timing import StageTimes


class OrderClockController(StageTimes):
    """Implements ``OrderTiming``: ``stamp`` reads the system's wall clock."""

    def stamp(self, order_id: str, stage: int) -> int:
        ts = time.time_ns()
        self.record(order_id, stage, ts)
        return ts
