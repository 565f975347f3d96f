"""How accurate monitoring is, judged at the consumer: pure arithmetic over samples read back.

A stored sample says "value V at time T". The instrument is a probe series whose value is the
instant (wall time, seconds) the collector really read the figures, so each stored sample carries
both its stored timestamp T and the true instant. From those:

- ``timestamp_error``: |T - true instant| per stored sample; a collection that never reached the
  store counts as one interval off (a lost sample is not an accurate one);
- ``interval_deviation``: for consecutive stored samples, |(true instant difference) - interval|:
  how regular the collections really were (a repeated value shows as a whole interval off);
- ``staleness``: when a dashboard update was published, how old the newest value it showed was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

NS_PER_MS = 1_000_000


class StoredSample(NamedTuple):
    stored_ns: int  # the sample's timestamp in the store (whole ms in Prometheus)
    taken_ns: int  # when the value was really taken (the probe's value)


def expected_collections(window_ns: int, interval_ns: int) -> int:
    return window_ns // interval_ns


def timestamp_errors_ns(samples: Sequence[StoredSample]) -> list[int]:
    return [abs(s.stored_ns - s.taken_ns) for s in samples]


def timestamp_errors_with_missing(samples: Sequence[StoredSample], interval_ns: int, expected: int) -> list[int]:
    """Each stored sample's |error| in ns, plus one whole interval per expected collection missing
    from the store."""
    missing = max(0, expected - len(samples))
    return timestamp_errors_ns(samples) + [interval_ns] * missing


def interval_deviations_ns(samples: Sequence[StoredSample], interval_ns: int) -> list[int]:
    ordered = sorted(samples)
    return [abs((b.taken_ns - a.taken_ns) - interval_ns) for a, b in zip(ordered, ordered[1:])]


def share_within(values: Sequence[int], limit: int) -> float:
    return sum(1 for v in values if v <= limit) / len(values) if values else 0.0


def staleness_ns(published_ns: int, newest_taken_ns: int) -> int:
    return published_ns - newest_taken_ns
