"""Database coordinator, clocked: one clock timestamp for the row and its cache entry.

``write_order`` takes one ``clock.timestamp_ns()`` and uses it for the row (``ts_received_ns``,
``ts_updated_ns``) and for the cache entry's expiry (that time + TTL). The row is committed
first; only then is it cached, so an acknowledged order is always in PostgreSQL. If the cache
write fails, the entry is deleted (best effort) and ``CacheWriteError`` carries the committed row.

The plan's file: ``database_clock_coordinator.py`` (``DatabaseClockCoordinator``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from decimal import Decimal

from targets.clock import Clock

from core.database.coordinator_common import DEFAULT_TTL_NS, CacheStats, ConsistencyReport, CoordinatorBase, order_key
from .postgres_adapter import PostgresAdapter
from core.database.records import NewOrder, OrderRow
from .redis_manager import RedisManager

__all__ = ["CacheStats", "ConsistencyReport", "DatabaseCoordinator", "order_key"]


class DatabaseCoordinator(CoordinatorBase):
    build = "clocked"

    def __init__(
        self,
        clock: Clock,
        store: PostgresAdapter,
        cache: RedisManager,
        *,
        ttl_ns: int | None = DEFAULT_TTL_NS,
    ) -> None:
        super().__init__(store, cache, ttl_ns=ttl_ns)
        self.clock = clock
        self.app_clock = clock.kind

    def _app_now(self) -> int:
        return self.clock.timestamp_ns()

    async def write_order(self, order: NewOrder) -> OrderRow:
        ts = self.clock.timestamp_ns()
        row = await self.store.insert_order(order, ts_ns=ts)
        return await self._write_through(
            row, self.cache.set_record(order_key(row.order_id), row, self.ttl_ns, now_ns=ts)
        )

    async def update_order(self, order_id: str, state: str, filled_quantity: Decimal | None = None) -> OrderRow:
        ts = self.clock.timestamp_ns()
        row = await self.store.update_order(order_id, state, filled_quantity, ts_ns=ts)
        return await self._write_through(
            row, self.cache.set_record(order_key(row.order_id), row, self.ttl_ns, now_ns=ts)
        )

    async def update_orders(self, updates: list[tuple[str, str, Decimal | None]]) -> list[OrderRow]:
        """Many state updates: one statement stamped with one clock time, then one cache write."""
        if not updates:
            return []
        ts = self.clock.timestamp_ns()
        rows = await self.store.update_orders(updates, ts_ns=ts)
        return await self._write_through_many(rows, self._cache_rows(rows, ts)) if rows else rows

    async def write_order_and_update(
        self, order: NewOrder, updates: list[tuple[str, str, Decimal | None]], *, cache_new: bool = True
    ) -> tuple[OrderRow, list[OrderRow]]:
        """A new order and earlier orders' new states in one statement, then one cache write for the rows.
        ``cache_new=False``: the new row is not cached now (a service that routes it next caches its
        state after routing, when that state is written: one cache write per order, not two)."""
        ts = self.clock.timestamp_ns()
        row, updated = await self.store.insert_order_and_update(order, updates, ts_ns=ts)
        rows = [row, *updated] if cache_new else updated
        if rows:
            await self._write_through_many(rows, self._cache_rows(rows, ts))
        return row, updated

    async def _cache_rows(self, rows: list[OrderRow], ts: int) -> None:
        """One SET for one row (a pipeline costs more Python than it saves for a single command)."""
        if len(rows) == 1:
            await self.cache.set_record(order_key(rows[0].order_id), rows[0], self.ttl_ns, now_ns=ts)
        elif rows:
            await self.cache.set_records({order_key(r.order_id): r for r in rows}, self.ttl_ns, now_ns=ts)
