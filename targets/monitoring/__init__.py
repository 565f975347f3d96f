"""Monitoring on the Clock: the Prometheus collector, the Grafana updater and the sync that puts
collection, scrape and refresh on one schedule (the plan's monitoring/ folder)."""

from core.monitoring.protocols import DashboardUpdater, MetricsCollector, MonitoringSync as MonitoringSyncProtocol

from .collector import PrometheusCollector
from .sync import MonitoringSync
from .updater import GrafanaUpdater

__all__ = ["DashboardUpdater", "GrafanaUpdater", "MetricsCollector", "MonitoringSync", "MonitoringSyncProtocol",
           "PrometheusCollector"]
