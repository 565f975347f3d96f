"""Wiring of the clocked build: venue, OMS, EMS, PMS, settlement and order timing on one clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from targets.clock import Clock

from .business_days import BusinessCalendar, TradingDay
from .domain import EventLog, Instrument, default_instruments
from .ems import EMS
from .oms import OMS
from .order_clock_controller import OrderClockController
from .pms import PMS
from .settlement import SettlementController
from .venue import SimulatedVenue


@dataclass
class OrderStack:
    """Everything a caller (web routes, simulation, benchmarks) needs, already connected."""

    clock: Clock
    venue: SimulatedVenue
    oms: OMS
    ems: EMS
    pms: PMS
    settlement: SettlementController
    timing: OrderClockController
    events: EventLog | None

    async def start(self) -> None:
        """Nothing to start: every schedule lives on the clock."""

    async def stop(self) -> None:
        """Cancel this stack's pending expiries, slices and settlements."""
        for name in self.clock.timer_names:
            if name.startswith(("expire:", "algo:", "settle:")):
                self.clock.cancel_timer(name)


def build_stack(clock: Clock, *, instruments: Mapping[str, Instrument] | None = None,
                venue: SimulatedVenue | None = None, calendar: BusinessCalendar | None = None,
                trading_day: TradingDay | None = None, events: EventLog | None = None) -> OrderStack:  # fmt: skip
    """Connect the components: fills -> PMS -> settlement -> (PMS, OMS timing)."""
    instruments = dict(instruments) if instruments is not None else default_instruments()
    venue = venue or SimulatedVenue(instruments)
    timing = OrderClockController(clock)
    settlement = SettlementController(clock, calendar, events=events)
    pms = PMS(clock, instruments, settlement=settlement, events=events)
    oms = OMS(clock, venue, instruments=instruments, timing=timing, pms=pms, trading_day=trading_day, events=events)
    ems = EMS(clock, oms, venue, instruments=instruments, events=events)
    oms.ems = ems
    settlement.listeners.append(pms.on_settled)
    settlement.listeners.append(oms.on_settled)
    return OrderStack(clock, venue, oms, ems, pms, settlement, timing, events)
