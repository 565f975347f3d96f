"""Helpers for the database conformance suite: each test gets its own PostgreSQL schema and its
own Redis key prefix (dropped and cleared afterwards), so tests, parallel runs and the two builds
never share state. Both builds run against the real servers (tests/conftest.py finds them)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from core.database.records import NewOrder
from harness import builds
from harness.builds import BUILDS
from targets.clock import Clock, LiveClock

__all__ = ["BUILDS", "make_cache", "make_coordinator", "make_store", "order", "unique_name"]


def unique_name(kind: str) -> str:
    return f"cbt_{kind}_{uuid.uuid4().hex[:12]}"


def _clock(build: str, clock: Clock | None) -> Clock | None:
    """The clocked build gets ``clock`` (a fresh LiveClock when none is given), the baseline none."""
    return (clock or LiveClock()) if builds.needs_clock(build) else None


def make_store(build: str, dsn: str, schema: str, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return builds.make("postgres", build, clock=_clock(build, clock), dsn=dsn, schema=schema, **kw)


def make_cache(build: str, url: str, prefix: str, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return builds.make("redis", build, clock=_clock(build, clock), url=url, prefix=prefix, **kw)


def make_coordinator(build: str, store, cache, clock: Clock | None = None, **kw: object):  # type: ignore[no-untyped-def]
    clock = (clock or store.clock) if builds.needs_clock(build) else None
    return builds.make("coordinator", build, clock=clock, store=store, cache=cache, **kw)


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


