"""Rates and the GCRA (generic cell rate algorithm) in exact integer arithmetic.

A ``Rate`` of ``limit`` requests per ``period_ns`` lets a client send ``burst`` requests at once
from idle, then one every ``period_ns / limit`` ns. That interval is rarely a whole number of ns
(7 per second is 142857142.857... ns), so the GCRA here counts time in *ticks* of ``1/limit`` ns:
the emission interval is then exactly ``period_ns`` ticks and the tolerance exactly
``burst * period_ns`` ticks. No float, no rounding, anywhere in the decision; conversions back to
ns round up (a client told to wait ``x`` ns and coming back after ``x`` ns is never refused).

The state of a key is one number, its theoretical arrival time (TAT). ``decide`` works on
``TAT - now`` (floored at 0), which is small, so the Redis Lua script (doubles: exact only below
2**53) runs the very same arithmetic; ``Rate`` refuses values that would leave that range.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from .units import NS_PER_MS, NS_PER_S, NS_PER_US

# The largest tick count the Lua side handles exactly (IEEE-754 double: integers below 2**53).
LUA_EXACT_MAX = 2**53

_UNITS = {"ns": 1, "us": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S, "m": 60 * NS_PER_S, "h": 3600 * NS_PER_S}


def parse_duration_ns(text: str, what: str = "duration") -> int:
    """``"250ms"``, ``"1s"``, ``"1.5s"``, ``"2m"`` -> ns, exactly (Decimal, no float). Raises ValueError naming ``what``."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|ms|s|m|h)\s*", str(text))
    if not m:
        raise ValueError(f"{what}: {text!r} is not a duration like 250ms, 1s, 1.5s, 2m")
    try:
        ns = Decimal(m.group(1)) * _UNITS[m.group(2)]
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if ns != ns.to_integral_value():
        raise ValueError(f"{what}: {text!r} is not a whole number of nanoseconds")
    if ns <= 0:
        raise ValueError(f"{what}: {text!r} must be > 0")
    return int(ns)


@dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` requests per ``period_ns``, ``burst`` of them at once from idle (default: ``limit``)."""

    limit: int
    period_ns: int
    burst: int = 0

    def __post_init__(self) -> None:
        for name in ("limit", "period_ns", "burst"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise ValueError(f"rate {name} must be an int, got {v!r}")
        if self.limit <= 0 or self.period_ns <= 0:
            raise ValueError(f"a rate needs limit > 0 and period_ns > 0, got {self.limit}/{self.period_ns} ns")
        if self.burst == 0:
            object.__setattr__(self, "burst", self.limit)
        if self.burst < 0:
            raise ValueError(f"rate burst must be > 0, got {self.burst}")
        # Every tick count the Lua script sees stays below 2**53: a second of ticks, plus the tolerance,
        # plus one emission interval.
        if (NS_PER_S * self.limit + (self.burst + 1) * self.period_ns) >= LUA_EXACT_MAX:
            raise ValueError(
                f"rate {self.limit}/{self.period_ns} ns burst {self.burst} is too large for exact arithmetic "
                "(limit * 1e9 + (burst + 1) * period_ns must stay below 2**53)"
            )

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"100/1s"``, ``"5/250ms"``, ``"100/1m burst 20"`` (the burst is optional)."""
        m = re.fullmatch(r"\s*([0-9]+)\s*/\s*([^\s]+)\s*(?:burst\s+([0-9]+))?\s*", str(text))
        if not m:
            raise ValueError(f"rate {text!r}: expected LIMIT/PERIOD [burst N], e.g. 100/1s or 100/1m burst 20")
        return cls(int(m.group(1)), parse_duration_ns(m.group(2), f"rate {text!r}"), int(m.group(3) or 0))

    @property
    def dvt_ticks(self) -> int:
        """The tolerance: how far TAT may run ahead of now, in ticks."""
        return self.burst * self.period_ns

    def describe(self) -> str:
        return f"{self.limit}/{self.period_ns}ns burst {self.burst}"


class Decision(NamedTuple):
    """One limiter answer. Durations are ns from ``now_ns`` (the time the decision was made at).
    A NamedTuple: immutable, and a third of the cost of a frozen dataclass on the hot path."""

    allowed: bool
    limit: int  # the burst: the most requests a client can send at once
    remaining: int  # requests (of cost 1) that would be accepted right now, after this one
    reset_ns: int  # until the client's full burst is available again
    retry_after_ns: int  # 0 when allowed; else the exact wait before this request would be accepted
    now_ns: int


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def check_cost(rate: Rate, cost: int) -> None:
    if not isinstance(cost, int) or isinstance(cost, bool) or cost <= 0:
        raise ValueError(f"cost must be an int > 0, got {cost!r}")
    if cost > rate.burst:
        raise ValueError(f"cost {cost} exceeds the burst {rate.burst} of rate {rate.describe()}: it could never pass")


def decide(diff_ticks: int, rate: Rate, cost: int = 1) -> tuple[bool, int]:
    """The GCRA step. ``diff_ticks`` = max(TAT - now, 0). Returns (allowed, TAT - now afterwards):
    the TAT moves by ``cost`` emission intervals when the request fits the tolerance, else stays."""
    new = diff_ticks + rate.period_ns * cost
    if new > rate.dvt_ticks:
        return False, diff_ticks
    return True, new


def decision(rate: Rate, allowed: bool, diff_after: int, now_ns: int, cost: int = 1) -> Decision:
    """The client-facing figures of one GCRA step (the same for the in-process and the Redis limiter)."""
    retry_ticks = 0 if allowed else diff_after + rate.period_ns * cost - rate.dvt_ticks
    return Decision(
        allowed=allowed,
        limit=rate.burst,
        remaining=max(0, (rate.dvt_ticks - diff_after) // rate.period_ns),
        reset_ns=ceil_div(diff_after, rate.limit),
        retry_after_ns=ceil_div(retry_ticks, rate.limit),
        now_ns=now_ns,
    )


def expected_accepted(rate: Rate, last_arrival_offset_ns: int) -> int:
    """How many requests the GCRA accepts from an idle key when a client sends at least as fast as the
    rate from offset 0 to ``last_arrival_offset_ns`` (inclusive): the burst, plus one per full
    emission interval elapsed. Independent of ``decide`` (a closed form), for the exactness tests."""
    return rate.burst + (last_arrival_offset_ns * rate.limit) // rate.period_ns
