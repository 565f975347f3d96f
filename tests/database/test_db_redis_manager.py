"""Conformance of both Redis managers against the real server, and the clocked manager's exact,
clock-decided expiry (TestClock)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
import redis.exceptions

from dbkit import make_cache, unique_name
from targets.clock import LiveClock, TestClock
from core.database.codec import DecodeError, decode, encode
from core.database.errors import StoreNotStarted
from core.database.protocols import RecordCache
from core.database.records import FillRow, OrderRow, PositionRow, SettlementRow
from targets.database.redis_manager import envelope, open_envelope

pytestmark = pytest.mark.asyncio
MS = 1_000_000
SECOND = 1_000_000_000

ORDER = OrderRow("O-1", "C-1", "BTC-USD", "BUY", "LIMIT", Decimal("1.50"), Decimal("50000.25"), "NEW",
                 Decimal(0), 1_700_000_000_000_000_001, 1_700_000_000_000_000_002, 7)
ROWS = [
    ORDER,
    OrderRow("O-2", "C-2", "ETH-USD", "SELL", "MARKET", Decimal("1E-8"), None, "FILLED", Decimal("1E-8"), 1, 2, 3),
    FillRow("F-1", "O-1", "BTC-USD", "BUY", Decimal("0.5"), Decimal("50000.25"), 11, 12),
    PositionRow("ACC", "BTC-USD", Decimal("-0.5"), Decimal("50010"), Decimal("4.5000"), 13, 14),
    SettlementRow("S-1", "ACC", "BTC-USD", Decimal("-0.5"), Decimal("-25005.00"), "PENDING", 15, 16),
]


# --- both builds ------------------------------------------------------------------------------
async def test_set_get_delete(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    assert isinstance(cache, RecordCache) and cache.build == build
    assert await cache.get("k") is None
    await cache.set("k", b"v1")
    assert await cache.get("k") == b"v1"
    await cache.set("k", b"v2|with|separators", 60 * SECOND)
    assert await cache.get("k") == b"v2|with|separators"
    assert await cache.delete("k") is True
    assert await cache.delete("k") is False
    assert await cache.get("k") is None


async def test_value_without_ttl_has_no_server_expiry(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    await cache.set("k", b"v")
    assert await cache.client.pttl(cache.redis_key("k")) == -1


async def test_sub_second_ttl_expires_in_real_time(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    await cache.set("short", b"v", 400 * MS)
    await cache.set("long", b"v", 30 * SECOND)
    assert await cache.get("short") == b"v"
    pttl = await cache.client.pttl(cache.redis_key("short"))
    assert 0 < pttl <= 401  # Redis reclaims it too (PXAT / PSETEX)
    await asyncio.sleep(0.9)
    assert await cache.get("short") is None
    assert await cache.client.exists(cache.redis_key("short")) == 0
    assert await cache.get("long") == b"v"


async def test_pipelined_batches(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    items = {f"k{i}": b"v%d" % i for i in range(100)}
    await cache.set_many(items, 60 * SECOND)
    got = await cache.get_many(["k0", "missing", "k99", "k50"])
    assert got == [b"v0", None, b"v99", b"v50"]
    assert await cache.get_many([]) == []
    await cache.set_many({})
    assert await cache.delete_many(["k0", "k1", "missing"]) == 2
    assert await cache.get_many(["k0", "k1", "k2"]) == [None, None, b"v2"]


async def test_tag_invalidation(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    await cache.set("a1", b"1", 60 * SECOND, tags=["btc"])
    await cache.set_many({"a2": b"2", "a3": b"3"}, 60 * SECOND, tags=["btc", "desk"])
    await cache.set("b1", b"4", tags=["eth"])
    assert await cache.invalidate_tag("btc") == 3
    assert await cache.get_many(["a1", "a2", "a3", "b1"]) == [None, None, None, b"4"]
    assert await cache.invalidate_tag("btc") == 0
    assert await cache.invalidate_tag("desk") == 0  # its members are already gone
    await cache.set("a4", b"5", tags=["btc"])  # a value tagged after the invalidation survives it
    assert await cache.get("a4") == b"5"
    assert await cache.invalidate_tag("eth") == 1 and await cache.get("b1") is None


async def test_records_round_trip(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    for i, row in enumerate(ROWS):
        await cache.set_record(f"r{i}", row, 60 * SECOND)
    got = await cache.get_records([f"r{i}" for i in range(len(ROWS))] + ["none"])
    assert got == [*ROWS, None]
    assert [type(r) for r in got[:-1]] == [type(r) for r in ROWS]
    assert str(got[3].realized_pnl) == "4.5000"  # exact, scale kept


async def test_add_only_when_absent(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    assert await cache.add("k", b"first", 60 * SECOND) is True
    assert await cache.add("k", b"second", 60 * SECOND) is False
    assert await cache.get("k") == b"first"
    assert await cache.add_record("r", ORDER) is True and await cache.get_record("r") == ORDER


async def test_clear_only_touches_its_own_prefix(build, redis_scratch):
    mine = await redis_scratch.cache(build)
    other = await redis_scratch.cache(build)
    await mine.set_many({f"k{i}": b"v" for i in range(5)}, tags=["t"])
    await other.set("k0", b"other")
    assert await mine.clear() == 6  # five values and one tag set
    assert await mine.get("k0") is None and await other.get("k0") == b"other"


async def test_failed_writes_raise(build, redis_scratch, redis_url):
    cache = await redis_scratch.cache(build)
    await cache.client.set(cache.tag_key("t"), b"not a set")
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await cache.set("k", b"v", tags=["t"])
    unreachable = make_cache(build, "redis://127.0.0.1:1/0", unique_name("p") + ":")
    with pytest.raises(redis.exceptions.ConnectionError):
        await unreachable.start()
    with pytest.raises(StoreNotStarted, match="start"):
        await unreachable.set("k", b"v")


async def test_bad_input_is_named(build, redis_scratch):
    cache = await redis_scratch.cache(build)
    with pytest.raises(ValueError, match="ttl_ns must be > 0"):
        await cache.set("k", b"v", 0)
    with pytest.raises(TypeError, match="ttl_ns must be an int"):
        await cache.set("k", b"v", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        await cache.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must be a non-empty string"):
        await cache.get("")
    with pytest.raises(ValueError, match="prefix"):
        make_cache(build, cache.url, "bad*prefix")
    with pytest.raises(ValueError, match="redis://"):
        make_cache(build, "http://x", "p:")
    assert await cache.get("k") is None  # nothing was written by the refused calls


async def test_codec_refuses_foreign_bytes():
    with pytest.raises(DecodeError):
        decode(b"not json")
    with pytest.raises(DecodeError):
        decode(b'["order", "too", "few"]')
    with pytest.raises(TypeError, match="cannot serialize"):
        encode("a string")  # type: ignore[arg-type]
    assert all(decode(encode(r)) == r for r in ROWS)


# --- clocked only: expiry decided by the clock --------------------------------------------------
async def test_envelope_round_trip():
    assert open_envelope(envelope(b"a|b", 123)) == (123, b"a|b")
    assert open_envelope(envelope(b"", 0)) == (0, b"")


async def test_testclock_expiry_is_exact_to_the_nanosecond(redis_scratch):
    t0 = 1_600_000_000_000_000_000  # years before Redis's time: no server expiry, the clock decides
    clock = TestClock(t0)
    cache = await redis_scratch.cache("clocked", clock)
    assert cache.reclaim == "if_future"
    await cache.set("k", b"v", 250 * MS)
    await cache.set("one_ns", b"v", 1)
    assert await cache.get_with_expiry("k") == (b"v", t0 + 250 * MS)
    assert await cache.get("one_ns") == b"v"
    clock.advance_time(t0 + 1)
    assert await cache.get("one_ns") is None
    clock.advance_time(t0 + 250 * MS - 1)
    assert await cache.get("k") == b"v"
    clock.advance_time(t0 + 250 * MS)
    assert await cache.get("k") is None
    assert await cache.get_many(["k", "one_ns"]) == [None, None]
    # Redis still holds it (its PXAT would lie in Redis's past), yet the read is a miss.
    assert await cache.client.exists(cache.redis_key("k")) == 1
    assert await cache.client.pttl(cache.redis_key("k")) == -1


async def test_testclock_in_redis_future_still_gets_a_server_expiry(redis_scratch):
    live_now = await (await redis_scratch.cache("baseline")).server_time_ns()
    t0 = live_now + 3600 * SECOND
    clock = TestClock(t0)
    cache = await redis_scratch.cache("clocked", clock)
    await cache.set("k", b"v", 500 * MS)
    expire_ms = await cache.client.execute_command("PEXPIRETIME", cache.redis_key("k"))
    assert expire_ms == -(-(t0 + 500 * MS) // MS)
    clock.advance_by(500 * MS - 1)
    assert await cache.get("k") == b"v"
    clock.advance_by(1)
    assert await cache.get("k") is None


async def test_testclock_expiry_replays_identically(redis_scratch):
    async def scenario() -> list[object]:
        clock = TestClock(1_650_000_000_000_000_000)
        cache = await redis_scratch.cache("clocked", clock)
        seen: list[object] = []
        for step in range(20):
            await cache.set(f"k{step}", b"%d" % step, (step % 5 + 1) * 7 * MS)
            clock.advance_by(11 * MS)
            seen.append(await cache.get_many([f"k{i}" for i in range(step + 1)]))
            seen.append(await cache.get_with_expiry(f"k{step // 2}"))
        return seen

    first, second = await scenario(), await scenario()
    assert first == second
    assert any(v is None for batch in first[::2] for v in batch) and any(
        v is not None for batch in first[::2] for v in batch
    )


async def test_one_timestamp_for_a_batch_and_now_ns(redis_scratch):
    clock = TestClock(1_650_000_000_000_000_000)
    cache = await redis_scratch.cache("clocked", clock)
    await cache.set_many({"a": b"1", "b": b"2"}, 10 * MS)
    await cache.set("c", b"3", 10 * MS, now_ns=clock.timestamp_ns() - 5 * MS)
    exp = clock.timestamp_ns() + 10 * MS
    assert [(await cache.get_with_expiry(k))[1] for k in "abc"] == [exp, exp, exp - 5 * MS]


async def test_live_clock_uses_pxat_rounded_up(redis_scratch):
    clock = LiveClock()
    cache = await redis_scratch.cache("clocked", clock)
    assert cache.reclaim == "pxat"
    await cache.set("k", b"v", 30 * SECOND)
    _, exp = await cache.get_with_expiry("k")
    expire_ms = await cache.client.execute_command("PEXPIRETIME", cache.redis_key("k"))
    assert expire_ms == -(-exp // MS) and expire_ms * MS >= exp


async def test_clocked_miss_when_the_clock_has_passed_but_redis_has_not(redis_scratch):
    # A clock ahead of Redis (here: a TestClock set a minute ahead): the clock's view wins.
    live_now = await (await redis_scratch.cache("baseline")).server_time_ns()
    clock = TestClock(live_now)
    cache = await redis_scratch.cache("clocked", clock, reclaim="pxat")
    await cache.set("k", b"v", 30 * SECOND)
    clock.advance_by(60 * SECOND)
    assert await cache.get("k") is None
    assert await cache.client.exists(cache.redis_key("k")) == 1  # still held by Redis for now


async def test_bad_reclaim_mode(redis_url):
    with pytest.raises(ValueError, match="reclaim"):
        make_cache("clocked", redis_url, "p:", reclaim="sometimes")


async def test_testclock_pipelined_writes_with_tags_are_stored(redis_scratch):
    clock = TestClock(1_650_000_000_000_000_000)
    cache = await redis_scratch.cache("clocked", clock)
    await cache.set("a", b"1", 5 * MS, tags=["t"])
    await cache.set_many({"b": b"2", "c": b"3"}, 5 * MS, tags=["t"])
    assert await cache.get_many(["a", "b", "c"]) == [b"1", b"2", b"3"]
    cache._script_sha = "0" * 40  # as if the server had lost the script: it is loaded again
    await cache.set_many({"d": b"4"}, 5 * MS, tags=["t"])
    assert await cache.get("d") == b"4"
    clock.advance_by(5 * MS)
    assert await cache.get_many(["a", "b", "c", "d"]) == [None] * 4
    assert await cache.invalidate_tag("t") == 4  # clock-expired, still held by Redis, now deleted
