"""A real Prometheus (Debian's binary) scrapes monitored workers of both builds; the test reads the
stored samples back through its HTTP API with their timestamps, runs every generated dashboard
query against it, and publishes through Grafana's HTTP API to the TEST DOUBLE of that API
(harness/backends/grafana_double.py: no Grafana server can be had here).

Skips on a laptop without Prometheus; fails under CI=true."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.conftest import missing
from core.monitoring.apis import GrafanaAPI, MonitoringAPIError, PrometheusAPI
from core.monitoring.dashboards import dashboard, panel_queries, provisioning_files, save_payload
from core.monitoring.promconfig import scrape_job
from harness.backends.grafana_double import GrafanaDouble
from harness.backends.prometheus import PrometheusServer, find_binary
from harness.measure.monitoring import PROBE, start_worker, stop_procs, stored_samples, wait_up
from harness.stack.ports import free_port

NS = 1_000_000_000
MS = 1_000_000


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Prometheus scraping a clocked and a baseline worker at 1 s, three scrapes each done."""
    if find_binary() is None:
        missing("Prometheus", "no prometheus binary (apt-get install prometheus)")
    d = tmp_path_factory.mktemp("prom")
    ports = {b: free_port() for b in ("clocked", "baseline")}
    jobs = [scrape_job(b, [f"127.0.0.1:{p}"], NS, {"build": b}) for b, p in ports.items()]
    procs = [start_worker(b, p, 1, d / f"{b}.log", busy_ms=5.0, idle_ms=10.0) for b, p in ports.items()]
    try:
        for (b, p), proc in zip(ports.items(), procs):
            wait_up(f"http://127.0.0.1:{p}", proc)
        with PrometheusServer(d / "prometheus", jobs, NS) as prom:
            t0 = time.time_ns()
            prom.wait_for_scrapes(scrapes=4, timeout_s=45)
            yield prom, t0, time.time_ns()
    finally:
        stop_procs(procs)


def test_prometheus_keeps_the_clocked_collection_instant_and_stamps_the_baseline_at_scrape(scraped) -> None:  # type: ignore[no-untyped-def]
    prom, t0, t1 = scraped

    async def read() -> dict[str, list]:
        api = PrometheusAPI(prom.url)
        try:
            return {b: stored_samples(await api.raw_samples(f'{PROBE}{{job="{b}"}}', t0 - 5 * NS, t1))
                    for b in ("clocked", "baseline")}
        finally:
            await api.close()

    got = asyncio.run(read())
    assert len(got["clocked"]) >= 2 and len(got["baseline"]) >= 2, got
    for s in got["clocked"]:  # stored = the collection's own instant, in whole ms; the probe read just after
        assert 0 <= s.taken_ns - s.stored_ns < 2 * MS, s
    for s in got["baseline"]:  # stored = Prometheus's scrape time, after the value was read
        assert s.stored_ns >= s.taken_ns - MS, s
    stamps = [s.stored_ns for s in got["clocked"]]
    assert len(set(stamps)) == len(stamps)  # re-exposed collections were not stored twice


def test_timestamp_function_agrees_with_the_stored_samples(scraped) -> None:  # type: ignore[no-untyped-def]
    prom, t0, t1 = scraped

    async def read() -> tuple[list, list]:
        api = PrometheusAPI(prom.url)
        try:
            sel = f'{PROBE}{{job="clocked"}}'
            ts = await api.query_range(f"timestamp({sel})", t0, t1, 250 * MS)
            raw = stored_samples(await api.raw_samples(sel, t0 - 5 * NS, t1))
            return ts, raw
        finally:
            await api.close()

    ts, raw = asyncio.run(read())
    assert len(ts) == 1
    seen = {round(float(v) * 1000) * MS for _, v in ts[0]["values"]}
    assert seen and seen <= {s.stored_ns for s in raw}


def test_every_generated_dashboard_query_returns_series(scraped) -> None:  # type: ignore[no-untyped-def]
    prom, t0, t1 = scraped

    async def run() -> dict[str, int]:
        api = PrometheusAPI(prom.url)
        try:
            return {q: len(await api.query_range(q, t0, t1, NS)) for q in panel_queries(dashboard())}
        finally:
            await api.close()

    counts = asyncio.run(run())
    assert counts and all(n >= 1 for n in counts.values()), counts


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_updater_publishes_through_grafanas_http_api_test_double(scraped, build: str) -> None:  # type: ignore[no-untyped-def]
    """Real Prometheus for the queries; the TEST DOUBLE of Grafana's API for publishing."""
    prom, _, _ = scraped
    from monkit import make_updater
    from targets.clock import LiveClock

    async def run(url: str) -> object:
        api, grafana = PrometheusAPI(prom.url), GrafanaAPI(url, token="t0ken")
        u = make_updater(build, api, grafana, 300 * MS, LiveClock(), freshness=f'{PROBE}{{job="{build}"}}')
        try:
            await u.publish_dashboard()
            await u.publish_dashboard()
            u.start()
            end = time.monotonic() + 10
            while len(u.updates) < 2 and time.monotonic() < end:
                await asyncio.sleep(0.05)
            await u.stop()
            return u
        finally:
            await api.close()
            await grafana.close()

    with GrafanaDouble(token="t0ken") as double:
        u = asyncio.run(run(double.url))
    assert len(u.updates) >= 2 and u.errors == []
    assert double.dashboards["clockbench-stack"]["version"] == 2
    for rec in u.updates:
        assert all(n >= 1 for n in rec.series) and rec.newest_stored_ns is not None
    anns = {a["id"]: a for a in double.annotations}
    for rec in u.updates:
        assert anns[rec.annotation_id]["time"] == rec.due_ns // MS
        assert anns[rec.annotation_id]["received_ns"] >= rec.started_ns - 5 * MS


def test_grafana_api_double_enforces_the_documented_contract() -> None:
    async def run(url: str) -> list[str]:
        errs = []
        for token, call in ((None, "dash"), ("t0ken", "untitled"), ("t0ken", "no-text")):
            g = GrafanaAPI(url, token=token)
            try:
                if call == "dash":
                    await g.save_dashboard(save_payload(dashboard(), "m"))
                elif call == "untitled":
                    await g.save_dashboard({"dashboard": {"uid": "x"}, "overwrite": True})
                else:
                    await g.annotate({"time": 1, "text": ""})
            except MonitoringAPIError as exc:
                errs.append(str(exc))
            finally:
                await g.close()
        return errs

    with GrafanaDouble(token="t0ken") as double:
        errs = asyncio.run(run(double.url))
    assert "HTTP 401" in errs[0] and "title cannot be empty" in errs[1] and "text is required" in errs[2]


def test_provisioning_files_are_valid(tmp_path: Path) -> None:
    files = provisioning_files(dashboard(), "http://127.0.0.1:9090", "/var/lib/grafana/dashboards")
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    model = json.loads((tmp_path / "dashboards/clockbench-stack.json").read_text())
    assert model["uid"] == "clockbench-stack" and panel_queries(model) == panel_queries(dashboard())
    assert "url: http://127.0.0.1:9090" in files["provisioning/datasources/clockbench.yaml"]
