"""Baseline settlement: pending trades in a heap, a loop waking every ``poll_interval_ns`` with
``asyncio.sleep`` to settle what is due by ``time.time_ns()``: the usual pre-plan batch job."""

from __future__ import annotations

import asyncio
import heapq
import time

from core.order_management.business_days import BusinessCalendar
from core.order_management.domain import EventLog, Fill
from core.order_management.settlement_common import SettlementBase
from core.units import NS_PER_S


class SettlementController(SettlementBase):
    """Implements ``protocols.SettlementController``; ``start()`` runs the loop, ``stop()`` ends it."""

    def __init__(self, calendar: BusinessCalendar | None = None, *, poll_interval_ns: int = NS_PER_S,
                 events: EventLog | None = None) -> None:  # fmt: skip
        if poll_interval_ns <= 0:
            raise ValueError(f"poll_interval_ns must be > 0, got {poll_interval_ns}")
        super().__init__(calendar, events)
        self.poll_interval_ns = poll_interval_ns
        self._heap: list[tuple[int, int, Fill]] = []
        self._seq = 0
        self._task: asyncio.Task[None] | None = None

    def book(self, fill: Fill, days: int) -> int:
        due = self.calendar.settlement_ns(fill.ts_ns, days)
        now = time.time_ns()
        if due <= now:
            self._settle(fill, now)
            return due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, fill))
        return due

    def pending(self) -> int:
        return len(self._heap)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_ns / 1e9)
            self.settle_due()

    def settle_due(self) -> int:
        """Settle everything due by now; returns how many trades settled."""
        now = time.time_ns()
        heap = self._heap
        n = 0
        while heap and heap[0][0] <= now:
            _, _, fill = heapq.heappop(heap)
            self._settle(fill, now)
            n += 1
        return n
