"""The clocked settlement controller: one clock alert per settlement instant, not a polling loop.

Trades settling at the same instant share a bucket and an alert, so a day's trades cost one
timer. Under a ``TestClock`` a week of settlement runs in microseconds, exactly on schedule.
"""

from __future__ import annotations


from targets.clock import Clock, TimeEvent

from core.order_management.business_days import BusinessCalendar
from core.order_management.domain import EventLog, Fill
from core.order_management.settlement_common import SettlementBase

_SETTLE = "settle:"


class SettlementController(SettlementBase):
    """Implements ``protocols.SettlementController`` on a ``Clock``."""

    def __init__(self, clock: Clock, calendar: BusinessCalendar | None = None, *,
                 events: EventLog | None = None) -> None:  # fmt: skip
        super().__init__(calendar, events)
        self.clock = clock
        self._buckets: dict[int, list[Fill]] = {}
        self._pending = 0

    def book(self, fill: Fill, days: int) -> int:
        """Schedule ``fill`` to settle at T+``days``; returns its settlement time (ns)."""
        due = self.calendar.settlement_ns(fill.ts_ns, days)
        bucket = self._buckets.get(due)
        if bucket is not None:
            bucket.append(fill)
            self._pending += 1
            return due
        now = self.clock.timestamp_ns()
        if due > now:
            try:
                self.clock.set_time_alert(_SETTLE + str(due), due, self._on_due)
            except ValueError:
                if self.clock.timestamp_ns() < due:
                    raise
            else:
                self._buckets[due] = [fill]
                self._pending += 1
                return due
        self._settle(fill, now)  # already due (T+0 after the day's run): settle at once
        return due

    def pending(self) -> int:
        return self._pending

    async def stop(self) -> None:
        """Cancel the pending settlement alerts (the baseline stops its polling loop)."""
        for due in list(self._buckets):
            if self.clock.has_timer(_SETTLE + str(due)):
                self.clock.cancel_timer(_SETTLE + str(due))

    def _on_due(self, event: TimeEvent) -> None:
        fills = self._buckets.pop(int(event.name[len(_SETTLE):]))
        now = self.clock.timestamp_ns()
        self._pending -= len(fills)
        for fill in fills:
            self._settle(fill, now)
