"""Redis cache, clocked: whether an entry has expired is decided by the application's clock.

Each value is stored with the clock time it expires at (``<expires_at_ns>|<bytes>``). A read
after that time is a miss even if Redis still holds the key, so expiry is exact to the
nanosecond and, under a ``TestClock``, reproducible; TTLs well below a second work the same way.
Redis reclaims the memory through an absolute server-side expiry, ``SET ... PXAT <ms>``, rounded
up to the next millisecond so the server never drops a value the clock still considers live
(given clocks in step; if Redis's clock runs ahead, the worst case is an early miss, never a
stale hit). A read holds no lock: it is one GET and a comparison.

Server expiry (``reclaim``):
- ``"pxat"`` (default with a LiveClock): every value with a TTL gets ``PXAT``.
- ``"if_future"`` (default with a TestClock): a TestClock's time has nothing to do with Redis's,
  and a ``PXAT`` in Redis's past would delete the value at once, before the clock says it
  expires. So a small server-side script sets ``PXAT`` only when it lies in the future of
  Redis's ``TIME``, and otherwise stores the key without server expiry: the clock-decided miss
  still hides it, and ``delete``/``clear()`` reclaim it (tests use a per-test prefix and clear it).

The plan's file: ``redis_clock_manager.py`` (``RedisClockManager``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as aioredis
import redis.exceptions

from targets.clock import Clock

from core.database import codec
from core.database.records import Row, timestamp
from core.database.redis_common import RedisManagerBase, check_ttl, check_value
from core.units import NS_PER_MS as _NS_PER_MS

_SEP = b"|"
_SET_IF_FUTURE = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nx = ARGV[3] == '1'
if tonumber(ARGV[2]) > now_ms then
  if nx then return redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2], 'NX') end
  return redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
end
if nx then return redis.call('SET', KEYS[1], ARGV[1], 'NX') end
return redis.call('SET', KEYS[1], ARGV[1])
"""
RECLAIM_MODES = ("pxat", "if_future")


def envelope(value: bytes, expires_at_ns: int) -> bytes:
    """The stored form: expiry time (0: never) and the value."""
    return b"%d|%b" % (expires_at_ns, value)


def open_envelope(raw: bytes) -> tuple[int, bytes]:
    i = raw.index(_SEP)
    return int(raw[:i]), raw[i + 1 :]


