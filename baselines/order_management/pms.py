"""Baseline PMS: the same position keeping, each update stamped with ``time.time_ns()``."""

from __future__ import annotations

import time
from collections.abc import Mapping

from core.order_management.domain import EventLog, Instrument
from core.order_management.position_book import PositionBook
from core.order_management.protocols import SettlementController


class PMS(PositionBook):
    """Implements ``protocols.PMS`` on system time (the logic is ``PositionBook``)."""

    def __init__(self, instruments: Mapping[str, Instrument], *, settlement: SettlementController | None = None,
                 events: EventLog | None = None) -> None:  # fmt: skip
        super().__init__(time.time_ns, instruments, settlement=settlement, events=events)
