"""Fills read back from the database: their settlement dates, and positions rebuilt from them.

Why here: a fill's settlement date and a position are pure functions of the fills (the calendar,
the instrument's T+N, the same ``Position.apply`` the PMS uses, the venue's commission rule), so any
worker can answer them from the one shared record, PostgreSQL, and every worker answers the same.
No time source here: "settled" is judged against a time the caller gives.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from .business_days import BusinessCalendar
from .domain import Instrument, Position, Side, commission_for

DEFAULT_COMMISSION_BPS = Decimal("0.5")  # the simulated venue's (core/order_management/venue.py)


@dataclass(frozen=True)
class StoredFill:
    """A fill as stored: ``ts_ns`` is its trade time (the time its row was stamped with)."""

    fill_id: str
    order_id: str
    instrument: str
    side: Side
    quantity: int
    price: Decimal
    ts_ns: int
    seq: int = 0  # the row's sequence number: with ts_ns, the fill's place in trade order


def settlement(fill: StoredFill, instruments: Mapping[str, Instrument], calendar: BusinessCalendar,
               now_ns: int) -> dict[str, object]:  # fmt: skip
    """The fill's settlement: T+N business days after its trade (N per instrument), and whether
    that time has come by ``now_ns``."""
    days = instruments[fill.instrument].settlement_days
    due = calendar.settlement_ns(fill.ts_ns, days)
    return {"settlement_days": days, "settlement_ns": due,
            "settlement_date": calendar.date_of_day(calendar.day_of(due)).isoformat(), "settled": due <= now_ns}


def fill_view(fill: StoredFill, instruments: Mapping[str, Instrument], calendar: BusinessCalendar, now_ns: int,
              commission_bps: Decimal = DEFAULT_COMMISSION_BPS) -> dict[str, object]:  # fmt: skip
    return {"fill_id": fill.fill_id, "order_id": fill.order_id, "instrument": fill.instrument,
            "side": fill.side.value, "quantity": fill.quantity, "price": str(fill.price),
            "commission": str(commission_for(fill.quantity, fill.price, commission_bps)), "ts_ns": fill.ts_ns,
            **settlement(fill, instruments, calendar, now_ns)}  # fmt: skip


def positions_from_fills(fills: Iterable[StoredFill], instruments: Mapping[str, Instrument],
                         calendar: BusinessCalendar, now_ns: int,
                         commission_bps: Decimal = DEFAULT_COMMISSION_BPS) -> tuple[dict[str, Position], Decimal, Decimal]:  # fmt: skip
    """Positions, trade-date cash and settled cash from every fill in trade order (as the PMS keeps
    them fill by fill). The mark price is left unset: market data is each worker's own."""
    positions, cash, settled, _ = PositionBook(instruments, calendar, commission_bps).view(fills, now_ns)
    return positions, cash, settled


def _clone(p: Position) -> Position:
    c = Position(p.instrument)
    for name in Position.__slots__:
        setattr(c, name, getattr(p, name))
    return c


class PositionBook:
    """Positions folded from a prefix of the fills in trade order, kept between reads.

    Why: rebuilding positions from every fill on each read made ``GET /positions`` cost grow with
    the run (40-120 ms p99 after a few thousand fills, which capped the capacity search at 1-4 users).
    The book holds the fold of the fills up to ``horizon`` (the (ts_ns, seq) key of the last one it
    took) and a read folds only the newer ones, on a copy. The caller folds in only fills old enough
    that no other worker can still write one before them, and checks ``count`` against the database
    to catch one that came late anyway (then it starts again with ``reset``). Settlement is judged
    at each read: fills not yet settled wait in a heap by their settlement time.
    """

    def __init__(self, instruments: Mapping[str, Instrument], calendar: BusinessCalendar,
                 commission_bps: Decimal = DEFAULT_COMMISSION_BPS) -> None:  # fmt: skip
        self.instruments = instruments
        self.calendar = calendar
        self.commission_bps = commission_bps
        self.reset()

    def reset(self) -> None:
        self.positions: dict[str, Position] = {}
        self.cash = Decimal(0)
        self.settled_cash = Decimal(0)
        self.horizon: tuple[int, int] | None = None
        self.count = 0
        self._pending: list[tuple[int, int, str, int, Decimal]] = []  # (settles at, n, instrument, qty, cash flow)

    def _book(self, positions: dict[str, Position], f: StoredFill) -> tuple[int, Decimal, int]:
        """Apply one fill to ``positions``: (signed quantity, cash flow, settlement time)."""
        pos = positions.get(f.instrument)
        if pos is None:
            pos = positions[f.instrument] = Position(f.instrument)
        commission = commission_for(f.quantity, f.price, self.commission_bps)
        pos.apply(f.side, f.quantity, f.price, commission)
        pos.last_update_ns = max(pos.last_update_ns or 0, f.ts_ns)
        value = f.price * f.quantity
        flow = (-value if f.side is Side.BUY else value) - commission
        due = self.calendar.settlement_ns(f.ts_ns, self.instruments[f.instrument].settlement_days)
        return (f.quantity if f.side is Side.BUY else -f.quantity), flow, due

    def fold(self, f: StoredFill) -> None:
        """Take one more fill into the book (after every fill it holds, in trade order)."""
        key = (f.ts_ns, f.seq)
        if self.horizon is not None and key <= self.horizon:
            raise ValueError(f"fill {f.fill_id} at {key} is not after the book's horizon {self.horizon}")
        qty, flow, due = self._book(self.positions, f)
        self.cash += flow
        heapq.heappush(self._pending, (due, self.count, f.instrument, qty, flow))
        self.count += 1
        self.horizon = key

    def _settle(self, now_ns: int) -> None:
        while self._pending and self._pending[0][0] <= now_ns:
            _, _, instrument, qty, flow = heapq.heappop(self._pending)
            self.positions[instrument].settled_quantity += qty
            self.settled_cash += flow

    def view(self, newer: Iterable[StoredFill], now_ns: int) -> tuple[dict[str, Position], Decimal, Decimal, int]:
        """(positions, cash, settled cash, fills not yet settled) at ``now_ns``: the book plus the
        ``newer`` fills (after its horizon, in trade order), which it does not keep."""
        self._settle(now_ns)
        positions = {k: _clone(p) for k, p in self.positions.items()}
        cash, settled, unsettled = self.cash, self.settled_cash, len(self._pending)
        for f in newer:
            qty, flow, due = self._book(positions, f)
            cash += flow
            if due <= now_ns:
                positions[f.instrument].settled_quantity += qty
                settled += flow
            else:
                unsettled += 1
        return positions, cash, settled, unsettled
