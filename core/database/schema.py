"""The PostgreSQL schema for the order flow (orders, fills, positions, settlements, algos and the
orders each algo sent), both builds.

Timestamps are ``BIGINT`` nanoseconds since the UNIX epoch. Where a build's timestamps and
sequence numbers come from is the only difference, so the DDL takes them as options: the clocked
build passes every time and sequence number as a query parameter (no defaults, so a forgotten
one is an error); the baseline lets the server fill them in. Every table lives in a named
PostgreSQL schema so that tests, and the two builds, never share tables.
"""

from __future__ import annotations

import re

import asyncpg

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Column lists, in the field order of the matching *Row records (records.py), so a fetched
# asyncpg Record maps onto a row with ``OrderRow(*record)``.
ORDER_COLUMNS = (
    "order_id", "client_order_id", "instrument", "side", "order_type", "quantity", "price",
    "state", "filled_quantity", "ts_received_ns", "ts_updated_ns", "seq",
)
FILL_COLUMNS = ("fill_id", "order_id", "instrument", "side", "quantity", "price", "ts_recorded_ns", "seq")
POSITION_COLUMNS = ("account", "instrument", "quantity", "avg_price", "realized_pnl", "ts_updated_ns", "seq")
SETTLEMENT_COLUMNS = (
    "settlement_id", "account", "instrument", "quantity", "amount", "state", "ts_recorded_ns", "seq",
)
TABLES = ("orders", "fills", "positions", "settlements")


class InvalidSchemaName(ValueError):
    """The schema name is not a plain lower-case SQL identifier."""


def check_schema_name(name: object) -> str:
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise InvalidSchemaName(
            f"schema name must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters), got {name!r}"
        )
    return name


def cols(columns: tuple[str, ...]) -> str:
    return ", ".join(columns)


def ddl(schema: str, *, ts_default: str | None = None, seq_from_server: bool = False) -> list[str]:
    """CREATE ... IF NOT EXISTS statements for the schema.

    ``ts_default``: an SQL expression giving the current time in ns, used as the default of
    every timestamp column (baseline), or None for no default (clocked: the caller must pass it).
    ``seq_from_server``: take ``seq`` from the schema's sequence (baseline) rather than from the
    caller (clocked).
    """
    s = check_schema_name(schema)
    ts = f"DEFAULT {ts_default}" if ts_default else ""
    seq = f"DEFAULT nextval('{s}.write_seq')" if seq_from_server else ""
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE SEQUENCE IF NOT EXISTS {s}.write_seq",
        f"CREATE SEQUENCE IF NOT EXISTS {s}.generation",
        f"""CREATE TABLE IF NOT EXISTS {s}.orders (
            order_id        TEXT PRIMARY KEY,
            client_order_id TEXT NOT NULL UNIQUE,
            instrument      TEXT NOT NULL,
            side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            order_type      TEXT NOT NULL,
            quantity        NUMERIC NOT NULL CHECK (quantity > 0),
            price           NUMERIC CHECK (price > 0),
            state           TEXT NOT NULL,
            filled_quantity NUMERIC NOT NULL DEFAULT 0
                            CHECK (filled_quantity >= 0 AND filled_quantity <= quantity),
            ts_received_ns  BIGINT NOT NULL {ts},
            ts_updated_ns   BIGINT NOT NULL {ts},
            seq             BIGINT NOT NULL {seq}
        )""",
        f"CREATE INDEX IF NOT EXISTS orders_commit_order ON {s}.orders (ts_updated_ns, seq)",
        f"""CREATE TABLE IF NOT EXISTS {s}.fills (
            fill_id         TEXT PRIMARY KEY,
            order_id        TEXT NOT NULL REFERENCES {s}.orders (order_id),
            instrument      TEXT NOT NULL,
            side            TEXT NOT NULL CHECK (side IN ('BUY', 'SELL')),
            quantity        NUMERIC NOT NULL CHECK (quantity > 0),
            price           NUMERIC NOT NULL CHECK (price > 0),
            ts_recorded_ns  BIGINT NOT NULL {ts},
            seq             BIGINT NOT NULL {seq}
        )""",
        f"CREATE INDEX IF NOT EXISTS fills_by_order ON {s}.fills (order_id, seq)",
        f"CREATE INDEX IF NOT EXISTS fills_in_trade_order ON {s}.fills (ts_recorded_ns, seq)",
        f"""CREATE TABLE IF NOT EXISTS {s}.positions (
            account         TEXT NOT NULL,
            instrument      TEXT NOT NULL,
            quantity        NUMERIC NOT NULL,
            avg_price       NUMERIC NOT NULL CHECK (avg_price >= 0),
            realized_pnl    NUMERIC NOT NULL,
            ts_updated_ns   BIGINT NOT NULL {ts},
            seq             BIGINT NOT NULL {seq},
            PRIMARY KEY (account, instrument)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {s}.algos (
            algo_id         TEXT PRIMARY KEY,
            client_algo_id  TEXT UNIQUE,
            state           TEXT NOT NULL,
            doc             JSONB NOT NULL,
            version         BIGINT NOT NULL
        )""",
        f"""CREATE TABLE IF NOT EXISTS {s}.algo_orders (
            order_id        TEXT PRIMARY KEY REFERENCES {s}.orders (order_id),
            algo_id         TEXT NOT NULL REFERENCES {s}.algos (algo_id)
        )""",
        f"CREATE INDEX IF NOT EXISTS algo_orders_by_algo ON {s}.algo_orders (algo_id, order_id)",
        f"""CREATE TABLE IF NOT EXISTS {s}.settlements (
            settlement_id   TEXT PRIMARY KEY,
            account         TEXT NOT NULL,
            instrument      TEXT NOT NULL,
            quantity        NUMERIC NOT NULL,
            amount          NUMERIC NOT NULL,
            state           TEXT NOT NULL,
            ts_recorded_ns  BIGINT NOT NULL {ts},
            seq             BIGINT NOT NULL {seq}
        )""",
    ]


