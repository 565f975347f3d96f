"""Monitoring as teams write it before the plan: sleep loops on system time, samples stamped by the scrape."""

from core.monitoring.protocols import DashboardUpdater, MetricsCollector, MonitoringSync as MonitoringSyncProtocol

from .collector import PrometheusCollector
from .sync import MonitoringSync
from .updater import GrafanaUpdater

__all__ = ["DashboardUpdater", "GrafanaUpdater", "MetricsCollector", "MonitoringSync", "MonitoringSyncProtocol",
           "PrometheusCollector"]
