"""Helpers for the database conformance suite: each test gets its own PostgreSQL schema and its
own Redis key prefix (dropped and cleared afterwards), so tests, parallel runs and the two builds
never share state. Both builds run against the real servers (tests/conftest.py finds them)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from baselines.database.database_clock_coordinator import DatabaseCoordinator
from baselines.database.postgres_clock_adapter import PostgresAdapter
from baselines.database.redis_clock_manager import RedisManager
from targets.clock import Clock, LiveClock
from targets.database.database_clock_coordinator import DatabaseClockCoordinator
from targets.database.postgres_clock_adapter import PostgresClockAdapter
from targets.database.records import NewOrder
from targets.database.redis_clock_manager import RedisClockManager

BUILDS = ("clocked", "baseline")


def unique_name(kind: str) -> str:
    return f"cbt_{kind}_{uuid.uuid4().hex[:12]}"


def make_store(build: str, dsn: str, schema: str, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    if build == "clocked":
        return PostgresClockAdapter(clock or LiveClock(), dsn, schema=schema, **kw)  # type: ignore[arg-type]
    return PostgresAdapter(dsn, schema=schema, **kw)  # type: ignore[arg-type]


def make_cache(build: str, url: str, prefix: str, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    if build == "clocked":
        return RedisClockManager(clock or LiveClock(), url, prefix=prefix, **kw)  # type: ignore[arg-type]
    return RedisManager(url, prefix=prefix)


def make_coordinator(build: str, store, cache, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    if build == "clocked":
        return DatabaseClockCoordinator(clock or store.clock, store, cache, **kw)  # type: ignore[arg-type]
    return DatabaseCoordinator(store, cache, **kw)  # type: ignore[arg-type]


def order(i: int, **over: object) -> NewOrder:
    fields: dict[str, object] = dict(
        order_id=f"O-{i}",
        client_order_id=f"C-{i}",
        instrument="BTC-USD",
        side="BUY" if i % 2 else "SELL",
        order_type="LIMIT",
        quantity=Decimal("1.5") + i,
        price=Decimal("50000.25"),
    )
    fields.update(over)
    return NewOrder(**fields)  # type: ignore[arg-type]