class RedisManager(RedisManagerBase):
    build = "clocked"

    def __init__(self, clock: Clock, url: str, *, prefix: str = "clockbench:", reclaim: str | None = None) -> None:
        super().__init__(url, prefix=prefix)
        self.clock = clock
        if reclaim is None:
            reclaim = "pxat" if clock.kind == "live" else "if_future"
        if reclaim not in RECLAIM_MODES:
            raise ValueError(f"reclaim must be one of {RECLAIM_MODES}, got {reclaim!r}")
        self.reclaim = reclaim
        self._script = None
        self._script_sha = ""

    async def start(self) -> None:
        await super().start()
        self._script = self.client.register_script(_SET_IF_FUTURE)
        self._script_sha = await self.client.script_load(_SET_IF_FUTURE)

    async def _run_pipeline(self, queue) -> list:  # type: ignore[no-untyped-def]
        """Queue commands with ``queue(pipe)`` and run them; if the server lost the script (SCRIPT
        FLUSH, a restart), load it again and run once more. Any other error propagates."""
        for attempt in (1, 2):
            async with self.client.pipeline(transaction=False) as pipe:
                queue(pipe)
                try:
                    return await pipe.execute()
                except redis.exceptions.NoScriptError:
                    if attempt == 2:
                        raise
                    self._script_sha = await self.client.script_load(_SET_IF_FUTURE)
        raise AssertionError("unreachable")

    def expires_at_ns(self, ttl_ns: int | None, now_ns: int | None = None) -> int:
        """When a value set now with ``ttl_ns`` expires on the clock (0: never)."""
        ttl = check_ttl(ttl_ns)
        if ttl is None:
            return 0
        now = self.clock.timestamp_ns() if now_ns is None else timestamp("now_ns", now_ns)
        return now + ttl

    def _queue_set(self, target, rkey: str, value: bytes, expires_at_ns: int, nx: bool = False):  # type: ignore[no-untyped-def]
        """Issue (or queue, on a pipeline) the SET for one value."""
        # SET is issued through execute_command: redis-py's set() wrapper binds its signature on
        # every call (an "experimental args" check), several microseconds of Python per value.
        data = envelope(check_value(value), expires_at_ns)
        if expires_at_ns == 0:
            return target.execute_command("SET", rkey, data, "NX") if nx else target.execute_command("SET", rkey, data)
        at_ms = -(-expires_at_ns // _NS_PER_MS)  # round up: the server never reclaims early
        if self.reclaim == "pxat":
            if nx:
                return target.execute_command("SET", rkey, data, "PXAT", at_ms, "NX")
            return target.execute_command("SET", rkey, data, "PXAT", at_ms)
        args = (data, at_ms, "1" if nx else "0")
        if isinstance(target, aioredis.client.Pipeline):
            return target.evalsha(self._script_sha, 1, rkey, *args)
        assert self._script is not None
        return self._script(keys=[rkey], args=args, client=target)

    # --- single values ----------------------------------------------------------------------
    async def set(
        self, key: str, value: bytes, ttl_ns: int | None = None, tags: Iterable[str] = (), *, now_ns: int | None = None
    ) -> None:
        """Store ``value``; it expires ``ttl_ns`` after ``now_ns`` (default: now on the clock)."""
        rkey = self.redis_key(key)
        exp = self.expires_at_ns(ttl_ns, now_ns)
        tags = tuple(tags)
        if not tags:
            await self._queue_set(self.client, rkey, value, exp)
            return
        def queue(pipe) -> None:  # type: ignore[no-untyped-def]
            self._queue_set(pipe, rkey, value, exp)
            self._tag_commands(pipe, (rkey,), tags)

        await self._run_pipeline(queue)

    async def add(self, key: str, value: bytes, ttl_ns: int | None = None, *, now_ns: int | None = None) -> bool:
        """Store ``value`` only if the key is absent (a cache-aside fill must not overwrite a newer
        write-through); returns whether it was stored. A key the clock has expired but Redis still
        holds counts as present until Redis reclaims it: the fill is skipped, the read stays correct."""
        rkey = self.redis_key(key)
        exp = self.expires_at_ns(ttl_ns, now_ns)
        return bool(await self._queue_set(self.client, rkey, value, exp, nx=True))

    def _unexpired(self, raw: bytes | None) -> tuple[int, bytes] | None:
        """(expiry, value) of a stored envelope, or None when absent or expired by the clock's time."""
        if raw is None:
            return None
        exp, value = open_envelope(raw)
        if exp and self.clock.timestamp_ns() >= exp:
            return None
        return exp, value

    async def get(self, key: str) -> bytes | None:
        hit = self._unexpired(await self.client.get(self.redis_key(key)))
        return None if hit is None else hit[1]

    async def get_with_expiry(self, key: str) -> tuple[bytes, int] | None:
        """The value and the clock time it expires at (0: never), or None on a miss."""
        hit = self._unexpired(await self.client.get(self.redis_key(key)))
        return None if hit is None else (hit[1], hit[0])

    # --- batches ----------------------------------------------------------------------------
    async def set_many(
        self,
        items: Mapping[str, bytes],
        ttl_ns: int | None = None,
        tags: Iterable[str] = (),
        *,
        now_ns: int | None = None,
    ) -> None:
        """Store several values in one pipeline, all expiring at the same clock time."""
        if not items:
            return
        exp = self.expires_at_ns(ttl_ns, now_ns)
        rkeys = [self.redis_key(k) for k in items]
        tags = tuple(tags)

        def queue(pipe) -> None:  # type: ignore[no-untyped-def]
            for rkey, value in zip(rkeys, items.values()):
                self._queue_set(pipe, rkey, value, exp)
            self._tag_commands(pipe, rkeys, tags)

        await self._run_pipeline(queue)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        raws = await self.client.mget([self.redis_key(k) for k in keys])
        now = self.clock.timestamp_ns()
        out: list[bytes | None] = []
        for raw in raws:
            if raw is None:
                out.append(None)
                continue
            exp, value = open_envelope(raw)
            out.append(None if exp and now >= exp else value)
        return out

    # --- records ----------------------------------------------------------------------------
    async def set_record(
        self, key: str, record: Row, ttl_ns: int | None = None, tags: Iterable[str] = (), *, now_ns: int | None = None
    ) -> None:
        await self.set(key, codec.encode(record), ttl_ns, tags, now_ns=now_ns)

    async def add_record(self, key: str, record: Row, ttl_ns: int | None = None, *, now_ns: int | None = None) -> bool:
        return await self.add(key, codec.encode(record), ttl_ns, now_ns=now_ns)

    async def set_records(
        self, records: Mapping[str, Row], ttl_ns: int | None = None, tags: Iterable[str] = (), *, now_ns: int | None = None
    ) -> None:
        await self.set_many({k: codec.encode(r) for k, r in records.items()}, ttl_ns, tags, now_ns=now_ns)
