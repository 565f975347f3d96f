"""Position keeping both builds share: positions, average price, realized P&L and cash from fills.

The builds differ only in the time source that stamps each update (``now``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from .domain import ZERO, EventLog, Fill, Instrument, Position, Side
from .protocols import SettlementController


class PositionBook:
    """Implements ``protocols.PMS`` given ``now`` (ns). Trades go to ``settlement`` at T+N (N per instrument)."""

    def __init__(self, now: Callable[[], int], instruments: Mapping[str, Instrument], *,
                 settlement: SettlementController | None = None, events: EventLog | None = None) -> None:  # fmt: skip
        self.instruments = instruments
        self.settlement = settlement
        self.events = events
        self._positions: dict[str, Position] = {}
        self._cash = ZERO
        self._settled_cash = ZERO
        self._now = now

    def apply_fill(self, fill: Fill) -> Position:
        pos = self._positions.get(fill.instrument)
        if pos is None:
            pos = self._positions[fill.instrument] = Position(fill.instrument)
        pos.apply(fill.side, fill.quantity, fill.price, fill.commission)
        value = fill.price * fill.quantity
        self._cash += (-value if fill.side is Side.BUY else value) - fill.commission
        pos.last_update_ns = now = self._now()
        if self.events is not None:
            self.events.emit(now, "position", pos.instrument, pos.quantity, pos.avg_price, pos.realized_pnl,
                             pos.commissions)  # fmt: skip
        if self.settlement is not None:
            self.settlement.book(fill, self.instruments[fill.instrument].settlement_days)
        return pos

    def on_price(self, instrument: str, price: Decimal) -> Position | None:
        """Mark a held position to ``price``; None if nothing was ever traded in it."""
        pos = self._positions.get(instrument)
        if pos is not None:
            pos.mark_price = price
            pos.last_mark_ns = self._now()
        return pos

    def on_settled(self, fill: Fill) -> None:
        pos = self._positions[fill.instrument]
        value = fill.price * fill.quantity
        if fill.side is Side.BUY:
            pos.settled_quantity += fill.quantity
            self._settled_cash -= value + fill.commission
        else:
            pos.settled_quantity -= fill.quantity
            self._settled_cash += value - fill.commission

    def position(self, instrument: str) -> Position:
        """The position in ``instrument`` (flat if never traded)."""
        return self._positions.get(instrument) or Position(instrument)

    def positions(self) -> list[Position]:
        return list(self._positions.values())

    @property
    def cash(self) -> Decimal:
        """Trade-date cash: every fill's consideration and commission, settled or not."""
        return self._cash

    @property
    def settled_cash(self) -> Decimal:
        return self._settled_cash

    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.net_realized_pnl for p in self._positions.values()), ZERO)
