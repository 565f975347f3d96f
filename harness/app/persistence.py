"""PostgreSQL and Redis for the service, through the database components of the build map.

An order acknowledged with 201 has its row committed in PostgreSQL before it is routed, and so
before the answer leaves; a failed write is an error to the client. Its Redis entry is written with
its state after routing, by the write-behind that writes that state (``write_order_to_route``).
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import asyncpg

from core.database.errors import CacheWriteError, DuplicateRecord, translate
from core.database.records import NewFill, NewOrder
from core.order_management.domain import Side
from core.order_management.fill_view import StoredFill
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
        row = _new_order(order)
        if updates:
            return (await self.coordinator.write_order_and_update(row, updates))[0]
        return await self.coordinator.write_order(row)

    async def write_order_to_route(self, order: Any, updates: list[tuple[str, str, Decimal | None]]) -> Any:
        """A new order about to be routed: its row committed in PostgreSQL (with ``updates`` riding in
        the same statement, their rows cached). The new row itself is not cached now: its state changes
        as it is routed, and the write-behind caches that state when it writes it, so each order costs
        one cache write, as a route-then-write order does. Until then a cache-aside read finds no entry
        and reads PostgreSQL, as it would for an evicted one."""
        return (await self.coordinator.write_order_and_update(_new_order(order), updates, cache_new=False))[0]

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

    # --- algos and the orders they sent -------------------------------------------------------
    async def write_algo(self, head: dict[str, Any], doc_json: bytes | str, version: int) -> None:
        """The algo as the API shows it (``doc_json``: its JSON, built by the caller in slices that yield
        to the loop; ``head``: its fields without the slices); a write never replaces a later version
        (writes may race)."""
        s = self.store.schema
        text = doc_json.decode() if isinstance(doc_json, bytes) else doc_json
        try:
            await self.store.pool.execute(
                f"INSERT INTO {s}.algos (algo_id, client_algo_id, state, doc, version) VALUES ($1, $2, $3, $4::jsonb, $5) "
                f"ON CONFLICT (algo_id) DO UPDATE SET state = EXCLUDED.state, doc = EXCLUDED.doc, version = EXCLUDED.version "
                f"WHERE {s}.algos.version < EXCLUDED.version",
                head["algo_id"], head["client_algo_id"], head["state"], text, version)  # fmt: skip
        except asyncpg.PostgresError as exc:
            raise translate(exc, f"algo {head['algo_id']!r}") from exc

    async def write_child(self, order: Any, algo_id: str) -> None:
        """An algo's child order as an order (row and cache), then its link to the algo. Safe to repeat:
        a row already stored (an earlier try that committed) is kept."""
        try:
            await self.write_order(order)
        except (CacheWriteError, DuplicateRecord):
            pass
        await self.store.pool.execute(
            f"INSERT INTO {self.store.schema}.algo_orders (order_id, algo_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            order.order_id, algo_id)  # fmt: skip

    async def read_algo(self, algo_id: str) -> dict[str, Any] | None:
        """An algo from PostgreSQL (any worker's, before or after a restart) with its child orders."""
        s = self.store.schema
        raw = await self.store.pool.fetchval(f"SELECT doc FROM {s}.algos WHERE algo_id = $1", algo_id)
        if raw is None:
            return None
        doc = json.loads(raw)
        doc["child_orders"] = [{"order_id": r["order_id"], "state": r["state"], "quantity": int(r["quantity"]),
                                "filled_qty": int(r["filled_quantity"])} for r in await self.store.pool.fetch(
            f"SELECT o.order_id, o.state, o.quantity, o.filled_quantity FROM {s}.algo_orders a "
            f"JOIN {s}.orders o USING (order_id) WHERE a.algo_id = $1 ORDER BY o.seq", algo_id)]  # fmt: skip
        return doc

    # --- fills ----------------------------------------------------------------------------------
    async def write_fills(self, fills: list[Any]) -> None:
        """Fills (domain Fill) in one batch, stamped when written (within the write-behind's linger of
        the trade). A batch that partly committed before (a retry) is written fill by fill, skipping
        those stored."""
        rows = [NewFill(f.fill_id, f.order_id, f.instrument, f.side.value, Decimal(f.quantity), f.price) for f in fills]
        try:
            await self.store.insert_fills(rows)
        except DuplicateRecord:
            for row in rows:
                try:
                    await self.store.insert_fill(row)
                except DuplicateRecord:
                    pass

    async def read_fills(self, order_id: str | None = None) -> list[StoredFill]:
        """One order's fills, or every fill, in trade order (every worker's: the shared record)."""
        s = self.store.schema
        where, args = ("WHERE order_id = $1", [order_id]) if order_id is not None else ("", [])
        recs = await self.store.pool.fetch(f"SELECT {_FILL_COLUMNS} FROM {s}.fills {where} "
                                           f"ORDER BY ts_recorded_ns, seq", *args)  # fmt: skip
        return [_stored_fill(r) for r in recs]

    async def read_fills_after(self, key: tuple[int, int] | None) -> tuple[list[StoredFill], int]:
        """The fills after ``key`` (ts_ns, seq) in trade order, and how many are at or before it, from
        one snapshot: a count other than the reader's own says a fill was written behind its key."""
        if key is None:
            return await self.read_fills(), 0
        s = self.store.schema
        async with self.store.pool.acquire() as con, con.transaction(isolation="repeatable_read", readonly=True):
            recs = await con.fetch(f"SELECT {_FILL_COLUMNS} FROM {s}.fills WHERE (ts_recorded_ns, seq) > ($1, $2) "
                                   f"ORDER BY ts_recorded_ns, seq", *key)  # fmt: skip
            behind = await con.fetchval(f"SELECT count(*) FROM {s}.fills WHERE (ts_recorded_ns, seq) <= ($1, $2)", *key)
        return [_stored_fill(r) for r in recs], int(behind)

    async def read_order(self, order_id: str) -> Any:
        return await self.coordinator.read_order(order_id)


_FILL_COLUMNS = "fill_id, order_id, instrument, side, quantity, price, ts_recorded_ns, seq"


def _stored_fill(r: Any) -> StoredFill:
    return StoredFill(r["fill_id"], r["order_id"], r["instrument"], Side(r["side"]), int(r["quantity"]),
                      r["price"], r["ts_recorded_ns"], r["seq"])  # fmt: skip


def _new_order(order: Any) -> NewOrder:
    return NewOrder(
        order_id=order.order_id,
        client_order_id=order.client_order_id,
        instrument=order.instrument,
        side=order.side.value,
        order_type=order.order_type.value,
        quantity=Decimal(order.quantity),
        price=order.limit_price,
        state=order.state.value,
    )


async def timed(coro: Any) -> tuple[bool, int, str]:
    """Run a check; (ok, latency in ns, error). Harness measurement, so it reads perf_counter."""
    t0 = time.perf_counter_ns()
    try:
        await asyncio.wait_for(coro, 2.0)
        return True, time.perf_counter_ns() - t0, ""
    except Exception as exc:  # noqa: BLE001 - reported, not raised: /health says what failed
        return False, time.perf_counter_ns() - t0, f"{type(exc).__name__}: {exc}"
