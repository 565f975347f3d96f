"""What one dashboard update does, for both builds: query every panel at one instant, find the newest
stored sample of the freshness series, post an annotation. The builds differ only in *when* this
runs and which instant they pass (the clocked updater: its scheduled instant; the baseline: wall time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Protocol

from .dashboards import annotation_payload, dashboard, panel_queries, save_payload
from .protocols import UpdateRecord

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


class UpdaterBase:
    """The state and the one update both builds' ``GrafanaUpdater`` share. A subclass gives ``_now``
    (whose time: the Clock, or the system clock) and ``_instant`` (which instant an update shows: its
    scheduled one, or the wall time it happened to start at); the builds differ in nothing else here."""

    def __init__(self, prometheus: Queries, grafana: Publisher, interval_ns: int, model: dict[str, Any] | None,
                 freshness: str, name: str) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        self.prometheus = prometheus
        self.grafana = grafana
        self.interval_ns = interval_ns
        self.model = model if model is not None else dashboard()
        self.freshness = freshness
        self.name = name
        self.updates: deque[UpdateRecord] = deque(maxlen=10_000)  # the latest updates (bounded)
        self.errors: deque[str] = deque(maxlen=100)  # the latest failures (bounded)
        self.skipped = 0

    def _now(self) -> int:
        raise NotImplementedError

    def _instant(self, due_ns: int, started_ns: int) -> int:
        raise NotImplementedError

    async def publish_dashboard(self) -> dict[str, Any]:
        return await self.grafana.save_dashboard(save_payload(self.model, f"clockbench dashboard at {self._now()} ns"))

    async def update(self, due_ns: int) -> UpdateRecord | None:
        """One update due at ``due_ns``: query every panel at the build's instant, annotate, record."""
        started = self._now()
        at = self._instant(due_ns, started)
        try:
            series, stored, value = await query_panels(self.prometheus, self.model, at, self.freshness)
            ann = await annotate(self.grafana, self.model, at, len(self.updates) + 1, series, stored)
        except Exception as exc:  # noqa: BLE001 - one failed update is recorded; the schedule goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        record = UpdateRecord(due_ns, started, self._now(), ann, series, stored, value)
        self.updates.append(record)
        return record
