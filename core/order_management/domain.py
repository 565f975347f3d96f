"""The order-management domain shared by both builds: instruments, orders, fills, positions, errors.

Nothing here reads time: every instant is an ``int`` of nanoseconds passed in by the caller, so
the clocked build and the baseline run the very same business logic and differ only in where
their time comes from. Quantities are ``int``; prices, cash and P&L are ``Decimal``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum

from . import limits as lim

ZERO = Decimal(0)
CENT = Decimal("0.01")
BPS = Decimal(10_000)


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class TimeInForce(str, Enum):
    GTC = "GTC"  # good till canceled
    IOC = "IOC"  # immediate or cancel: what does not fill at once is canceled
    DAY = "DAY"  # expires at the end of the trading day it was received on
    GTD = "GTD"  # good till date: expires at expire_time_ns


class OrderState(str, Enum):
    NEW = "NEW"
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


FINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED})


# --- errors ------------------------------------------------------------------------------------
class OrderManagementError(Exception):
    """Base of every domain error: the message always says what is wrong with what."""


class OrderValidationError(OrderManagementError, ValueError):
    """One invalid field of a request. ``errors`` lists every invalid field of that request.

    Raised for a single field, ``errors`` is ``(self,)``; raised for a whole request
    (``InvalidOrderRequest``), ``field``/``reason`` are its first error's and ``errors`` all of them,
    so a web layer can answer 422 with the full list.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.errors: tuple[OrderValidationError, ...] = (self,)

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


class InvalidOrderRequest(OrderValidationError):
    """Every field error found in one request, raised together."""

    def __init__(self, errors: Iterable[OrderValidationError]) -> None:
        errs = tuple(errors)
        if not errs:
            raise ValueError("InvalidOrderRequest needs at least one field error")
        super().__init__(errs[0].field, errs[0].reason)
        self.errors = errs
        self.args = ("; ".join(f"{e.field}: {e.reason}" for e in errs),)


class DuplicateClientOrderIdError(OrderManagementError):
    """The client order id was already used (HTTP 409)."""

    def __init__(self, client_order_id: str, order_id: str) -> None:
        super().__init__(f"client_order_id: {client_order_id!r} is already used by order {order_id}")
        self.field = "client_order_id"
        self.reason = f"already used by order {order_id}"
        self.client_order_id = client_order_id
        self.order_id = order_id


class UnknownOrderError(OrderManagementError, KeyError):
    """No order has this id (HTTP 404)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order_id: no order {order_id!r}")
        self.field = "order_id"
        self.reason = f"no order {order_id!r}"
        self.order_id = order_id

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class OrderAlreadyFinalError(OrderManagementError):
    """The order is FILLED, CANCELED, EXPIRED or REJECTED and cannot change (HTTP 409)."""

    def __init__(self, order_id: str, state: OrderState) -> None:
        super().__init__(f"order_id: order {order_id} is already {state.value}")
        self.field = "order_id"
        self.reason = f"already {state.value}"
        self.order_id = order_id
        self.state = state


class UnknownAlgoError(OrderManagementError, KeyError):
    """No algo has this id (HTTP 404)."""

    def __init__(self, algo_id: str) -> None:
        super().__init__(f"algo_id: no algo {algo_id!r}")
        self.field = "algo_id"
        self.reason = f"no algo {algo_id!r}"
        self.algo_id = algo_id

    def __str__(self) -> str:
        return str(self.args[0])


class AlgoStateError(OrderManagementError):
    """The algo cannot do that in its current state, e.g. resume a running one (HTTP 409)."""

    def __init__(self, algo_id: str, state: str, action: str) -> None:
        super().__init__(f"algo_id: algo {algo_id} is {state}, cannot {action}")
        self.field = "algo_id"
        self.reason = f"is {state}, cannot {action}"


# --- instruments -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable symbol. Prices are multiples of ``tick_size``, quantities of ``lot_size``."""

    symbol: str
    tick_size: Decimal = CENT
    lot_size: int = 1
    settlement_days: int = 2  # T+N business days, 0..3

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("Instrument.symbol must be a non-empty string")
        if not isinstance(self.tick_size, Decimal) or self.tick_size <= 0:
            raise ValueError(f"Instrument {self.symbol}: tick_size must be a Decimal > 0")
        if not isinstance(self.lot_size, int) or self.lot_size <= 0:
            raise ValueError(f"Instrument {self.symbol}: lot_size must be an int > 0")
        if self.settlement_days not in (0, 1, 2, 3):
            raise ValueError(f"Instrument {self.symbol}: settlement_days must be 0..3, got {self.settlement_days}")


