"""The monitoring family's interfaces, shared by both builds (the plan's monitoring/ folder).

- ``MetricsCollector`` (prometheus_clock_collector.py): reads the stack's figures every interval
  and serves them as the Prometheus exposition of ``/metrics``.
- ``DashboardUpdater`` (grafana_clock_updater.py): publishes the Grafana dashboard, then one update
  per interval (queries the panels, posts an annotation through Grafana's HTTP API).
- ``MonitoringSync`` (monitoring_clock_sync.py): one schedule for collection, scrape and refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from .schedule import Schedule

ScrapeListener = Callable[[int], None]


class UpdateRecord(NamedTuple):
    """One dashboard update, in the build's own time: when it was due (the baseline's loop has no
    schedule, so its ``due_ns`` is its start), when it started and was published, the annotation id
    Grafana returned, how many series each panel query returned, and the newest stored sample of the
    freshness series (its stored timestamp and value), or None when there was none."""

    due_ns: int
    started_ns: int
    published_ns: int
    annotation_id: int
    series: tuple[int, ...]
    newest_stored_ns: int | None
    newest_value: float | None


class MetricsCollector(Protocol):
    interval_ns: int
    collections: Sequence[int]  # the instant of each collection (the build's own time)
    scrape_listener: ScrapeListener | None  # told the arrival instant of each scrape

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def expose(self) -> bytes: ...
    def realign(self, phase_ns: int) -> None: ...


class DashboardUpdater(Protocol):
    interval_ns: int
    updates: Sequence[UpdateRecord]
    errors: Sequence[str]
    model: dict[str, Any]

    async def publish_dashboard(self) -> dict[str, Any]: ...
    def start(self) -> None: ...
    async def stop(self) -> None: ...
    def realign(self, phase_ns: int) -> None: ...


class MonitoringSync(Protocol):
    interval_ns: int
    schedule: Schedule | None  # None until aligned (the baseline never is)

    def attach_collector(self, collector: MetricsCollector) -> None: ...
    def attach_updater(self, updater: DashboardUpdater) -> None: ...
    def on_scrape(self, at_ns: int) -> None: ...
    def align(self, scrape_phase_ns: int) -> None: ...
    def scrape_config(self, job: str, targets: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]: ...
