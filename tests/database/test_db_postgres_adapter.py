"""Conformance of both PostgreSQL adapters against the real server, and what only the clocked one does."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
import pytest

from targets.clock import LiveClock, TestClock
from core.database.errors import (
    ConstraintViolation,
    DuplicateRecord,
    RecordNotFound,
    StaleWrite,
    StoreNotStarted,
)
from targets.database.postgres_adapter import PostgresAdapter
from core.database.protocols import OrderStore
from core.database.records import InvalidRecord, NewFill, NewOrder, NewSettlement, PositionUpdate
from core.database.schema import InvalidSchemaName

from dbkit import make_store, order

pytestmark = pytest.mark.asyncio
T0 = 1_700_000_000_123_456_789


# --- both builds ------------------------------------------------------------------------------
async def test_implements_protocol_and_schema_is_idempotent(build, pg_scratch):
    store = await pg_scratch.store(build)
    assert isinstance(store, OrderStore) and store.build == build
    again = await pg_scratch.store(build, schema=store.schema)  # the same schema applied again
    await store.insert_order(order(1))
    assert (await again.get_order("O-1")) == (await store.get_order("O-1"))
    tables = await store.pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1", store.schema
    )
    assert [t["table_name"] for t in tables] == ["algo_orders", "algos", "fills", "orders", "positions", "settlements"]


async def test_insert_and_read_back_exact(build, pg_scratch):
    store = await pg_scratch.store(build)
    new = order(1, quantity=Decimal("0.00000001"), price=Decimal("123456789012345678.987654321"))
    row = await store.insert_order(new)
    assert (row.order_id, row.quantity, row.price, row.state) == ("O-1", new.quantity, new.price, "NEW")
    assert row.filled_quantity == 0 and row.ts_updated_ns >= row.ts_received_ns > 0 and row.seq > 0
    assert await store.get_order("O-1") == row
    assert await store.get_order("nope") is None
    market = await store.insert_order(order(2, order_type="MARKET", price=None))
    assert market.price is None and (await store.get_order("O-2")).price is None


async def test_timestamps_are_near_the_servers_time(build, pg_scratch):
    store = await pg_scratch.store(build)
    row = await store.insert_order(order(1))
    server = await store.server_time_ns()
    assert abs(server - row.ts_updated_ns) < 10 * 1_000_000_000  # same host: clocks in step


async def test_duplicate_order_is_an_error_and_changes_nothing(build, pg_scratch):
    store = await pg_scratch.store(build)
    first = await store.insert_order(order(1))
    with pytest.raises(DuplicateRecord, match="O-1"):
        await store.insert_order(order(1, client_order_id="C-other", quantity=Decimal(7)))
    with pytest.raises(DuplicateRecord):
        await store.insert_order(order(9, client_order_id="C-1"))  # same client order id
    assert await store.get_order("O-1") == first
    assert await store.get_order("O-9") is None


async def test_batch_insert_in_order_and_all_or_nothing(build, pg_scratch):
    store = await pg_scratch.store(build)
    rows = await store.insert_orders([order(i) for i in range(1, 51)])
    assert [r.order_id for r in rows] == [f"O-{i}" for i in range(1, 51)]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows) and len({r.seq for r in rows}) == 50
    assert await store.get_orders([f"O-{i}" for i in (3, 7, 99)]) == [rows[2], rows[6]]
    assert await store.insert_orders([]) == []
    with pytest.raises(DuplicateRecord):
        await store.insert_orders([order(100), order(5), order(101)])
    assert await store.get_orders(["O-100", "O-101"]) == []


async def test_update_order(build, pg_scratch):
    store = await pg_scratch.store(build)
    placed = await store.insert_order(order(1, quantity=Decimal(10)))
    partial = await store.update_order("O-1", "PARTIALLY_FILLED", Decimal("2.5"))
    assert (partial.state, partial.filled_quantity) == ("PARTIALLY_FILLED", Decimal("2.5"))
    assert partial.seq > placed.seq and partial.ts_updated_ns >= placed.ts_updated_ns
    assert partial.ts_received_ns == placed.ts_received_ns
    cancelled = await store.update_order("O-1", "CANCELED")
    assert cancelled.filled_quantity == Decimal("2.5")  # unchanged when not given
    assert await store.get_order("O-1") == cancelled
    with pytest.raises(RecordNotFound, match="O-404"):
        await store.update_order("O-404", "CANCELED")
    with pytest.raises(ConstraintViolation):
        await store.update_order("O-1", "FILLED", Decimal(11))  # more than the quantity
    assert await store.get_order("O-1") == cancelled


async def test_commit_order_follows_the_writes(build, pg_scratch):
    store = await pg_scratch.store(build)
    for i in range(1, 6):
        await store.insert_order(order(i))
    await store.update_order("O-2", "FILLED", Decimal("3.5"))
    assert [r.order_id for r in await store.orders_in_commit_order()] == ["O-1", "O-3", "O-4", "O-5", "O-2"]


async def test_fills_positions_settlements(build, pg_scratch):
    store = await pg_scratch.store(build)
    await store.insert_order(order(1))
    f1 = await store.insert_fill(NewFill("F-1", "O-1", "BTC-USD", "BUY", Decimal("0.5"), Decimal("50000.25")))
    batch = await store.insert_fills(
        [NewFill(f"F-{i}", "O-1", "BTC-USD", "BUY", Decimal("0.25"), Decimal("50001")) for i in (2, 3)]
    )
    assert await store.fills_for_order("O-1") == [f1, *batch]
    with pytest.raises(ConstraintViolation, match="F-x"):
        await store.insert_fill(NewFill("F-x", "O-missing", "BTC-USD", "BUY", Decimal(1), Decimal(1)))
    with pytest.raises(DuplicateRecord):
        await store.insert_fills([NewFill("F-1", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(1))])

    p1 = await store.upsert_position(PositionUpdate("ACC", "BTC-USD", Decimal("1.0"), Decimal("50000")))
    p2 = await store.upsert_position(PositionUpdate("ACC", "BTC-USD", Decimal("-0.5"), Decimal("50010"), Decimal("4.5")))
    assert p2.seq > p1.seq and await store.get_position("ACC", "BTC-USD") == p2
    assert await store.get_position("ACC", "ETH-USD") is None

    s = await store.insert_settlement(NewSettlement("S-1", "ACC", "BTC-USD", Decimal("-0.5"), Decimal("-25005.00")))
    assert await store.get_settlement("S-1") == s and s.amount == Decimal("-25005.00")
    with pytest.raises(DuplicateRecord):
        await store.insert_settlement(NewSettlement("S-1", "ACC", "BTC-USD", Decimal(1), Decimal(1)))


async def test_failed_writes_raise(build, pg_scratch, postgres_url):
    store = await pg_scratch.store(build)
    await store.drop_schema()  # the tables vanish under the adapter
    with pytest.raises(asyncpg.UndefinedTableError):
        await store.insert_order(order(1))
    with pytest.raises(asyncpg.UndefinedTableError):
        await store.insert_orders([order(2), order(3)])
    closed = make_store(build, postgres_url, pg_scratch.schema())
    with pytest.raises(StoreNotStarted, match="start"):
        await closed.insert_order(order(1))
    unreachable = make_store(build, "postgresql://postgres@127.0.0.1:1/test", pg_scratch.schema())
    with pytest.raises(OSError):
        await unreachable.start()


async def test_bad_input_is_named(build, postgres_url):
    with pytest.raises(InvalidSchemaName, match="schema name"):
        make_store(build, postgres_url, "Robert'); DROP TABLE students;--")
    with pytest.raises(ValueError, match="postgresql://"):
        make_store(build, "mysql://x", "ok")
    with pytest.raises(InvalidRecord, match="quantity must be exact"):
        order(1, quantity=1.5)
    with pytest.raises(InvalidRecord, match="side"):
        order(1, side="HOLD")
    with pytest.raises(InvalidRecord, match="quantity must be > 0"):
        order(1, quantity=Decimal(0))
    with pytest.raises(InvalidRecord, match="price is not a number"):
        order(1, price="abc")


async def test_bad_update_is_named(build, pg_scratch):
    store = await pg_scratch.store(build)
    row = await store.insert_order(order(1))
    with pytest.raises(InvalidRecord, match="state"):
        await store.update_order("O-1", "")
    with pytest.raises(InvalidRecord, match="filled_quantity must be exact"):
        await store.update_order("O-1", "FILLED", 0.5)
    assert await store.get_order("O-1") == row


# --- clocked only -----------------------------------------------------------------------------
async def test_clocked_rows_carry_the_clock_time_and_sequence(pg_scratch):
    clock = TestClock(T0)
    store = await pg_scratch.store("clocked", clock)
    a = await store.insert_order(order(1))
    clock.advance_by(1_000)
    b = await store.insert_order(order(2))
    batch = await store.insert_orders([order(3), order(4)])
    clock.advance_by(1)
    c = await store.update_order("O-1", "ACCEPTED")
    assert (a.ts_received_ns, a.seq) == (T0, 1)
    assert (b.ts_received_ns, b.seq) == (T0 + 1_000, 2)
    assert [(r.ts_updated_ns, r.seq) for r in batch] == [(T0 + 1_000, 3), (T0 + 1_000, 4)]
    assert (c.ts_received_ns, c.ts_updated_ns, c.seq) == (T0, T0 + 1_001, 5)
    assert [r.order_id for r in await store.orders_in_commit_order()] == ["O-2", "O-3", "O-4", "O-1"]
    explicit = await store.insert_order(order(5), ts_ns=T0 + 5)
    assert explicit.ts_received_ns == T0 + 5 and explicit.seq == 6


async def test_clocked_scenario_replays_identically(pg_scratch):
    async def scenario():
        clock = TestClock(T0)
        store = await pg_scratch.store("clocked", clock)
        for i in range(1, 8):
            await store.insert_order(order(i))
            clock.advance_by(250_000 * i)
            if i % 3 == 0:
                await store.update_order(f"O-{i - 1}", "FILLED", Decimal(1))
        await store.insert_fills([NewFill(f"F-{i}", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(2)) for i in range(3)])
        return await store.orders_in_commit_order(), await store.fills_for_order("O-1")

    (orders_a, fills_a), (orders_b, fills_b) = await scenario(), await scenario()
    assert len(orders_a) == 7 and len(fills_a) == 3  # what is compared is the whole scenario, not nothing
    assert (orders_a, fills_a) == (orders_b, fills_b)


async def test_clocked_refuses_a_write_stamped_before_the_row(pg_scratch):
    clock = TestClock(T0)
    store = await pg_scratch.store("clocked", clock)
    await store.insert_order(order(1))
    clock.advance_by(100)
    latest = await store.update_order("O-1", "ACCEPTED")
    with pytest.raises(StaleWrite, match="O-1"):
        await store.update_order("O-1", "CANCELED", ts_ns=T0 + 50)
    assert await store.get_order("O-1") == latest
    await store.upsert_position(PositionUpdate("A", "X", Decimal(1), Decimal(1)))
    with pytest.raises(StaleWrite):
        await store.upsert_position(PositionUpdate("A", "X", Decimal(2), Decimal(1)), ts_ns=T0 - 1)
    assert (await store.get_position("A", "X")).quantity == 1


async def test_clocked_schema_has_no_server_time(pg_scratch):
    store = await pg_scratch.store("clocked")
    defaults = await store.pool.fetch(
        "SELECT table_name, column_name, column_default FROM information_schema.columns "
        "WHERE table_schema = $1 AND (column_name LIKE 'ts_%' OR column_name = 'seq')",
        store.schema,
    )
    assert len(defaults) == 9 and all(d["column_default"] is None for d in defaults)


async def test_baseline_schema_takes_time_from_the_server(pg_scratch):
    store = await pg_scratch.store("baseline")
    default = await store.pool.fetchval(
        "SELECT column_default FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = 'orders' AND column_name = 'ts_updated_ns'",
        store.schema,
    )
    assert "clock_timestamp()" in default


async def test_clocked_sequence_continues_after_a_restart(pg_scratch):
    store = await pg_scratch.store("clocked", TestClock(T0))
    await store.insert_orders([order(i) for i in range(1, 4)])
    restarted = await pg_scratch.store("clocked", TestClock(T0), schema=store.schema)
    assert (await restarted.insert_order(order(9))).seq == 4


@pytest.mark.parametrize("tx_time", ["statement", "inline", None])
async def test_clocked_tx_time_setting_is_visible_inside_the_transaction(pg_scratch, tx_time):
    clock = TestClock(T0)
    store = await pg_scratch.store("clocked", clock, tx_time=tx_time)
    s = store.schema
    # A trigger records what the transaction's clock time setting was when each row was written.
    await store.pool.execute(f"CREATE TABLE {s}.audit (order_id TEXT, tx_time TEXT)")
    await store.pool.execute(
        f"""CREATE FUNCTION {s}.audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO {s}.audit VALUES (NEW.order_id, current_setting('clockbench.tx_time_ns', true));
        RETURN NEW; END $$"""
    )
    await store.pool.execute(f"CREATE TRIGGER audit AFTER INSERT OR UPDATE ON {s}.orders FOR EACH ROW EXECUTE FUNCTION {s}.audit_fn()")
    await store.insert_order(order(1))
    clock.advance_by(7)
    await store.update_order("O-1", "ACCEPTED")
    await store.insert_orders([order(2)])
    clock.advance_by(7)
    await store.insert_order(order(3))
    await store.update_order("O-3", "ACCEPTED", ts_ns=T0 + 20)
    with pytest.raises(DuplicateRecord):
        await store.insert_order(order(3))
    row = await store.get_order("O-3")
    assert (row.ts_received_ns, row.ts_updated_ns, row.state) == (T0 + 14, T0 + 20, "ACCEPTED")
    await store.insert_fill(NewFill("F-1", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(2)))
    assert len(await store.fills_for_order("O-1")) == 1
    p = await store.upsert_position(PositionUpdate("A", "X", Decimal(1), Decimal(1)))
    assert await store.get_position("A", "X") == p
    st = await store.insert_settlement(NewSettlement("S-1", "A", "X", Decimal(1), Decimal(1)))
    assert await store.get_settlement("S-1") == st
    got = [tuple(r) for r in await store.pool.fetch(f"SELECT order_id, tx_time FROM {s}.audit")]
    if tx_time:
        assert got == [("O-1", str(T0)), ("O-1", str(T0 + 7)), ("O-2", str(T0 + 7)), ("O-3", str(T0 + 14)),
                       ("O-3", str(T0 + 20))]
    else:
        assert [o for o, _ in got] == ["O-1", "O-1", "O-2", "O-3", "O-3"] and all(t in (None, "") for _, t in got)
    # transaction-local: nothing leaks into the next use of the connection
    assert await store.pool.fetchval("SELECT current_setting('clockbench.tx_time_ns', true)") in (None, "")


async def test_clocked_bad_tx_time_mode(postgres_url):
    with pytest.raises(ValueError, match="tx_time"):
        PostgresAdapter(TestClock(0), postgres_url, schema="x", tx_time="always")


async def test_clocked_adapter_accepts_a_live_clock(pg_scratch):
    store = await pg_scratch.store("clocked", LiveClock())
    assert isinstance(store, PostgresAdapter)
    a = await store.insert_order(order(1))
    b = await store.insert_order(order(2))
    assert (b.ts_received_ns, b.seq) > (a.ts_received_ns, a.seq)


@pytest.mark.parametrize("tx_time", ["statement", "inline", None])
async def test_clocked_fill_batches_small_and_large_store_the_rows_returned(pg_scratch, tx_time):
    """A small fill batch is one INSERT over unnest arrays, a large one COPY (``COPY_MIN_ROWS``): both store
    exactly the rows returned (the clock's time, consecutive sequence numbers), under every tx_time mode, and
    a duplicate in a small batch writes none of it."""
    from targets.database.postgres_adapter import COPY_MIN_ROWS

    clock = TestClock(T0)
    store = await pg_scratch.store("clocked", clock, tx_time=tx_time)
    await store.insert_order(order(1))
    small = await store.insert_fills([NewFill(f"F-s{i}", "O-1", "BTC-USD", "SELL", Decimal(i + 1), Decimal("2.5"))
                                      for i in range(3)])  # fmt: skip
    clock.advance_by(5)
    large = await store.insert_fills([NewFill(f"F-l{i}", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(3))
                                      for i in range(COPY_MIN_ROWS)])  # fmt: skip
    assert [r.ts_recorded_ns for r in small] == [T0] * 3 and {r.ts_recorded_ns for r in large} == {T0 + 5}
    seqs = [r.seq for r in small + large]
    assert seqs == list(range(seqs[0], seqs[0] + 3 + COPY_MIN_ROWS))
    assert await store.fills_for_order("O-1") == small + large
    with pytest.raises(DuplicateRecord):
        await store.insert_fills([NewFill("F-new", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(1)),
                                  NewFill("F-s0", "O-1", "BTC-USD", "BUY", Decimal(1), Decimal(1))])  # fmt: skip
    assert len(await store.fills_for_order("O-1")) == 3 + COPY_MIN_ROWS
