"""The clocked OMS: receive times and sequencing from the injected clock, expiries as clock alerts.

Under a ``TestClock`` a GTD order expires exactly at its expiry time, reproducibly; under a
``LiveClock`` alerts need a running asyncio loop. The shared logic is ``oms_core.OMSCore``.
"""

from __future__ import annotations

from collections.abc import Mapping

from targets.clock import Clock, TimeEvent

from core.order_management.business_days import TradingDay
from core.order_management.domain import EventLog, Instrument, Order
from core.order_management.oms_core import OMSCore
from .order_timing import OrderTimingController
from core.order_management.protocols import PMS, OrderTiming
from core.order_management.venue import SimulatedVenue

_EXPIRE = "expire:"


class OMS(OMSCore):
    """Implements ``protocols.OMS`` on a ``Clock``."""

    def __init__(self, clock: Clock, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 timing: OrderTiming | None = None, pms: PMS | None = None, trading_day: TradingDay | None = None,
                 events: EventLog | None = None, id_prefix: str = "") -> None:  # fmt: skip
        super().__init__(clock.timestamp_ns, venue, timing if timing is not None else OrderTimingController(clock),
                         instruments=instruments, pms=pms, trading_day=trading_day, events=events,
                         id_prefix=id_prefix)  # fmt: skip
        self.clock = clock
        self._alerts: set[str] = set()  # order ids with an armed expiry alert

    def _arm_expiry(self, order: Order) -> None:
        # allow_past: an order routed just after its expiry time expires at once, through the alert
        self.clock.set_time_alert(_EXPIRE + order.order_id, order.expire_time_ns, self._on_expiry,  # type: ignore[arg-type]
                                  allow_past=True)  # fmt: skip
        self._alerts.add(order.order_id)

    def _on_expiry(self, event: TimeEvent) -> None:
        order_id = event.name[len(_EXPIRE):]
        self._alerts.discard(order_id)
        self.expire(order_id)

    def _disarm_expiry(self, order: Order) -> None:
        if order.order_id in self._alerts:
            self._alerts.discard(order.order_id)
            self.clock.cancel_timer(_EXPIRE + order.order_id)

    async def aclose(self) -> None:
        """Cancel the pending expiry alerts (the baseline cancels its expiry tasks)."""
        for order_id in list(self._alerts):
            self._alerts.discard(order_id)
            if self.clock.has_timer(_EXPIRE + order_id):
                self.clock.cancel_timer(_EXPIRE + order_id)
