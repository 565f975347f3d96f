"""The Clock library's time units: defined once in ``core.units`` (both builds use them), re-exported here."""

from core.units import (  # noqa: F401 - re-exported
    NANOS_IN_DAY,
    NANOS_IN_HOUR,
    NANOS_IN_MICROSECOND,
    NANOS_IN_MILLISECOND,
    NANOS_IN_MINUTE,
    NANOS_IN_SECOND,
    NS_PER_DAY,
    NS_PER_HOUR,
    NS_PER_MIN,
    NS_PER_MS,
    NS_PER_S,
    NS_PER_US,
    Number,
    micros_to_nanos,
    millis_to_nanos,
    nanos_to_micros,
    nanos_to_millis,
    nanos_to_secs,
    nanos_to_unix_secs,
    secs_to_nanos,
)
