"""Baseline: the same access-log measure written the usual way, with floats in seconds.

Same log, same question (request_time - upstream_response_time); the difference from the exact parser
(``core.load_balancing.load_balancer_timing``, which the harness measures with) is only arithmetic: float seconds, converted to ns at the end.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from core.load_balancing.load_balancer_timing import LOG_LINE, LogFormatError


def added_seconds(line: str) -> float | None:
    m = LOG_LINE.match(line.strip())
    if m is None:
        raise LogFormatError(f"not a clockbench access-log line: {line.strip()[:200]!r}")
    urt = [p.strip() for p in m["urt"].replace(":", ",").split(",") if p.strip() not in ("", "-")]
    if not urt:
        return None
    return max(0.0, float(m["rt"]) - sum(float(x) for x in urt))


def summarize(lines: Iterable[str]) -> dict[str, float] | None:
    values = []
    for line in lines:
        if not line.strip():
            continue
        try:
            v = added_seconds(line)
        except LogFormatError:
            continue
        if v is not None:
            values.append(v)
    if not values:
        return None
    values.sort()
    q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {
        "count": len(values),
        "min_ns": int(values[0] * 1e9),
        "p50_ns": int(q[49] * 1e9),
        "p90_ns": int(q[89] * 1e9),
        "p99_ns": int(q[98] * 1e9),
        "max_ns": int(values[-1] * 1e9),
        "mean_ns": int(statistics.fmean(values) * 1e9),
    }
