"""The clocked PMS: positions and P&L from fills, every update stamped by the injected clock."""

from __future__ import annotations

from collections.abc import Mapping

from targets.clock import Clock

from core.order_management.domain import EventLog, Instrument
from core.order_management.position_book import PositionBook
from core.order_management.protocols import SettlementController


class PMS(PositionBook):
    """Implements ``protocols.PMS`` on a ``Clock`` (the logic is ``PositionBook``)."""

    def __init__(self, clock: Clock, instruments: Mapping[str, Instrument], *,
                 settlement: SettlementController | None = None, events: EventLog | None = None) -> None:  # fmt: skip
        super().__init__(clock.timestamp_ns, instruments, settlement=settlement, events=events)
        self.clock = clock
