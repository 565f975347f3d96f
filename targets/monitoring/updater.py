"""Grafana updates on the Clock (the plan's monitoring/grafana_clock_updater.py).

Updates run on one clock timer at absolute instants (phase + k * interval); the sync sets the
phase just after the scrape each update shows. Every panel is queried at the update's scheduled
instant, so one update shows one consistent moment, and the annotation carries that instant.
An update still running when the next falls due makes the next one skip (counted), never pile up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from core.monitoring.protocols import UpdateRecord
from core.monitoring.schedule import next_at_phase
from core.monitoring.updates import FRESHNESS_SELECTOR, Publisher, Queries, UpdaterBase
from targets.clock import Clock, TimeEvent


class GrafanaUpdater(UpdaterBase):
    def __init__(self, prometheus: Queries, grafana: Publisher, interval_ns: int, *, clock: Clock,
                 model: dict[str, Any] | None = None, phase_ns: int = 0, freshness: str = FRESHNESS_SELECTOR,
                 name: str = "monitoring.refresh") -> None:
        super().__init__(prometheus, grafana, interval_ns, model, freshness, name)
        self.clock = clock
        self.phase_ns = phase_ns % interval_ns
        self._task: asyncio.Task[UpdateRecord | None] | None = None

    def _now(self) -> int:
        return self.clock.timestamp_ns()

    def _instant(self, due_ns: int, started_ns: int) -> int:
        """Every panel is queried at the scheduled instant: one update shows one consistent moment."""
        return due_ns

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
