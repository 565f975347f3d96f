"""Service-level objectives: parse ``"p99<50ms,errors<1%"`` and judge a run's summary against them.

Pure logic. Latency metrics (p50, p90, p99, p999, max, mean) compare integer nanoseconds;
``errors`` compares the failed share of requests; ``rps`` compares the achieved throughput.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.units import NS_PER_MS, NS_PER_S, NS_PER_US

LATENCY_METRICS = ("p50", "p90", "p99", "p999", "max", "mean")
UNITS_NS = {"ns": 1, "us": NS_PER_US, "µs": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S}
_TERM = re.compile(r"^\s*([a-z0-9]+)\s*(<=|<|>=|>)\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zµ%/]*)\s*$")


class SLOError(ValueError):
    """An SLO text that cannot be read; the message names the bad term."""


@dataclass(frozen=True)
class Term:
    metric: str  # p99 | errors | rps | ...
    op: str
    limit: float  # ns for latency, a fraction (0..1) for errors, requests/s for rps
    text: str

    def holds(self, value: float) -> bool:
        return {"<": value < self.limit, "<=": value <= self.limit,
                ">": value > self.limit, ">=": value >= self.limit}[self.op]


def parse(text: str) -> tuple[Term, ...]:
    if not isinstance(text, str) or not text.strip():
        raise SLOError("the SLO is empty; write e.g. \"p99<50ms,errors<1%\"")
    terms = []
    for raw in text.split(","):
        m = _TERM.match(raw.lower())
        if not m:
            raise SLOError(f"SLO term {raw.strip()!r}: expected METRIC<VALUE[UNIT], e.g. p99<50ms or errors<1%")
        metric, op, number, unit = m.group(1), m.group(2), float(m.group(3)), m.group(4)
        if metric in LATENCY_METRICS:
            if unit not in UNITS_NS:
                raise SLOError(f"SLO term {raw.strip()!r}: a latency needs a unit ({', '.join(UNITS_NS)})")
            limit = number * UNITS_NS[unit]
        elif metric == "errors":
            if unit == "%":
                limit = number / 100.0
            elif unit == "":
                limit = number
            else:
                raise SLOError(f"SLO term {raw.strip()!r}: errors are a share, e.g. errors<1%")
            if not 0 <= limit <= 1:
                raise SLOError(f"SLO term {raw.strip()!r}: an error share must be between 0% and 100%")
        elif metric == "rps":
            if unit not in ("", "/s", "rps"):
                raise SLOError(f"SLO term {raw.strip()!r}: throughput is in requests per second, e.g. rps>100")
            limit = number
        else:
            raise SLOError(
                f"SLO term {raw.strip()!r}: unknown metric {metric!r}; use one of "
                f"{', '.join(LATENCY_METRICS)}, errors, rps"
            )
        terms.append(Term(metric, op, limit, raw.strip()))
    return tuple(terms)


def value_of(term: Term, summary: dict) -> float:
    """The run summary's figure for a term (see harness/load/runner.py for the summary's shape)."""
    agg = summary["aggregate"]
    if term.metric in LATENCY_METRICS:
        lat = agg["latency_corrected_ns"] if agg.get("latency_corrected_ns") else agg["latency_ns"]
        return float(lat[term.metric])
    if term.metric == "errors":
        return float(agg["error_rate"])
    return float(agg["throughput_rps"])


def evaluate(terms: tuple[Term, ...], summary: dict) -> tuple[bool, list[str]]:
    """(all hold, one line per term saying value vs limit and whether it held)."""
    ok = True
    lines = []
    for t in terms:
        v = value_of(t, summary)
        held = t.holds(v)
        ok &= held
        if t.metric in LATENCY_METRICS:
            shown = f"{v / 1e6:.2f}ms"
        elif t.metric == "errors":
            shown = f"{v * 100:.2f}%"
        else:
            shown = f"{v:.1f}/s"
        lines.append(f"{t.text}: {shown} {'ok' if held else 'VIOLATED'}")
    return ok, lines
