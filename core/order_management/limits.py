"""The limits of what one request may ask for: one source of truth for the domain's checks, the
HTTP schema (the OpenAPI document states them) and the tests.

Why each bound exists: a request must never make a worker do unbounded work or write text or
numbers PostgreSQL cannot store (issue 11: a POV with a 1 ns interval froze a worker; a TWAP of
3,000,000 slices answered 356 MB; a lone surrogate or NUL in an id answered 500 on every read).
"""

from __future__ import annotations

import re

from core.units import NS_PER_MS, NS_PER_S

MAX_NS = 2**63 - 1  # a PostgreSQL BIGINT; every *_ns field is 0..MAX_NS
MAX_QUANTITY = 1_000_000_000  # units per order or algo
ID_MAX_LEN = 64
# client ids: printable ASCII without spaces, quotes or slashes; so no NUL, no surrogate, no path trick
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}$"
ID_RE = re.compile(ID_PATTERN)
# exact decimals as strings: digits, an optional fraction; no sign, exponent, space or "_"
PRICE_INT_DIGITS = 12
PRICE_FRAC_DIGITS = 8
DECIMAL_PATTERN = rf"^[0-9]{{1,{PRICE_INT_DIGITS}}}(\.[0-9]{{1,{PRICE_FRAC_DIGITS}}})?$"
DECIMAL_RE = re.compile(DECIMAL_PATTERN)

MAX_SLICES = 1_000  # TWAP slices, VWAP profile weights
MIN_INTERVAL_NS = 10 * NS_PER_MS  # POV: the shortest look-again interval
MAX_ALGO_STEPS = 10_000  # POV: duration_ns // interval_ns
MAX_ALGO_DURATION_NS = 7 * 24 * 3600 * NS_PER_S  # one week
MAX_ACTIVE_ALGOS = 100  # RUNNING or PAUSED algos per worker (the API has no client identity to count by)
MAX_ADVANCE_NS = 24 * 3600 * NS_PER_S  # TestClock: one /clock/advance moves time at most one day

__all__ = [
    "DECIMAL_PATTERN", "DECIMAL_RE", "ID_MAX_LEN", "ID_PATTERN", "ID_RE", "MAX_ACTIVE_ALGOS", "MAX_ADVANCE_NS",
    "MAX_ALGO_DURATION_NS", "MAX_ALGO_STEPS", "MAX_NS", "MAX_QUANTITY", "MAX_SLICES", "MIN_INTERVAL_NS",
    "PRICE_FRAC_DIGITS", "PRICE_INT_DIGITS", "id_problem",
]  # fmt: skip


def id_problem(value: object) -> str | None:
    """Why ``value`` is not an acceptable id (None when it is)."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > ID_MAX_LEN:
        return f"must be at most {ID_MAX_LEN} characters"
    if not ID_RE.fullmatch(value):  # fullmatch: '$' alone would let a trailing newline in
        return "may use only letters, digits and . _ : @ + - (starting with a letter or digit)"
    return None
