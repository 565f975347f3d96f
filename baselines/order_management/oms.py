"""Baseline OMS: stamps with ``time.time_ns()``; each GTD/DAY order gets a task sleeping until it expires.

A competent pre-plan design: the idiomatic asyncio way to do "something at time T" is a task
that sleeps until T. It costs a task (and a loop timer) per live expiring order, and time
cannot be controlled in tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from targets.order_management.algos import Algo, AlgoRequest
from targets.order_management.business_days import TradingDay
from targets.order_management.domain import (
    EventLog,
    Fill,
    Instrument,
    Order,
    OrderRequest,
    Position,
    TimeInForce,
    UnknownOrderError,
)
from targets.order_management.order_state import OrderStore
from targets.order_management.protocols import EMS, PMS, OrderTiming
from targets.order_management.stage_timing import SETTLED
from targets.order_management.venue import Quote, SimulatedVenue

from .order_clock_controller import OrderClockController


class OMS:
    """Implements ``protocols.OMS`` on system time. Expiring orders need a running asyncio loop."""

    def __init__(self, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 timing: OrderTiming | None = None, pms: PMS | None = None, trading_day: TradingDay | None = None,
                 events: EventLog | None = None, order_id_prefix: str = "O") -> None:  # fmt: skip
        self.venue = venue
        self.timing = timing if timing is not None else OrderClockController()
        self.trading_day = trading_day or TradingDay()
        self.store = OrderStore(instruments if instruments is not None else venue.instruments, venue,
                                self.timing, events, order_id_prefix)  # fmt: skip
        self.pms = pms
        self.ems: EMS | None = None
        if pms is not None:
            self.store.fill_listeners.append(pms.apply_fill)
        self.store.final_listeners.append(self._on_final)
        self._expiry_tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, request: OrderRequest, *, parent_algo_id: str | None = None) -> Order:
        now = time.time_ns()
        day_exp = self.trading_day.expiry_ns(now) if request.time_in_force is TimeInForce.DAY else None
        store = self.store
        order = store.create(request, now, day_exp, parent_algo_id)
        if store.route(order, time.time_ns()) and order.expire_time_ns is not None:
            task = asyncio.get_running_loop().create_task(self._expire_at(order.order_id, order.expire_time_ns))
            self._expiry_tasks[order.order_id] = task
        return order

    async def _expire_at(self, order_id: str, expire_ns: int) -> None:
        delay = expire_ns - time.time_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        self._expiry_tasks.pop(order_id, None)
        self.store.expire(order_id, time.time_ns())

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
        return self.store.cancel(order_id, time.time_ns())

    def on_quote(self, quote: Quote) -> list[Fill]:
        fills = self.store.on_quote(quote, time.time_ns())
        if self.pms is not None:
            mid = self.venue.mid_price(quote.instrument)
            if mid is not None:
                self.pms.on_price(quote.instrument, mid)
        return fills

    def on_settled(self, fill: Fill) -> None:
        order = self.store.settled(fill, time.time_ns())
        if order is not None:
            self.timing.stamp(order.order_id, SETTLED)

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

    def _on_final(self, order: Order) -> None:
        task = self._expiry_tasks.pop(order.order_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def aclose(self) -> None:
        """Cancel the pending expiry tasks."""
        tasks = list(self._expiry_tasks.values())
        self._expiry_tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
