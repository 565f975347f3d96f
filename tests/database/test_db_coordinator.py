"""Conformance of both database coordinators: write-through, cache-aside reads, the consistency
check and the skew measurement, against the real PostgreSQL and Redis."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from dbkit import make_coordinator, order
from targets.clock import TestClock
from core.database.coordinator_common import compare, order_key
from core.database.errors import CacheWriteError, DuplicateRecord, RecordNotFound
from core.database.protocols import DatabaseCoordinator
from core.database.skew import Sample, estimate

pytestmark = pytest.mark.asyncio
MS = 1_000_000
SECOND = 1_000_000_000


async def coordinator(build, scratch, clock=None, **kw):  # type: ignore[no-untyped-def]
    store = await scratch.store(build, clock)
    cache = await scratch.cache(build, clock)
    return make_coordinator(build, store, cache, clock, **kw)


async def test_write_through_then_cache_hits(build, scratch):
    co = await coordinator(build, scratch)
    assert isinstance(co, DatabaseCoordinator) and co.build == build
    row = await co.write_order(order(1))
    assert await co.store.get_order("O-1") == row
    assert await co.cache.get_record(order_key("O-1")) == row
    assert (await co.check_consistency("O-1")).consistent
    assert await co.read_order("O-1") == row
    assert (co.stats.hits, co.stats.misses) == (1, 0)
    updated = await co.update_order("O-1", "PARTIALLY_FILLED", Decimal("0.5"))
    assert await co.cache.get_record(order_key("O-1")) == updated
    assert await co.read_order("O-1") == updated
    report = await co.check_consistency("O-1")
    assert report.consistent and report.in_cache and report.in_store


async def test_cache_aside_fills_on_a_miss(build, scratch):
    co = await coordinator(build, scratch)
    row = await co.write_order(order(1))
    await co.cache.delete(order_key("O-1"))
    assert await co.read_order("O-1") == row
    assert (co.stats.misses, co.stats.fills) == (1, 1)
    assert await co.read_order("O-1") == row
    assert co.stats.hits == 1 and co.stats.hit_rate == 0.5
    assert await co.read_order("O-none") is None and co.stats.fills == 1


async def test_consistency_check_finds_a_stale_entry(build, scratch):
    co = await coordinator(build, scratch)
    row = await co.write_order(order(1))
    stale = dataclasses.replace(row, state="CANCELED", ts_updated_ns=row.ts_updated_ns + 1)
    await co.cache.set_record(order_key("O-1"), stale)
    report = await co.check_consistency("O-1")
    assert not report.consistent and set(report.mismatches) == {"state", "ts_updated_ns"}
    await co.cache.set_record(order_key("O-ghost"), dataclasses.replace(row, order_id="O-ghost"))
    assert (await co.check_consistency("O-ghost")).mismatches == ("missing_in_store",)
    absent = await co.check_consistency("O-none")
    assert absent.consistent and not absent.in_store and not absent.in_cache


async def test_a_refused_write_raises_and_leaves_the_cache_alone(build, scratch):
    co = await coordinator(build, scratch)
    row = await co.write_order(order(1))
    with pytest.raises(DuplicateRecord):
        await co.write_order(order(1, quantity=Decimal(99)))
    with pytest.raises(RecordNotFound):
        await co.update_order("O-404", "CANCELED")
    assert await co.cache.get_record(order_key("O-1")) == row
    assert await co.cache.get(order_key("O-404")) is None


async def test_cache_failure_after_commit_is_reported_with_the_row(build, scratch):
    co = await coordinator(build, scratch)
    await co.cache.close()  # the cache is gone; PostgreSQL is not
    with pytest.raises(CacheWriteError, match="O-1.*committed") as caught:
        await co.write_order(order(1))
    assert await co.store.get_order("O-1") == caught.value.row


async def test_skew_is_measured_against_both_servers(build, scratch):
    co = await coordinator(build, scratch)
    report = await co.measure_skew(samples=3)
    assert report.app_clock == ("live" if build == "clocked" else "system")
    for offset in (report.postgres, report.redis):
        assert offset.samples == 3 and offset.uncertainty_ns >= 0
        assert abs(offset.offset_ns) < 5 * SECOND  # one host: the clocks agree to well within this
    with pytest.raises(ValueError, match="samples"):
        await co.measure_skew(samples=0)


# --- clocked only -------------------------------------------------------------------------------
async def test_clocked_write_through_uses_one_timestamp(scratch):
    t0 = 1_650_000_000_000_000_000
    clock = TestClock(t0)
    co = await coordinator("clocked", scratch, clock, ttl_ns=200 * MS)
    row = await co.write_order(order(1))
    assert (row.ts_received_ns, row.ts_updated_ns) == (t0, t0)
    assert await co.cache.get_with_expiry(order_key("O-1")) == (
        (await co.cache.get(order_key("O-1"))), t0 + 200 * MS,
    )
    clock.advance_by(50 * MS)
    updated = await co.update_order("O-1", "ACCEPTED")
    assert updated.ts_updated_ns == t0 + 50 * MS
    assert (await co.cache.get_with_expiry(order_key("O-1")))[1] == t0 + 250 * MS
    clock.advance_by(200 * MS)  # exactly the TTL after the update: the clock says expired
    assert await co.cache.get(order_key("O-1")) is None
    assert (await co.check_consistency("O-1")).in_cache is False
    assert await co.read_order("O-1") == updated  # from PostgreSQL
    assert co.stats.misses == 1


async def test_clocked_skew_under_a_test_clock_is_the_distance_to_real_time(scratch):
    clock = TestClock(1_000 * SECOND)
    co = await coordinator("clocked", scratch, clock)
    report = await co.measure_skew(samples=2)
    real = await co.cache.server_time_ns()
    assert report.app_clock == "test" and report.postgres.uncertainty_ns == 0
    assert abs(report.redis.offset_ns - (real - 1_000 * SECOND)) < 5 * SECOND
    assert abs(report.postgres_minus_redis_ns) < 5 * SECOND


# --- pure parts -----------------------------------------------------------------------------------
async def test_skew_estimate_takes_the_narrowest_bracket():
    got = estimate([Sample(100, 1_000, 300), Sample(400, 1_260, 420), Sample(500, 900, 900)])
    assert (got.offset_ns, got.uncertainty_ns, got.samples) == (1_260 - 410, 10, 3)
    with pytest.raises(ValueError):
        estimate([])


async def test_compare_names_every_differing_field():
    from core.database.records import OrderRow

    row = OrderRow("O", "C", "I", "BUY", "LIMIT", Decimal(1), None, "NEW", Decimal(0), 1, 2, 3)
    assert compare("O", row, row).consistent
    assert compare("O", row, dataclasses.replace(row, seq=4, price=Decimal(1))).mismatches == ("price", "seq")
    assert compare("O", row, "junk").mismatches == ("type",)


async def test_batch_update_is_one_statement_and_one_pipeline(build, scratch):
    co = await coordinator(build, scratch)
    rows = [await co.write_order(order(i)) for i in range(1, 4)]
    done = await co.update_orders([("O-1", "ACCEPTED", Decimal(0)), ("O-2", "FILLED", Decimal(1)),
                                   ("O-404", "CANCELED", None)])  # fmt: skip
    assert sorted(r.order_id for r in done) == ["O-1", "O-2"]  # an absent row is simply not returned
    for r in done:
        assert await co.store.get_order(r.order_id) == r
        assert await co.cache.get_record(order_key(r.order_id)) == r
        assert r.seq > rows[0].seq
    assert (await co.store.get_order("O-1")).state == "ACCEPTED"
    assert (await co.store.get_order("O-2")).filled_quantity == Decimal(1)
    assert await co.store.get_order("O-3") == rows[2]
    assert await co.update_orders([]) == []
    with pytest.raises(ValueError, match="more than once"):
        await co.update_orders([("O-1", "FILLED", None), ("O-1", "CANCELED", None)])


async def test_batch_update_never_overwrites_a_later_write_clocked(scratch):
    clock = TestClock(1_700_000_000 * SECOND)
    co = await coordinator("clocked", scratch, clock)
    await co.write_order(order(1))
    clock.advance_time(clock.timestamp_ns() + 5 * MS)
    later = await co.update_order("O-1", "CANCELED", Decimal(0))
    done = await co.store.update_orders([("O-1", "ACCEPTED", Decimal(0))], ts_ns=later.ts_updated_ns - 1)
    assert done == [] and (await co.store.get_order("O-1")) == later


async def test_a_new_order_carries_earlier_orders_states_in_one_statement(build, scratch):
    co = await coordinator(build, scratch)
    first = await co.write_order(order(1))
    await co.write_order(order(2))
    row, updated = await co.write_order_and_update(order(3), [("O-1", "FILLED", Decimal(1)),
                                                              ("O-404", "CANCELED", None)])  # fmt: skip
    assert row == await co.store.get_order("O-3") == await co.cache.get_record(order_key("O-3"))
    assert [u.order_id for u in updated] == ["O-1"] and updated[0].state == "FILLED"
    assert updated[0] == await co.store.get_order("O-1") == await co.cache.get_record(order_key("O-1"))
    assert updated[0].seq > first.seq and row.seq != updated[0].seq
    # all or nothing: a refused insert leaves the carried updates unwritten
    with pytest.raises(DuplicateRecord):
        await co.write_order_and_update(order(3), [("O-2", "CANCELED", None)])
    assert (await co.store.get_order("O-2")).state == "NEW"
    row4, none = await co.write_order_and_update(order(4), [])
    assert none == [] and row4.order_id == "O-4"
