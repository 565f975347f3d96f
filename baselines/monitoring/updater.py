"""Grafana updates as teams write them before the plan (the plan's grafana_clock_updater.py).

A refresh loop: query the panels at wall-clock now, post the annotation stamped with wall time,
``await asyncio.sleep(interval)``, repeat. Its phase against the scrapes is wherever it started.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from core.monitoring.updates import FRESHNESS_SELECTOR, Publisher, Queries, UpdaterBase


class GrafanaUpdater(UpdaterBase):
    def __init__(self, prometheus: Queries, grafana: Publisher, interval_ns: int, *,
                 model: dict[str, Any] | None = None, phase_ns: int = 0, freshness: str = FRESHNESS_SELECTOR,
                 name: str = "monitoring.refresh") -> None:
        super().__init__(prometheus, grafana, interval_ns, model, freshness, name)
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> int:
        return time.time_ns()

    def _instant(self, due_ns: int, started_ns: int) -> int:
        """The panels are queried at wall-clock now, whatever the loop's phase."""
        return started_ns

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
