"""Ask a server who it is: PostgreSQL through asyncpg, Redis through redis-py's asyncio client.

A probe either returns the server's version or raises ``ProbeError`` with one line saying why
(refused, timed out, wrong password, no such database...), never a bare library exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

PROBE_TIMEOUT_S = 5.0


class ProbeError(Exception):
    """A server did not answer as expected; the message is one line fit for a user."""


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` - what went wrong, without a traceback."""
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    name = type(exc).__name__
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not detail:
        return "timed out"
    return f"{name}: {detail}" if detail else name


async def postgres_version_async(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """``SHOW server_version`` on a fresh connection, e.g. '16.2'."""
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(url, timeout=timeout_s), timeout_s + 1)
    except Exception as exc:  # noqa: BLE001 - any failure to connect becomes a one-line reason
        raise ProbeError(f"cannot connect: {one_line(exc)}") from exc
    try:
        version = await asyncio.wait_for(conn.fetchval("SHOW server_version"), timeout_s)
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(f"connected but SHOW server_version failed: {one_line(exc)}") from exc
    finally:
        try:
            await asyncio.wait_for(conn.close(), timeout_s)
        except Exception:  # noqa: BLE001 - closing a connection we are done with
            conn.terminate()
    return str(version).split()[0]


async def redis_version_async(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """``INFO server`` -> redis_version, e.g. '7.0.15'."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    try:
        client = aioredis.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
        )
    except Exception as exc:  # noqa: BLE001 - e.g. a malformed URL
        raise ProbeError(f"cannot use this URL: {one_line(exc)}") from exc
    try:
        info = await asyncio.wait_for(client.info("server"), timeout_s + 1)
    except Exception as exc:  # noqa: BLE001
        raise ProbeError(f"cannot connect: {one_line(exc)}") from exc
    finally:
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001
            pass
    version = info.get("redis_version")
    if not version:
        raise ProbeError("INFO server gave no redis_version: is this a Redis server?")
    return str(version)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def postgres_version(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    return run_sync(postgres_version_async(url, timeout_s))


def redis_version(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    return run_sync(redis_version_async(url, timeout_s))


VERSION_PROBES = {"postgres": postgres_version, "redis": redis_version}
