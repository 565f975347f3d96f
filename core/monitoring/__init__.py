"""Build-neutral parts of monitoring: interfaces, figures, schedule arithmetic, dashboards, API clients."""

from .figures import Figure, FigureSource, exposition_timestamp, families
from .protocols import DashboardUpdater, MetricsCollector, MonitoringSync, UpdateRecord
from .schedule import Schedule, next_at_phase, phase_of, shared_schedule

__all__ = [
    "DashboardUpdater",
    "Figure",
    "FigureSource",
    "MetricsCollector",
    "MonitoringSync",
    "Schedule",
    "UpdateRecord",
    "exposition_timestamp",
    "families",
    "next_at_phase",
    "phase_of",
    "shared_schedule",
]
