"""Grafana updates as teams write them before the plan (the plan's grafana_clock_updater.py).

A refresh loop: query the panels at wall-clock now, post the annotation stamped with wall time,
``await asyncio.sleep(interval)``, repeat. Its phase against the scrapes is wherever it started.
"""

from __future__ import annotations

import asyncio
from collections import deque
import time
from typing import Any

from core.monitoring.dashboards import dashboard, save_payload
from core.monitoring.protocols import UpdateRecord
from core.monitoring.updates import FRESHNESS_SELECTOR, Publisher, Queries, annotate, query_panels


class GrafanaUpdater:
    def __init__(self, prometheus: Queries, grafana: Publisher, interval_ns: int, *,
                 model: dict[str, Any] | None = None, phase_ns: int = 0, freshness: str = FRESHNESS_SELECTOR,
                 name: str = "monitoring.refresh") -> None:
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
        self._task: asyncio.Task[None] | None = None

    async def publish_dashboard(self) -> dict[str, Any]:
        return await self.grafana.save_dashboard(save_payload(self.model, f"clockbench dashboard at {time.time_ns()} ns"))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    def realign(self, phase_ns: int) -> None:
        """A sleep loop has no phase to move."""

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _loop(self) -> None:
        interval_s = self.interval_ns / 1e9
        while True:
            await self.update(time.time_ns())
            await asyncio.sleep(interval_s)

    async def update(self, due_ns: int) -> UpdateRecord | None:
        started = time.time_ns()
        try:
            series, stored, value = await query_panels(self.prometheus, self.model, started, self.freshness)
            ann = await annotate(self.grafana, self.model, started, len(self.updates) + 1, series, stored)
        except Exception as exc:  # noqa: BLE001 - one failed update is recorded; the loop goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        record = UpdateRecord(due_ns, started, time.time_ns(), ann, series, stored, value)
        self.updates.append(record)
        return record
