"""Prometheus configuration as data: a scrape job per stack, and the whole file.

Written as JSON, which is valid YAML, so Prometheus reads it as its ``--config.file``. Durations are
whole milliseconds (``"1000ms"``), a unit Prometheus's duration syntax accepts.
"""

from __future__ import annotations

import json
from typing import Any

NS_PER_MS = 1_000_000


def duration(ns: int) -> str:
    if ns < NS_PER_MS:
        raise ValueError(f"Prometheus durations are whole milliseconds; {ns} ns is less than one")
    return f"{ns // NS_PER_MS}ms"


def scrape_job(job: str, targets: list[str], interval_ns: int, labels: dict[str, str] | None = None,
               metrics_path: str = "/metrics") -> dict[str, Any]:
    """One job: ``targets`` as host:port, scraped every ``interval_ns``, explicit timestamps kept."""
    if not targets:
        raise ValueError(f"scrape job {job!r} has no targets")
    return {
        "job_name": job,
        "scrape_interval": duration(interval_ns),
        "scrape_timeout": duration(max(NS_PER_MS, interval_ns * 8 // 10)),
        "honor_timestamps": True,
        "metrics_path": metrics_path,
        "static_configs": [{"targets": list(targets), "labels": dict(labels or {})}],
    }


def config_text(jobs: list[dict[str, Any]], interval_ns: int) -> str:
    """The whole configuration file (global interval, the jobs)."""
    return json.dumps({"global": {"scrape_interval": duration(interval_ns),
                                  "evaluation_interval": duration(interval_ns)},
                       "scrape_configs": jobs}, indent=1) + "\n"
