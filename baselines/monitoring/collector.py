"""The Prometheus collector as teams write it before the plan (the plan's prometheus_clock_collector.py).

A background task: ``collect(); await asyncio.sleep(interval)`` in a loop, keeping the latest figures;
``/metrics`` serves them without timestamps, so Prometheus stamps each sample with its scrape time.
Idiomatic prometheus_client use (a custom collector over the latest snapshot). Its costs: the loop
drifts by each wake-up's lateness, and a value read up to one interval before the scrape is stored
as if read at the scrape.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence

from prometheus_client.core import Metric

from core.monitoring.exposition import CollectorBase
from core.monitoring.figures import Figure, FigureSource, families


class PrometheusCollector(CollectorBase):
    def __init__(self, source: FigureSource, interval_ns: int, *, phase_ns: int = 0, keep: int = 4,
                 name: str = "monitoring.collect", serve_all: bool = False) -> None:
        """The clocked twin's arguments; ``phase_ns``, ``keep`` and ``serve_all`` have no use in a
        snapshot collector (it serves its latest figures only) beyond the same validation."""
        super().__init__(source, interval_ns, keep, name)
        self._latest: Sequence[Figure] = ()
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> int:
        return time.time_ns()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def realign(self, phase_ns: int) -> None:
        """A sleep loop has no phase to move."""

    async def _loop(self) -> None:
        interval_s = self.interval_ns / 1e9
        while True:
            self.collect()
            await asyncio.sleep(interval_s)

    def collect(self, due_ns: int | None = None) -> int:
        """Read the figures now and keep them as the latest (a failed read keeps serving the last ones)."""
        taken, figures = self.read_figures(due_ns)
        if figures is not None:
            self._latest = figures
        return taken

    def collect_families(self) -> Iterator[Metric]:
        return iter(families(self._latest))
