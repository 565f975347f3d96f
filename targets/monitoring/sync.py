"""Collection, scrape and dashboard refresh on one schedule (the plan's monitoring/monitoring_clock_sync.py).

Prometheus picks its own scrape phase per target, so the sync learns it from the scrapes it sees
(their arrival instants, a circular median over the last few) and puts the collector ``lead_ns``
before it and the dashboard refresh ``settle_ns`` after it: each scrape carries a collection made
just before, and each refresh shows the scrape just stored. If the observed phase moves by more
than the lead (a scrape would then come before its collection), it aligns again; smaller moves are
arrival jitter of a busy event loop and are ignored, so the schedule does not hop.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from core.monitoring.promconfig import scrape_job
from core.monitoring.protocols import DashboardUpdater, MetricsCollector
from core.monitoring.schedule import Schedule, phase_of, shared_schedule
from targets.clock import Clock


class MonitoringSync:
    def __init__(self, interval_ns: int, *, clock: Clock, lead_ns: int | None = None, settle_ns: int | None = None,
                 learn: int = 3) -> None:
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be > 0, got {interval_ns}")
        self.interval_ns = interval_ns
        self.clock = clock
        self.lead_ns = interval_ns // 10 if lead_ns is None else lead_ns
        self.settle_ns = interval_ns // 10 if settle_ns is None else settle_ns
        shared_schedule(interval_ns, 0, self.lead_ns, self.settle_ns)  # validates lead and settle
        self.learn = learn
        self.schedule: Schedule | None = None
        self.alignments = 0
        self._seen: deque[int] = deque(maxlen=learn)
        self._collectors: list[MetricsCollector] = []
        self._updaters: list[DashboardUpdater] = []

    def attach_collector(self, collector: MetricsCollector) -> None:
        collector.scrape_listener = self.on_scrape
        self._collectors.append(collector)
        if self.schedule is not None:
            collector.realign(self.schedule.collect_phase_ns)

    def attach_updater(self, updater: DashboardUpdater) -> None:
        self._updaters.append(updater)
        if self.schedule is not None:
            updater.realign(self.schedule.refresh_phase_ns)

    def on_scrape(self, at_ns: int) -> None:
        self._seen.append(at_ns)
        if len(self._seen) < self.learn:
            return
        phase = phase_of(list(self._seen), self.interval_ns)
        if self.schedule is not None:
            off = abs((phase - self.schedule.scrape_phase_ns + self.interval_ns // 2) % self.interval_ns
                      - self.interval_ns // 2)
            if off <= self.lead_ns:
                return
        self.align(phase)

    def align(self, scrape_phase_ns: int) -> None:
        self.schedule = shared_schedule(self.interval_ns, scrape_phase_ns, self.lead_ns, self.settle_ns)
        self.alignments += 1
        for c in self._collectors:
            c.realign(self.schedule.collect_phase_ns)
        for u in self._updaters:
            u.realign(self.schedule.refresh_phase_ns)

    def scrape_config(self, job: str, targets: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]:
        return scrape_job(job, targets, self.interval_ns, labels)
