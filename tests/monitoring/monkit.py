"""Kit for the monitoring tests: figure sources, in-memory stand-ins of the Prometheus query API and
Grafana's API (TEST DOUBLES: they answer in the documented shapes, in process, so TestClock runs
stay deterministic; the real Prometheus is exercised in test_monitoring_prometheus.py), builders of
each build's parts, and the determinism scenario run in separate processes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from core.monitoring.figures import Figure
from harness import builds

NS = 1_000_000_000
START = 1_800_000_000 * NS + 123_456_789  # an instant off every grid, so alignment is really tested


class CountingSource:
    """Figures that change at every read: orders, a position, heartbeats (counter), connections."""

    def __init__(self, fail_every: int = 0) -> None:
        self.reads = 0
        self.fail_every = fail_every

    def __call__(self) -> list[Figure]:
        self.reads += 1
        if self.fail_every and self.reads % self.fail_every == 0:
            raise RuntimeError(f"source failed on read {self.reads}")
        n = float(self.reads)
        return [
            Figure("clockbench_stack_orders", "Orders by state", (("state", "open"),), n),
            Figure("clockbench_stack_orders", "Orders by state", (("state", "filled"),), 2 * n),
            Figure("clockbench_stack_position", "Position", (("instrument", "AAPL"),), 100 * n),
            Figure("clockbench_stack_heartbeats_total", "Heartbeats", (), 10 * n, "counter"),
            Figure("clockbench_stack_connections", "Connections", (), 3.0),
        ]


class FakePrometheus:
    """TEST DOUBLE of ``GET /api/v1/query``: answers every query with one series; the freshness
    queries answer from ``newest`` (stored ns, value), as a store holding those samples would."""

    def __init__(self) -> None:
        self.newest: tuple[int, float] | None = None
        self.queries: list[tuple[str, int | None]] = []

    async def query(self, expr: str, at_ns: int | None = None) -> dict[str, Any]:
        self.queries.append((expr, at_ns))
        t = (at_ns or 0) / NS
        if expr.startswith("max(timestamp("):
            if self.newest is None:
                return {"resultType": "vector", "result": []}
            return {"resultType": "vector", "result": [{"metric": {}, "value": [t, str(self.newest[0] / NS)]}]}
        if expr.startswith("max(") and self.newest is not None:
            return {"resultType": "vector", "result": [{"metric": {}, "value": [t, repr(self.newest[1])]}]}
        return {"resultType": "vector", "result": [{"metric": {"job": "x"}, "value": [t, "1"]}]}


class FakeGrafana:
    """TEST DOUBLE of Grafana's ``POST /api/dashboards/db`` and ``POST /api/annotations`` answers."""

    def __init__(self) -> None:
        self.dashboards: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []

    async def save_dashboard(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.dashboards.append(payload)
        uid = payload["dashboard"]["uid"]
        return {"id": 1, "uid": uid, "url": f"/d/{uid}", "status": "success", "version": len(self.dashboards)}

    async def annotate(self, payload: dict[str, Any]) -> int:
        self.annotations.append(payload)
        return len(self.annotations)


def make(build: str, source: Any, interval_ns: int, clock: Any = None, **kw: Any) -> Any:
    """The collector of ``build``, through harness.builds (the clocked one on ``clock``)."""
    return builds.make("monitoring", build, clock=builds.clock_for(build, clock), source=source,
                       interval_ns=interval_ns, **kw)


def make_updater(build: str, prom: Any, grafana: Any, interval_ns: int, clock: Any = None, **kw: Any) -> Any:
    return builds.make("grafana_updater", build, clock=builds.clock_for(build, clock), prometheus=prom,
                       grafana=grafana, interval_ns=interval_ns, **kw)


def make_sync(build: str, interval_ns: int, clock: Any = None, **kw: Any) -> Any:
    return builds.make("monitoring_sync", build, clock=builds.clock_for(build, clock), interval_ns=interval_ns, **kw)


def scenario_digest(seconds: int = 30) -> tuple[str, int]:
    """Collector, sync and updater on one TestClock for ``seconds`` of virtual time, with scrapes
    arriving at a fixed phase; sha256 over every collection instant, every exposition body and
    every update. Returns (digest, number of events hashed)."""
    from targets.clock import TestClock, run_virtual
    from targets.monitoring import GrafanaUpdater, MonitoringSync, PrometheusCollector

    clock = TestClock(START)
    prom, grafana = FakePrometheus(), FakeGrafana()
    collector = PrometheusCollector(CountingSource(), NS, clock=clock)
    updater = GrafanaUpdater(prom, grafana, NS, clock=clock)
    sync = MonitoringSync(NS, clock=clock)
    sync.attach_collector(collector)
    sync.attach_updater(updater)
    bodies: list[str] = []

    async def main() -> None:
        await updater.publish_dashboard()
        collector.start()
        updater.start()
        for k in range(seconds):
            await clock.sleep_until(START - START % NS + (k + 1) * NS + 370_000_000)  # a scrape at phase .37
            bodies.append(collector.expose().decode())
            if collector.collections:
                prom.newest = (collector.collections[-1] // 1_000_000 * 1_000_000, float(collector.collections[-1]))
        collector.stop()
        await updater.stop()

    run_virtual(main(), clock)
    h = hashlib.sha256()
    payload = {"collections": list(collector.collections), "bodies": bodies,
               "updates": [list(u) for u in updater.updates], "annotations": grafana.annotations}
    h.update(json.dumps(payload, sort_keys=True).encode())
    return h.hexdigest(), len(collector.collections) + len(bodies) + len(updater.updates)


if __name__ == "__main__":
    d, n = scenario_digest()
    print(f"digest {d} events {n}")
