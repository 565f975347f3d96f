"""What both Redis managers share: the client, key naming, deletes, tag invalidation and record
serialization (no time source here).

Keys live under a prefix (one per service, or one per test so parallel runs never collide):
values at ``<prefix>k:<key>``, tag sets at ``<prefix>t:<tag>``. A tag set holds the full Redis
keys of the values tagged with it; invalidating a tag takes the set and deletes it in one
MULTI/EXEC, then deletes its members, so a value tagged after the invalidation starts lands in
a fresh set and survives. Tag sets carry no expiry of their own: an expired member left in a
set costs a few bytes until the tag is next invalidated (or ``clear()`` runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from core.units import NS_PER_S, NS_PER_US

from . import codec
from .errors import StoreNotStarted
from .records import Row

_BAD_PREFIX = re.compile(r"[*?\[\]\\\s]")


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str) or not prefix or _BAD_PREFIX.search(prefix):
        raise ValueError(f"prefix must be a non-empty string without spaces or glob characters (*?[]\\), got {prefix!r}")
    return prefix


def check_key(name: str, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"{name} must be a non-empty string, got {key!r}")
    return key


def check_ttl(ttl_ns: object) -> int | None:
    if ttl_ns is None:
        return None
    if not isinstance(ttl_ns, int) or isinstance(ttl_ns, bool):
        raise TypeError(f"ttl_ns must be an int of nanoseconds or None, got {type(ttl_ns).__name__}")
    if ttl_ns <= 0:
        raise ValueError(f"ttl_ns must be > 0, got {ttl_ns}")
    return ttl_ns


def check_value(value: object) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"a cached value must be bytes, got {type(value).__name__} (use set_record for records)")
    return bytes(value)


class RedisManagerBase:
    """The client and the time-independent operations; subclasses decide how values expire."""

    build = "abstract"

    def __init__(self, url: str, *, prefix: str = "clockbench:") -> None:
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must be a redis:// URL, got {url!r}")
        self.url = url
        self.prefix = check_prefix(prefix)
        self._vp = self.prefix + "k:"
        self._tp = self.prefix + "t:"
        self._client: aioredis.Redis | None = None

    async def start(self) -> None:
        """Connect and check the server answers (fail fast rather than on the first write)."""
        if self._client is not None:
            return
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.ping()
        except BaseException:
            await client.aclose()
            raise
        self._client = client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def __aenter__(self):  # type: ignore[no-untyped-def]
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def client(self) -> aioredis.Redis:
        if self._client is None:
            raise StoreNotStarted(f"{type(self).__name__} with prefix {self.prefix!r} is not started: await start() first")
        return self._client

    def redis_key(self, key: str) -> str:
        """The Redis key a cache key is stored under."""
        return self._vp + check_key("key", key)

    def tag_key(self, tag: str) -> str:
        return self._tp + check_key("tag", tag)

    # --- time-independent operations --------------------------------------------------------
    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self.redis_key(key)))

    async def delete_many(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self.client.delete(*(self.redis_key(k) for k in keys)))

    async def invalidate_tag(self, tag: str) -> int:
        """Delete every value tagged ``tag``; returns how many were still stored."""
        tk = self.tag_key(tag)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.smembers(tk)
            pipe.delete(tk)
            members, _ = await pipe.execute()
        if not members:
            return 0
        return int(await self.client.delete(*members))

    async def clear(self) -> int:
        """Delete every key under this manager's prefix (tests and benchmarks clean up with this)."""
        removed = 0
        batch: list[bytes] = []
        async for k in self.client.scan_iter(match=self.prefix + "*", count=1000):
            batch.append(k)
            if len(batch) >= 500:
                removed += int(await self.client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await self.client.unlink(*batch))
        return removed

    async def server_time_ns(self) -> int:
        """Redis's TIME, in ns (microsecond resolution)."""
        sec, usec = await self.client.time()
        return int(sec) * NS_PER_S + int(usec) * NS_PER_US

    def _tag_commands(self, pipe: aioredis.client.Pipeline, rkeys: Iterable[str], tags: Iterable[str]) -> None:
        members = list(rkeys)
        for tag in tags:
            pipe.sadd(self.tag_key(tag), *members)

    # --- records ----------------------------------------------------------------------------
    async def get(self, key: str) -> bytes | None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def get_record(self, key: str) -> Row | None:
        data = await self.get(key)
        return None if data is None else codec.decode(data)

    async def get_records(self, keys: Sequence[str]) -> list[Row | None]:
        return [None if d is None else codec.decode(d) for d in await self.get_many(keys)]  # type: ignore[attr-defined]
