"""PostgreSQL adapter, clocked: every timestamp and sequence number comes from the application.

Each write is stamped with ``clock.timestamp_ns()`` (or a timestamp the caller took from the
same clock) and the adapter's next sequence number, both passed as query parameters: there is
no ``now()`` in the SQL. Rows therefore carry the clock's time and a sequence number, the order
of transactions ((ts, seq)) is decided by the clock, and under a ``TestClock`` a scenario replays
to identical rows. Because the adapter knows every value it writes, batched inserts need no
RETURNING: large batches use COPY, small batches of fills one INSERT over unnest arrays.

Optional per-transaction clock time, ``tx_time``: SQL running in the write's transaction (a
trigger, an audit function) can then read the transaction's clock time with
``current_setting('clockbench.tx_time_ns')``. That is the valid form of the plan's
``SET session_timestamp = $1`` (SET takes no parameters, and no such setting exists):
``set_config('clockbench.tx_time_ns', $1, true)``, transaction-local. Two ways, both measured
in the benchmarks:
- ``tx_time="statement"``: an explicit transaction, ``BEGIN; SELECT set_config(...); <write>;
  COMMIT`` - three more round trips per write.
- ``tx_time="inline"``: the write itself selects its values ``FROM (SELECT set_config(...))``, so
  the setting is made inside the write's own one-statement transaction, before any row (and
  so any trigger) is processed - no extra round trip.
Batched writes (COPY) always use the explicit transaction when ``tx_time`` is set.

Sequence numbers continue after the highest one stored when the adapter starts. With
``shared=True`` (the service: several workers, restarts, one schema) each start numbers within
its own generation, taken once from PostgreSQL (``schema.take_generation``): generation << 32
+ 1, + 2, ..., so no two processes ever write the same sequence number and a restarted one
carries on above every number before it, still with no server value per write.

The plan's file: ``postgres_clock_adapter.py`` (``PostgresClockAdapter``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from targets.clock import Clock

from core.database import schema as sch
from core.database.errors import RecordNotFound, StaleWrite, translate
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
    timestamp,
)

_ZERO = Decimal(0)
TX_TIME_MODES = (None, "statement", "inline")
_SET_TX_TIME = "SELECT set_config('clockbench.tx_time_ns', $1, true)"


# Below this many rows a batch is one INSERT ... SELECT FROM unnest(arrays) statement, not COPY: COPY
# takes its own transaction (BEGIN, COPY, COMMIT: three round trips, ~2.5x the client CPU of the one
# statement for the service's usual fill batch of a few rows); above it COPY's cheaper rows win.
COPY_MIN_ROWS = 64


def _placeholders(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


class PostgresAdapter(PostgresStoreBase):
    build = "clocked"

    def __init__(
        self,
        clock: Clock,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_size: int = 4,
        tx_time: str | None = None,
        shared: bool = False,
    ) -> None:
        super().__init__(dsn, schema=schema, pool_size=pool_size)
        self.shared = shared
        if tx_time not in TX_TIME_MODES:
            raise ValueError(f"tx_time must be one of {TX_TIME_MODES}, got {tx_time!r}")
        self.clock = clock
        self.tx_time = tx_time
        self._seq = 0
        s = self.schema
        inline = tx_time == "inline"

        def insert(table: str, columns: tuple[str, ...], tail: str = "") -> str:
            n = len(columns)
            if inline:
                source = f"SELECT {_placeholders(n)} FROM (SELECT set_config('clockbench.tx_time_ns', ${n + 1}, true)) AS tx"
            else:
                source = f"VALUES ({_placeholders(n)})"
            return f"INSERT INTO {s}.{table} ({sch.cols(columns)}) {source}{tail}"

        self._sql_insert_order = insert("orders", sch.ORDER_COLUMNS)
        self._sql_update_order = (
            f"UPDATE {s}.orders SET state = $2, filled_quantity = coalesce($3, filled_quantity), "
            f"ts_updated_ns = $4, seq = $5 "
            + ("FROM (SELECT set_config('clockbench.tx_time_ns', $6, true)) AS tx " if inline else "")
            + f"WHERE order_id = $1 AND ts_updated_ns <= $4 RETURNING {sch.cols(sch.ORDER_COLUMNS)}"
        )
        self._sql_update_orders = (
            f"UPDATE {s}.orders AS o SET state = u.state, filled_quantity = coalesce(u.filled, o.filled_quantity), "
            f"ts_updated_ns = $4, seq = u.seq "
            f"FROM unnest($1::text[], $2::text[], $3::numeric[], $5::bigint[]) AS u(order_id, state, filled, seq)"
            + (", (SELECT set_config('clockbench.tx_time_ns', $6, true)) AS tx" if inline else "")
            + f" WHERE o.order_id = u.order_id AND o.ts_updated_ns <= $4 "
            f"RETURNING {', '.join('o.' + c for c in sch.ORDER_COLUMNS)}"
        )
        n = len(sch.ORDER_COLUMNS)
        self._sql_insert_order_and_update = (  # one statement: a new order, and earlier orders' new states
            f"WITH u AS (UPDATE {s}.orders AS o SET state = x.state, "
            f"filled_quantity = coalesce(x.filled, o.filled_quantity), ts_updated_ns = ${n - 1}, seq = x.seq "
            f"FROM unnest(${n + 1}::text[], ${n + 2}::text[], ${n + 3}::numeric[], ${n + 4}::bigint[]) "
            f"AS x(order_id, state, filled, seq) WHERE o.order_id = x.order_id AND o.ts_updated_ns <= ${n - 1} "
            f"RETURNING {', '.join('o.' + c for c in sch.ORDER_COLUMNS)}), "
            f"i AS (INSERT INTO {s}.orders ({sch.cols(sch.ORDER_COLUMNS)}) VALUES ({_placeholders(n)})) "
            f"SELECT * FROM u"
        )
        self._sql_insert_fill = insert("fills", sch.FILL_COLUMNS)
        self._sql_insert_fills = (  # a small batch: one statement (see COPY_MIN_ROWS)
            f"INSERT INTO {s}.fills ({sch.cols(sch.FILL_COLUMNS)}) SELECT f.* FROM unnest($1::text[], $2::text[], "
            f"$3::text[], $4::text[], $5::numeric[], $6::numeric[], $7::bigint[], $8::bigint[]) AS f"
            + (", (SELECT set_config('clockbench.tx_time_ns', $9, true)) AS tx" if inline else "")
        )
        self._sql_upsert_position = insert(
            "positions",
            sch.POSITION_COLUMNS,
            " ON CONFLICT (account, instrument) DO UPDATE SET quantity = EXCLUDED.quantity, "
            "avg_price = EXCLUDED.avg_price, realized_pnl = EXCLUDED.realized_pnl, "
            "ts_updated_ns = EXCLUDED.ts_updated_ns, seq = EXCLUDED.seq "
            "WHERE positions.ts_updated_ns <= EXCLUDED.ts_updated_ns RETURNING seq",
        )
        self._sql_insert_settlement = insert("settlements", sch.SETTLEMENT_COLUMNS)

    def _ddl(self) -> list[str]:
        return sch.ddl(self.schema)

    async def _after_schema(self, conn: asyncpg.Connection) -> None:
        self._seq = await sch.max_seq(conn, self.schema)
        if self.shared:  # several processes write this schema: this start numbers within its generation
            self._seq = max(self._seq, sch.generation_base(self.generation))

    # --- stamping --------------------------------------------------------------------------
    def _stamp(self, ts_ns: int | None) -> tuple[int, int]:
        """(time, sequence number) for one write: the clock's time unless the caller passes one."""
        ts = self.clock.timestamp_ns() if ts_ns is None else timestamp("ts_ns", ts_ns)
        self._seq += 1
        return ts, self._seq

    @property
    def last_seq(self) -> int:
        return self._seq

    async def _execute(self, what: str, ts: int, sql: str, *args: object) -> str:
        try:
            if self.tx_time is None:
                return await self.pool.execute(sql, *args)
            if self.tx_time == "inline":
                return await self.pool.execute(sql, *args, str(ts))
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_SET_TX_TIME, str(ts))
                return await conn.execute(sql, *args)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    async def _fetchrow(self, what: str, ts: int, sql: str, *args: object) -> asyncpg.Record | None:
        try:
            if self.tx_time is None:
                return await self.pool.fetchrow(sql, *args)
            if self.tx_time == "inline":
                return await self.pool.fetchrow(sql, *args, str(ts))
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_SET_TX_TIME, str(ts))
                return await conn.fetchrow(sql, *args)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    async def _fetch(self, what: str, ts: int, sql: str, *args: object) -> list[asyncpg.Record]:
        try:
            if self.tx_time is None:
                return await self.pool.fetch(sql, *args)
            if self.tx_time == "inline":
                return await self.pool.fetch(sql, *args, str(ts))
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(_SET_TX_TIME, str(ts))
                return await conn.fetch(sql, *args)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    async def _copy(self, what: str, ts: int, table: str, columns: tuple[str, ...], records: list[tuple]) -> None:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if self.tx_time is not None:
                    await conn.execute(_SET_TX_TIME, str(ts))
                await conn.copy_records_to_table(table, records=records, columns=columns, schema_name=self.schema)
        except asyncpg.PostgresError as exc:
            raise translate(exc, what) from exc

    # --- orders ----------------------------------------------------------------------------
    async def insert_order(self, order: NewOrder, *, ts_ns: int | None = None) -> OrderRow:
        """Store a new order stamped ``ts_ns`` (default: now on the clock); returns the committed row."""
        ts, seq = self._stamp(ts_ns)
        row = OrderRow(
            order.order_id, order.client_order_id, order.instrument, order.side, order.order_type,
            order.quantity, order.price, order.state, _ZERO, ts, ts, seq,
        )
        await self._execute(f"order {order.order_id!r}", ts, self._sql_insert_order, *_order_args(row))
        return row

    async def insert_order_and_update(
        self, order: NewOrder, updates: Sequence[tuple[str, str, Decimal | None]], *, ts_ns: int | None = None
    ) -> tuple[OrderRow, list[OrderRow]]:
        """Store a new order and, in the same statement (all or nothing), earlier orders' new states:
        the write-behind's updates ride on the next insert instead of costing a round trip of their own.
        Updates of rows absent or stamped later are skipped and not returned (as in ``update_orders``)."""
        if not updates or self.tx_time is not None:
            row = await self.insert_order(order, ts_ns=ts_ns)
            return row, (await self.update_orders(updates, ts_ns=row.ts_updated_ns) if updates else [])
        ids, states, filled = check_updates(updates)
        ts, seq = self._stamp(ts_ns)
        row = OrderRow(
            order.order_id, order.client_order_id, order.instrument, order.side, order.order_type,
            order.quantity, order.price, order.state, _ZERO, ts, ts, seq,
        )
        first = self._seq + 1
        self._seq += len(ids)
        recs = await self._fetch(f"order {order.order_id!r}", ts, self._sql_insert_order_and_update,
                                 *_order_args(row), ids, states, filled, list(range(first, first + len(ids))))  # fmt: skip
        return row, [OrderRow(*r) for r in recs]

    async def insert_orders(self, orders: Sequence[NewOrder], *, ts_ns: int | None = None) -> list[OrderRow]:
        """Store a batch in one COPY (all or nothing), every row stamped with the same time, in sequence."""
        if not orders:
            return []
        ts = self.clock.timestamp_ns() if ts_ns is None else timestamp("ts_ns", ts_ns)
        first = self._seq + 1
        self._seq += len(orders)
        rows = [
            OrderRow(o.order_id, o.client_order_id, o.instrument, o.side, o.order_type, o.quantity, o.price,
                     o.state, _ZERO, ts, ts, first + i)
            for i, o in enumerate(orders)
        ]
        await self._copy(f"batch of {len(rows)} orders", ts, "orders", sch.ORDER_COLUMNS, [_order_args(r) for r in rows])
        return rows

    async def update_order(
        self, order_id: str, state: str, filled_quantity: Decimal | None = None, *, ts_ns: int | None = None
    ) -> OrderRow:
        """Set an order's state (and filled quantity), stamped now; refused if the row was stamped later."""
        text("state", state, max_len=32)
        filled_quantity = decimal("filled_quantity", filled_quantity, allow_none=True)
        ts, seq = self._stamp(ts_ns)
        r = await self._fetchrow(
            f"update of order {order_id!r}", ts, self._sql_update_order, order_id, state, filled_quantity, ts, seq
        )
        if r is None:
            current = await self.pool.fetchval(self._sql_order_ts, order_id)
            if current is None:
                raise RecordNotFound(f"order {order_id!r} is not stored")
            raise StaleWrite(f"order {order_id!r} was last updated at {current} ns, after this update's {ts} ns")
        return OrderRow(*r)

    async def update_orders(
        self, updates: Sequence[tuple[str, str, Decimal | None]], *, ts_ns: int | None = None
    ) -> list[OrderRow]:
        """Set many orders' (state, filled quantity) in one statement, all stamped with one time and
        consecutive sequence numbers. Rows absent, or stamped later than this write, are left as they
        are and not returned: the caller compares what came back with what it sent."""
        if not updates:
            return []
        ids, states, filled = check_updates(updates)
        ts = self.clock.timestamp_ns() if ts_ns is None else timestamp("ts_ns", ts_ns)
        first = self._seq + 1
        self._seq += len(ids)
        rows = await self._fetch(f"batch update of {len(ids)} orders", ts, self._sql_update_orders,
                                 ids, states, filled, ts, list(range(first, first + len(ids))))  # fmt: skip
        return [OrderRow(*r) for r in rows]

    # --- fills, positions, settlements ------------------------------------------------------
    async def insert_fill(self, fill: NewFill, *, ts_ns: int | None = None) -> FillRow:
        ts, seq = self._stamp(ts_ns)
        row = FillRow(fill.fill_id, fill.order_id, fill.instrument, fill.side, fill.quantity, fill.price, ts, seq)
        await self._execute(f"fill {fill.fill_id!r}", ts, self._sql_insert_fill, *_fill_args(row))
        return row

    async def insert_fills(self, fills: Sequence[NewFill], *, ts_ns: int | None = None) -> list[FillRow]:
        if not fills:
            return []
        ts = self.clock.timestamp_ns() if ts_ns is None else timestamp("ts_ns", ts_ns)
        first = self._seq + 1
        self._seq += len(fills)
        rows = [
            FillRow(f.fill_id, f.order_id, f.instrument, f.side, f.quantity, f.price, ts, first + i)
            for i, f in enumerate(fills)
        ]
        what = f"batch of {len(rows)} fills"
        if len(rows) >= COPY_MIN_ROWS:
            await self._copy(what, ts, "fills", sch.FILL_COLUMNS, [_fill_args(r) for r in rows])
        else:
            await self._execute(what, ts, self._sql_insert_fills, *map(list, zip(*map(_fill_args, rows))))
        return rows

    async def upsert_position(self, update: PositionUpdate, *, ts_ns: int | None = None) -> PositionRow:
        ts, seq = self._stamp(ts_ns)
        row = PositionRow(update.account, update.instrument, update.quantity, update.avg_price,
                          update.realized_pnl, ts, seq)
        stored = await self._fetchrow(
            f"position {update.account!r}/{update.instrument!r}", ts, self._sql_upsert_position,
            row.account, row.instrument, row.quantity, row.avg_price, row.realized_pnl, ts, seq,
        )
        if stored is None:
            raise StaleWrite(f"position {update.account!r}/{update.instrument!r} was updated after {ts} ns")
        return row

    async def insert_settlement(self, settlement: NewSettlement, *, ts_ns: int | None = None) -> SettlementRow:
        ts, seq = self._stamp(ts_ns)
        row = SettlementRow(settlement.settlement_id, settlement.account, settlement.instrument,
                            settlement.quantity, settlement.amount, settlement.state, ts, seq)
        await self._execute(
            f"settlement {settlement.settlement_id!r}", ts, self._sql_insert_settlement,
            row.settlement_id, row.account, row.instrument, row.quantity, row.amount, row.state, ts, seq,
        )
        return row


def _order_args(r: OrderRow) -> tuple:
    return (r.order_id, r.client_order_id, r.instrument, r.side, r.order_type, r.quantity, r.price, r.state,
            r.filled_quantity, r.ts_received_ns, r.ts_updated_ns, r.seq)


def _fill_args(r: FillRow) -> tuple:
    return (r.fill_id, r.order_id, r.instrument, r.side, r.quantity, r.price, r.ts_recorded_ns, r.seq)
