"""What the gateway says over HTTP: the headers of a limiter decision, the budget header, the
error bodies. Pure functions, shared by both builds, so both answer in exactly the same words.

Rate-limit headers: the IETF httpapi draft's three fields (draft-ietf-httpapi-ratelimit-headers-06:
``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``), not the older ``X-RateLimit-*``
trio, plus two exact ones of ours in ns: ``X-RateLimit-Reset-Ns`` and, on a 429, ``X-Retry-After-Ns``.

Rounding: ``Retry-After`` (RFC 9110 section 10.2.3) and ``RateLimit-Reset`` are whole seconds, so
the exact wait is rounded **up** (a client that obeys them is never refused for coming back too
early; the price is up to a second of waiting more than needed). A 429 always says at least 1 s.
The ns headers carry the exact figure for clients that want it.

Deadline status: a request whose budget runs out is answered **504 Gateway Timeout**, not the
plan's 408. 408 Request Timeout means the *server* gave up waiting for the *client* to finish
sending its request (RFC 9110 section 15.5.9); it blames the client, and HTTP clients and proxies
may retry a 408 automatically, which for a POST /orders would be a second order. 504 says the
gateway did not get the answer it needed in time, which is what happened.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from .errors import BudgetHeaderError
from .rates import Decision, ceil_div
from .units import NS_PER_MS, NS_PER_S

BUDGET_HEADER = "X-Request-Budget-Ms"  # the client's budget for this request, ms from its arrival
DEADLINE_STATUS = 504
LIMITED_STATUS = 429
BAD_BUDGET_STATUS = 400
LIMITER_DOWN_STATUS = 503


def whole_seconds_up(ns: int) -> int:
    return ceil_div(ns, NS_PER_S) if ns > 0 else 0


def ratelimit_headers(d: Decision) -> list[tuple[bytes, bytes]]:
    """The headers every rate-limited route answers with (allowed or not)."""
    out = [
        (b"ratelimit-limit", str(d.limit).encode()),
        (b"ratelimit-remaining", str(d.remaining).encode()),
        (b"ratelimit-reset", str(whole_seconds_up(d.reset_ns)).encode()),
        (b"x-ratelimit-reset-ns", str(d.reset_ns).encode()),
    ]
    if not d.allowed:
        out.append((b"retry-after", str(max(1, whole_seconds_up(d.retry_after_ns))).encode()))
        out.append((b"x-retry-after-ns", str(d.retry_after_ns).encode()))
    return out


def parse_budget(value: str | None, default_ns: int, max_ns: int) -> int:
    """The request's budget in ns: the header (ms, decimals allowed down to the ns) or the route default.

    Raises ``BudgetHeaderError`` for anything that is not a positive number of ms up to the route's max.
    """
    if value is None:
        return default_ns
    try:
        ms = Decimal(value.strip())
    except InvalidOperation:
        raise BudgetHeaderError(BUDGET_HEADER, f"{value!r} is not a number of milliseconds") from None
    if not ms.is_finite() or ms <= 0:
        raise BudgetHeaderError(BUDGET_HEADER, f"must be > 0 ms, got {value!r}")
    ns = ms * NS_PER_MS
    if ns != ns.to_integral_value():
        raise BudgetHeaderError(BUDGET_HEADER, f"{value!r} is finer than a nanosecond")
    if ns > max_ns:
        raise BudgetHeaderError(BUDGET_HEADER, f"{value} ms exceeds this route's maximum of {max_ns / NS_PER_MS:g} ms")
    return int(ns)


def error_body(status_text: str, field: str, reason: str) -> bytes:
    """The service's error shape: ``{"error": ..., "errors": [{"field", "reason"}]}``."""
    return json.dumps({"error": status_text, "errors": [{"field": field, "reason": reason}]}).encode()


def server_timing(stages: list[tuple[str, int]]) -> bytes:
    """W3C Server-Timing: ``name;dur=<ms>`` per stage (ms with µs decimals, as the spec's unit is ms),
    rounded to the nearest µs (half away from zero) in integers: every answer carries it, and four float
    formats cost more than the rest of the header. (A negative stage is the baseline's wall clock
    stepping back mid-request; it is shown as it is.)"""
    parts = []
    for name, ns in stages:
        us = (abs(ns) + 500) // 1000
        parts.append(f"{name};dur={'-' if ns < 0 and us else ''}{us // 1000}.{us % 1000:03d}")
    return ", ".join(parts).encode()
