"""PostgreSQL and Redis for the service, through the database components of the build map.

An order acknowledged with 201 has been written through the coordinator (row committed in
PostgreSQL, entry in Redis) before the answer leaves; a failed write is an error to the client.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

from core.database.records import NewOrder
from harness import builds
from targets.clock import Clock

from .config import ServiceConfig


class Persistence:
    def __init__(self, config: ServiceConfig, clock: Clock) -> None:
        if not config.postgres_url or not config.redis_url:
            raise ValueError("the service needs --postgres-url and --redis-url")
        self.config = config
        self.clock = clock
        b = config.build_map
        self.store: Any = builds.make_for(b, "postgres", clock, dsn=config.postgres_url, schema=config.db_schema,
                                           shared=True)  # several workers and restarts write one schema
        self.cache: Any = builds.make_for(b, "redis", clock, url=config.redis_url, prefix=config.redis_prefix)
        self.coordinator: Any = builds.make_for(b, "coordinator", clock, store=self.store, cache=self.cache)

    async def start(self) -> None:
        await self.store.start()
        try:
            await self.cache.start()
        except BaseException:
            await self.store.close()
            raise

    async def close(self) -> None:
        try:
            await self.cache.close()
        finally:
            await self.store.close()

    @property
    def generation(self) -> int:
        """This worker start's generation (unique across workers and restarts on the schema)."""
        return self.store.generation

    async def ping(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, coro in (("postgres", self.store.pool.fetchval("SELECT 1")), ("redis", self.cache.client.ping())):
            ok, ns, err = await timed(coro)
            out[name] = {"ok": ok, "latency_ns": ns, **({"error": err} if err else {})}
        return out

    async def write_order(self, order: Any, updates: list[tuple[str, str, Decimal | None]] | None = None) -> Any:
        """Write-through of a new order (domain Order) to PostgreSQL and Redis; ``updates`` (earlier
        orders' new states, from the write-behind) ride in the same statement and pipeline."""
        row = NewOrder(
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            instrument=order.instrument,
            side=order.side.value,
            order_type=order.order_type.value,
            quantity=Decimal(order.quantity),
            price=order.limit_price,
            state=order.state.value,
        )
        if updates:
            return (await self.coordinator.write_order_and_update(row, updates))[0]
        return await self.coordinator.write_order(row)

    async def update_order(self, order: Any) -> Any:
        return await self.coordinator.update_order(order.order_id, order.state.value, Decimal(order.filled_qty))

    async def write_states(self, updates: list[tuple[str, str, Decimal | None]]) -> list[Any]:
        """Many orders' states in one statement and one Redis pipeline (the write-behind's batches)."""
        return await self.coordinator.update_orders(updates)

    async def write_state(self, order_id: str, state: str, filled: int) -> Any:
        return await self.coordinator.update_order(order_id, state, Decimal(filled))

    async def list_orders(self, *, state: str | None, instrument: str | None, side: str | None,
                          after: str | None, limit: int) -> list[Any]:
        """Orders of every worker from PostgreSQL (the one shared record), by order id after ``after``."""
        where, args = [], []
        for col, val in (("state", state), ("instrument", instrument), ("side", side)):
            if val is not None:
                args.append(val)
                where.append(f"{col} = ${len(args)}")
        if after is not None:
            args.append(after)
            where.append(f"order_id > ${len(args)}")
        args.append(limit)
        sql = (f"SELECT order_id, client_order_id, instrument, side, order_type, quantity, price, state, "
               f"filled_quantity, ts_received_ns, ts_updated_ns FROM {self.store.schema}.orders"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY order_id LIMIT ${len(args)}")  # fmt: skip
        return list(await self.store.pool.fetch(sql, *args))

    async def read_order(self, order_id: str) -> Any:
        return await self.coordinator.read_order(order_id)


async def timed(coro: Any) -> tuple[bool, int, str]:
    """Run a check; (ok, latency in ns, error). Harness measurement, so it reads perf_counter."""
    t0 = time.perf_counter_ns()
    try:
        await asyncio.wait_for(coro, 2.0)
        return True, time.perf_counter_ns() - t0, ""
    except Exception as exc:  # noqa: BLE001 - reported, not raised: /health says what failed
        return False, time.perf_counter_ns() - t0, f"{type(exc).__name__}: {exc}"
