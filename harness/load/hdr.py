"""HdrHistograms of latencies in integer nanoseconds: create, ship as text, merge, read percentiles.

Every Locust process records into its own histograms; they travel to the master as the compressed
base64 text HdrHistogram defines (``encode``), and are added there (``merge``). Adding histograms
is exact: the merged counts are the sum of the parts, bucket by bucket.
"""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from core.units import NS_PER_HOUR

LOWEST_NS = 1
HIGHEST_NS = NS_PER_HOUR  # one hour: anything slower is clamped to it
SIGNIFICANT_DIGITS = 3  # values are kept to 0.1% relative precision
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new() -> HdrHistogram:
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)


def record(hist: HdrHistogram, value_ns: int, count: int = 1) -> None:
    """Record a latency; values outside the trackable range are clamped, never dropped."""
    hist.record_value(min(max(int(value_ns), LOWEST_NS), HIGHEST_NS), count)


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def decode(text: str) -> HdrHistogram:
    return HdrHistogram.decode(text.encode("ascii"))


def merge(parts: Iterable[HdrHistogram | str]) -> HdrHistogram:
    """One histogram holding every value of the parts (histograms or their encoded text)."""
    out = new()
    for part in parts:
        out.add(decode(part) if isinstance(part, str) else part)
    return out


def summary(hist: HdrHistogram) -> dict[str, int]:
    """Count, min, max, mean and p50/p90/p99/p999 as integer nanoseconds (0 when empty)."""
    n = hist.get_total_count()
    if n == 0:
        return {"count": 0, "min": 0, "max": 0, "mean": 0, **{k: 0 for k in PERCENTILES}}
    out = {
        "count": int(n),
        "min": int(hist.get_min_value()),
        "max": int(hist.get_max_value()),
        "mean": int(round(hist.get_mean_value())),
    }
    for key, pct in PERCENTILES.items():
        out[key] = int(hist.get_value_at_percentile(pct))
    return out


def value_at(hist: HdrHistogram, percentile: float) -> int:
    return int(hist.get_value_at_percentile(percentile))