async def apply(conn: asyncpg.Connection, statements: list[str], schema: str) -> None:
    """Run the DDL in one transaction under an advisory lock, so concurrent starts do not race
    (two CREATE TABLE IF NOT EXISTS at once can otherwise fail on a catalog unique index)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "clockbench.schema." + schema)
        for statement in statements:
            await conn.execute(statement)


async def drop(conn: asyncpg.Connection, schema: str) -> None:
    """The one ``DROP SCHEMA`` of clockbench: the schema and everything in it, if it exists."""
    await conn.execute(f"DROP SCHEMA IF EXISTS {check_schema_name(schema)} CASCADE")


async def drop_at(dsn: str, schema: str, *, timeout_s: float = 10.0) -> None:
    """``drop`` through a connection of its own (cleaning up after a run or a test)."""
    conn = await asyncpg.connect(dsn, timeout=timeout_s)
    try:
        await drop(conn, schema)
    finally:
        await conn.close()


GENERATION_SHIFT = 32  # a generation's numbers are generation << 32 + 1, + 2, ...: 2^32 per start


async def take_generation(conn: asyncpg.Connection, schema: str) -> int:
    """A number no other start of a writer on this schema ever got (PostgreSQL's sequence), so
    numbers made from it (order ids, sequence numbers) are unique across workers and restarts with
    no round trip per number. Below 2^21, so generation << 32 stays an exact JSON number (< 2^53)."""
    g = int(await conn.fetchval(f"SELECT nextval('{check_schema_name(schema)}.generation')"))
    if g >= 1 << 21:
        raise RuntimeError(f"schema {schema!r} has used up its generations ({g}); drop it or use another")
    return g


def generation_base(generation: int) -> int:
    """The number before a generation's first: its numbers are base + 1, base + 2, ..."""
    return generation << GENERATION_SHIFT


async def max_seq(conn: asyncpg.Connection, schema: str) -> int:
    """The highest sequence number already stored, so a restarted writer carries on after it."""
    s = check_schema_name(schema)
    parts = " , ".join(f"(SELECT max(seq) FROM {s}.{t})" for t in TABLES)
    return int(await conn.fetchval(f"SELECT coalesce(greatest({parts}), 0)"))
