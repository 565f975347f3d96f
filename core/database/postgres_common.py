"""What both PostgreSQL adapters share: the pool, the schema, and the reads (no time source here)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from . import schema as sch
from .errors import StoreNotStarted
from .records import FillRow, OrderRow, PositionRow, SettlementRow

DEFAULT_SCHEMA = "clockbench"


async def _reset_on_release(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's default reset query (one more round trip
    per release: advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL). The adapters leave no session
    state behind (set_config is transaction-local; no LISTEN, cursors or session advisory locks),
    so only an open transaction, if any, needs rolling back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class PostgresStoreBase:
    """Owns an asyncpg pool on one PostgreSQL schema; subclasses add the writes and their timestamps."""

    build = "abstract"

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, pool_size: int = 4) -> None:
        if not isinstance(dsn, str) or not dsn.startswith(("postgres://", "postgresql://")):
            raise ValueError(f"dsn must be a postgresql:// URL, got {dsn!r}")
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be an int >= 1, got {pool_size!r}")
        self.dsn = dsn
        self.schema = sch.check_schema_name(schema)
        self.pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self.generation = 0  # this start's generation (schema.take_generation), set by start()
        s = self.schema
        self._sql_get_order = f"SELECT {sch.cols(sch.ORDER_COLUMNS)} FROM {s}.orders WHERE order_id = $1"
        self._sql_get_orders = (
            f"SELECT {sch.cols(sch.ORDER_COLUMNS)} FROM {s}.orders WHERE order_id = ANY($1::text[]) ORDER BY ts_updated_ns, seq"
        )
        self._sql_commit_order = f"SELECT {sch.cols(sch.ORDER_COLUMNS)} FROM {s}.orders ORDER BY ts_updated_ns, seq"
        self._sql_fills = f"SELECT {sch.cols(sch.FILL_COLUMNS)} FROM {s}.fills WHERE order_id = $1 ORDER BY ts_recorded_ns, seq"
        self._sql_position = (
            f"SELECT {sch.cols(sch.POSITION_COLUMNS)} FROM {s}.positions WHERE account = $1 AND instrument = $2"
        )
        self._sql_settlement = f"SELECT {sch.cols(sch.SETTLEMENT_COLUMNS)} FROM {s}.settlements WHERE settlement_id = $1"
        self._sql_order_ts = f"SELECT ts_updated_ns FROM {s}.orders WHERE order_id = $1"

    # --- lifecycle -------------------------------------------------------------------------
    def _ddl(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    async def start(self) -> None:
        """Open the pool and apply the schema (idempotent: safe on every start)."""
        if self._pool is not None:
            return
        # Plans made for each execution: a prepared statement's generic plan is made once, from the
        # table's size then. Made on an empty orders table, the insert-with-updates statement kept a
        # sequential scan (12,418 scans of up to 25,000 rows in 90 s of orders on a database without
        # autovacuum), so an order's cost grew with the table. Planning anew costs tens of µs.
        pool = await asyncpg.create_pool(
            self.dsn, min_size=1, max_size=self.pool_size, reset=_reset_on_release,
            server_settings={"plan_cache_mode": "force_custom_plan"},
        )
        try:
            async with pool.acquire() as conn:
                await sch.apply(conn, self._ddl(), self.schema)
                self.generation = await sch.take_generation(conn, self.schema)
                await self._after_schema(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def _after_schema(self, conn: asyncpg.Connection) -> None:
        """Hook: read whatever state the build needs once the schema exists."""

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def drop_schema(self) -> None:
        """Drop this adapter's schema and everything in it (tests and benchmarks clean up with this)."""
        async with self.pool.acquire() as conn:
            await sch.drop(conn, self.schema)

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreNotStarted(f"{type(self).__name__} on schema {self.schema!r} is not started: await start() first")
        return self._pool

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- reads -----------------------------------------------------------------------------
    async def get_order(self, order_id: str) -> OrderRow | None:
        r = await self.pool.fetchrow(self._sql_get_order, order_id)
        return None if r is None else OrderRow(*r)

    async def get_orders(self, order_ids: Sequence[str]) -> list[OrderRow]:
        """The stored orders among ``order_ids``, in commit order (ts_updated_ns, seq)."""
        rows = await self.pool.fetch(self._sql_get_orders, list(order_ids))
        return [OrderRow(*r) for r in rows]

    async def orders_in_commit_order(self) -> list[OrderRow]:
        return [OrderRow(*r) for r in await self.pool.fetch(self._sql_commit_order)]

    async def fills_for_order(self, order_id: str) -> list[FillRow]:
        return [FillRow(*r) for r in await self.pool.fetch(self._sql_fills, order_id)]

    async def get_position(self, account: str, instrument: str) -> PositionRow | None:
        r = await self.pool.fetchrow(self._sql_position, account, instrument)
        return None if r is None else PositionRow(*r)

    async def get_settlement(self, settlement_id: str) -> SettlementRow | None:
        r = await self.pool.fetchrow(self._sql_settlement, settlement_id)
        return None if r is None else SettlementRow(*r)

    async def server_time_ns(self) -> int:
        """PostgreSQL's now() (the start of this one-statement transaction), in ns (microsecond resolution)."""
        return int(await self.pool.fetchval("SELECT (extract(epoch FROM now()) * 1000000)::bigint * 1000"))
