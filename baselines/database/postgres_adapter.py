"""PostgreSQL adapter, baseline: the usual "before" code, where the database and Python tell the time.

Timestamps come from ``clock_timestamp()`` defaults in the SQL (converted to BIGINT ns) and the
sequence number from a PostgreSQL sequence; the time an order was received is ``time.time_ns()``
in Python. Every write returns the stored row with ``RETURNING`` because only the server knows
what it stamped. Batched inserts are one ``INSERT ... SELECT FROM unnest(...) RETURNING``.

The plan's file: ``postgres_clock_adapter.py`` (``PostgresClockAdapter``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from core.database import schema as sch
from core.database.errors import RecordNotFound, translate
from core.database.postgres_common import DEFAULT_SCHEMA, PostgresStoreBase
from core.database.records import (
    FillRow,
    NewFill,
    NewOrder,
    NewSettlement,
    OrderRow,
    PositionRow,
    PositionUpdate,
    SettlementRow,
    check_updates,
    decimal,
    text,
)

# The server's current time in ns (clock_timestamp() moves within a transaction; microsecond resolution).
NOW_NS_SQL = "((extract(epoch FROM clock_timestamp()) * 1000000)::bigint * 1000)"


class PostgresAdapter(PostgresStoreBase):
    build = "baseline"

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, pool_size: int = 4, shared: bool = False) -> None:
        super().__init__(dsn, schema=schema, pool_size=pool_size)
        self.shared = shared  # nothing to do: the server's sequence (nextval) is unique across writers
        s = self.schema
        oc = sch.cols(sch.ORDER_COLUMNS)
        self._sql_insert_order = (
            f"INSERT INTO {s}.orders (order_id, client_order_id, instrument, side, order_type, quantity, price, "
            f"state, ts_received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {oc}"
        )
        self._sql_insert_orders = (
            f"INSERT INTO {s}.orders (order_id, client_order_id, instrument, side, order_type, quantity, price, "
            f"state, ts_received_ns) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            f"$5::text[], $6::numeric[], $7::numeric[], $8::text[], $9::bigint[]) RETURNING {oc}"
        )
        self._sql_update_order = (
            f"UPDATE {s}.orders SET state = $2, filled_quantity = coalesce($3, filled_quantity), "
            f"ts_updated_ns = DEFAULT, seq = DEFAULT WHERE order_id = $1 RETURNING {oc}"
        )
        self._sql_update_orders = (
            f"UPDATE {s}.orders AS o SET state = u.state, filled_quantity = coalesce(u.filled, o.filled_quantity), "
            f"ts_updated_ns = DEFAULT, seq = DEFAULT "
            f"FROM unnest($1::text[], $2::text[], $3::numeric[]) AS u(order_id, state, filled) "
            f"WHERE o.order_id = u.order_id RETURNING {', '.join('o.' + c for c in sch.ORDER_COLUMNS)}"
        )
        self._sql_insert_order_and_update = (  # one statement: a new order, and earlier orders' new states
            f"WITH u AS (UPDATE {s}.orders AS o SET state = x.state, "
            f"filled_quantity = coalesce(x.filled, o.filled_quantity), ts_updated_ns = DEFAULT, seq = DEFAULT "
            f"FROM unnest($10::text[], $11::text[], $12::numeric[]) AS x(order_id, state, filled) "
            f"WHERE o.order_id = x.order_id RETURNING {', '.join('o.' + c for c in sch.ORDER_COLUMNS)}), "
            f"i AS (INSERT INTO {s}.orders (order_id, client_order_id, instrument, side, order_type, quantity, "
            f"price, state, ts_received_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {oc}) "
            f"SELECT 0 AS new, * FROM i UNION ALL SELECT 1 AS new, * FROM u"
        )
        fc = sch.cols(sch.FILL_COLUMNS)
        self._sql_insert_fill = (
            f"INSERT INTO {s}.fills (fill_id, order_id, instrument, side, quantity, price) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {fc}"
        )
        self._sql_insert_fills = (
            f"INSERT INTO {s}.fills (fill_id, order_id, instrument, side, quantity, price) "
            f"SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::numeric[]) "
            f"RETURNING {fc}"
        )
        self._sql_upsert_position = (
            f"INSERT INTO {s}.positions (account, instrument, quantity, avg_price, realized_pnl) "
            f"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account, instrument) DO UPDATE SET "
            f"quantity = EXCLUDED.quantity, avg_price = EXCLUDED.avg_price, realized_pnl = EXCLUDED.realized_pnl, "
            f"ts_updated_ns = EXCLUDED.ts_updated_ns, seq = EXCLUDED.seq RETURNING {sch.cols(sch.POSITION_COLUMNS)}"
        )
        self._sql_insert_settlement = (
            f"INSERT INTO {s}.settlements (settlement_id, account, instrument, quantity, amount, state) "
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {sch.cols(sch.SETTLEMENT_COLUMNS)}"
        )

    def _ddl(self) -> list[str]:
        return sch.ddl(self.schema, ts_default=NOW_NS_SQL, seq_from_server=True)

    async def _fetchrow(self, what: str, sql: str, *args: object) -> asyncpg.Record | None:
        try:
            return await self.pool.fetchrow(sql, *args)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    async def _fetch(self, what: str, sql: str, *args: object) -> list[asyncpg.Record]:
        try:
            return await self.pool.fetch(sql, *args)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    # --- orders ----------------------------------------------------------------------------
    async def insert_order(self, order: NewOrder) -> OrderRow:
        r = await self._fetchrow(
            f"order {order.order_id!r}", self._sql_insert_order,
            order.order_id, order.client_order_id, order.instrument, order.side, order.order_type,
            order.quantity, order.price, order.state, time.time_ns(),
        )
        return OrderRow(*r)  # type: ignore[misc]

    async def insert_order_and_update(
        self, order: NewOrder, updates: Sequence[tuple[str, str, Decimal | None]]
    ) -> tuple[OrderRow, list[OrderRow]]:
        """Store a new order and, in the same statement, earlier orders' new states (the write-behind's
        updates ride on the next insert); updates of absent rows are not returned."""
        if not updates:
            return await self.insert_order(order), []
        ids, states, filled = check_updates(updates)
        recs = await self._fetch(
            f"order {order.order_id!r}", self._sql_insert_order_and_update,
            order.order_id, order.client_order_id, order.instrument, order.side, order.order_type,
            order.quantity, order.price, order.state, time.time_ns(), ids, states, filled,
        )
        rows = [(r[0], OrderRow(*tuple(r)[1:])) for r in recs]
        return next(row for new, row in rows if new == 0), [row for new, row in rows if new == 1]

    async def insert_orders(self, orders: Sequence[NewOrder]) -> list[OrderRow]:
        if not orders:
            return []
        received = time.time_ns()
        rows = await self._fetch(
            f"batch of {len(orders)} orders", self._sql_insert_orders,
            [o.order_id for o in orders], [o.client_order_id for o in orders], [o.instrument for o in orders],
            [o.side for o in orders], [o.order_type for o in orders], [o.quantity for o in orders],
            [o.price for o in orders], [o.state for o in orders], [received] * len(orders),
        )
        by_id = {r["order_id"]: OrderRow(*r) for r in rows}
        return [by_id[o.order_id] for o in orders]

    async def update_order(self, order_id: str, state: str, filled_quantity: Decimal | None = None) -> OrderRow:
        text("state", state, max_len=32)
        filled_quantity = decimal("filled_quantity", filled_quantity, allow_none=True)
        r = await self._fetchrow(f"update of order {order_id!r}", self._sql_update_order, order_id, state, filled_quantity)
        if r is None:
            raise RecordNotFound(f"order {order_id!r} is not stored")
        return OrderRow(*r)

    async def update_orders(self, updates: Sequence[tuple[str, str, Decimal | None]]) -> list[OrderRow]:
        """Set many orders' (state, filled quantity) in one statement, the server stamping each row;
        rows absent are not returned."""
        if not updates:
            return []
        ids, states, filled = check_updates(updates)
        rows = await self._fetch(f"batch update of {len(ids)} orders", self._sql_update_orders, ids, states, filled)
        return [OrderRow(*r) for r in rows]

    # --- fills, positions, settlements ------------------------------------------------------
    async def insert_fill(self, fill: NewFill) -> FillRow:
        r = await self._fetchrow(
            f"fill {fill.fill_id!r}", self._sql_insert_fill,
            fill.fill_id, fill.order_id, fill.instrument, fill.side, fill.quantity, fill.price,
        )
        return FillRow(*r)  # type: ignore[misc]

    async def insert_fills(self, fills: Sequence[NewFill]) -> list[FillRow]:
        if not fills:
            return []
        rows = await self._fetch(
            f"batch of {len(fills)} fills", self._sql_insert_fills,
            [f.fill_id for f in fills], [f.order_id for f in fills], [f.instrument for f in fills],
            [f.side for f in fills], [f.quantity for f in fills], [f.price for f in fills],
        )
        by_id = {r["fill_id"]: FillRow(*r) for r in rows}
        return [by_id[f.fill_id] for f in fills]

    async def upsert_position(self, update: PositionUpdate) -> PositionRow:
        r = await self._fetchrow(
            f"position {update.account!r}/{update.instrument!r}", self._sql_upsert_position,
            update.account, update.instrument, update.quantity, update.avg_price, update.realized_pnl,
        )
        return PositionRow(*r)  # type: ignore[misc]

    async def insert_settlement(self, settlement: NewSettlement) -> SettlementRow:
        r = await self._fetchrow(
            f"settlement {settlement.settlement_id!r}", self._sql_insert_settlement,
            settlement.settlement_id, settlement.account, settlement.instrument, settlement.quantity,
            settlement.amount, settlement.state,
        )
        return SettlementRow(*r)  # type: ignore[misc]
