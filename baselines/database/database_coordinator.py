"""Database coordinator, baseline: write-through where PostgreSQL stamps the row and Redis keeps the TTL.

The row's timestamps come from the database (``RETURNING``), the cache entry's expiry is a
relative TTL counted by Redis from whenever the SET arrives, and skew is measured against
``time.time_ns()``. Commit first, then cache, as in the clocked build.

The plan's file: ``database_clock_coordinator.py`` (``DatabaseClockCoordinator``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

import time
from decimal import Decimal

from core.database.coordinator_common import DEFAULT_TTL_NS, CoordinatorBase, order_key
from core.database.records import NewOrder, OrderRow

from .postgres_adapter import PostgresAdapter
from .redis_manager import RedisManager


class DatabaseCoordinator(CoordinatorBase):
    build = "baseline"
    app_clock = "system"

    def __init__(self, store: PostgresAdapter, cache: RedisManager, *, ttl_ns: int | None = DEFAULT_TTL_NS) -> None:
        super().__init__(store, cache, ttl_ns=ttl_ns)

    def _app_now(self) -> int:
        return time.time_ns()

    async def write_order(self, order: NewOrder) -> OrderRow:
        row = await self.store.insert_order(order)
        return await self._write_through(row, self.cache.set_record(order_key(row.order_id), row, self.ttl_ns))

    async def update_order(self, order_id: str, state: str, filled_quantity: Decimal | None = None) -> OrderRow:
        row = await self.store.update_order(order_id, state, filled_quantity)
        return await self._write_through(row, self.cache.set_record(order_key(row.order_id), row, self.ttl_ns))

    async def update_orders(self, updates: list[tuple[str, str, Decimal | None]]) -> list[OrderRow]:
        """Many state updates: one statement (the server stamps each row), then one cache write."""
        if not updates:
            return []
        rows = await self.store.update_orders(updates)
        return await self._write_through_many(rows, self._cache_rows(rows)) if rows else rows

    async def write_order_and_update(
        self, order: NewOrder, updates: list[tuple[str, str, Decimal | None]], *, cache_new: bool = True
    ) -> tuple[OrderRow, list[OrderRow]]:
        """A new order and earlier orders' new states in one statement, then one cache write for the rows.
        ``cache_new=False``: the new row is not cached now (a service that routes it next caches its
        state after routing, when that state is written: one cache write per order, not two)."""
        row, updated = await self.store.insert_order_and_update(order, updates)
        rows = [row, *updated] if cache_new else updated
        if rows:
            await self._write_through_many(rows, self._cache_rows(rows))
        return row, updated

    async def _cache_rows(self, rows: list[OrderRow]) -> None:
        """One SET for one row (a pipeline costs more Python than it saves for a single command)."""
        if len(rows) == 1:
            await self.cache.set_record(order_key(rows[0].order_id), rows[0], self.ttl_ns)
        elif rows:
            await self.cache.set_records({order_key(r.order_id): r for r in rows}, self.ttl_ns)
