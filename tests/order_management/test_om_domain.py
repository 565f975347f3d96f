"""Domain rules, the venue's determinism, exact splits, business days and P&L: pure logic."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targets.clock import NANOS_IN_DAY, NANOS_IN_HOUR, TestClock
from core.order_management.algos import default_vwap_profile, slice_times, split_even, split_weighted
from core.order_management.business_days import BusinessCalendar, TradingDay
from core.order_management.domain import (
    InvalidOrderRequest,
    Order,
    OrderRequest,
    OrderType,
    OrderValidationError,
    Position,
    Side,
    TimeInForce,
    default_instruments,
    parse_order_request,
    validate_request,
)
from targets.order_management.settlement import SettlementController
from targets.order_management.simulation import run_simulation
from core.order_management.venue import QuoteGenerator, SimulatedVenue

REPO = Path(__file__).resolve().parents[2]
INST = default_instruments()
D = Decimal


def fields(req: OrderRequest, now: int = 0) -> list[str]:
    return [e.field for e in validate_request(req, INST, now)]


# --- validation ------------------------------------------------------------------------------
def test_valid_requests_have_no_errors():
    assert fields(OrderRequest("a", "AAPL", Side.BUY, 10)) == []
    assert fields(OrderRequest("a", "AAPL", Side.SELL, 10, OrderType.LIMIT, D("1.23"), TimeInForce.GTD, 5), 1) == []


@pytest.mark.parametrize(
    ("req", "field", "words"),
    [
        (OrderRequest("a", "XYZ", Side.BUY, 1), "instrument", "unknown instrument"),
        (OrderRequest("a", "AAPL", Side.BUY, 0), "quantity", "> 0"),
        (OrderRequest("a", "AAPL", Side.BUY, -5), "quantity", "> 0"),
        (OrderRequest("a", "AAPL", Side.BUY, True), "quantity", "whole number"),
        (OrderRequest("a", "EURUSD", Side.BUY, 1500), "quantity", "lot size"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, OrderType.LIMIT), "limit_price", "required"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, OrderType.LIMIT, 1.5), "limit_price", "exact decimal"),  # type: ignore[arg-type]
        (OrderRequest("a", "AAPL", Side.BUY, 1, OrderType.LIMIT, D("1.234")), "limit_price", "tick size"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, OrderType.MARKET, D("1.00")), "limit_price", "empty for a MARKET"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, time_in_force=TimeInForce.GTD), "expire_time_ns", "required"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, time_in_force=TimeInForce.GTD, expire_time_ns=10), "expire_time_ns", "not after"),
        (OrderRequest("a", "AAPL", Side.BUY, 1, time_in_force=TimeInForce.DAY, expire_time_ns=99), "expire_time_ns", "only allowed with GTD"),
        (OrderRequest("", "AAPL", Side.BUY, 1), "client_order_id", "non-empty"),
        (OrderRequest("a", "AAPL", "BUY", 1), "side", "BUY or SELL"),  # type: ignore[arg-type]
    ],
)
def test_each_invalid_field_is_named_with_its_reason(req, field, words):
    [err] = validate_request(req, INST, 10)
    assert err.field == field and words in err.reason and str(err).startswith(f"{field}: ")


def test_invalid_request_collects_every_field_error():
    exc = InvalidOrderRequest(validate_request(OrderRequest("", "X", Side.BUY, 0, OrderType.LIMIT), INST, 0))
    assert [e.field for e in exc.errors] == ["client_order_id", "instrument", "quantity", "limit_price"]
    assert isinstance(exc, OrderValidationError) and exc.field == "client_order_id"
    assert "instrument: unknown instrument 'X'" in str(exc)
    assert [e.as_dict()["field"] for e in exc.errors][1] == "instrument"


def test_parse_order_request_from_loose_input():
    req = parse_order_request({"client_order_id": "a", "instrument": "AAPL", "side": "buy", "quantity": "10",
                               "order_type": "limit", "limit_price": "101.50", "time_in_force": "ioc"})  # fmt: skip
    assert (req.side, req.order_type, req.limit_price, req.quantity) == (Side.BUY, OrderType.LIMIT, D("101.50"), 10)
    with pytest.raises(InvalidOrderRequest) as exc:
        parse_order_request({"side": "up", "order_type": "stop", "limit_price": 1.5})
    assert [e.field for e in exc.value.errors] == ["side", "order_type", "limit_price"]


# --- exact splits ----------------------------------------------------------------------------
@given(st.integers(1, 10**9), st.integers(1, 500))
def test_split_even_sums_exactly_and_differs_by_at_most_one(q, n):
    parts = split_even(q, n)
    assert sum(parts) == q and len(parts) == n and max(parts) - min(parts) <= 1


@given(st.integers(1, 10**9), st.integers(1, 30))
def test_split_weighted_sums_exactly(q, n):
    profile = default_vwap_profile(n)
    assert sum(profile) == 1
    parts = split_weighted(q, profile)
    assert sum(parts) == q and all(p >= 0 for p in parts)


def test_slice_times_are_exact_and_end_at_the_duration():
    assert slice_times(1000, 100, 4) == [1025, 1050, 1075, 1100]
    assert slice_times(0, 10, 3)[-1] == 10


# --- venue -----------------------------------------------------------------------------------
def _run_venue(seed: int) -> list[tuple]:
    venue = SimulatedVenue(INST)
    gen = QuoteGenerator(INST, seed)
    rng = random.Random(seed)
    out = []
    for step in range(300):
        for q in gen.next_quotes():
            out += [(f.fill_id, f.order_id, f.quantity, f.price) for f in venue.on_quote(q, step)]
        sym = rng.choice(sorted(INST))
        req = OrderRequest(f"c{step}", sym, rng.choice([Side.BUY, Side.SELL]), 100 * INST[sym].lot_size)
        order = Order(f"O{step}", step, req, step, None)
        ack = venue.submit(order, step)
        out += [(f.fill_id, f.order_id, f.quantity, f.price) for f in ack.fills]
    return out


def test_venue_same_seed_same_fills_other_seed_other_fills():
    a, b, c = _run_venue(7), _run_venue(7), _run_venue(8)
    assert a == b and len(a) >= 300
    assert a != c


def test_quote_generator_prices_are_on_ticks_and_books_are_not_crossed():
    gen = QuoteGenerator(INST, 3)
    for _ in range(200):
        for q in gen.next_quotes():
            tick = INST[q.instrument].tick_size
            assert q.bids[0][0] < q.asks[0][0]
            assert all(p % tick == 0 and s > 0 for p, s in q.bids + q.asks)


# --- positions and P&L -----------------------------------------------------------------------
def test_open_add_reduce_close_long():
    p = Position("X")
    assert p.apply(Side.BUY, 100, D("10"), D("1")) == 0  # open
    p.apply(Side.BUY, 100, D("12"), D("1"))  # add
    assert (p.quantity, p.avg_price) == (200, D("11"))
    assert p.apply(Side.SELL, 50, D("13"), D("1")) == D("100")  # reduce at a gain
    assert (p.quantity, p.avg_price) == (150, D("11"))
    assert p.apply(Side.SELL, 150, D("10"), D("1")) == D("-150")  # close at a loss
    assert (p.quantity, p.avg_price, p.realized_pnl) == (0, 0, D("-50"))
    assert p.commissions == D("4") and p.net_realized_pnl == D("-54")


def test_short_covered_below_entry_is_a_gain_and_above_a_loss():
    p = Position("X")
    p.apply(Side.SELL, 100, D("50"), D("0"))
    assert p.quantity == -100 and p.avg_price == D("50")
    assert p.apply(Side.BUY, 40, D("45"), D("0")) == D("200")
    assert p.apply(Side.BUY, 60, D("52"), D("0")) == D("-120")
    assert p.quantity == 0 and p.realized_pnl == D("80")


def test_flip_from_long_to_short_opens_the_rest_at_the_fill_price():
    p = Position("X")
    p.apply(Side.BUY, 100, D("10"), D("0"))
    assert p.apply(Side.SELL, 250, D("12"), D("0")) == D("200")
    assert (p.quantity, p.avg_price) == (-150, D("12"))
    p.mark_price = D("11")
    assert p.unrealized_pnl == D("150")  # short 150 from 12, marked at 11


# --- business days and settlement ------------------------------------------------------------
MON = (date(2025, 8, 25) - date(1970, 1, 1)).days  # a Monday
FRI = MON + 4


@pytest.mark.parametrize(("trade_day", "n", "settle_day"), [
    (MON, 0, MON), (MON, 1, MON + 1), (MON, 3, MON + 3),
    (FRI, 0, FRI), (FRI, 1, MON + 7), (FRI, 2, MON + 8), (FRI, 3, MON + 9),
    (FRI + 1, 0, MON + 7), (FRI + 1, 1, MON + 8),  # a Saturday trade rolls to Monday first
])  # fmt: skip
def test_business_days_skip_weekends(trade_day, n, settle_day):
    assert BusinessCalendar().add_business_days(trade_day, n) == settle_day


def test_holidays_are_skipped_and_dates_are_real_dates():
    cal = BusinessCalendar([date(2025, 8, 26)])
    assert cal.date_of_day(cal.add_business_days(MON, 1)) == date(2025, 8, 27)
    assert cal.date_of_day(MON).weekday() == 0


def test_trading_day_expiry_is_the_next_close():
    td = TradingDay(21 * NANOS_IN_HOUR)
    day = MON * NANOS_IN_DAY
    assert td.expiry_ns(day + 13 * NANOS_IN_HOUR) == day + 21 * NANOS_IN_HOUR
    assert td.expiry_ns(day + 21 * NANOS_IN_HOUR) == day + NANOS_IN_DAY + 21 * NANOS_IN_HOUR
    with pytest.raises(ValueError):
        TradingDay(NANOS_IN_DAY)


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_clocked_settlement_t_plus_n_over_a_weekend(n):
    from core.order_management.domain import Fill

    friday_2pm = FRI * NANOS_IN_DAY + 14 * NANOS_IN_HOUR
    clock = TestClock(friday_2pm)
    ctl = SettlementController(clock)
    fill = Fill("F1", "O1", "AAPL", Side.BUY, 1, D("1"), D("0"), friday_2pm)
    due = ctl.book(fill, n)
    expected = friday_2pm if n == 0 else (MON + 7 + n - 1) * NANOS_IN_DAY
    assert due == expected
    clock.advance_time(FRI * NANOS_IN_DAY + 10 * NANOS_IN_DAY)
    assert ctl.settled() == [(expected, fill)] and ctl.pending() == 0


# --- deterministic replay --------------------------------------------------------------------
def test_simulation_is_deterministic_in_process():
    a, b = run_simulation(5, 200), run_simulation(5, 200)
    assert (a.events, a.digest) == (b.events, b.digest) and a.events > 200
    assert run_simulation(6, 200).digest != a.digest


def _simulate(seed: int) -> str:
    out = subprocess.run([sys.executable, "-m", "harness", "simulate", "orders", "--seed", str(seed), "--orders", "400"],
                         cwd=REPO, capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    return next(line for line in out.splitlines() if line.startswith("digest"))


def test_simulate_command_gives_the_same_digest_in_separate_processes():
    first, second, other = _simulate(11), _simulate(11), _simulate(12)
    assert first == second and first.startswith("digest  sha256:")
    assert other != first


def test_simulate_command_rejects_bad_input_without_a_traceback():
    r = subprocess.run([sys.executable, "-m", "harness", "simulate", "orders", "--seed", "abc"],
                       cwd=REPO, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2 and "--seed must be an integer" in r.stderr and "Traceback" not in r.stderr