def default_instruments() -> dict[str, Instrument]:
    """A small fixed universe used by the simulation, the tests and the benchmarks."""
    return {
        "AAPL": Instrument("AAPL", CENT, 1, 1),
        "MSFT": Instrument("MSFT", CENT, 1, 2),
        "EURUSD": Instrument("EURUSD", Decimal("0.00001"), 1000, 2),
        "ES": Instrument("ES", Decimal("0.25"), 1, 0),
        "BUND": Instrument("BUND", CENT, 1, 3),
    }


# --- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What a client asks for. Checked by ``validate_request`` before an order exists."""

    client_order_id: str
    instrument: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.MARKET
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_time_ns: int | None = None


_PRICE_CAP = Decimal(10) ** lim.PRICE_INT_DIGITS


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_request(
    req: OrderRequest, instruments: Mapping[str, Instrument], now_ns: int
) -> list[OrderValidationError]:
    """Every field error of ``req`` (empty when valid). ``now_ns`` judges a GTD expiry."""
    errors: list[OrderValidationError] = []
    cid_problem = lim.id_problem(req.client_order_id)
    if cid_problem:
        errors.append(OrderValidationError("client_order_id", cid_problem))
    inst = instruments.get(req.instrument) if isinstance(req.instrument, str) else None
    if inst is None:
        errors.append(OrderValidationError("instrument", f"unknown instrument {req.instrument!r}"))
    if req.side.__class__ is not Side:
        errors.append(OrderValidationError("side", f"must be BUY or SELL, got {req.side!r}"))
    qty = req.quantity
    if not _is_int(qty):
        errors.append(OrderValidationError("quantity", f"must be a whole number, got {qty!r}"))
    elif qty <= 0:
        errors.append(OrderValidationError("quantity", f"must be > 0, got {qty}"))
    elif qty > lim.MAX_QUANTITY:
        errors.append(OrderValidationError("quantity", f"must be at most {lim.MAX_QUANTITY} (the limit), got {qty}"))
    elif inst is not None and qty % inst.lot_size:
        errors.append(OrderValidationError("quantity", f"must be a multiple of the lot size {inst.lot_size}"))
    otype = req.order_type
    price = req.limit_price
    if otype is OrderType.LIMIT:
        if price is None:
            errors.append(OrderValidationError("limit_price", "is required for a LIMIT order"))
        elif not isinstance(price, Decimal) or not price.is_finite():
            errors.append(OrderValidationError("limit_price", f"must be an exact decimal, got {price!r}"))
        elif price <= 0:
            errors.append(OrderValidationError("limit_price", f"must be > 0, got {price}"))
        elif price >= _PRICE_CAP or -price.as_tuple().exponent > lim.PRICE_FRAC_DIGITS:  # type: ignore[operator]
            errors.append(OrderValidationError(
                "limit_price", f"must have at most {lim.PRICE_INT_DIGITS} digits before the point and "
                               f"{lim.PRICE_FRAC_DIGITS} after (the limit), got {price}"))  # fmt: skip
        elif inst is not None and price % inst.tick_size:
            errors.append(OrderValidationError("limit_price", f"must be a multiple of the tick size {inst.tick_size}"))
    elif otype is OrderType.MARKET:
        if price is not None:
            errors.append(OrderValidationError("limit_price", "must be empty for a MARKET order"))
    else:
        errors.append(OrderValidationError("order_type", f"must be MARKET or LIMIT, got {otype!r}"))
    tif = req.time_in_force
    exp = req.expire_time_ns
    if tif is TimeInForce.GTD:
        if exp is None:
            errors.append(OrderValidationError("expire_time_ns", "is required for a GTD order"))
        elif not _is_int(exp):
            errors.append(OrderValidationError("expire_time_ns", f"must be an int of nanoseconds, got {exp!r}"))
        elif not 0 < exp <= lim.MAX_NS:
            errors.append(OrderValidationError("expire_time_ns", f"must be in 1..{lim.MAX_NS} (a BIGINT), got {exp}"))
        elif exp <= now_ns:
            errors.append(OrderValidationError("expire_time_ns", f"{exp} is not after the receive time {now_ns}"))
    elif tif.__class__ is not TimeInForce:
        errors.append(OrderValidationError("time_in_force", f"must be GTC, IOC, DAY or GTD, got {tif!r}"))
    elif exp is not None:
        errors.append(OrderValidationError("expire_time_ns", f"is only allowed with GTD, not {tif.value}"))
    return errors


def parse_decimal(field: str, raw: object) -> Decimal:
    """A wire decimal: a string of digits with an optional fraction, bounded (``limits.DECIMAL_PATTERN``).
    No sign, exponent, spaces or "_": Decimal() would take "1e999999" or " 1_00 " and the service must not."""
    if not isinstance(raw, str):
        raise OrderValidationError(field, f"must be a decimal string such as \"101.25\", got {raw!r}")
    if not lim.DECIMAL_RE.fullmatch(raw):
        raise OrderValidationError(field, f"must be digits with an optional fraction (at most {lim.PRICE_INT_DIGITS}"
                                          f" + {lim.PRICE_FRAC_DIGITS} digits; no sign, exponent, space or _), "
                                          f"got {raw[:40]!r}")  # fmt: skip
    return Decimal(raw)


