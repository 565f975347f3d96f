"""Redis cache, baseline: relative TTLs kept by Redis (SETEX for whole seconds, PSETEX otherwise).

The usual "before" code: Redis's own clock decides expiry, at millisecond granularity (a TTL
below one millisecond is rounded up to one), and the application cannot move or replay it.

The plan's file: ``redis_clock_manager.py`` (``RedisClockManager``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from core.database import codec
from core.database.records import Row
from core.database.redis_common import RedisManagerBase, check_ttl, check_value
from core.units import NS_PER_MS as _NS_PER_MS
from core.units import NS_PER_S as _NS_PER_S



class RedisManager(RedisManagerBase):
    build = "baseline"

    def _queue_set(self, target, rkey: str, value: bytes, ttl_ns: int | None) -> object:  # type: ignore[no-untyped-def]
        value = check_value(value)
        if ttl_ns is None:
            return target.set(rkey, value)
        if ttl_ns % _NS_PER_S == 0:
            return target.setex(rkey, ttl_ns // _NS_PER_S, value)
        return target.psetex(rkey, -(-ttl_ns // _NS_PER_MS), value)

    async def set(self, key: str, value: bytes, ttl_ns: int | None = None, tags: Iterable[str] = ()) -> None:
        rkey = self.redis_key(key)
        ttl = check_ttl(ttl_ns)
        tags = tuple(tags)
        if not tags:
            await self._queue_set(self.client, rkey, value, ttl)
            return
        async with self.client.pipeline(transaction=False) as pipe:
            self._queue_set(pipe, rkey, value, ttl)
            self._tag_commands(pipe, (rkey,), tags)
            await pipe.execute()

    async def add(self, key: str, value: bytes, ttl_ns: int | None = None) -> bool:
        """Store ``value`` only if the key is absent (SET NX with PX); returns whether it was stored."""
        ttl = check_ttl(ttl_ns)
        px = None if ttl is None else -(-ttl // _NS_PER_MS)
        return bool(await self.client.set(self.redis_key(key), check_value(value), px=px, nx=True))

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self.redis_key(key))

    async def set_many(self, items: Mapping[str, bytes], ttl_ns: int | None = None, tags: Iterable[str] = ()) -> None:
        if not items:
            return
        ttl = check_ttl(ttl_ns)
        rkeys = [self.redis_key(k) for k in items]
        async with self.client.pipeline(transaction=False) as pipe:
            for rkey, value in zip(rkeys, items.values()):
                self._queue_set(pipe, rkey, value, ttl)
            self._tag_commands(pipe, rkeys, tags)
            await pipe.execute()

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return await self.client.mget([self.redis_key(k) for k in keys])

    async def set_record(self, key: str, record: Row, ttl_ns: int | None = None, tags: Iterable[str] = ()) -> None:
        await self.set(key, codec.encode(record), ttl_ns, tags)

    async def add_record(self, key: str, record: Row, ttl_ns: int | None = None) -> bool:
        return await self.add(key, codec.encode(record), ttl_ns)

    async def set_records(self, records: Mapping[str, Row], ttl_ns: int | None = None, tags: Iterable[str] = ()) -> None:
        await self.set_many({k: codec.encode(r) for k, r in records.items()}, ttl_ns, tags)
