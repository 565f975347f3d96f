"""Monitoring microbenchmarks, both builds side by side (convention: harness/microbench.py).

- ``monitoring.collect``: one collection of a worker's figures plus one scrape's exposition;
- ``monitoring.interval_1000_series``: the same with 1,000 series: the monitoring CPU one 1 s
  interval costs (CPU share at 1 s = this time / 1 s);
- ``monitoring.update``: one dashboard update's own work (queries and annotation answered by
  in-memory TEST DOUBLES of the APIs, so only the updater is timed).

Freshness (how old the newest sample is when an update is published) depends on real scrapes and
is measured by ``clockbench run`` against a real Prometheus (sim.monitoring.dashboard_staleness).
"""

from __future__ import annotations

import asyncio

import pytest

from harness.measure.monitoring_worker import StackFigures
from tests.monitoring.monkit import NS, START, FakeGrafana, FakePrometheus, make, make_updater
from targets.clock import TestClock

BUILDS = ["clocked", "baseline"]


def _mark(benchmark, group: str, build: str, ops: int = 1) -> None:  # type: ignore[no-untyped-def]
    benchmark.group = group
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = ops


def _interval(collector) -> bytes:  # type: ignore[no-untyped-def]
    collector.collect()
    return collector.expose()


@pytest.mark.parametrize("build", BUILDS)
def test_collect_and_expose(benchmark, build: str) -> None:  # type: ignore[no-untyped-def]
    _mark(benchmark, "monitoring.collect", build)
    c = make(build, StackFigures(), NS, TestClock(START))
    body = benchmark(_interval, c)
    assert b"clockbench_stack_orders" in body and len(c.collections) >= 1


@pytest.mark.parametrize("build", BUILDS)
def test_interval_with_1000_series(benchmark, build: str) -> None:  # type: ignore[no-untyped-def]
    _mark(benchmark, "monitoring.interval_1000_series", build)
    figures = StackFigures(extra_series=1000 - 18)
    c = make(build, figures, NS, TestClock(START))
    body = benchmark(_interval, c)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    assert len(figures()) == 1000 and series >= 1000


@pytest.mark.parametrize("build", BUILDS)
def test_dashboard_update(benchmark, build: str) -> None:  # type: ignore[no-untyped-def]
    _mark(benchmark, "monitoring.update", build)
    prom, grafana = FakePrometheus(), FakeGrafana()
    prom.newest = (START, 1.0)
    u = make_updater(build, prom, grafana, NS, TestClock(START))
    loop = asyncio.new_event_loop()
    try:
        benchmark(lambda: loop.run_until_complete(u.update(START)))
    finally:
        loop.close()
    assert u.updates and list(u.errors) == [] and len(grafana.annotations) == len(u.updates)
