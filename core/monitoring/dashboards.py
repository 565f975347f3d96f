"""Grafana dashboards as data: the dashboard JSON, its provisioning files, the API payloads.

Pure: builds the JSON Grafana's HTTP API (``POST /api/dashboards/db``, ``POST /api/annotations``)
and its file provisioning read; nothing here talks to a server. Every panel is a PromQL query, so
a test can run each one against a real Prometheus and check it returns series.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

DATASOURCE_UID = "clockbench-prometheus"
DASHBOARD_UID = "clockbench-stack"


class Panel(NamedTuple):
    title: str
    expr: str
    unit: str = "short"


# The stack's figures (see harness's figure sources): one panel each, and one for monitoring itself.
STACK_PANELS: tuple[Panel, ...] = (
    Panel("Orders by state", "sum by (state) (clockbench_stack_orders)"),
    Panel("Order latency (quantiles)", "max by (quantile) (clockbench_stack_order_latency_seconds)", "s"),
    Panel("Positions", "sum by (instrument) (clockbench_stack_position)"),
    Panel("Heartbeats sent per second", "sum(rate(clockbench_stack_heartbeats_total[5s]))", "ops"),
    Panel("Open connections", "sum(clockbench_stack_connections)"),
    Panel("Sample timestamp error", "timestamp(clockbench_monitor_value_taken_seconds) - clockbench_monitor_value_taken_seconds", "s"),
)


def dashboard(panels: tuple[Panel, ...] = STACK_PANELS, *, uid: str = DASHBOARD_UID, title: str = "clockbench stack",
              refresh: str = "5s", datasource_uid: str = DATASOURCE_UID) -> dict[str, Any]:
    """The dashboard model (Grafana's JSON model, timeseries panels on a 2-column grid)."""
    ds = {"type": "prometheus", "uid": datasource_uid}
    out = []
    for i, p in enumerate(panels):
        out.append({
            "id": i + 1,
            "type": "timeseries",
            "title": p.title,
            "datasource": ds,
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
            "targets": [{"refId": "A", "datasource": ds, "expr": p.expr, "range": True}],
        })
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "tags": ["clockbench"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 0,
        "refresh": refresh,
        "time": {"from": "now-15m", "to": "now"},
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "name": "Annotations & Alerts", "type": "dashboard"}]},
        "panels": out,
    }


def panel_queries(model: dict[str, Any]) -> list[str]:
    """Every PromQL expression of a dashboard model."""
    return [t["expr"] for p in model.get("panels", []) for t in p.get("targets", []) if "expr" in t]


def save_payload(model: dict[str, Any], message: str, folder_uid: str | None = None) -> dict[str, Any]:
    """The body of ``POST /api/dashboards/db`` (create or overwrite by uid)."""
    body: dict[str, Any] = {"dashboard": model, "overwrite": True, "message": message}
    if folder_uid:
        body["folderUid"] = folder_uid
    return body


def annotation_payload(dashboard_uid: str, time_ns: int, text: str, tags: list[str]) -> dict[str, Any]:
    """The body of ``POST /api/annotations``: a point annotation at ``time_ns`` (Grafana takes ms)."""
    return {"dashboardUID": dashboard_uid, "time": time_ns // 1_000_000, "tags": tags, "text": text}


def provisioning_files(model: dict[str, Any], prometheus_url: str, dashboards_dir: str) -> dict[str, str]:
    """File name -> content of a Grafana provisioning set: the datasource, the dashboard provider
    (pointing at ``dashboards_dir``) and the dashboard JSON. YAML written by hand: flat, no quoting needs."""
    datasource = (
        "apiVersion: 1\n"
        "datasources:\n"
        "  - name: clockbench Prometheus\n"
        "    type: prometheus\n"
        f"    uid: {DATASOURCE_UID}\n"
        "    access: proxy\n"
        f"    url: {prometheus_url}\n"
        "    isDefault: true\n"
    )
    provider = (
        "apiVersion: 1\n"
        "providers:\n"
        "  - name: clockbench\n"
        "    type: file\n"
        "    disableDeletion: false\n"
        "    updateIntervalSeconds: 10\n"
        "    options:\n"
        f"      path: {dashboards_dir}\n"
    )
    return {
        "provisioning/datasources/clockbench.yaml": datasource,
        "provisioning/dashboards/clockbench.yaml": provider,
        f"dashboards/{model['uid']}.json": json.dumps(model, indent=2, sort_keys=True) + "\n",
    }
