"""Monitoring coordination before the plan (the plan's monitoring_clock_sync.py): the same interval
configured in three places (collector loop, Prometheus scrape, dashboard refresh), each started on
its own, so their phases are wherever each happened to start. Nothing is learned or aligned."""

from __future__ import annotations

from typing import Any

from core.monitoring.promconfig import scrape_job
from core.monitoring.protocols import DashboardUpdater, MetricsCollector
from core.monitoring.schedule import Schedule


class MonitoringSync:
    def __init__(self, interval_ns: int, *, lead_ns: int | None = None, settle_ns: int | None = None,
                 learn: int = 3) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        self.interval_ns = interval_ns
        self.schedule: Schedule | None = None
        self.alignments = 0
        self._collectors: list[MetricsCollector] = []
        self._updaters: list[DashboardUpdater] = []

    def attach_collector(self, collector: MetricsCollector) -> None:
        self._collectors.append(collector)

    def attach_updater(self, updater: DashboardUpdater) -> None:
        self._updaters.append(updater)

    def on_scrape(self, at_ns: int) -> None:
        """Scrapes are not watched."""

    def align(self, scrape_phase_ns: int) -> None:
        """Nothing to align: each loop keeps its own phase."""

    def scrape_config(self, job: str, targets: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]:
        return scrape_job(job, targets, self.interval_ns, labels)
