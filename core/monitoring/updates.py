"""What one dashboard update does, for both builds: query every panel at one instant, find the newest
stored sample of the freshness series, post an annotation. The builds differ only in *when* this
runs and which instant they pass (the clocked updater: its scheduled instant; the baseline: wall time).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from .dashboards import annotation_payload, panel_queries

NS_PER_S = 1_000_000_000
FRESHNESS_SELECTOR = "clockbench_monitor_value_taken_seconds"


class Queries(Protocol):
    async def query(self, expr: str, at_ns: int | None = None) -> dict[str, Any]: ...


class Publisher(Protocol):
    async def save_dashboard(self, payload: dict[str, Any]) -> dict[str, Any]: ...
    async def annotate(self, payload: dict[str, Any]) -> int: ...


def _series(data: dict[str, Any]) -> int:
    result = data.get("result", [])
    return len(result) if isinstance(result, list) else 1


async def newest_sample(prom: Queries, selector: str, at_ns: int | None) -> tuple[int | None, float | None]:
    """The newest stored sample of ``selector`` as of ``at_ns``: (stored timestamp ns, value)."""
    ts, val = await asyncio.gather(prom.query(f"max(timestamp({selector}))", at_ns), prom.query(f"max({selector})", at_ns))
    if not ts.get("result") or not val.get("result"):
        return None, None
    stored_ns = round(float(ts["result"][0]["value"][1]) * 1000) * 1_000_000  # Prometheus stores whole ms
    return stored_ns, float(val["result"][0]["value"][1])


async def query_panels(prom: Queries, model: dict[str, Any], at_ns: int | None, freshness: str
                       ) -> tuple[tuple[int, ...], int | None, float | None]:
    """Every panel at one instant, all at once (as Grafana queries a dashboard's panels in parallel)."""
    *answers, (stored, value) = await asyncio.gather(*(prom.query(expr, at_ns) for expr in panel_queries(model)),
                                                      newest_sample(prom, freshness, at_ns))
    return tuple(_series(a) for a in answers), stored, value


async def annotate(grafana: Publisher, model: dict[str, Any], at_ns: int, count: int,
                   series: tuple[int, ...], stored_ns: int | None) -> int:
    text = f"update {count}: {sum(series)} series; newest sample stored at {stored_ns} ns"
    return await grafana.annotate(annotation_payload(model["uid"], at_ns, text, ["clockbench", "update"]))
