"""Plain row records for the order flow's tables, shared by both builds (no time source here).

``New*`` records are what a caller hands in; ``*Row`` records are what was stored: the input
plus the time the write was stamped with and its sequence number. Quantities and prices are
exact ``Decimal``; times are ``int`` nanoseconds since the UNIX epoch. These are deliberately
independent of the order-management domain model, which can map onto them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

SIDES = frozenset({"BUY", "SELL"})
_MAX_TEXT = 128


class InvalidRecord(ValueError):
    """A record field has a value the store cannot accept; the message names the field."""


def text(name: str, value: object, *, max_len: int = _MAX_TEXT) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidRecord(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise InvalidRecord(f"{name} is {len(value)} characters long; the limit is {max_len}")
    return value


def decimal(name: str, value: object, *, positive: bool = False, allow_none: bool = False) -> Decimal | None:
    """An exact Decimal from a Decimal, int or numeric string; floats are refused (they are not exact)."""
    if value is None:
        if allow_none:
            return None
        raise InvalidRecord(f"{name} is required")
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidRecord(f"{name} must be exact (Decimal, int or a numeric string), got float/bool {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, (int, str)):
        try:
            d = Decimal(value)
        except InvalidOperation:
            raise InvalidRecord(f"{name} is not a number: {value!r}") from None
    else:
        raise InvalidRecord(f"{name} must be a Decimal, int or numeric string, got {type(value).__name__}")
    if not d.is_finite():
        raise InvalidRecord(f"{name} must be finite, got {value!r}")
    if positive and d <= 0:
        raise InvalidRecord(f"{name} must be > 0, got {value!r}")
    return d


def side(value: object) -> str:
    if value not in SIDES:
        raise InvalidRecord(f"side must be one of {sorted(SIDES)}, got {value!r}")
    return value  # type: ignore[return-value]


def timestamp(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidRecord(f"{name} must be an int of nanoseconds >= 0, got {value!r}")
    return value


# --- orders -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewOrder:
    order_id: str
    client_order_id: str
    instrument: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None = None
    state: str = "NEW"

    def __post_init__(self) -> None:
        text("order_id", self.order_id)
        text("client_order_id", self.client_order_id)
        text("instrument", self.instrument)
        side(self.side)
        text("order_type", self.order_type, max_len=32)
        object.__setattr__(self, "quantity", decimal("quantity", self.quantity, positive=True))
        object.__setattr__(self, "price", decimal("price", self.price, positive=True, allow_none=True))
        text("state", self.state, max_len=32)


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: str
    client_order_id: str
    instrument: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal | None
    state: str
    filled_quantity: Decimal
    ts_received_ns: int
    ts_updated_ns: int
    seq: int


def check_updates(updates: object) -> tuple[list[str], list[str], list[Decimal | None]]:
    """A batch of order state updates ``(order_id, state, filled_quantity)`` as three column lists,
    each field checked; an order named twice is refused (one statement cannot order two writes)."""
    ids: list[str] = []
    states: list[str] = []
    filled: list[Decimal | None] = []
    for u in updates:  # type: ignore[attr-defined]
        if not isinstance(u, tuple) or len(u) != 3:
            raise InvalidRecord(f"an update is (order_id, state, filled_quantity), got {u!r}")
        ids.append(text("order_id", u[0]))
        states.append(text("state", u[1], max_len=32))
        filled.append(decimal("filled_quantity", u[2], allow_none=True))
    if len(set(ids)) != len(ids):
        raise InvalidRecord("a batch of updates names an order more than once")
    return ids, states, filled


# --- fills --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewFill:
    fill_id: str
    order_id: str
    instrument: str
    side: str
    quantity: Decimal
    price: Decimal

    def __post_init__(self) -> None:
        text("fill_id", self.fill_id)
        text("order_id", self.order_id)
        text("instrument", self.instrument)
        side(self.side)
        object.__setattr__(self, "quantity", decimal("quantity", self.quantity, positive=True))
        object.__setattr__(self, "price", decimal("price", self.price, positive=True))


@dataclass(frozen=True, slots=True)
class FillRow:
    fill_id: str
    order_id: str
    instrument: str
    side: str
    quantity: Decimal
    price: Decimal
    ts_recorded_ns: int
    seq: int


# --- positions ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """The new state of one (account, instrument) position; quantity is signed (short < 0)."""

    account: str
    instrument: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        text("account", self.account)
        text("instrument", self.instrument)
        object.__setattr__(self, "quantity", decimal("quantity", self.quantity))
        avg = decimal("avg_price", self.avg_price)
        if avg is not None and avg < 0:
            raise InvalidRecord(f"avg_price must be >= 0, got {self.avg_price!r}")
        object.__setattr__(self, "avg_price", avg)
        object.__setattr__(self, "realized_pnl", decimal("realized_pnl", self.realized_pnl))


@dataclass(frozen=True, slots=True)
class PositionRow:
    account: str
    instrument: str
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    ts_updated_ns: int
    seq: int


# --- settlements --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewSettlement:
    settlement_id: str
    account: str
    instrument: str
    quantity: Decimal
    amount: Decimal
    state: str = "PENDING"

    def __post_init__(self) -> None:
        text("settlement_id", self.settlement_id)
        text("account", self.account)
        text("instrument", self.instrument)
        object.__setattr__(self, "quantity", decimal("quantity", self.quantity))
        object.__setattr__(self, "amount", decimal("amount", self.amount))
        text("state", self.state, max_len=32)


@dataclass(frozen=True, slots=True)
class SettlementRow:
    settlement_id: str
    account: str
    instrument: str
    quantity: Decimal
    amount: Decimal
    state: str
    ts_recorded_ns: int
    seq: int


Row = OrderRow | FillRow | PositionRow | SettlementRow
