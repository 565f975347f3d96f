"""Wiring of the baseline build: the same components on system time, plus their asyncio tasks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from targets.order_management.business_days import BusinessCalendar, TradingDay
from targets.order_management.domain import EventLog, Instrument, default_instruments
from targets.order_management.venue import SimulatedVenue

from .ems import EMS
from .oms import OMS
from .order_clock_controller import OrderClockController
from .pms import PMS
from .settlement import SettlementController


@dataclass
class OrderStack:
    venue: SimulatedVenue
    oms: OMS
    ems: EMS
    pms: PMS
    settlement: SettlementController
    timing: OrderClockController
    events: EventLog | None

    async def start(self) -> None:
        """Start the settlement loop (needs the running loop)."""
        self.settlement.start()

    async def stop(self) -> None:
        await self.settlement.stop()
        await self.ems.aclose()
        await self.oms.aclose()


def build_stack(*, instruments: Mapping[str, Instrument] | None = None, venue: SimulatedVenue | None = None,
                calendar: BusinessCalendar | None = None, trading_day: TradingDay | None = None,
                settlement_poll_ns: int = 1_000_000_000, events: EventLog | None = None) -> OrderStack:  # fmt: skip
    instruments = dict(instruments) if instruments is not None else default_instruments()
    venue = venue or SimulatedVenue(instruments)
    timing = OrderClockController()
    settlement = SettlementController(calendar, poll_interval_ns=settlement_poll_ns, events=events)
    pms = PMS(instruments, settlement=settlement, events=events)
    oms = OMS(venue, instruments=instruments, timing=timing, pms=pms, trading_day=trading_day, events=events)
    ems = EMS(oms, venue, instruments=instruments, events=events)
    oms.ems = ems
    settlement.listeners.append(pms.on_settled)
    settlement.listeners.append(oms.on_settled)
    return OrderStack(venue, oms, ems, pms, settlement, timing, events)
