"""Fixtures for the database conformance suite: each test gets its own PostgreSQL schema and its
own Redis key prefix (dropped and cleared afterwards), so tests, parallel runs and the two builds
never share state. Both builds run against the real servers (tests/conftest.py finds them)."""

from __future__ import annotations

import pytest
import pytest_asyncio

from dbkit import BUILDS, make_cache, make_store, unique_name
from targets.clock import Clock


@pytest.fixture(params=BUILDS)
def build(request: pytest.FixtureRequest) -> str:
    return request.param


class Scratch:
    """Names for one test, and cleanup of everything opened under them."""

    def __init__(self, postgres_url: str, redis_url: str) -> None:
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self._stores: list = []
        self._caches: list = []

    def schema(self) -> str:
        return unique_name("s")

    def prefix(self) -> str:
        return unique_name("p") + ":"

    async def store(self, build: str, clock: Clock | None = None, schema: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
        s = make_store(build, self.postgres_url, schema or self.schema(), clock, **kw)
        await s.start()
        self._stores.append(s)
        return s

    async def cache(self, build: str, clock: Clock | None = None, prefix: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
        c = make_cache(build, self.redis_url, prefix or self.prefix(), clock, **kw)
        await c.start()
        self._caches.append(c)
        return c

    async def cleanup(self) -> None:
        for s in self._stores:
            if s._pool is None:
                await s.start()
            try:
                await s.drop_schema()
            finally:
                await s.close()
        for c in self._caches:
            if c._client is None:
                await c.start()
            try:
                await c.clear()
            finally:
                await c.close()


@pytest_asyncio.fixture
async def scratch(postgres_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    sc = Scratch(postgres_url, redis_url)
    try:
        yield sc
    finally:
        await sc.cleanup()


@pytest_asyncio.fixture
async def pg_scratch(postgres_url: str):  # type: ignore[no-untyped-def]
    """Only PostgreSQL (tests that do not need Redis)."""
    sc = Scratch(postgres_url, "")
    try:
        yield sc
    finally:
        await sc.cleanup()


@pytest_asyncio.fixture
async def redis_scratch(redis_url: str):  # type: ignore[no-untyped-def]
    """Only Redis (tests that do not need PostgreSQL)."""
    sc = Scratch("", redis_url)
    try:
        yield sc
    finally:
        await sc.cleanup()
