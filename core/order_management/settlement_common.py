"""What both settlement controllers share: the calendar, the listeners and settling one trade.

Each build decides *when* a trade is due (the clocked one with a clock alert per settlement time,
the baseline with a polling loop over a heap); settling it is the same book-keeping.
"""

from __future__ import annotations

from collections.abc import Callable

from .business_days import BusinessCalendar
from .domain import EventLog, Fill


class SettlementBase:
    def __init__(self, calendar: BusinessCalendar | None = None, events: EventLog | None = None) -> None:
        self.calendar = calendar or BusinessCalendar()
        self.events = events
        self.listeners: list[Callable[[Fill], object]] = []
        self._settled: list[tuple[int, Fill]] = []

    def settled(self) -> list[tuple[int, Fill]]:
        """(settlement time, fill) in the order they settled."""
        return list(self._settled)

    def _settle(self, fill: Fill, now: int) -> None:
        self._settled.append((now, fill))
        if self.events is not None:
            self.events.emit(now, "settled", fill.fill_id, fill.order_id, fill.instrument, fill.quantity)
        for listener in self.listeners:
            listener(fill)
