"""Grafana updates on the Clock (the plan's monitoring/grafana_clock_updater.py).

Updates run on one clock timer at absolute instants (phase + k * interval); the sync sets the
phase just after the scrape each update shows. Every panel is queried at the update's scheduled
instant, so one update shows one consistent moment, and the annotation carries that instant.
An update still running when the next falls due makes the next one skip (counted), never pile up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from core.monitoring.dashboards import dashboard, save_payload
from core.monitoring.protocols import UpdateRecord
from core.monitoring.schedule import next_at_phase
from core.monitoring.updates import FRESHNESS_SELECTOR, Publisher, Queries, annotate, query_panels
from targets.clock import Clock, TimeEvent


class GrafanaUpdater:
    def __init__(self, prometheus: Queries, grafana: Publisher, interval_ns: int, *, clock: Clock,
                 model: dict[str, Any] | None = None, phase_ns: int = 0, freshness: str = FRESHNESS_SELECTOR,
                 name: str = "monitoring.refresh") -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        self.prometheus = prometheus
        self.grafana = grafana
        self.interval_ns = interval_ns
        self.clock = clock
        self.model = model if model is not None else dashboard()
        self.phase_ns = phase_ns % interval_ns
        self.freshness = freshness
        self.name = name
        self.updates: deque[UpdateRecord] = deque(maxlen=10_000)  # the latest updates (bounded)
        self.errors: deque[str] = deque(maxlen=100)  # the latest failures (bounded)
        self.skipped = 0
        self._task: asyncio.Task[None] | None = None

    async def publish_dashboard(self) -> dict[str, Any]:
        return await self.grafana.save_dashboard(
            save_payload(self.model, f"clockbench dashboard at {self.clock.timestamp_ns()} ns"))

    def start(self) -> None:
        first = next_at_phase(self.clock.timestamp_ns(), self.interval_ns, self.phase_ns)
        self.clock.set_timer(self.name, self.interval_ns, self._on_timer, start_time_ns=first - self.interval_ns)

    def realign(self, phase_ns: int) -> None:
        self.phase_ns = phase_ns % self.interval_ns
        if self.clock.has_timer(self.name):
            self.clock.cancel_timer(self.name)
            self.start()

    async def stop(self) -> None:
        if self.clock.has_timer(self.name):
            self.clock.cancel_timer(self.name)
        if self._task is not None and not self._task.done():
            await asyncio.gather(self._task, return_exceptions=True)

    def _on_timer(self, event: TimeEvent) -> None:
        if self._task is not None and not self._task.done():
            self.skipped += 1
            return
        self._task = asyncio.get_running_loop().create_task(self.update(event.ts_event))

    async def update(self, due_ns: int) -> UpdateRecord | None:
        """One update for the instant ``due_ns``: query, annotate, record."""
        started = self.clock.timestamp_ns()
        try:
            series, stored, value = await query_panels(self.prometheus, self.model, due_ns, self.freshness)
            ann = await annotate(self.grafana, self.model, due_ns, len(self.updates) + 1, series, stored)
        except Exception as exc:  # noqa: BLE001 - one failed update is recorded; the schedule goes on
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return None
        record = UpdateRecord(due_ns, started, self.clock.timestamp_ns(), ann, series, stored, value)
        self.updates.append(record)
        return record
