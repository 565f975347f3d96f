"""Version probes against real servers, and their one-line failures."""

from __future__ import annotations

import asyncio
import re

import pytest

from harness.backends import ProbeError, postgres_version, postgres_version_async, redis_version, redis_version_async
from harness.ports import free_port


def test_postgres_version_from_the_server(postgres_url: str) -> None:
    assert re.fullmatch(r"\d+(\.\d+)+", postgres_version(postgres_url))


def test_redis_version_from_the_server(redis_url: str) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", redis_version(redis_url))


@pytest.mark.asyncio
async def test_probes_work_inside_a_running_loop(postgres_url: str, redis_url: str) -> None:
    assert await postgres_version_async(postgres_url) == await asyncio.to_thread(postgres_version, postgres_url)
    assert redis_version(redis_url) == await redis_version_async(redis_url)  # sync form from inside a loop


def test_refused_port_is_a_one_line_probe_error() -> None:
    port = free_port()
    with pytest.raises(ProbeError) as pg:
        postgres_version(f"postgresql://postgres@127.0.0.1:{port}/test", timeout_s=2)
    with pytest.raises(ProbeError) as rd:
        redis_version(f"redis://127.0.0.1:{port}/0", timeout_s=2)
    for err in (pg.value, rd.value):
        assert str(err).startswith("cannot connect:") and "\n" not in str(err)


def test_wrong_database_is_named(postgres_url: str) -> None:
    bad = postgres_url.rsplit("/", 1)[0] + "/no_such_database_clockbench"
    with pytest.raises(ProbeError, match="no_such_database_clockbench"):
        postgres_version(bad)


def test_a_redis_probe_of_a_postgres_port_fails_cleanly(postgres_url: str) -> None:
    from harness.backends.discovery import host_port

    host, port = host_port(postgres_url)
    with pytest.raises(ProbeError):
        redis_version(f"redis://{host}:{port}/0", timeout_s=2)