def parse_order_request(data: Mapping[str, object], *, strict: bool = False) -> OrderRequest:
    """Build a request from loose input (CLI: "buy", "10", "101.5") or, with ``strict``, from the wire
    (exact enum values, ints as ints, prices as ``parse_decimal`` strings).

    Collects every field error and raises them together as ``InvalidOrderRequest``.
    """
    errors: list[OrderValidationError] = []

    def enum(field: str, cls: type[Enum], default: Enum | None) -> object:
        raw = data.get(field, default)
        if isinstance(raw, cls):
            return raw
        try:
            return cls(raw if strict else str(raw).upper())
        except ValueError:
            allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
            errors.append(OrderValidationError(field, f"must be one of {allowed}, got {raw!r}"))
            return None

    side = enum("side", Side, None)
    otype = enum("order_type", OrderType, OrderType.MARKET)
    tif = enum("time_in_force", TimeInForce, TimeInForce.GTC)
    qty = data.get("quantity")
    if not strict and isinstance(qty, str) and qty.strip().lstrip("-").isdigit():
        qty = int(qty)
    price = data.get("limit_price")
    if strict and price is not None:
        try:
            price = parse_decimal("limit_price", price)
        except OrderValidationError as exc:
            errors.append(exc)
            price = None
    elif price is not None and not isinstance(price, Decimal):
        if isinstance(price, float):
            errors.append(OrderValidationError("limit_price", "must be given as a string or Decimal, not a float"))
            price = None
        else:
            try:
                price = Decimal(str(price))
            except InvalidOperation:
                errors.append(OrderValidationError("limit_price", f"is not a number: {price!r}"))
                price = None
    exp = data.get("expire_time_ns")
    if not strict and isinstance(exp, str) and exp.strip().isdigit():
        exp = int(exp)
    if errors:
        raise InvalidOrderRequest(errors)
    return OrderRequest(
        client_order_id=data.get("client_order_id"),  # type: ignore[arg-type]
        instrument=data.get("instrument"),  # type: ignore[arg-type]
        side=side,  # type: ignore[arg-type]
        quantity=qty,  # type: ignore[arg-type]
        order_type=otype,  # type: ignore[arg-type]
        limit_price=price,  # type: ignore[arg-type]
        time_in_force=tif,  # type: ignore[arg-type]
        expire_time_ns=exp,  # type: ignore[arg-type]
    )


# --- orders and fills --------------------------------------------------------------------------
class Order:
    """An order as the OMS tracks it. Mutable: the OMS moves it through its states."""

    __slots__ = (
        "order_id", "client_order_id", "instrument", "side", "order_type", "quantity", "limit_price",
        "time_in_force", "expire_time_ns", "state", "filled_qty", "notional", "receive_time_ns",
        "sequence", "last_update_ns", "parent_algo_id", "reason", "settled_qty",
    )  # fmt: skip

    def __init__(self, order_id: str, sequence: int, req: OrderRequest, receive_time_ns: int,
                 expire_time_ns: int | None, parent_algo_id: str | None = None) -> None:  # fmt: skip
        self.order_id = order_id
        self.sequence = sequence
        self.client_order_id = req.client_order_id
        self.instrument = req.instrument
        self.side = req.side
        self.order_type = req.order_type
        self.quantity = req.quantity
        self.limit_price = req.limit_price
        self.time_in_force = req.time_in_force
        self.expire_time_ns = expire_time_ns
        self.state = OrderState.NEW
        self.filled_qty = 0
        self.notional = ZERO  # sum of fill qty * price, for the average fill price
        self.receive_time_ns = receive_time_ns
        self.last_update_ns = receive_time_ns
        self.parent_algo_id = parent_algo_id
        self.reason = ""
        self.settled_qty = 0

    @property
    def leaves_qty(self) -> int:
        return 0 if self.state in FINAL_STATES else self.quantity - self.filled_qty

    @property
    def avg_fill_price(self) -> Decimal | None:
        return self.notional / self.filled_qty if self.filled_qty else None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view (prices as strings, times as int ns)."""
        avg = self.avg_fill_price
        return {
            "order_id": self.order_id,
            "client_order_id": self.client_order_id,
            "sequence": self.sequence,
            "instrument": self.instrument,
            "side": self.side.value,
            "order_type": self.order_type.value,
            "quantity": self.quantity,
            "limit_price": None if self.limit_price is None else str(self.limit_price),
            "time_in_force": self.time_in_force.value,
            "expire_time_ns": self.expire_time_ns,
            "state": self.state.value,
            "filled_qty": self.filled_qty,
            "leaves_qty": self.leaves_qty,
            "avg_fill_price": None if avg is None else str(avg),
            "receive_time_ns": self.receive_time_ns,
            "last_update_ns": self.last_update_ns,
            "parent_algo_id": self.parent_algo_id,
            "reason": self.reason,
        }

    def __repr__(self) -> str:
        return (f"Order({self.order_id} {self.side.value} {self.quantity} {self.instrument} "
                f"{self.order_type.value} {self.state.value} filled={self.filled_qty})")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution at the venue. ``commission`` is what the venue charged for it."""

    fill_id: str
    order_id: str
    instrument: str
    side: Side
    quantity: int
    price: Decimal
    commission: Decimal
    ts_ns: int


