"""The order flow behind the HTTP routes: OMS/EMS/PMS/settlement/order timing per the build map,
each accepted order written through to PostgreSQL and Redis before its 201.

Thin glue. Requests are parsed and validated by the order-management domain; rejected input never
reaches the OMS nor the database. The parts come from the switchboard (``harness.builds.order_stack``,
wired once by ``core.order_management.stack``), so a build map that mixes clocked and baseline parts
is just a different constructor per part.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import Any

from core.api_gateway.protocols import commit_within_budget, within_budget
from core.order_management import domain as d
from core.order_management.algos import AlgoKind, AlgoRequest
from core.order_management.stage_timing import TRANSITIONS
from harness import builds
from targets.clock import Clock

from .config import ServiceConfig


class OrderManagementUnavailable(RuntimeError):
    """The order-management components could not be built (answered 503 with the reason)."""


def position_view(p: Any) -> dict[str, Any]:
    return {
        "instrument": p.instrument,
        "quantity": p.quantity,
        "avg_price": str(p.avg_price),
        "realized_pnl": str(p.realized_pnl),
        "commissions": str(p.commissions),
        "net_realized_pnl": str(p.net_realized_pnl),
        "mark_price": None if p.mark_price is None else str(p.mark_price),
        "settled_quantity": p.settled_quantity,
        "fills": p.fills,
        "last_update_ns": p.last_update_ns,
    }


def row_view(row: Any) -> dict[str, Any]:
    """An order known only from PostgreSQL/Redis (accepted by another worker)."""
    return {
        "order_id": row.order_id, "client_order_id": row.client_order_id, "instrument": row.instrument,
        "side": row.side, "order_type": row.order_type, "quantity": int(row.quantity),
        "limit_price": None if row.price is None else str(row.price), "state": row.state,
        "filled_qty": int(row.filled_quantity), "receive_time_ns": row.ts_received_ns,
        "last_update_ns": row.ts_updated_ns, "sequence": None, "source": "database",
    }  # fmt: skip


def _enum(field: str, cls: Any, raw: object) -> Any:
    try:
        return cls(str(raw).upper())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise d.OrderValidationError(field, f"must be one of {allowed}, got {raw!r}") from None


def _decimal(field: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise d.OrderValidationError(field, f"is not a decimal number: {raw!r}") from None
    if not value.is_finite():
        raise d.OrderValidationError(field, f"must be finite, got {raw!r}")
    return value


def algo_request(body: dict[str, Any]) -> AlgoRequest:
    return AlgoRequest(
        instrument=body["instrument"],
        side=_enum("side", d.Side, body["side"]),
        quantity=body["quantity"],
        kind=_enum("kind", AlgoKind, body["kind"]),
        duration_ns=body["duration_ns"],
        slices=body.get("slices") or 0,
        profile=tuple(_decimal("profile", w) for w in body.get("profile") or ()),
        participation_rate=None if body.get("participation_rate") is None else _decimal("participation_rate", body["participation_rate"]),
        interval_ns=body.get("interval_ns") or 0,
        client_algo_id=body.get("client_algo_id"),
    )  # fmt: skip


class OrderService:
    def __init__(self, config: ServiceConfig, clock: Clock, store: Any, metrics: Any) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.metrics = metrics
        # ids unique across the workers (one database); nginx routes by it
        self.instruments = d.default_instruments()
        self.parts = builds.order_stack(config.build_map, clock, instruments=self.instruments,
                                        id_prefix=f"W{config.worker_id}-")  # fmt: skip
        self.oms = self.parts.oms
        self._persisted: dict[str, tuple[str, int]] = {}  # order id -> (state, filled) last written
        self._pending: set[asyncio.Task[Any]] = set()
        self._seen = {t: 0 for t in TRANSITIONS}
        self.persist_errors: list[str] = []

    async def start(self) -> None:
        await self.parts.start()

    async def close(self) -> None:
        await self.flush()
        await self.parts.stop()

    # --- orders ----------------------------------------------------------------------------
    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        req = d.parse_order_request(body)

        async def accept_and_write() -> Any:
            order = self.oms.submit(req)  # raises the domain's validation / duplicate errors
            # Committed (row + cache) before the client hears 201; a failure is an error, not a silent loss.
            await self.store.write_order(order)
            self._persisted[order.order_id] = (order.state.value, order.filled_qty)
            return order

        # The gateway's commit: started only with the route's reserve of budget left (else 504 before the
        # OMS sees the order), and never cut once started, so no order is written but unacknowledged.
        return (await commit_within_budget(accept_and_write)).as_dict()

    def get_local(self, order_id: str) -> Any:
        return self.oms.get(order_id)

    async def get(self, order_id: str) -> dict[str, Any]:
        try:
            return self.oms.get(order_id).as_dict()
        except d.UnknownOrderError:
            row = await within_budget(self.store.read_order(order_id))
            if row is None:
                raise
            return row_view(row)

    async def cancel(self, order_id: str) -> dict[str, Any]:
        async def cancel_and_write() -> Any:
            order = self.oms.cancel(order_id)
            await self._persist(order)
            return order

        return (await commit_within_budget(cancel_and_write)).as_dict()

    async def _persist(self, order: Any) -> None:
        key = (order.state.value, order.filled_qty)
        if self._persisted.get(order.order_id) == key:
            return
        self._persisted[order.order_id] = key
        await self.store.update_order(order)

    def _persist_later(self) -> None:
        """After quotes, expiries or slices changed orders: write the changes in the background."""
        changed = [o for o in self.oms.orders() if self._persisted.get(o.order_id, (None,))[0] is not None
                   and self._persisted[o.order_id] != (o.state.value, o.filled_qty)]  # fmt: skip
        for o in changed:
            task = asyncio.get_running_loop().create_task(self._persist_logged(o))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _persist_logged(self, order: Any) -> None:
        try:
            await self._persist(order)
        except Exception as exc:  # noqa: BLE001 - kept and shown in /health, never silent
            self.persist_errors.append(f"{order.order_id}: {type(exc).__name__}: {exc}")

    async def flush(self) -> None:
        """Wait for background writes (after /clock/advance, so a scenario's answers are complete)."""
        self._persist_later()
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def on_quotes(self, quotes: list[Any], ts_ns: int) -> None:
        for q in quotes:
            self.oms.on_quote(q)
        self._persist_later()

    def state_counts(self) -> dict[str, int]:
        return dict(Counter(o.state.value for o in self.oms.orders()))

    def observe_stages(self) -> None:
        for t in TRANSITIONS:
            lat = self.parts.timing.latencies(t)
            for v in lat[self._seen[t]:]:
                self.metrics.observe_stage(t, v)
            self._seen[t] = len(lat)

    # --- positions and algos ---------------------------------------------------------------
    def positions(self) -> dict[str, Any]:
        pms = self.parts.pms
        return {
            "positions": [position_view(p) for p in pms.positions()],
            "cash": str(pms.cash),
            "settled_cash": str(pms.settled_cash),
            "pending_settlements": self.parts.settlement.pending(),
            "timestamp": self.clock.timestamp_ns(),
        }

    def position(self, instrument: str) -> dict[str, Any]:
        if instrument not in self.instruments:
            raise d.OrderValidationError("instrument", f"unknown instrument {instrument!r}")
        return position_view(self.parts.pms.position(instrument))

    async def start_algo(self, body: dict[str, Any]) -> dict[str, Any]:
        request = algo_request(body)  # bad input is refused before anything starts

        async def start_and_flush() -> Any:
            algo = self.oms.start_algo(request)
            await self.flush()
            return algo

        return (await commit_within_budget(start_and_flush)).as_dict()  # never cut once started

    def get_algo(self, algo_id: str) -> dict[str, Any]:
        return self.oms.get_algo(algo_id).as_dict()
