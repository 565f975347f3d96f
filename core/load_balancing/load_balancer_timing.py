"""nginx's own share of each request, from its access log: ``$request_time - $upstream_response_time``.

Pure: parse lines, then summarise. Times are read as exact decimals and kept as int nanoseconds
(nginx logs milliseconds, so no float rounding enters the distribution). That difference is the
plan's "load balancer routing" row: what nginx adds on top of the worker's own time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from core.units import NS_PER_MS, NS_PER_S

LOG_LINE = re.compile(
    r'^(?P<msec>\d+\.\d+) (?P<status>\d{3}) (?P<method>\S+) "(?P<uri>[^"]*)" '
    r"rt=(?P<rt>\S+) urt=(?P<urt>.+?) uct=(?P<uct>.+?) ua=\"(?P<ua>[^\"]*)\""
)
_NS = Decimal(NS_PER_S)


class LogFormatError(ValueError):
    """A line that is not in clockbench's access-log format (the message quotes it)."""


@dataclass(frozen=True)
class Entry:
    time_ns: int  # when nginx logged the request ($msec)
    status: int
    method: str
    uri: str
    request_ns: int  # $request_time
    upstream_ns: int | None  # sum of $upstream_response_time over the attempts; None if no upstream
    upstream_attempts: int

    @property
    def added_ns(self) -> int | None:
        """nginx's added latency, or None when nginx answered without an upstream."""
        if self.upstream_ns is None:
            return None
        return max(0, self.request_ns - self.upstream_ns)


def _seconds_to_ns(text: str, line: str) -> int:
    try:
        return int(Decimal(text) * _NS)
    except InvalidOperation:
        raise LogFormatError(f"not a time in seconds: {text!r} in line {line!r}") from None


def parse_line(line: str) -> Entry:
    m = LOG_LINE.match(line.strip())
    if m is None:
        raise LogFormatError(f"not a clockbench access-log line: {line.strip()[:200]!r}")
    parts = [p.strip() for p in re.split(r"[,:]", m["urt"]) if p.strip() not in ("", "-")]
    upstream = sum(_seconds_to_ns(p, line) for p in parts) if parts else None
    return Entry(
        time_ns=_seconds_to_ns(m["msec"], line),
        status=int(m["status"]),
        method=m["method"],
        uri=m["uri"],
        request_ns=_seconds_to_ns(m["rt"], line),
        upstream_ns=upstream,
        upstream_attempts=len(parts),
    )


def parse(lines: Iterable[str], *, strict: bool = False) -> tuple[list[Entry], int]:
    """Entries, and the number of lines skipped (unparseable); ``strict`` raises on the first bad line."""
    entries: list[Entry] = []
    skipped = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            entries.append(parse_line(line))
        except LogFormatError:
            if strict:
                raise
            skipped += 1
    return entries, skipped


def quantile(sorted_values: list[int], q: float) -> int:
    """Nearest-rank quantile of an already sorted list (exact; no interpolation)."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 <= q <= 1:
        raise ValueError(f"q must be in [0, 1], got {q}")
    rank = max(1, -(-int(q * 1_000_000) * len(sorted_values) // 1_000_000))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Distribution:
    count: int
    min_ns: int
    p50_ns: int
    p90_ns: int
    p99_ns: int
    max_ns: int
    mean_ns: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def distribution(values: Iterable[int]) -> Distribution | None:
    vs = sorted(values)
    if not vs:
        return None
    return Distribution(
        count=len(vs),
        min_ns=vs[0],
        p50_ns=quantile(vs, 0.5),
        p90_ns=quantile(vs, 0.9),
        p99_ns=quantile(vs, 0.99),
        max_ns=vs[-1],
        mean_ns=sum(vs) // len(vs),
    )


def added_latency(entries: Iterable[Entry], uri_prefix: str | None = None) -> Distribution | None:
    """Distribution of nginx's added latency over the entries that reached an upstream."""
    return distribution(
        e.added_ns
        for e in entries
        if e.added_ns is not None and (uri_prefix is None or e.uri.startswith(uri_prefix))
    )


def summarize_file(path: str, uri_prefix: str | None = None) -> dict[str, object]:
    """Read an access log and summarise it (the one I/O helper of this module)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        entries, skipped = parse(f)
    dist = added_latency(entries, uri_prefix)
    return {
        "requests": len(entries),
        "skipped_lines": skipped,
        "without_upstream": sum(1 for e in entries if e.upstream_ns is None),
        "added_latency": dist.as_dict() if dist else None,
        "resolution_ns": NS_PER_MS,  # nginx logs times in milliseconds
    }
