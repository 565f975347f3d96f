"""The OMS's bookkeeping, shared by both builds: order store, sequencing and the state machine.

Pure with respect to time: each method is given ``now_ns``. The clocked OMS passes its clock's
time and schedules expiries on the clock; the baseline passes the system time and schedules
with asyncio tasks. Everything else an OMS does is here, once, so the two builds cannot drift
apart in behaviour and a benchmark pair measures only what differs: the time source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .domain import (
    FINAL_STATES,
    DuplicateClientOrderIdError,
    EventLog,
    Fill,
    Instrument,
    InvalidOrderRequest,
    Order,
    OrderAlreadyFinalError,
    OrderRequest,
    OrderState,
    TimeInForce,
    UnknownOrderError,
    validate_request,
)
from .protocols import OrderTiming
from .stage_timing import ACKNOWLEDGED, FILLED, RECEIVED, ROUTED, SEQUENCED
from .venue import Quote, SimulatedVenue

FillListener = Callable[[Fill], object]


class OrderStore:
    """Orders by id and client id, the sequence counter, and every state transition."""

    def __init__(self, instruments: Mapping[str, Instrument], venue: SimulatedVenue, timing: OrderTiming,
                 events: EventLog | None = None, id_prefix: str = "") -> None:  # fmt: skip
        self.id_prefix = id_prefix  # order ids are <prefix>O<sequence>: OMSs sharing a database need their own
        self.instruments = dict(instruments)
        self.venue = venue
        self.timing = timing
        self.events = events
        self.orders: dict[str, Order] = {}
        self.by_client_id: dict[str, Order] = {}
        self.sequence = 0
        self.fill_listeners: list[FillListener] = []
        self.final_listeners: list[Callable[[Order], object]] = []
        self.create_listeners: list[Callable[[Order], object]] = []  # e.g. a service persisting algo children

    def create(self, req: OrderRequest, now_ns: int, day_expiry_ns: int | None,
               parent_algo_id: str | None = None) -> Order:  # fmt: skip
        """Validate ``req``, give it the next sequence number and the receive time ``now_ns``."""
        errors = validate_request(req, self.instruments, now_ns)
        if errors:
            raise InvalidOrderRequest(errors)
        existing = self.by_client_id.get(req.client_order_id)
        if existing is not None:
            raise DuplicateClientOrderIdError(req.client_order_id, existing.order_id)
        self.sequence = seq = self.sequence + 1
        tif = req.time_in_force
        expire = req.expire_time_ns if tif is TimeInForce.GTD else (day_expiry_ns if tif is TimeInForce.DAY else None)
        order = Order(f"{self.id_prefix}O{seq}", seq, req, now_ns, expire, parent_algo_id)
        self.orders[order.order_id] = order
        self.by_client_id[req.client_order_id] = order
        self.timing.record(order.order_id, RECEIVED, now_ns)
        self.timing.stamp(order.order_id, SEQUENCED)
        for listener in self.create_listeners:
            listener(order)
        return order

    def withdraw(self, order: Order) -> None:
        """Remove a created order that was never routed (see ``OMSCore.withdraw``)."""
        if order.state is not OrderState.NEW:
            raise ValueError(f"{order.order_id} was routed ({order.state.value}); only a NEW order can be withdrawn")
        if self.orders.get(order.order_id) is order:
            del self.orders[order.order_id]
        if self.by_client_id.get(order.client_order_id) is order:
            del self.by_client_id[order.client_order_id]
        forget = getattr(self.timing, "forget", None)
        if forget is not None:
            forget(order.order_id)

    def route(self, order: Order, now_ns: int) -> bool:
        """Send ``order`` to the venue and apply its answer; True if it is now resting there."""
        timing = self.timing
        oid = order.order_id
        timing.stamp(oid, ROUTED)
        ack = self.venue.submit(order, now_ns)
        timing.stamp(oid, ACKNOWLEDGED)
        events = self.events
        if not ack.accepted:
            order.state = OrderState.REJECTED
            order.reason = ack.reason
            order.last_update_ns = now_ns
            if events is not None:
                events.emit(now_ns, "order", oid, "REJECTED", order.client_order_id, ack.reason)
            self._final(order)
            return False
        order.state = OrderState.ACCEPTED
        order.last_update_ns = now_ns
        if events is not None:
            events.emit(now_ns, "order", oid, "ACCEPTED", order.client_order_id, order.instrument,
                        order.side, order.order_type, order.quantity, order.limit_price,
                        order.time_in_force, order.expire_time_ns)  # fmt: skip
        for fill in ack.fills:
            self.apply_fill(order, fill)
        if not ack.resting and order.state is not OrderState.FILLED:
            order.state = OrderState.CANCELED
            order.reason = "unfilled remainder canceled (IOC or MARKET)"
            if events is not None:
                events.emit(now_ns, "order", oid, "CANCELED", order.filled_qty, order.reason)
            self._final(order)
        return ack.resting

    def apply_fill(self, order: Order, fill: Fill) -> None:
        order.filled_qty += fill.quantity
        order.notional += fill.price * fill.quantity
        order.last_update_ns = fill.ts_ns
        done = order.filled_qty == order.quantity
        order.state = OrderState.FILLED if done else OrderState.PARTIALLY_FILLED
        if self.events is not None:
            self.events.emit(fill.ts_ns, "fill", fill.fill_id, order.order_id, fill.side, fill.quantity,
                             fill.price, fill.commission, order.state)  # fmt: skip
        if done:
            self.timing.stamp(order.order_id, FILLED)
        for listener in self.fill_listeners:
            listener(fill)
        if done:
            self._final(order)

    def on_quote(self, quote: Quote, now_ns: int) -> list[Fill]:
        """Pass a quote to the venue and apply the fills of resting orders it crosses."""
        fills = self.venue.on_quote(quote, now_ns)
        orders = self.orders
        for fill in fills:
            self.apply_fill(orders[fill.order_id], fill)
        return fills

    def get(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise UnknownOrderError(order_id)
        return order

    def cancel(self, order_id: str, now_ns: int, state: OrderState = OrderState.CANCELED,
               reason: str = "canceled on request") -> Order:  # fmt: skip
        """Cancel (or, with ``state=EXPIRED``, expire) a live order."""
        order = self.get(order_id)
        if order.state in FINAL_STATES:
            raise OrderAlreadyFinalError(order_id, order.state)
        self.venue.cancel(order_id)
        order.state = state
        order.reason = reason
        order.last_update_ns = now_ns
        if self.events is not None:
            self.events.emit(now_ns, "order", order_id, state, order.filled_qty, reason)
        self._final(order)
        return order

    def expire(self, order_id: str, now_ns: int) -> Order | None:
        """Expire an order at its expiry time; None if it had already reached a final state."""
        order = self.orders.get(order_id)
        if order is None or order.state in FINAL_STATES:
            return None
        return self.cancel(order_id, now_ns, OrderState.EXPIRED, f"{order.time_in_force.value} expiry reached")

    def settled(self, fill: Fill, now_ns: int) -> Order | None:
        """Count a settled fill; returns its order when all of a final order's fills have settled."""
        order = self.orders.get(fill.order_id)
        if order is None:
            return None
        order.settled_qty += fill.quantity
        if order.state in FINAL_STATES and order.settled_qty == order.filled_qty:
            return order
        return None

    def _final(self, order: Order) -> None:
        for listener in self.final_listeners:
            listener(order)
