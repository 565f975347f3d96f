"""The clocked OMS: receive times and sequencing from the injected clock, expiries as clock alerts.

``submit`` is a plain method (the in-process hot path): it validates, stamps, sequences, routes
to the venue and applies the immediate fills before returning. Time passes only in expiries,
which are clock alerts: under a ``TestClock`` a GTD order expires exactly at its expiry time,
reproducibly; under a ``LiveClock`` alerts need a running asyncio loop.
"""

from __future__ import annotations

from collections.abc import Mapping

from targets.clock import Clock, TimeEvent

from .algos import Algo, AlgoRequest
from .business_days import TradingDay
from .domain import EventLog, Fill, Instrument, Order, OrderRequest, Position, TimeInForce, UnknownOrderError
from .order_clock_controller import OrderClockController
from .order_state import OrderStore
from .protocols import EMS, PMS, OrderTiming
from .stage_timing import SETTLED
from .venue import Quote, SimulatedVenue

_EXPIRE = "expire:"


class OMS:
    """Implements ``protocols.OMS`` on a ``Clock``."""

    def __init__(self, clock: Clock, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 timing: OrderTiming | None = None, pms: PMS | None = None, trading_day: TradingDay | None = None,
                 events: EventLog | None = None, order_id_prefix: str = "O") -> None:  # fmt: skip
        self.clock = clock
        self.venue = venue
        self.timing = timing if timing is not None else OrderClockController(clock)
        self.trading_day = trading_day or TradingDay()
        self.store = OrderStore(instruments if instruments is not None else venue.instruments, venue,
                                self.timing, events, order_id_prefix)  # fmt: skip
        self.pms = pms
        self.ems: EMS | None = None
        if pms is not None:
            self.store.fill_listeners.append(pms.apply_fill)
        self.store.final_listeners.append(self._on_final)
        self._now = clock.timestamp_ns
        self._alerts: set[str] = set()  # order ids with an armed expiry alert

    # --- orders ----------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, parent_algo_id: str | None = None) -> Order:
        """Accept, sequence and route one order; returns it in its state after the venue's answer.

        Raises ``InvalidOrderRequest`` (every field error) or ``DuplicateClientOrderIdError``.
        """
        now = self._now()
        day_exp = self.trading_day.expiry_ns(now) if request.time_in_force is TimeInForce.DAY else None
        store = self.store
        order = store.create(request, now, day_exp, parent_algo_id)
        if store.route(order, self._now()) and order.expire_time_ns is not None:
            self._arm_expiry(order)
        return order

    def get(self, order_id: str) -> Order:
        return self.store.get(order_id)

    def get_by_client_id(self, client_order_id: str) -> Order:
        order = self.store.by_client_id.get(client_order_id)
        if order is None:
            raise UnknownOrderError(client_order_id)
        return order

    def orders(self) -> list[Order]:
        return list(self.store.orders.values())

    def cancel(self, order_id: str) -> Order:
        """Cancel a live order. Raises ``UnknownOrderError`` or ``OrderAlreadyFinalError``."""
        return self.store.cancel(order_id, self._now())

    def on_quote(self, quote: Quote) -> list[Fill]:
        """Market data: update the venue's book, fill crossed resting orders, mark positions."""
        fills = self.store.on_quote(quote, self._now())
        if self.pms is not None:
            mid = self.venue.mid_price(quote.instrument)
            if mid is not None:
                self.pms.on_price(quote.instrument, mid)
        return fills

    def on_settled(self, fill: Fill) -> None:
        """Settlement callback: stamps SETTLED once all of a final order's fills have settled."""
        order = self.store.settled(fill, self._now())
        if order is not None:
            self.timing.stamp(order.order_id, SETTLED)

    # --- delegation for a web layer --------------------------------------------------------
    def positions(self) -> list[Position]:
        return self.pms.positions() if self.pms is not None else []

    def start_algo(self, request: AlgoRequest) -> Algo:
        return self._ems().start(request)

    def get_algo(self, algo_id: str) -> Algo:
        return self._ems().get(algo_id)

    def _ems(self) -> EMS:
        if self.ems is None:
            raise RuntimeError("this OMS has no EMS attached (build it with build_stack)")
        return self.ems

    # --- expiry ----------------------------------------------------------------------------
    def _arm_expiry(self, order: Order) -> None:
        expire = order.expire_time_ns
        try:
            self.clock.set_time_alert(_EXPIRE + order.order_id, expire, self._on_expiry)  # type: ignore[arg-type]
        except ValueError:
            if self._now() < expire:  # type: ignore[operator]
                raise
            self.store.expire(order.order_id, self._now())  # already due: expire now
            return
        self._alerts.add(order.order_id)

    def _on_expiry(self, event: TimeEvent) -> None:
        order_id = event.name[len(_EXPIRE):]
        self._alerts.discard(order_id)
        self.store.expire(order_id, self._now())

    def _on_final(self, order: Order) -> None:
        if order.order_id in self._alerts:
            self._alerts.discard(order.order_id)
            self.clock.cancel_timer(_EXPIRE + order.order_id)
