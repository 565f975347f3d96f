"""Stacks for the end-to-end tests: real nginx, uvicorn workers, PostgreSQL and Redis, each stack on
its own PostgreSQL schema and Redis prefix so runs never see each other's rows."""

from __future__ import annotations

import uuid

import pytest

from harness.builds import BUILDS
from harness.stack import StackError, running
from harness.stack.nginx import find_nginx
from tests.conftest import missing


def nginx_or_skip() -> str:
    try:
        return find_nginx()
    except StackError as exc:
        missing("nginx", str(exc))
        raise


def isolation_args() -> tuple[str, list[str]]:
    schema = "cb_stack_" + uuid.uuid4().hex[:10]
    return schema, ["--db-schema", schema, "--redis-prefix", f"cb:{schema}:"]


@pytest.fixture(scope="module", params=BUILDS)
def live_stack(request, postgres_url, redis_url):
    nginx_or_skip()
    schema, args = isolation_args()
    with running(build=request.param, workers=2, nginx=True, postgres_url=postgres_url, redis_url=redis_url,
                 service_args=[*args, "--heartbeat-ms", "200", "--quote-ms", "100"], write_pointer=False) as s:
        s.schema = schema  # type: ignore[attr-defined]
        s.build = request.param  # type: ignore[attr-defined]
        yield s
    _drop(postgres_url, schema)


def _drop(postgres_url: str, schema: str) -> None:
    import asyncio

    from core.database.schema import drop_at

    asyncio.run(drop_at(postgres_url, schema))
