"""Pure schedule arithmetic of monitoring: aligned instants, scrape phases, the one shared schedule.

Every value is an int of nanoseconds. A *phase* is an offset inside the interval: an instant ``t``
has phase ``t % interval``. The sync puts the three activities on one schedule, per interval::

    collect at  scrape_phase - lead      (the value is ready before the scrape)
    scrape at   scrape_phase             (Prometheus's own, learned from observed scrapes)
    refresh at  scrape_phase + settle    (the dashboard shows the scrape just stored)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


def next_at_phase(now_ns: int, interval_ns: int, phase_ns: int) -> int:
    """The first instant strictly after ``now_ns`` whose phase is ``phase_ns``."""
    if interval_ns <= 0:
        raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
    phase = phase_ns % interval_ns
    k = (now_ns - phase) // interval_ns + 1
    return k * interval_ns + phase


def phase_of(instants: Sequence[int], interval_ns: int) -> int:
    """The typical phase of observed instants (a circular median: robust to a few late ones)."""
    if not instants:
        raise ValueError("phase_of needs at least one instant")
    ref = instants[0] % interval_ns
    half = interval_ns // 2
    offsets = sorted(((t - ref + half) % interval_ns) - half for t in instants)
    return (ref + offsets[(len(offsets) - 1) // 2]) % interval_ns


class Schedule(NamedTuple):
    """The phases of one interval: collection, scrape and dashboard refresh."""

    interval_ns: int
    collect_phase_ns: int
    scrape_phase_ns: int
    refresh_phase_ns: int


def shared_schedule(interval_ns: int, scrape_phase_ns: int, lead_ns: int, settle_ns: int) -> Schedule:
    """Collections ``lead_ns`` before each scrape, refreshes ``settle_ns`` after it."""
    if not 0 <= lead_ns < interval_ns or not 0 <= settle_ns < interval_ns:
        raise ValueError(f"lead_ns and settle_ns must lie in [0, interval_ns={interval_ns})")
    s = scrape_phase_ns % interval_ns
    return Schedule(interval_ns, (s - lead_ns) % interval_ns, s, (s + settle_ns) % interval_ns)
