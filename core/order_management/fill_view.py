"""Fills read back from the database: their settlement dates, and positions rebuilt from them.

Why here: a fill's settlement date and a position are pure functions of the fills (the calendar,
the instrument's T+N, the same ``Position.apply`` the PMS uses, the venue's commission rule), so any
worker can answer them from the one shared record, PostgreSQL, and every worker answers the same.
No time source here: "settled" is judged against a time the caller gives.
"""

from __future__ import annotations

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
    positions: dict[str, Position] = {}
    cash = settled_cash = Decimal(0)
    for f in fills:
        pos = positions.get(f.instrument)
        if pos is None:
            pos = positions[f.instrument] = Position(f.instrument)
        commission = commission_for(f.quantity, f.price, commission_bps)
        pos.apply(f.side, f.quantity, f.price, commission)
        pos.last_update_ns = max(pos.last_update_ns or 0, f.ts_ns)
        value = f.price * f.quantity
        flow = (-value if f.side is Side.BUY else value) - commission
        cash += flow
        if settlement(f, instruments, calendar, now_ns)["settled"]:
            pos.settled_quantity += f.quantity if f.side is Side.BUY else -f.quantity
            settled_cash += flow
    return positions, cash, settled_cash
