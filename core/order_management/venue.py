"""A simulated venue: an order book per instrument fed by a seeded quote generator, and matching.

Deterministic by construction: the generator draws from its own ``random.Random(seed)``, the
venue has no time source (every call is given ``ts_ns``) and iterates only over lists and
insertion-ordered dicts. Same seed and same calls, same fills.

Matching rules:
- a MARKET order sweeps the opposite side from the best price; what the book cannot fill is
  canceled (a thin book gives a partial fill);
- a LIMIT order first takes what is available at its price or better; the rest rests (GTC, DAY,
  GTD) or is canceled (IOC). A resting order fills when a later quote crosses it, at the quoted
  prices at or better than its limit, oldest resting order first;
- liquidity taken stays taken until the next quote replaces the book. Resting client orders are
  not shown in the book (the market makers quoting it do not see them).
The venue rejects orders for an instrument it has no quote for yet, and LIMIT prices further
than ``price_band`` (a fraction) from the mid price.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from .domain import Fill, Instrument, Order, OrderType, Side, TimeInForce, commission_for

DEFAULT_START_PRICES: dict[str, Decimal] = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("410.00"),
    "EURUSD": Decimal("1.08000"),
    "ES": Decimal("5600.00"),
    "BUND": Decimal("130.00"),
}


@dataclass(frozen=True, slots=True)
class Quote:
    """A snapshot of one instrument's book: levels best first, and market volume since the last quote."""

    instrument: str
    bids: tuple[tuple[Decimal, int], ...]
    asks: tuple[tuple[Decimal, int], ...]
    volume: int = 0


class QuoteGenerator:
    """Seeded random-walk quotes: a mid price moving by whole ticks, ``levels`` levels a side."""

    def __init__(self, instruments: Mapping[str, Instrument], seed: int, *, levels: int = 5,
                 start_prices: Mapping[str, Decimal] | None = None) -> None:  # fmt: skip
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        self._rng = random.Random(seed)
        self._instruments = dict(instruments)
        self._symbols = sorted(instruments)
        self.levels = levels
        prices = dict(DEFAULT_START_PRICES)
        if start_prices:
            prices.update(start_prices)
        self._mid_ticks: dict[str, int] = {}
        for sym in self._symbols:
            tick = self._instruments[sym].tick_size
            start = prices.get(sym, Decimal(100))
            self._mid_ticks[sym] = int(start / tick)

    def next_quote(self, symbol: str) -> Quote:
        inst = self._instruments[symbol]
        rng = self._rng
        mid = self._mid_ticks[symbol] + rng.choice((-2, -1, -1, 0, 0, 0, 1, 1, 2))
        mid = max(mid, 4 * self.levels + 10)
        self._mid_ticks[symbol] = mid
        tick = inst.tick_size
        unit = 100 * inst.lot_size
        bid0 = mid - rng.randint(1, 2)
        ask0 = mid + rng.randint(1, 2)
        bids = tuple((tick * (bid0 - i), rng.randint(1, 20) * unit) for i in range(self.levels))
        asks = tuple((tick * (ask0 + i), rng.randint(1, 20) * unit) for i in range(self.levels))
        return Quote(symbol, bids, asks, rng.randint(0, 50) * unit)

    def next_quotes(self) -> list[Quote]:
        """One quote for each instrument, in symbol order."""
        return [self.next_quote(sym) for sym in self._symbols]


class OrderBook:
    """One instrument's visible liquidity: ``[price, size]`` levels, best first."""

    __slots__ = ("instrument", "bids", "asks", "has_market")

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.bids: list[list] = []
        self.asks: list[list] = []
        self.has_market = False

    def apply(self, quote: Quote) -> None:
        self.bids = [[p, s] for p, s in quote.bids]
        self.asks = [[p, s] for p, s in quote.asks]
        self.has_market = True

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    def mid(self) -> Decimal | None:
        if self.bids and self.asks:
            return (self.bids[0][0] + self.asks[0][0]) / 2
        return None


class VenueAck(NamedTuple):
    """The venue's answer to a new order: accepted or not (why), the fills at once, and whether it rests."""

    accepted: bool
    reason: str
    fills: list[Fill]
    resting: bool


class _Resting:
    __slots__ = ("order_id", "side", "limit", "leaves", "age")

    def __init__(self, order_id: str, side: Side, limit: Decimal, leaves: int, age: int = 0) -> None:
        self.order_id = order_id
        self.side = side
        self.limit = limit
        self.leaves = leaves
        self.age = age  # rests after every order with a lower age

    @property
    def key(self) -> tuple[Decimal, int, str]:
        return (self.limit, self.age, self.order_id)


def _sweep(levels: list[list], buy: bool, limit: Decimal | None, qty: int) -> list[tuple[Decimal, int]]:
    """Take up to ``qty`` from ``levels`` (best first) at prices no worse than ``limit``."""
    taken: list[tuple[Decimal, int]] = []
    while qty and levels:
        level = levels[0]
        price = level[0]
        if limit is not None and (price > limit if buy else price < limit):
            break
        size = level[1]
        if size <= qty:
            taken.append((price, size))
            qty -= size
            del levels[0]
        else:
            taken.append((price, qty))
            level[1] = size - qty
            qty = 0
    return taken


