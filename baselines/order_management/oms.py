"""Baseline OMS: stamps with ``time.time_ns()``; each GTD/DAY order gets a task sleeping until it expires.

A competent pre-plan design: the idiomatic asyncio way to do "something at time T" is a task
that sleeps until T. It costs a task (and a loop timer) per live expiring order, and time
cannot be controlled in tests. The logic shared with the clocked OMS is ``OMSCore``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from core.order_management.business_days import TradingDay
from core.order_management.domain import EventLog, Instrument, Order
from core.order_management.oms_core import OMSCore
from core.order_management.protocols import PMS, OrderTiming
from core.order_management.venue import SimulatedVenue

from .order_timing import OrderTimingController


class OMS(OMSCore):
    """Implements ``protocols.OMS`` on system time. Expiring orders need a running asyncio loop."""

    def __init__(self, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 timing: OrderTiming | None = None, pms: PMS | None = None, trading_day: TradingDay | None = None,
                 events: EventLog | None = None, id_prefix: str = "") -> None:  # fmt: skip
        super().__init__(time.time_ns, venue, timing if timing is not None else OrderTimingController(),
                         instruments=instruments, pms=pms, trading_day=trading_day, events=events,
                         id_prefix=id_prefix)  # fmt: skip
        self._expiry_tasks: dict[str, asyncio.Task[None]] = {}

    def _arm_expiry(self, order: Order) -> None:
        task = asyncio.get_running_loop().create_task(self._expire_at(order.order_id, order.expire_time_ns))  # type: ignore[arg-type]
        self._expiry_tasks[order.order_id] = task

    async def _expire_at(self, order_id: str, expire_ns: int) -> None:
        delay = expire_ns - time.time_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        self._expiry_tasks.pop(order_id, None)
        self.expire(order_id)

    def _disarm_expiry(self, order: Order) -> None:
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
