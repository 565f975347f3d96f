"""A quote fills exactly what a scan of every resting order, oldest first, would fill."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from core.order_management.domain import Order, OrderRequest, OrderType, Side, default_instruments
from core.order_management.venue import QuoteGenerator, SimulatedVenue, _sweep


class _ScanAllVenue(SimulatedVenue):
    """The reference: every resting order of the instrument, oldest first, tried against the quote."""

    def on_quote(self, quote, ts_ns):  # type: ignore[no-untyped-def]
        book = self.books[quote.instrument]
        book.apply(quote)
        self._volume[quote.instrument] += quote.volume
        fills = []
        for r in list(self._resting[quote.instrument].values()):
            buy = r.side is Side.BUY
            for price, qty in _sweep(book.asks if buy else book.bids, buy, r.limit, r.leaves):
                fills.append(self._fill(r.order_id, quote.instrument, r.side, qty, price, ts_ns))
                r.leaves -= qty
            if r.leaves == 0:
                self._withdraw(quote.instrument, r)
        return fills


def _scenario(venue: SimulatedVenue, seed: int) -> list[tuple]:
    inst = default_instruments()
    gen, rng, out, live = QuoteGenerator(inst, seed), random.Random(seed), [], []
    for step in range(400):
        for q in gen.next_quotes():
            out += [(f.fill_id, f.order_id, f.side, f.quantity, f.price) for f in venue.on_quote(q, step)]
        sym = rng.choice(sorted(inst))
        mid = venue.mid_price(sym)
        if mid is None:
            continue
        ticks = rng.randint(-8, 8)  # around the mid: some cross at once, some rest, some fill later
        limit = (mid + ticks * inst[sym].tick_size).quantize(inst[sym].tick_size)
        req = OrderRequest(f"c{step}", sym, rng.choice([Side.BUY, Side.SELL]),
                           rng.randint(1, 30) * inst[sym].lot_size, OrderType.LIMIT, limit)
        ack = venue.submit(Order(f"O{step}", step, req, step, None), step)
        out += [(f.fill_id, f.order_id, f.side, f.quantity, f.price) for f in ack.fills]
        if ack.resting:
            live.append(f"O{step}")
        if live and rng.random() < 0.2:
            oid = live.pop(rng.randrange(len(live)))
            out.append(("cancel", oid, venue.cancel(oid)))
    resting = sorted(oid for oid in live if venue.is_resting(oid))
    return out + [("resting", tuple(resting))]


@pytest.mark.parametrize("seed", range(6))
def test_only_crossed_orders_are_looked_at_and_the_fills_are_the_same(seed: int) -> None:
    inst = default_instruments()
    fast, ref = _scenario(SimulatedVenue(inst), seed), _scenario(_ScanAllVenue(inst), seed)
    assert fast == ref
    assert sum(1 for e in fast if len(e) == 5) > 50  # the scenario does trade


def test_resting_orders_are_kept_by_limit_and_a_cancel_takes_one_out() -> None:
    inst = default_instruments()
    venue = SimulatedVenue(inst)
    gen = QuoteGenerator(inst, 1)
    for q in gen.next_quotes():
        venue.on_quote(q, 0)
    mid = venue.mid_price("AAPL")
    far = (mid / 2 + inst["AAPL"].tick_size * 100).quantize(inst["AAPL"].tick_size)
    for i in range(2_000):  # far below the market: they rest and no quote crosses them
        req = OrderRequest(f"c{i}", "AAPL", Side.BUY, inst["AAPL"].lot_size, OrderType.LIMIT, far + 0 * Decimal(i))
        assert venue.submit(Order(f"R{i}", i, req, i, None), i).resting
    keys = venue._by_limit[("AAPL", Side.BUY)]
    assert len(keys) == 2_000 and keys == sorted(keys)
    assert venue.cancel("R7") and not venue.is_resting("R7") and len(keys) == 1_999
    assert not venue.cancel("R7")
