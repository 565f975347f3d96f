"""The OMS logic both builds share; each build supplies only its time source and its expiry timer.

``submit`` is a plain method (the in-process hot path): it validates, stamps, sequences, routes to
the venue and applies the immediate fills before returning. The clocked OMS stamps with the
injected clock and expires GTD/DAY orders with clock alerts; the baseline stamps with
the system wall clock and expires with a sleeping task per order. Everything else is this class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .algos import Algo, AlgoRequest
from .business_days import TradingDay
from .domain import EventLog, Fill, Instrument, Order, OrderRequest, Position, TimeInForce, UnknownOrderError
from .order_state import OrderStore
from .protocols import EMS, PMS, OrderTiming
from .stage_timing import SETTLED
from .venue import Quote, SimulatedVenue


class OMSCore:
    """Implements ``protocols.OMS`` given ``now`` (ns); subclasses arm and disarm expiries."""

    def __init__(self, now: Callable[[], int], venue: SimulatedVenue, timing: OrderTiming, *,
                 instruments: Mapping[str, Instrument] | None = None, pms: PMS | None = None,
                 trading_day: TradingDay | None = None, events: EventLog | None = None,
                 id_prefix: str = "") -> None:  # fmt: skip
        self._now = now
        self.venue = venue
        self.timing = timing
        self.trading_day = trading_day or TradingDay()
        self.store = OrderStore(instruments if instruments is not None else venue.instruments, venue,
                                timing, events, id_prefix)  # fmt: skip
        self.id_prefix = id_prefix  # of order ids (<prefix>O<n>) and algo ids (<prefix>A<n>)
        self.pms = pms
        self.ems: EMS | None = None
        if pms is not None:
            self.store.fill_listeners.append(pms.apply_fill)
        self.store.final_listeners.append(self._disarm_expiry)

    def number_after(self, base: int) -> None:
        """Number the next orders base + 1, base + 2, ... (a service sharing a database passes a base
        no other worker or start uses, so sequence numbers and the order ids made of them are unique)."""
        if not isinstance(base, int) or isinstance(base, bool) or base < self.store.sequence:
            raise ValueError(f"base must be an int >= the current sequence {self.store.sequence}, got {base!r}")
        self.store.sequence = base

    # --- the build's own part ------------------------------------------------------------------
    def _arm_expiry(self, order: Order) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _disarm_expiry(self, order: Order) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- orders ----------------------------------------------------------------------------
    def submit(self, request: OrderRequest, *, parent_algo_id: str | None = None) -> Order:
        """Accept, sequence and route one order; returns it in its state after the venue's answer.

        Raises ``InvalidOrderRequest`` (every field error) or ``DuplicateClientOrderIdError``.
        """
        return self.route(self.accept(request, parent_algo_id=parent_algo_id))

    def accept(self, request: OrderRequest, *, parent_algo_id: str | None = None) -> Order:
        """Validate, stamp and sequence an order without routing it: a service writes it durably
        first, then calls ``route`` (or ``withdraw`` when the write failed, leaving no trace)."""
        now = self._now()
        day_exp = self.trading_day.expiry_ns(now) if request.time_in_force is TimeInForce.DAY else None
        return self.store.create(request, now, day_exp, parent_algo_id)

    def route(self, order: Order) -> Order:
        """Send an accepted order to the venue; returns it in its state after the venue's answer."""
        if self.store.route(order, self._now()) and order.expire_time_ns is not None:
            self._arm_expiry(order)
        return order

    def withdraw(self, order: Order) -> None:
        """Forget an accepted, never-routed order (its durable write failed): as if never submitted."""
        self.store.withdraw(order)

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

    def expire(self, order_id: str) -> None:
        """Called by the build's expiry timer when an order's expiry time has come."""
        self.store.expire(order_id, self._now())

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