class SimulatedVenue:
    """Matches orders against the books; knows nothing of time but the ``ts_ns`` it is given."""

    def __init__(self, instruments: Mapping[str, Instrument], *, commission_bps: Decimal = Decimal("0.5"),
                 price_band: Decimal = Decimal("0.5")) -> None:  # fmt: skip
        self.instruments = dict(instruments)
        self.books = {sym: OrderBook(sym) for sym in self.instruments}
        self.commission_bps = commission_bps
        self.price_band = price_band
        self._resting: dict[str, dict[str, _Resting]] = {sym: {} for sym in self.instruments}
        self._resting_ids: dict[str, str] = {}  # order id -> instrument
        # The resting orders by limit (then age), per instrument and side: a quote looks only at those
        # its prices cross, not at every resting order (a scan of all of them per quote grew with the
        # book: 40,000 resting orders made each quote a ~100 ms callback)
        self._by_limit: dict[tuple[str, Side], list[tuple[Decimal, int, str]]] = {
            (sym, side): [] for sym in self.instruments for side in Side}
        self._age = 0
        self._volume = dict.fromkeys(self.instruments, 0)
        self._fill_seq = 0
        self.fill_prefix = ""  # fill ids are <prefix>F<n>: a service sharing a database makes them unique

    # --- market data -----------------------------------------------------------------------
    def on_quote(self, quote: Quote, ts_ns: int) -> list[Fill]:
        """Replace the instrument's book and fill resting orders the new prices cross."""
        book = self.books[quote.instrument]
        book.apply(quote)
        self._volume[quote.instrument] += quote.volume
        resting = self._resting[quote.instrument]
        if not resting:
            return []
        # Only an order the quote's best price crosses can fill: taking liquidity only makes the
        # prices worse. Those are taken oldest first, as a scan of every resting order would.
        crossing: list[tuple[Decimal, int, str]] = []
        if book.asks:
            buys = self._by_limit[(quote.instrument, Side.BUY)]
            crossing += buys[bisect.bisect_left(buys, (book.asks[0][0],)):]
        if book.bids:
            sells = self._by_limit[(quote.instrument, Side.SELL)]
            crossing += sells[:bisect.bisect_right(sells, (book.bids[0][0], math.inf))]
        crossing.sort(key=lambda k: k[1])
        fills: list[Fill] = []
        for _, _, oid in crossing:
            r = resting[oid]
            buy = r.side is Side.BUY
            taken = _sweep(book.asks if buy else book.bids, buy, r.limit, r.leaves)
            for price, qty in taken:
                fills.append(self._fill(r.order_id, quote.instrument, r.side, qty, price, ts_ns))
                r.leaves -= qty
            if r.leaves == 0:
                self._withdraw(quote.instrument, r)
        return fills

    def _withdraw(self, instrument: str, r: _Resting) -> None:
        del self._resting[instrument][r.order_id]
        del self._resting_ids[r.order_id]
        keys = self._by_limit[(instrument, r.side)]
        del keys[bisect.bisect_left(keys, r.key)]

    def traded_volume(self, symbol: str) -> int:
        """Market volume reported by quotes for ``symbol`` since the venue started (for POV)."""
        return self._volume[symbol]

    def mid_price(self, symbol: str) -> Decimal | None:
        return self.books[symbol].mid()

    # --- orders ----------------------------------------------------------------------------
    def submit(self, order: Order, ts_ns: int) -> VenueAck:
        book = self.books.get(order.instrument)
        if book is None:
            return VenueAck(False, f"venue does not list {order.instrument}", [], False)
        if not book.has_market:
            return VenueAck(False, f"no market in {order.instrument} yet", [], False)
        buy = order.side is Side.BUY
        limit = order.limit_price
        if order.order_type is OrderType.LIMIT:
            mid = book.mid()
            if mid is not None and abs(limit - mid) > mid * self.price_band:  # type: ignore[operator]
                return VenueAck(False, f"limit price {limit} is outside the price band around {mid}", [], False)
        taken = _sweep(book.asks if buy else book.bids, buy, limit, order.quantity - order.filled_qty)
        fills = [self._fill(order.order_id, order.instrument, order.side, q, p, ts_ns) for p, q in taken]
        leaves = order.quantity - order.filled_qty - sum(q for _, q in taken)
        rests = (leaves > 0 and order.order_type is OrderType.LIMIT
                 and order.time_in_force is not TimeInForce.IOC)  # fmt: skip
        if rests:
            self._age += 1
            r = _Resting(order.order_id, order.side, limit, leaves, self._age)  # type: ignore[arg-type]
            self._resting[order.instrument][order.order_id] = r
            self._resting_ids[order.order_id] = order.instrument
            bisect.insort(self._by_limit[(order.instrument, order.side)], r.key)
        return VenueAck(True, "", fills, rests)

    def cancel(self, order_id: str) -> bool:
        """Withdraw a resting order; False if it is not resting (filled, or never rested)."""
        sym = self._resting_ids.get(order_id)
        if sym is None:
            return False
        self._withdraw(sym, self._resting[sym][order_id])
        return True

    def is_resting(self, order_id: str) -> bool:
        return order_id in self._resting_ids

    def _fill(self, order_id: str, instrument: str, side: Side, qty: int, price: Decimal, ts_ns: int) -> Fill:
        self._fill_seq += 1
        return Fill(f"{self.fill_prefix}F{self._fill_seq}", order_id, instrument, side, qty, price,
                    commission_for(qty, price, self.commission_bps), ts_ns)  # fmt: skip
