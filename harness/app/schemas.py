"""Request bodies of the HTTP API (documented in the OpenAPI schema). Field checks beyond types
(known instrument, quantity > 0, a LIMIT's price, a GTD's expiry) are the domain's, answered 422."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_order_id: str = Field(description="the client's id; a second order with the same id is refused (409)")
    instrument: str = Field(description="a known symbol, e.g. AAPL")
    side: str = Field(description="BUY or SELL")
    quantity: int = Field(description="a whole number > 0, a multiple of the instrument's lot size")
    order_type: str = Field("MARKET", description="MARKET or LIMIT")
    limit_price: str | None = Field(None, description="exact decimal as a string; required for LIMIT")
    time_in_force: str = Field("GTC", description="GTC, IOC, DAY or GTD")
    expire_time_ns: int | None = Field(None, description="GTD expiry, ns since the UNIX epoch")
    client_timestamp_ns: int | None = Field(
        None, description="when the client placed it, ns since the UNIX epoch on its (synchronized) clock; echoed back")


class AlgoCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="TWAP, VWAP or POV")
    instrument: str
    side: str
    quantity: int
    duration_ns: int = Field(description="how long the parent order is worked, in ns")
    slices: int = Field(0, description="TWAP: the number of equal slices")
    profile: list[str] = Field(default_factory=list, description="VWAP: weights (decimal strings) summing to 1")
    participation_rate: str | None = Field(None, description="POV: a decimal in (0, 1]")
    interval_ns: int = Field(0, description="POV: how often the venue's volume is checked")
    client_algo_id: str | None = None


class ClockSync(BaseModel):
    model_config = ConfigDict(extra="forbid")

    t0: int = Field(description="the client's send time, ns since the UNIX epoch (its own clock)")


class ClockAdvance(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by_ns: int | None = Field(None, description="move the TestClock forward by this many ns (>= 0)")
    to_ns: int | None = Field(None, description="move the TestClock to this time (>= now)")
