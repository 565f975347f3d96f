"""A real Prometheus (Debian's binary) scrapes real stacks, one per monitoring build; the test reads the
stored samples back through its HTTP API with their timestamps, runs every generated dashboard
query against it, and publishes through Grafana's HTTP API to the TEST DOUBLE of that API
(harness/backends/grafana_double.py: no Grafana server can be had here).

Skips on a laptop without Prometheus; fails under CI=true."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import missing
from core.monitoring.apis import GrafanaAPI, MonitoringAPIError, PrometheusAPI
from core.monitoring.dashboards import dashboard, panel_queries, provisioning_files, save_payload
from core.monitoring.promconfig import scrape_job
from harness.backends.grafana_double import GrafanaDouble
from harness.backends.prometheus import PrometheusServer, find_binary
from harness.measure.monitoring import PROBE, stored_samples
from harness.stack import running
from tests.stack.conftest import isolation_args, nginx_or_skip

NS = 1_000_000_000
MS = 1_000_000


@pytest.fixture(scope="module")
def scraped(postgres_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    """Two real stacks (FastAPI workers behind nginx on PostgreSQL and Redis), one with
    ``--component monitoring=clocked``, one with ``monitoring=baseline``, each worker's /metrics
    scraped by a real Prometheus at 1 s; some orders sent through nginx so every figure exists."""
    if find_binary() is None:
        missing("Prometheus", "no prometheus binary (apt-get install prometheus)")
    nginx_or_skip()
    with contextlib.ExitStack() as es:
        stacks = {}
        for build in ("clocked", "baseline"):
            _, args = isolation_args()
            stacks[build] = es.enter_context(running(
                build="clocked", components=[f"monitoring={build}"], workers=1, nginx=True,
                postgres_url=postgres_url, redis_url=redis_url, write_pointer=False,
                service_args=[*args, "--heartbeat-ms", "200"]))
        for build, st in stacks.items():
            assert httpx.get(st.url + "/api/v1/build").json()["components"]["monitoring"] == build
            with httpx.Client(base_url=st.url) as c:
                for i in range(3):
                    r = c.post("/api/v1/orders", json={"client_order_id": f"mon-{build}-{i}", "instrument": "AAPL",
                                                       "side": "BUY", "quantity": 10})
                    assert r.status_code == 201, r.text
        jobs = [scrape_job(b, [st.worker_urls[0].removeprefix("http://")], NS, {"build": b}) for b, st in stacks.items()]
        d = tmp_path_factory_dir(es)
        with PrometheusServer(d / "prometheus", jobs, NS) as prom:
            t0 = time.time_ns()
            prom.wait_for_scrapes(scrapes=4, timeout_s=45)
            yield prom, t0, time.time_ns()


def tmp_path_factory_dir(es: contextlib.ExitStack) -> Path:
    import tempfile

    return Path(es.enter_context(tempfile.TemporaryDirectory(prefix="cb-prom-")))


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
    assert len(u.updates) >= 2 and list(u.errors) == []
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
