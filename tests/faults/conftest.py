"""Fixtures of the fault tests: a PostgreSQL and a Redis of their own on free ports (never the
machine's shared 5432/6379, which other work relies on), which the tests crash and restart, and a
stack of two workers behind nginx started on them.

On a laptop without the binaries these tests skip with the reason; under CI=true that is a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from harness.backends.private import (PrivatePostgres, PrivateRedis, PrivateServerError, postgres_unavailable,
                                      redis_unavailable)  # fmt: skip
from harness.stack import StackError, running
from harness.stack.nginx import find_nginx
from tests.conftest import missing


class PrivateServers:
    def __init__(self, pg: PrivatePostgres, redis: PrivateRedis) -> None:
        self.pg = pg
        self.redis = redis

    def ensure_up(self) -> None:
        """A test that failed mid-fault may have left a server down: bring it back for the next one."""
        if not self.pg.running:
            self.pg.start()
        if not self.redis.running:
            self.redis.start()


@pytest.fixture(scope="session")
def private_servers_session() -> Iterator[PrivateServers]:
    for what, why in (("private PostgreSQL", postgres_unavailable()), ("private Redis", redis_unavailable())):
        if why:
            missing(what, why)
    pg = redis = None
    try:
        pg = PrivatePostgres()
        pg.start()
        redis = PrivateRedis()
        redis.start()
    except PrivateServerError as exc:
        for s in (pg, redis):
            if s is not None:
                s.close()
        missing("private PostgreSQL/Redis", str(exc))
    try:
        yield PrivateServers(pg, redis)  # type: ignore[arg-type]
    finally:
        pg.close()  # type: ignore[union-attr]
        redis.close()  # type: ignore[union-attr]


@pytest.fixture
def private_servers(private_servers_session: PrivateServers) -> PrivateServers:
    private_servers_session.ensure_up()
    return private_servers_session


def nginx_or_missing() -> str:
    try:
        return find_nginx()
    except StackError as exc:
        missing("nginx", str(exc))
        raise


def stack_args(schema: str) -> list[str]:
    # quotes every 100 ms: resting orders fill while the fault is on, so "no unacknowledged order
    # traded" is tested against a venue that really trades
    return ["--db-schema", schema, "--redis-prefix", f"cb:{schema}:", "--quote-ms", "100", "--heartbeat-ms", "1000"]


def private_stack(servers: PrivateServers, build: str, *, workers: int = 2, nginx: bool = True,
                  clock: str = "live", extra: list[str] | None = None, **kw: Any):  # fmt: skip
    """``with private_stack(...) as s:`` a stack on the private servers, its schema in ``s.schema``."""
    schema = "cb_flt_" + uuid.uuid4().hex[:10]
    cm = running(build=build, workers=workers, nginx=nginx, clock=clock, postgres_url=servers.pg.url,
                 redis_url=servers.redis.url, service_args=[*stack_args(schema), *(extra or [])],
                 write_pointer=False, **kw)  # fmt: skip
    return schema, cm


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The measured figures (recovery times, clock steps), so a CI log carries them."""
    import json

    import importlib

    rows: list[dict[str, Any]] = []
    for name in ("test_outages", "test_wallclock", "test_schemathesis"):
        try:
            rows += list(importlib.import_module(f"{__package__}.{name}").FIGURES)
        except ImportError:
            pass
    if rows:
        terminalreporter.section("fault figures (issue 11)")
        for row in rows:
            terminalreporter.write_line(json.dumps(row, sort_keys=True))
