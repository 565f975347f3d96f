"""Estimating the offset between the application's clock and a server's clock (pure logic).

Each sample brackets one server time reading between two application clock readings. The
offset is the server time minus the midpoint of the bracket, and half the bracket is the
uncertainty (the reading happened somewhere inside it). As in NTP, the sample with the
narrowest bracket is the best estimate.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sample:
    app_before_ns: int
    server_ns: int
    app_after_ns: int


@dataclass(frozen=True, slots=True)
class Offset:
    """server clock - application clock, in ns, within +/- uncertainty_ns."""

    offset_ns: int
    uncertainty_ns: int
    samples: int


@dataclass(frozen=True, slots=True)
class SkewReport:
    app_clock: str  # "live", "test" or "system"
    app_now_ns: int
    postgres: Offset
    redis: Offset

    @property
    def postgres_minus_redis_ns(self) -> int:
        return self.postgres.offset_ns - self.redis.offset_ns


def estimate(samples: list[Sample]) -> Offset:
    if not samples:
        raise ValueError("estimating a clock offset needs at least one sample")
    best = min(samples, key=lambda s: s.app_after_ns - s.app_before_ns)
    width = best.app_after_ns - best.app_before_ns
    if width < 0:
        raise ValueError(f"a sample's application clock went backwards: {best}")
    # Integer midpoint: keep everything in int ns.
    midpoint = best.app_before_ns + width // 2
    return Offset(best.server_ns - midpoint, (width + 1) // 2, len(samples))
