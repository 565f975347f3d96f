"""Request bodies of the HTTP API (documented in the OpenAPI schema), strictly typed: an int field
takes a JSON integer only (no ``true``, no ``"10"``), a text field a JSON string only.

Bounds and patterns come from ``core.order_management.limits`` (one source of truth). Checks that
the domain makes (known instrument, enum values, quantity bounds and lot size, a LIMIT's price, a
GTD's expiry, the client id's pattern) stay the domain's, so one request's field errors are all
reported together (422); the schema states them (``json_schema_extra``) so the OpenAPI document
describes every constraint. Fields only the web layer knows (``client_timestamp_ns``, clock
fields) are enforced here.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from core.order_management import limits as lim
from core.order_management.algos import AlgoKind
from core.order_management.domain import OrderType, Side, TimeInForce, default_instruments

INSTRUMENTS = sorted(default_instruments())

EXACT_FLOAT_INT = 2**53  # beyond it a JSON number with a fraction part may not be the integer the client wrote


def _integral(value: Any) -> Any:
    """A JSON number with a zero fraction (``2.0``) is an integer for JSON Schema, so the document allows it:
    take it as that integer. Only exactly: 2.5, true and "2" go on to StrictInt and are refused; beyond
    2**53 a float may already differ from the digits sent (json reads 9007199254740993.0 as ...992), so such a
    number is refused with the reason rather than silently changed."""
    if type(value) is float and value.is_integer():
        if abs(value) > EXACT_FLOAT_INT:
            raise ValueError(f"an integer above 2**53 must be written without a fraction part (got {value!r}): "
                             "as a floating-point number it may not be the one sent")  # fmt: skip
        return int(value)
    return value


# An integer field: a JSON integer, or a number with a zero fraction up to 2**53; never a bool or a string.
IntegralInt = Annotated[StrictInt, BeforeValidator(_integral)]


def _enum(values: Any) -> dict[str, Any]:
    return {"enum": [v.value if hasattr(v, "value") else v for v in values]}


_ID = {"pattern": lim.ID_PATTERN, "minLength": 1, "maxLength": lim.ID_MAX_LEN}
_DEC = {"pattern": lim.DECIMAL_PATTERN}
_QTY = {"minimum": 1, "maximum": lim.MAX_QUANTITY}
_NS = {"minimum": 0, "maximum": lim.MAX_NS}


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_order_id: StrictStr = Field(
        description="the client's id; a second order with the same id is refused (409)", json_schema_extra=_ID)
    instrument: StrictStr = Field(description="a known symbol", json_schema_extra=_enum(INSTRUMENTS))
    side: StrictStr = Field(description="BUY or SELL", json_schema_extra=_enum(Side))
    quantity: IntegralInt = Field(description="a whole number > 0, a multiple of the instrument's lot size",
                                json_schema_extra=_QTY)  # fmt: skip
    order_type: StrictStr = Field("MARKET", description="MARKET or LIMIT", json_schema_extra=_enum(OrderType))
    limit_price: StrictStr | None = Field(
        None, description="exact decimal as a string (no sign, exponent or spaces), a multiple of the tick "
                          "size; required for LIMIT, absent for MARKET", json_schema_extra=_DEC)  # fmt: skip
    time_in_force: StrictStr = Field("GTC", description="GTC, IOC, DAY or GTD", json_schema_extra=_enum(TimeInForce))
    expire_time_ns: IntegralInt | None = Field(
        None, description="GTD expiry (required with GTD only), ns since the UNIX epoch, after now",
        json_schema_extra={"minimum": 1, "maximum": lim.MAX_NS})  # fmt: skip
    client_timestamp_ns: IntegralInt | None = Field(
        None, ge=0, le=lim.MAX_NS,
        description="when the client placed it, ns since the UNIX epoch on its (synchronized) clock; echoed back")


class AlgoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: StrictStr = Field(description="TWAP, VWAP or POV", json_schema_extra=_enum(AlgoKind))
    instrument: StrictStr = Field(json_schema_extra=_enum(INSTRUMENTS))
    side: StrictStr = Field(json_schema_extra=_enum(Side))
    quantity: IntegralInt = Field(json_schema_extra=_QTY)
    duration_ns: IntegralInt = Field(description="how long the parent order is worked, in ns",
                                   json_schema_extra={"minimum": 1, "maximum": lim.MAX_ALGO_DURATION_NS})  # fmt: skip
    slices: IntegralInt = Field(0, description="TWAP: the number of equal slices",
                              json_schema_extra={"minimum": 0, "maximum": lim.MAX_SLICES})  # fmt: skip
    profile: list[StrictStr] = Field(default_factory=list, max_length=lim.MAX_SLICES,
                                     description="VWAP: weights (decimal strings) summing to 1")  # fmt: skip
    participation_rate: StrictStr | None = Field(None, description="POV: a decimal in (0, 1]", json_schema_extra=_DEC)
    interval_ns: IntegralInt = Field(
        0, description=f"POV: how often the venue's volume is checked; at least {lim.MIN_INTERVAL_NS} ns and at "
                       f"most {lim.MAX_ALGO_STEPS} checks over duration_ns",
        json_schema_extra={"minimum": 0, "maximum": lim.MAX_ALGO_DURATION_NS})  # fmt: skip
    client_algo_id: StrictStr | None = Field(None, json_schema_extra=_ID)


class ClockSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t0: IntegralInt = Field(ge=0, le=lim.MAX_NS, description="the client's send time, ns since the UNIX epoch (its own clock)")


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by_ns: IntegralInt | None = Field(None, ge=0, le=lim.MAX_ADVANCE_NS,
                                    description="move the TestClock forward by this many ns (at most one day a call)")
    to_ns: IntegralInt | None = Field(None, ge=0, le=lim.MAX_NS,
                                    description="move the TestClock to this time (>= now, at most one day ahead)")


class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    """Every error answer: a summary and each field at fault with why."""

    error: str
    errors: list[FieldError]


_WHY = {
    400: "the request is malformed", 404: "no such order, algo or instrument (or route)",
    409: "a conflict: the client id is used, or the order/algo is already final",
    413: "the body is larger than the service accepts", 422: "invalid input: each field and why",
    503: "PostgreSQL or Redis is unavailable (retry after Retry-After seconds), or the worker is not ready",
}  # fmt: skip


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, for the OpenAPI document."""
    return {c: {"model": ErrorBody, "description": _WHY[c]} for c in codes}