# --- positions ---------------------------------------------------------------------------------
class Position:
    """A net position in one instrument and its P&L, updated fill by fill.

    ``quantity`` is signed (short < 0). ``avg_price`` is the average entry price of the open
    quantity. ``realized_pnl`` is trading P&L of the closed quantity (covering a short below its
    entry is a gain); ``commissions`` are all fees paid; ``net_realized_pnl`` is the first minus the second.
    """

    __slots__ = (
        "instrument", "quantity", "avg_price", "realized_pnl", "commissions", "mark_price",
        "last_update_ns", "last_mark_ns", "settled_quantity", "fills",
    )  # fmt: skip

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.quantity = 0
        self.avg_price = ZERO
        self.realized_pnl = ZERO
        self.commissions = ZERO
        self.mark_price: Decimal | None = None
        self.last_update_ns = 0
        self.last_mark_ns = 0
        self.settled_quantity = 0
        self.fills = 0

    def apply(self, side: Side, qty: int, price: Decimal, commission: Decimal) -> Decimal:
        """Book one fill; returns the P&L it realized (before commission)."""
        signed = qty if side is Side.BUY else -qty
        pos = self.quantity
        realized = ZERO
        self.fills += 1
        self.commissions += commission
        if pos == 0 or (pos > 0) == (signed > 0):
            # opening from flat, or adding: new weighted average entry
            new = pos + signed
            self.avg_price = (self.avg_price * abs(pos) + price * qty) / abs(new)
            self.quantity = new
            return realized
        closing = min(qty, abs(pos))
        # long: gain when selling above entry; short: gain when buying below entry
        realized = (price - self.avg_price) * closing if pos > 0 else (self.avg_price - price) * closing
        self.realized_pnl += realized
        new = pos + signed
        self.quantity = new
        if new == 0:
            self.avg_price = ZERO
        elif (new > 0) != (pos > 0):
            self.avg_price = price  # flipped: the remainder opens at this fill's price
        return realized

    @property
    def net_realized_pnl(self) -> Decimal:
        return self.realized_pnl - self.commissions

    @property
    def unrealized_pnl(self) -> Decimal:
        if self.mark_price is None or self.quantity == 0:
            return ZERO
        return (self.mark_price - self.avg_price) * self.quantity

    def as_dict(self) -> dict[str, object]:
        return {
            "instrument": self.instrument,
            "quantity": self.quantity,
            "avg_price": str(self.avg_price),
            "realized_pnl": str(self.realized_pnl),
            "commissions": str(self.commissions),
            "net_realized_pnl": str(self.net_realized_pnl),
            "mark_price": None if self.mark_price is None else str(self.mark_price),
            "unrealized_pnl": str(self.unrealized_pnl),
            "settled_quantity": self.settled_quantity,
            "last_update_ns": self.last_update_ns,
        }


def commission_for(qty: int, price: Decimal, rate_bps: Decimal) -> Decimal:
    """Fee for one fill: ``rate_bps`` basis points of the notional, rounded to the cent."""
    return (price * qty * rate_bps / BPS).quantize(CENT)


# --- the event log -----------------------------------------------------------------------------
class EventLog:
    """An append-only record of what happened, in a canonical text form for digests.

    One line per event: ``ts_ns|kind|field|field...`` with ints and Decimals in their exact
    ``str`` form, so two runs that did the same things produce byte-identical logs.
    """

    __slots__ = ("lines",)

    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, ts_ns: int, kind: str, *fields: object) -> None:
        self.lines.append("|".join((str(ts_ns), kind, *map(_canon, fields))))

    def __len__(self) -> int:
        return len(self.lines)

    def digest(self) -> str:
        h = hashlib.sha256()
        for line in self.lines:
            h.update(line.encode())
            h.update(b"\n")
        return h.hexdigest()


def _canon(value: object) -> str:
    """Enums by value (``str()`` of an Enum differs across Python versions), the rest by ``str``."""
    return value.value if isinstance(value, Enum) else str(value)  # type: ignore[return-value]
