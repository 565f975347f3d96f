"""The order flow wired once: venue -> OMS -> (EMS, PMS) -> settlement -> (PMS, OMS), for any build.

The parts are passed in as constructors that take the build-neutral arguments only (a clocked
part's clock already bound), so one wiring serves the clocked build, the baseline and any mix of
the two (the service's build map). ``harness.builds.order_stack`` supplies the parts from the
switchboard; ``targets.order_management.build_stack`` and ``baselines.order_management.build_stack``
supply their own build's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .business_days import BusinessCalendar, TradingDay
from .domain import EventLog, Instrument, default_instruments
from .venue import SimulatedVenue

Part = Callable[..., Any]  # a part's constructor, called with keyword arguments only


@dataclass
class OrderStack:
    """Everything a caller (web routes, simulation, benchmarks) needs, already connected."""

    venue: SimulatedVenue
    oms: Any
    ems: Any
    pms: Any
    settlement: Any
    timing: Any
    events: EventLog | None
    clock: Any = None  # the Clock the clocked parts share (None when every part is the baseline)

    async def start(self) -> None:
        """Start what runs on its own: the baseline settlement's polling loop (clocked parts live on the clock)."""
        start = getattr(self.settlement, "start", None)
        if start is not None:
            start()

    async def stop(self) -> None:
        """Each part drops its pending work: clocked parts cancel their timers, baseline parts their tasks."""
        await self.settlement.stop()
        await self.ems.aclose()
        await self.oms.aclose()


def build_order_stack(parts: Mapping[str, Part], *, clock: Any = None, instruments: Mapping[str, Instrument] | None = None,
                      venue: SimulatedVenue | None = None, calendar: BusinessCalendar | None = None,
                      trading_day: TradingDay | None = None, events: EventLog | None = None, id_prefix: str = "",
                      settlement_options: Mapping[str, Any] | None = None) -> OrderStack:  # fmt: skip
    """Connect the parts (``order_timing``, ``settlement``, ``pms``, ``oms``, ``ems`` of ``parts``):
    fills -> PMS -> settlement -> (PMS, OMS timing). ``settlement_options`` go to the settlement only
    (e.g. the baseline's ``poll_interval_ns``)."""
    instruments = dict(instruments) if instruments is not None else default_instruments()
    if venue is None:
        venue = SimulatedVenue(instruments)
        venue.fill_prefix = id_prefix  # fill ids as unique as the order ids
    timing = parts["order_timing"]()
    settlement = parts["settlement"](calendar=calendar, events=events, **dict(settlement_options or {}))
    pms = parts["pms"](instruments=instruments, settlement=settlement, events=events)
    oms = parts["oms"](venue=venue, instruments=instruments, timing=timing, pms=pms, trading_day=trading_day,
                       events=events, id_prefix=id_prefix)  # fmt: skip
    ems = parts["ems"](oms=oms, venue=venue, instruments=instruments, events=events)
    oms.ems = ems
    settlement.listeners.append(pms.on_settled)
    settlement.listeners.append(oms.on_settled)
    return OrderStack(venue, oms, ems, pms, settlement, timing, events, clock)
