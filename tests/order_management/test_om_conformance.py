"""The conformance suite: both builds, same behaviour (clocked on a TestClock, baseline on real time)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from omkit import MS, quote

from core.order_management import protocols
from core.order_management.algos import AlgoKind, AlgoRequest, AlgoState
from core.order_management.domain import (
    AlgoStateError,
    DuplicateClientOrderIdError,
    InvalidOrderRequest,
    OrderAlreadyFinalError,
    OrderRequest,
    OrderState,
    OrderType,
    OrderValidationError,
    Side,
    TimeInForce,
    UnknownAlgoError,
    UnknownOrderError,
)
from core.order_management.stage_timing import STAGES

pytestmark = pytest.mark.asyncio

BUY, SELL = Side.BUY, Side.SELL


def limit(cid: str, side: Side, qty: int, price: str, tif: TimeInForce = TimeInForce.GTC,
          expire: int | None = None, sym: str = "AAPL") -> OrderRequest:  # fmt: skip
    return OrderRequest(cid, sym, side, qty, OrderType.LIMIT, Decimal(price), tif, expire)


def market(cid: str, side: Side, qty: int, sym: str = "AAPL") -> OrderRequest:
    return OrderRequest(cid, sym, side, qty)


async def test_components_implement_the_protocols(drv):
    s = drv.stack
    assert isinstance(s.oms, protocols.OMS)
    assert isinstance(s.ems, protocols.EMS)
    assert isinstance(s.pms, protocols.PMS)
    assert isinstance(s.settlement, protocols.SettlementController)
    assert isinstance(s.timing, protocols.OrderTiming)


async def test_market_order_fills_at_best_prices_and_updates_the_position(drv):
    oms = drv.stack.oms
    oms.on_quote(quote(size=300))
    before = drv.now()
    o = oms.submit(market("c1", BUY, 500))
    assert o.order_id and o.sequence == 1 and o.state is OrderState.FILLED
    assert isinstance(o.receive_time_ns, int) and o.receive_time_ns >= before
    assert o.filled_qty == 500
    assert o.avg_fill_price == (Decimal("100.01") * 300 + Decimal("100.02") * 200) / 500
    assert oms.get(o.order_id) is o and oms.get_by_client_id("c1") is o
    [pos] = oms.positions()
    assert (pos.instrument, pos.quantity) == ("AAPL", 500)
    assert pos.commissions > 0


async def test_sequence_strictly_increases_and_receive_times_never_decrease(drv):
    oms = drv.stack.oms
    oms.on_quote(quote(size=10**6))
    orders = [oms.submit(market(f"c{i}", BUY if i % 2 else SELL, 10)) for i in range(50)]
    seqs = [o.sequence for o in orders]
    times = [o.receive_time_ns for o in orders]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    assert all(a <= b for a, b in zip(times, times[1:]))


async def test_thin_book_market_order_partially_fills_and_cancels_the_rest(drv):
    oms = drv.stack.oms
    oms.on_quote(quote(size=100, levels=2))
    o = oms.submit(market("c1", SELL, 500))
    assert (o.state, o.filled_qty, o.leaves_qty) == (OrderState.CANCELED, 200, 0)


async def test_limit_order_rests_then_fills_when_the_market_crosses(drv):
    oms = drv.stack.oms
    oms.on_quote(quote(bid="99.99", ask="100.01"))
    o = oms.submit(limit("c1", BUY, 300, "99.95"))
    assert o.state is OrderState.ACCEPTED and o.filled_qty == 0
    oms.on_quote(quote(bid="99.98", ask="100.00"))  # not crossed yet
    assert o.state is OrderState.ACCEPTED
    fills = oms.on_quote(quote(bid="99.92", ask="99.94", size=200))
    assert [f.order_id for f in fills] == [o.order_id, o.order_id]
    assert o.state is OrderState.FILLED and o.filled_qty == 300
    assert o.avg_fill_price <= Decimal("99.95")


async def test_marketable_limit_takes_what_is_at_its_price_and_rests_the_rest(drv):
    oms = drv.stack.oms
    oms.on_quote(quote(ask="100.01", size=100, levels=3))  # asks 100.01, 100.02, 100.03
    o = oms.submit(limit("c1", BUY, 500, "100.02"))
    assert (o.state, o.filled_qty, o.leaves_qty) == (OrderState.PARTIALLY_FILLED, 200, 300)
    ioc = oms.submit(limit("c2", BUY, 500, "100.03", TimeInForce.IOC))
    assert (ioc.state, ioc.filled_qty) == (OrderState.CANCELED, 100)


async def test_cancel_unknown_and_final_orders_raise_distinct_errors(drv):
    oms = drv.stack.oms
    oms.on_quote(quote())
    o = oms.submit(limit("c1", BUY, 100, "99.00"))
    assert oms.cancel(o.order_id).state is OrderState.CANCELED
    with pytest.raises(OrderAlreadyFinalError) as final:
        oms.cancel(o.order_id)
    assert final.value.field == "order_id" and "CANCELED" in str(final.value)
    with pytest.raises(UnknownOrderError) as unknown:
        oms.cancel("O999")
    assert "O999" in str(unknown.value)
    with pytest.raises(UnknownOrderError):
        oms.get("nope")
    # a canceled order no longer fills
    oms.on_quote(quote(bid="98.90", ask="98.95"))
    assert o.filled_qty == 0


async def test_duplicate_client_order_id_is_refused(drv):
    oms = drv.stack.oms
    oms.on_quote(quote())
    first = oms.submit(market("dup", BUY, 10))
    with pytest.raises(DuplicateClientOrderIdError) as exc:
        oms.submit(market("dup", SELL, 10))
    assert exc.value.field == "client_order_id" and first.order_id in str(exc.value)
    assert len(oms.orders()) == 1


async def test_invalid_request_reports_every_field(drv):
    oms = drv.stack.oms
    with pytest.raises(InvalidOrderRequest) as exc:
        oms.submit(OrderRequest("", "ZZZ", BUY, 0, OrderType.LIMIT, None, TimeInForce.GTD, None))
    fields = [e.field for e in exc.value.errors]
    assert fields == ["client_order_id", "instrument", "quantity", "limit_price", "expire_time_ns"]
    assert isinstance(exc.value, OrderValidationError)
    assert oms.orders() == []


async def test_venue_rejections_are_recorded_as_rejected_orders(drv):
    oms = drv.stack.oms
    o = oms.submit(market("c1", BUY, 10))  # no quote yet
    assert o.state is OrderState.REJECTED and "no market" in o.reason
    oms.on_quote(quote())
    far = oms.submit(limit("c2", BUY, 10, "10.00"))
    assert far.state is OrderState.REJECTED and "price band" in far.reason
    with pytest.raises(OrderAlreadyFinalError):
        oms.cancel(far.order_id)


async def test_gtd_order_expires_at_its_expiry(drv):
    oms = drv.stack.oms
    oms.on_quote(quote())
    expire = drv.now() + 30 * MS
    o = oms.submit(limit("c1", BUY, 100, "99.00", TimeInForce.GTD, expire))
    keep = oms.submit(limit("c2", BUY, 100, "99.00"))
    assert o.expire_time_ns == expire and o.state is OrderState.ACCEPTED
    await drv.advance(40 * MS)
    await drv.eventually(lambda: o.state is OrderState.EXPIRED, "GTD order expired")
    assert o.last_update_ns >= expire
    assert keep.state is OrderState.ACCEPTED
    if drv.build == "clocked":
        assert o.last_update_ns == expire  # exactly at its expiry time


async def test_canceled_or_filled_orders_do_not_expire_later(drv):
    oms = drv.stack.oms
    oms.on_quote(quote())
    a = oms.submit(limit("c1", BUY, 100, "99.00", TimeInForce.GTD, drv.now() + 20 * MS))
    b = oms.submit(limit("c2", BUY, 100, "99.00", TimeInForce.GTD, drv.now() + 20 * MS))
    oms.cancel(a.order_id)
    oms.on_quote(quote(bid="98.80", ask="98.90"))
    assert b.state is OrderState.FILLED
    await drv.advance(40 * MS)
    assert (a.state, b.state) == (OrderState.CANCELED, OrderState.FILLED)


async def test_day_order_expires_at_the_day_close(drv):
    oms = drv.stack.oms
    oms.on_quote(quote())
    o = oms.submit(limit("c1", SELL, 100, "101.00", TimeInForce.DAY))
    close = oms.trading_day.expiry_ns(o.receive_time_ns)
    assert o.expire_time_ns == close > o.receive_time_ns
    await drv.advance(close - drv.now() + 5 * MS)
    await drv.eventually(lambda: o.state is OrderState.EXPIRED, "DAY order expired")
    assert o.last_update_ns >= close


async def test_order_timing_records_every_stage_from_one_clock(drv):
    s = drv.stack
    s.oms.on_quote(quote())
    o = s.oms.submit(market("c1", BUY, 100))
    stamps = s.timing.stamps(o.order_id)
    assert list(stamps) == list(STAGES[:5])
    values = list(stamps.values())
    assert values[0] == o.receive_time_ns and values == sorted(values)
    due = s.settlement.calendar.settlement_ns(o.receive_time_ns, 1)
    await drv.advance(due - drv.now() + 2 * MS)
    await drv.eventually(lambda: "settled" in s.timing.stamps(o.order_id), "order settled")
    summary = s.timing.summary()
    assert summary["received->filled"]["count"] == 1 and summary["filled->settled"]["count"] == 1
    assert len(s.timing.latencies("routed->acknowledged")) == 1


async def test_trades_settle_at_t_plus_n_and_update_settled_cash(drv):
    s = drv.stack
    s.oms.on_quote(quote())
    s.oms.on_quote(quote("FX", bid="1.0800", ask="1.0801", size=10**6, step="0.0001"))
    a = s.oms.submit(market("a", BUY, 100))  # AAPL: T+1
    f = s.oms.submit(market("f", SELL, 5000, sym="FX"))  # FX: T+2
    assert s.settlement.pending() == 2 and s.pms.settled_cash == 0
    cal = s.settlement.calendar
    due_a = cal.settlement_ns(a.receive_time_ns, 1)
    due_f = cal.settlement_ns(f.receive_time_ns, 2)
    assert cal.is_business_day(cal.day_of(due_a)) and cal.is_business_day(cal.day_of(due_f))
    await drv.advance(max(due_a, due_f) - drv.now() + 2 * MS)
    await drv.eventually(lambda: s.settlement.pending() == 0, "both trades settled")
    settled = s.settlement.settled()
    assert [fill.order_id for _, fill in settled] == [a.order_id, f.order_id]
    assert settled[0][0] >= due_a and settled[1][0] >= due_f
    assert s.pms.position("AAPL").settled_quantity == 100
    assert s.pms.position("FX").settled_quantity == -5000
    assert s.pms.settled_cash == s.pms.cash


async def test_t_plus_zero_settles_on_the_trade_day(drv):
    s = drv.stack
    s.oms.on_quote(quote("T0"))
    o = s.oms.submit(market("t0", BUY, 10, sym="T0"))
    await drv.advance(2 * MS)
    cal = s.settlement.calendar
    await drv.eventually(lambda: s.settlement.pending() == 0, "T+0 settled")
    [(when, _)] = s.settlement.settled()
    assert cal.day_of(when) == cal.add_business_days(cal.day_of(o.receive_time_ns), 0)


async def test_twap_slices_sum_exactly_and_fire_no_earlier_than_scheduled(drv):
    s = drv.stack
    s.oms.on_quote(quote(size=10**6))
    algo = s.oms.start_algo(AlgoRequest("AAPL", BUY, 1003, AlgoKind.TWAP, 80 * MS, slices=4))
    assert [sl.quantity for sl in algo.slices] == [250, 251, 251, 251]
    assert sum(sl.quantity for sl in algo.slices) == 1003
    times = [sl.scheduled_ns for sl in algo.slices]
    assert [b - a for a, b in zip([algo.start_ns, *times], times)] == [20 * MS] * 4
    await drv.advance(90 * MS)
    await drv.eventually(lambda: algo.state is AlgoState.COMPLETED, "TWAP completed")
    assert all(sl.fired_ns is not None and sl.fired_ns >= sl.scheduled_ns for sl in algo.slices)
    assert algo.filled_qty == 1003 and s.pms.position("AAPL").quantity == 1003
    children = [s.oms.get(sl.child_order_id) for sl in algo.slices]
    assert all(c.parent_algo_id == algo.algo_id for c in children)
    assert s.oms.get_algo(algo.algo_id) is algo
    if drv.build == "clocked":
        assert [sl.fired_ns for sl in algo.slices] == times  # exactly on schedule


async def test_vwap_follows_the_profile_and_sums_exactly(drv):
    s = drv.stack
    s.oms.on_quote(quote(size=10**6))
    profile = (Decimal("0.5"), Decimal("0.2"), Decimal("0.3"))
    algo = s.ems.start(AlgoRequest("AAPL", SELL, 1001, AlgoKind.VWAP, 60 * MS, profile=profile))
    assert [sl.quantity for sl in algo.slices] == [500, 200, 301]
    await drv.advance(70 * MS)
    await drv.eventually(lambda: algo.state is AlgoState.COMPLETED, "VWAP completed")
    assert s.pms.position("AAPL").quantity == -1001


async def test_pov_sends_its_share_of_reported_volume(drv):
    s = drv.stack
    s.oms.on_quote(quote(size=10**6))
    rate = Decimal("0.1")
    algo = s.ems.start(AlgoRequest("AAPL", BUY, 10_000, AlgoKind.POV, 60 * MS, participation_rate=rate,
                                   interval_ns=20 * MS))  # fmt: skip
    s.oms.on_quote(quote(size=10**6, volume=3000))
    await drv.advance(25 * MS)
    s.oms.on_quote(quote(size=10**6, volume=2000))
    await drv.advance(45 * MS)
    await drv.eventually(lambda: algo.state is AlgoState.COMPLETED, "POV completed")
    assert algo.sent_qty == 500 == sum(sl.quantity for sl in algo.slices)
    assert all(sl.fired_ns >= sl.scheduled_ns for sl in algo.slices)


async def test_pause_resume_and_cancel_an_algo(drv):
    s = drv.stack
    s.oms.on_quote(quote(size=10**6))
    a = s.ems.start(AlgoRequest("AAPL", BUY, 400, AlgoKind.TWAP, 40 * MS, slices=2))
    first_due = a.slices[0].scheduled_ns
    s.ems.pause(a.algo_id)
    with pytest.raises(AlgoStateError):
        s.ems.pause(a.algo_id)
    await drv.advance(60 * MS)
    assert a.state is AlgoState.PAUSED and all(sl.fired_ns is None for sl in a.slices)
    s.ems.resume(a.algo_id)
    assert a.slices[0].scheduled_ns >= first_due + 60 * MS  # the schedule moved by the pause
    await drv.advance(50 * MS)
    await drv.eventually(lambda: a.state is AlgoState.COMPLETED, "resumed algo completed")
    assert a.filled_qty == 400

    b = s.ems.start(AlgoRequest("AAPL", SELL, 400, AlgoKind.TWAP, 40 * MS, slices=2))
    assert s.ems.cancel(b.algo_id).state is AlgoState.CANCELED
    await drv.advance(50 * MS)
    assert all(sl.fired_ns is None for sl in b.slices)
    with pytest.raises(AlgoStateError):
        s.ems.resume(b.algo_id)
    with pytest.raises(UnknownAlgoError):
        s.ems.get("A999")


async def test_invalid_algo_requests_name_their_fields(drv):
    s = drv.stack
    with pytest.raises(InvalidOrderRequest) as exc:
        s.ems.start(AlgoRequest("AAPL", BUY, 100, AlgoKind.VWAP, 10 * MS, profile=(Decimal("0.5"), Decimal("0.4"))))
    assert [e.field for e in exc.value.errors] == ["profile"]
    with pytest.raises(InvalidOrderRequest) as exc:
        s.ems.start(AlgoRequest("AAPL", BUY, 0, AlgoKind.POV, 0))
    assert [e.field for e in exc.value.errors] == ["quantity", "duration_ns", "participation_rate", "interval_ns"]


async def test_positions_are_marked_to_market_on_quotes(drv):
    s = drv.stack
    s.oms.on_quote(quote(bid="99.99", ask="100.01"))
    s.oms.submit(market("c1", BUY, 100))
    s.oms.on_quote(quote(bid="101.99", ask="102.01"))
    pos = s.pms.position("AAPL")
    assert pos.mark_price == Decimal("102.00")
    assert pos.unrealized_pnl == (Decimal("102.00") - Decimal("100.01")) * 100
    assert pos.last_mark_ns >= pos.last_update_ns
