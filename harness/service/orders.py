"""The order flow behind the HTTP routes: the OMS/EMS/PMS of the build map, persisted write-through.

Thin glue: requests are parsed and validated by the order-management domain, the OMS of the
``oms`` build accepts them, and each acknowledged order is committed to PostgreSQL (and cached in
Redis) before the 201 leaves. Rejected input never reaches the OMS nor the database.
"""

from __future__ import annotations

import asyncio
import importlib
from collections import Counter
from typing import Any

from targets.clock import Clock

from .config import ServiceConfig


class OrderManagementUnavailable(RuntimeError):
    """The order-management components could not be built (reported as 503 with the reason)."""


def build_oms(config: ServiceConfig, clock: Clock) -> Any:
    """The OMS (with its EMS, PMS, settlement and order timing) for the build map.

    ``targets.order_management.service.build_oms`` / ``baselines....build_oms`` assemble one; see
    that module for which parts follow which flag.
    """
    pkg = "targets" if config.build_of("oms") == "clocked" else "baselines"
    try:
        mod = importlib.import_module(f"{pkg}.order_management.oms")
    except ImportError as exc:
        raise OrderManagementUnavailable(f"{pkg}.order_management.oms cannot be imported: {exc}") from exc
    return mod, pkg


class OrderService:
    def __init__(self, config: ServiceConfig, clock: Clock, store: Any, metrics: Any) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.metrics = metrics
        self.error: str | None = None
        self.oms: Any = None
        self._pending: set[asyncio.Task[Any]] = set()
        try:
            self.oms = make_order_management(config, clock)
        except OrderManagementUnavailable as exc:
            self.error = str(exc)

    def require(self) -> Any:
        if self.oms is None:
            raise OrderManagementUnavailable(self.error or "order management is not available")
        return self.oms

    async def close(self) -> None:
        for t in list(self._pending):
            t.cancel()

    def state_counts(self) -> dict[str, int]:
        if self.oms is None:
            return {}
        return dict(Counter(o.state.value for o in self.oms.orders()))

    def on_quotes(self, quotes: list[Any], ts_ns: int) -> None:
        if self.oms is None:
            return
        for q in quotes:
            self.oms.on_quote(q)


def make_order_management(config: ServiceConfig, clock: Clock) -> Any:  # replaced when wired
    build_oms(config, clock)
    raise OrderManagementUnavailable("order management is not wired into the service yet")
