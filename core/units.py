"""Time units as integers of nanoseconds, and exact conversions between them: the one place they are defined.

Every duration and instant in clockbench is an ``int`` of nanoseconds. The helpers here
convert to and from other units without a float round trip, so ``secs_to_nanos(0.1)`` is
exactly ``100_000_000``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_HOUR = 60 * NS_PER_MIN
NS_PER_DAY = 24 * NS_PER_HOUR

# The same constants under the names the Clock library has always exported (targets.clock re-exports them).
NANOS_IN_MICROSECOND = NS_PER_US
NANOS_IN_MILLISECOND = NS_PER_MS
NANOS_IN_SECOND = NS_PER_S
NANOS_IN_MINUTE = NS_PER_MIN
NANOS_IN_HOUR = NS_PER_HOUR
NANOS_IN_DAY = NS_PER_DAY

Number = int | float | Decimal | Fraction | str


def _exact(value: Number) -> Fraction:
    try:
        return _exact_or_raise(value)
    except (ArithmeticError, ValueError) as exc:  # Decimal('abc'), inf, nan: say what was wrong
        raise ValueError(f"{value!r} is not a finite number of time units") from exc


def _exact_or_raise(value: Number) -> Fraction:
    if isinstance(value, bool):
        raise TypeError("a duration cannot be a bool")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        # repr() is the shortest decimal that round-trips, so 0.1 means one tenth, not 0.1000000000000000055...
        return Fraction(Decimal(repr(value)))
    if isinstance(value, (Decimal, Fraction)):
        return Fraction(value)
    if isinstance(value, str):
        return Fraction(Decimal(value.strip()))
    raise TypeError(f"expected a number of time units, got {type(value).__name__}")


def _to_nanos(value: Number, unit_ns: int) -> int:
    if type(value) is int:
        return value * unit_ns
    exact = _exact(value) * unit_ns
    if exact.denominator != 1:
        raise ValueError(f"{value!r} is not a whole number of nanoseconds")
    return int(exact)


def secs_to_nanos(secs: Number) -> int:
    """Seconds to nanoseconds, exactly; raises ValueError below nanosecond resolution."""
    return _to_nanos(secs, NANOS_IN_SECOND)


def millis_to_nanos(millis: Number) -> int:
    return _to_nanos(millis, NANOS_IN_MILLISECOND)


def micros_to_nanos(micros: Number) -> int:
    return _to_nanos(micros, NANOS_IN_MICROSECOND)


def nanos_to_secs(nanos: int) -> float:
    """For display only: a float cannot hold an epoch time to the nanosecond."""
    return nanos / NANOS_IN_SECOND


def nanos_to_millis(nanos: int) -> int:
    """Whole milliseconds, rounded towards negative infinity."""
    return nanos // NANOS_IN_MILLISECOND


def nanos_to_micros(nanos: int) -> int:
    """Whole microseconds, rounded towards negative infinity."""
    return nanos // NANOS_IN_MICROSECOND


def nanos_to_unix_secs(nanos: int) -> int:
    """Whole seconds, rounded towards negative infinity."""
    return nanos // NANOS_IN_SECOND
