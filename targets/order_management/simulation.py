"""Deterministic replay of the whole order flow on a ``TestClock``.

A seeded generator produces client actions (orders of every type and time in force, cancels,
bad requests, duplicate client ids, TWAP/VWAP/POV algos); a seeded quote generator moves the
market on a clock timer; the OMS, venue, EMS, PMS and settlement process it all, and every
effect goes to one canonical event log. The run is a pure function of (seed, orders): the same
arguments give a byte-identical log, hence the same sha256 digest, in any process.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from targets.clock import NANOS_IN_DAY, NANOS_IN_MILLISECOND, NANOS_IN_SECOND, TestClock, TimeEvent

from core.order_management.algos import AlgoKind, AlgoRequest, default_vwap_profile
from core.order_management.domain import (
    DuplicateClientOrderIdError,
    EventLog,
    OrderAlreadyFinalError,
    OrderManagementError,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from .stack import build_stack
from core.order_management.venue import QuoteGenerator

START_NS = 1_756_128_600_000_000_000  # Monday 2025-08-25 13:30:00 UTC
QUOTE_INTERVAL_NS = 10 * NANOS_IN_MILLISECOND
TAIL_NS = 10 * NANOS_IN_SECOND  # quotes keep coming this long after the last order (algos finish)
SETTLE_HORIZON_NS = 8 * NANOS_IN_DAY  # then time jumps far enough for every T+3 and DAY expiry


@dataclass
class SimulationResult:
    seed: int
    orders: int
    events: int
    digest: str
    counts: dict[str, int] = field(default_factory=dict)
    timing: dict[str, dict[str, int]] = field(default_factory=dict)
    log: EventLog | None = None


def run_simulation(seed: int, orders: int, *, keep_log: bool = False) -> SimulationResult:
    """Run ``orders`` order submissions (plus cancels and algos) through the whole flow."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if not isinstance(orders, int) or orders < 1:
        raise ValueError(f"orders must be an integer >= 1, got {orders!r}")
    clock = TestClock(START_NS)
    log = EventLog()
    stack = build_stack(clock, events=log)
    oms, venue = stack.oms, stack.venue
    instruments = venue.instruments
    symbols = sorted(instruments)
    quotes = QuoteGenerator(instruments, seed)
    rng = random.Random(seed * 7919 + 17)  # the client actions' own stream

    def feed(_: TimeEvent | None = None) -> None:
        for q in quotes.next_quotes():
            oms.on_quote(q)

    feed()
    clock.set_timer("sim:quotes", QUOTE_INTERVAL_NS, feed)

    counts: Counter[str] = Counter()
    submitted: list[str] = []
    client_ids: list[str] = []
    now = START_NS
    n = 0
    while n < orders:
        now += rng.randint(1, 20) * NANOS_IN_MILLISECOND
        clock.advance_time(now)
        roll = rng.random()
        if roll < 0.08 and submitted:
            live = [oid for oid in submitted[-50:] if not oms.get(oid).is_final]
            pool = live if live and rng.random() < 0.8 else submitted
            oid = pool[rng.randrange(len(pool))]
            try:
                oms.cancel(oid)
                counts["cancel"] += 1
            except OrderAlreadyFinalError as exc:
                log.emit(now, "cancel_refused", oid, exc.reason)
                counts["cancel_refused"] += 1
            continue
        if roll < 0.13:
            _start_algo(stack, rng, symbols, now, log, counts)
            continue
        n += 1
        req = _order_request(rng, n, symbols, instruments, venue, now)
        if roll < 0.15:  # a bad request: every field error is reported
            req = OrderRequest(req.client_order_id, "NOPE", req.side, 0, OrderType.LIMIT)
        elif roll < 0.16 and client_ids:  # a client re-using an id
            req = OrderRequest(client_ids[rng.randrange(len(client_ids))], req.instrument, req.side, req.quantity)
        try:
            order = oms.submit(req)
        except DuplicateClientOrderIdError as exc:
            log.emit(now, "duplicate", exc.client_order_id, exc.order_id)
            counts["duplicate"] += 1
            continue
        except OrderManagementError as exc:
            log.emit(now, "invalid", req.client_order_id, *(f"{e.field}:{e.reason}" for e in exc.errors))  # type: ignore[attr-defined]
            counts["invalid"] += 1
            continue
        submitted.append(order.order_id)
        client_ids.append(order.client_order_id)

    clock.advance_time(now + TAIL_NS)
    clock.cancel_timer("sim:quotes")
    clock.advance_time(now + SETTLE_HORIZON_NS)

    for order in oms.orders():
        counts[f"order.{order.state.value.lower()}"] += 1
    counts["fills"] = sum(1 for line in log.lines if line.split("|", 2)[1] == "fill")
    counts["settled"] = len(stack.settlement.settled())
    counts["algos"] = len(stack.ems.algos())
    return SimulationResult(seed, orders, len(log), log.digest(), dict(sorted(counts.items())),
                            stack.timing.summary(), log if keep_log else None)  # fmt: skip


def _order_request(rng: random.Random, n: int, symbols: list[str], instruments: dict, venue, now: int) -> OrderRequest:  # type: ignore[no-untyped-def]
    sym = symbols[rng.randrange(len(symbols))]
    inst = instruments[sym]
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    qty = rng.randint(1, 10) * 100 * inst.lot_size
    cid = f"C{n}"
    if rng.random() < 0.3:
        return OrderRequest(cid, sym, side, qty, OrderType.MARKET, None, TimeInForce.IOC)
    mid = venue.mid_price(sym)
    offset = rng.randint(-6, 6) * inst.tick_size
    price = (mid - mid % inst.tick_size) + offset
    tif = (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.DAY, TimeInForce.GTD)[rng.randrange(4)]
    expire = now + rng.randint(5, 300) * 10 * NANOS_IN_MILLISECOND if tif is TimeInForce.GTD else None
    return OrderRequest(cid, sym, side, qty, OrderType.LIMIT, price, tif, expire)


def _start_algo(stack, rng: random.Random, symbols: list[str], now: int, log: EventLog, counts: Counter) -> None:  # type: ignore[no-untyped-def]
    sym = symbols[rng.randrange(len(symbols))]
    lot = stack.venue.instruments[sym].lot_size
    side = Side.BUY if rng.random() < 0.5 else Side.SELL
    qty = rng.randint(5, 40) * 100 * lot
    duration = rng.randint(1, 5) * NANOS_IN_SECOND
    kind = (AlgoKind.TWAP, AlgoKind.VWAP, AlgoKind.POV)[rng.randrange(3)]
    if kind is AlgoKind.TWAP:
        req = AlgoRequest(sym, side, qty, kind, duration, slices=rng.randint(2, 10))
    elif kind is AlgoKind.VWAP:
        req = AlgoRequest(sym, side, qty, kind, duration, profile=default_vwap_profile(rng.randint(2, 8)))
    else:
        rate = Decimal(rng.randint(5, 30)) / 100
        req = AlgoRequest(sym, side, qty, kind, duration, participation_rate=rate, interval_ns=200 * NANOS_IN_MILLISECOND)
    algo = stack.oms.start_algo(req)
    counts[f"algo.{kind.value.lower()}"] += 1
    if rng.random() < 0.2:  # sometimes a trader pauses it for a while
        algo_id = algo.algo_id
        stack.ems.pause(algo_id)
        resume_at = now + rng.randint(1, 10) * 100 * NANOS_IN_MILLISECOND
        stack.clock.set_time_alert(f"sim:resume:{algo_id}", resume_at, lambda _e: stack.ems.resume(algo_id))
        counts["algo.paused"] += 1
