"""Monitoring accuracy measured at the consumer: a real Prometheus scrapes both builds' collectors
(plus a second baseline for the A/A noise floor) under load, and the stored samples are read back
through its HTTP API with their timestamps. Two loads:

- "mixed" (the full run): three real stacks (clocked, baseline, aa) behind nginx; the Locust mixed
  profile drives one at a time in interleaved rounds, each build judged over its loaded windows
  (``produce_mixed``);
- "busy" (``--quick``): one monitored worker per build side by side, its event loop kept busy by
  CPU bursts, as described below.

Per "busy" round (fresh worker processes, so every baseline loop starts at a new phase; the three builds
run side by side in the same window, the order they start alternating between rounds):

1. start ``workers`` workers per build (harness/measure/monitoring_worker.py: /metrics from that
   build's collector, figures with a probe of when they were read, a busy loop of CPU bursts); each
   worker is one more draw of the phase between its collector and Prometheus's scrape (one by
   default: with two, six busy processes saturated two shared cores and starved the updaters);
2. wait (polling /api/v1/targets) until Prometheus has scraped each several times, so the clocked
   sync has learned the scrape phase;
3. run one dashboard updater per build for the window against the Grafana API test double (the
   clocked one on the phase learned from Prometheus's ``lastScrape``; each baseline loop started
   after a random, seeded delay: wherever it happens to start);
4. read back every stored probe sample of the window (a range selector: raw samples with their
   stored timestamps) and each update's newest sample.

Records (one per build: clocked, baseline, aa):
  sim.monitoring.timestamp_error            ns, per stored sample: |stored timestamp - instant the value
                                            was read|; a collection missing from the store counts as a
                                            whole interval
  sim.monitoring.collection_interval_jitter ns, per consecutive pair of stored samples: |difference of
                                            the instants their values were read - interval|
  sim.monitoring.dashboard_staleness        ns, per dashboard update: arrival at the Grafana API double -
                                            instant the newest value it showed was read
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from core.monitoring import accuracy
from core.monitoring.apis import GrafanaAPI, PrometheusAPI
from core.monitoring.dashboards import dashboard, panel_queries, provisioning_files
from core.monitoring.promconfig import scrape_job
from harness import builds
from harness.backends.grafana_double import GrafanaDouble
from harness.backends.prometheus import PrometheusServer, PrometheusUnavailable, find_binary
from harness.results import MetricRecord, invalid
from harness.rundir import ROOT
from harness.load.abtest import ARM_BUILDS
from harness.measure import Context, Unavailable, live_clock
from harness.ports import free_port

Log = Callable[[str], None]
BUILDS = ("clocked", "baseline", "aa")
INTERVAL_NS = 1_000_000_000
PROBE = "clockbench_monitor_value_taken_seconds"
SETTINGS = {  # quick, full
    True: {"rounds": 4, "window_s": 6, "workers": 1, "busy_ms": 20.0, "idle_ms": 10.0},
    False: {"rounds": 8, "window_s": 20, "workers": 1, "busy_ms": 20.0, "idle_ms": 10.0},
}


def start_worker(build: str, port: int, seed: int, log_path: Path, busy_ms: float, idle_ms: float,
                 extra_series: int = 0) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "harness.measure.monitoring_worker", "--build", build, "--port", str(port),
           "--interval-ms", str(INTERVAL_NS // 1_000_000), "--seed", str(seed), "--busy-ms", str(busy_ms),
           "--idle-ms", str(idle_ms), "--extra-series", str(extra_series)]
    with open(log_path, "ab") as f:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"monitoring worker {url} exited with {proc.returncode} at start")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"monitoring worker {url} not up within {timeout_s:g}s")


def stop_procs(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def stored_series(result: list[dict[str, Any]]) -> list[list[accuracy.StoredSample]]:
    """Raw samples of the probe, per series (one per scraped target), as (stored ns, taken ns)."""
    return [sorted(accuracy.StoredSample(round(float(ts) * 1000) * 1_000_000, round(float(v) * 1e9))
                   for ts, v in series["values"]) for series in result]


def stored_samples(result: list[dict[str, Any]]) -> list[accuracy.StoredSample]:
    """Every series' samples in one sorted list."""
    return sorted(x for series in stored_series(result) for x in series)


def make_updater(arm: str, prom: PrometheusAPI, grafana: GrafanaAPI, model: dict[str, Any],
                 scrape_phase_ns: int | None) -> tuple[Any, Any]:
    """The dashboard updater of ``arm``'s build (through harness.builds) with its sync; the sync is
    told the scrape phase learned from Prometheus (the baseline's ignores it: nothing to align)."""
    build = ARM_BUILDS[arm]
    clock = live_clock(build)
    up = builds.make("grafana_updater", build, clock=clock, prometheus=prom, grafana=grafana,
                     interval_ns=INTERVAL_NS, model=model, freshness=f'{PROBE}{{job="{arm}"}}', name=f"refresh.{arm}")
    sync = builds.make("monitoring_sync", build, clock=clock, interval_ns=INTERVAL_NS)
    sync.attach_updater(up)
    if scrape_phase_ns is not None:
        sync.align(scrape_phase_ns)
    return up, sync


async def run_updaters(prom_url: str, grafana_url: str, phases: dict[str, int], window_s: float,
                       rng: random.Random) -> tuple[dict[str, list], int, int, dict[str, list[str]]]:
    prom = PrometheusAPI(prom_url)
    grafana = GrafanaAPI(grafana_url)
    model = dashboard()
    updaters = {b: make_updater(b, prom, grafana, model, phases.get(b))[0] for b in BUILDS}
    await updaters["clocked"].publish_dashboard()

    async def start_late(b: str, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        updaters[b].start()

    start_ns = time.time_ns()
    updaters["clocked"].start()
    late = [asyncio.create_task(start_late(b, rng.uniform(0, INTERVAL_NS / 1e9))) for b in BUILDS if not builds.needs_clock(ARM_BUILDS[b])]
    await asyncio.sleep(window_s)
    end_ns = time.time_ns()
    await asyncio.gather(*late)
    for up in updaters.values():
        await up.stop()
    await prom.close()
    await grafana.close()
    return ({b: u.updates for b, u in updaters.items()}, start_ns, end_ns,
            {b: list(u.errors) for b, u in updaters.items()})


async def check_panels(prom_url: str, start_ns: int, end_ns: int) -> dict[str, int]:
    """Every generated panel's PromQL over the window: how many series it returned."""
    prom = PrometheusAPI(prom_url)
    try:
        return {expr: len(await prom.query_range(expr, start_ns, end_ns, INTERVAL_NS))
                for expr in panel_queries(dashboard())}
    finally:
        await prom.close()


async def read_probe(prom_url: str, job: str, start_ns: int, end_ns: int) -> list[list[accuracy.StoredSample]]:
    prom = PrometheusAPI(prom_url)
    try:
        return stored_series(await prom.raw_samples(f'{PROBE}{{job="{job}"}}', start_ns, end_ns))
    finally:
        await prom.close()


def measure_window(prom_url: str, build: str, w0: int, w1: int, updates: list, received: dict[int, int],
                   upd_errors: list[str], errors: dict[str, list[int]], jitter: dict[str, list[int]],
                   stale: dict[str, list[int]], targets: int = 1) -> dict[str, Any]:
    """Read one build's stored probe samples of the window back from Prometheus; add its figures to
    ``errors``/``jitter``/``stale`` (and the staleness of its dashboard updates published in the
    window); return the window's summary."""
    series = asyncio.run(read_probe(prom_url, build, w0, w1))
    series += [[] for _ in range(max(0, targets - len(series)))]  # a target that stored nothing misses all
    per = accuracy.expected_collections(w1 - w0, INTERVAL_NS)
    expected = per * len(series)
    e = [x for ss in series for x in accuracy.timestamp_errors_with_missing(ss, INTERVAL_NS, per)]
    j = [x for ss in series for x in accuracy.interval_deviations_ns(ss, INTERVAL_NS)]
    samples = [x for ss in series for x in ss]
    st = [accuracy.staleness_ns(received[u.annotation_id], round(u.newest_value * 1e9))
          for u in updates if u.newest_value is not None and u.annotation_id in received and w0 <= u.started_ns <= w1]
    errors[build] += e
    jitter[build] += j
    stale[build] += st
    return {"stored": len(samples), "expected": expected, "within_1pct": round(accuracy.share_within(e, INTERVAL_NS // 100), 4),
            "jitter_p50_ms": _pct(j, 0.5) / 1e6 if j else None,
            "staleness_p50_ms": _pct(st, 0.5) / 1e6 if st else None,
            "updates": len(updates), "update_errors": upd_errors[:3]}


def produce_monitoring(ctx: Context) -> list[MetricRecord]:
    """``clockbench run``'s producer: a real Prometheus scraping both builds' collectors (and an A/A
    pair) under load; accuracy read back through its API."""
    if not any(m.startswith("sim.monitoring.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs the monitoring measurement")
    ctx.build_flags["monitoring"] = ("one collector per build (clocked, baseline, aa: a second baseline) serving "
                                     "/metrics, scraped by one Prometheus at 1 s")
    try:
        return produce(ctx.out / "monitoring", ctx.quick, ctx.log)
    except PrometheusUnavailable as exc:
        raise Unavailable(str(exc)) from None


def write_grafana_files(out: Path, prometheus_url: str) -> Path:
    """The generated dashboard as Grafana provisioning files (datasource, provider, dashboard JSON) under
    ``out/grafana``: copy them into a Grafana's provisioning folder to see the run's dashboard."""
    base = out / "grafana"
    for name, text in provisioning_files(dashboard(), prometheus_url, str(base / "dashboards")).items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    return base


def produce(out: Path, quick: bool, log: Log = print, settings: dict[str, Any] | None = None,
            load: str | None = None) -> list[MetricRecord]:
    """Measure under ``load`` ("busy": the busy-loop workers, the --quick default; "mixed": real stacks
    under the Locust mixed profile, the full run's default). Raises PrometheusUnavailable where no
    Prometheus binary exists."""
    if find_binary() is None:
        raise PrometheusUnavailable("no Prometheus binary (apt-get install prometheus)")
    load = load or ("busy" if quick else "mixed")
    if load == "mixed":
        return produce_mixed(out, quick, log, settings)
    if load != "busy":
        raise ValueError(f"unknown monitoring load {load!r}; choose busy or mixed")
    s = dict(SETTINGS[quick], **(settings or {}))
    out.mkdir(parents=True, exist_ok=True)
    ports = {b: [free_port() for _ in range(s["workers"])] for b in BUILDS}
    jobs = [scrape_job(b, [f"127.0.0.1:{p}" for p in ports[b]], INTERVAL_NS, {"build": ARM_BUILDS[b]})
            for b in BUILDS]
    errors: dict[str, list[int]] = {b: [] for b in BUILDS}
    jitter: dict[str, list[int]] = {b: [] for b in BUILDS}
    stale: dict[str, list[int]] = {b: [] for b in BUILDS}
    per_round: list[dict[str, Any]] = []
    panels: dict[str, int] = {}
    rng = random.Random(20261129)
    with PrometheusServer(out / "prometheus", jobs, INTERVAL_NS) as prom, GrafanaDouble() as grafana:
        log(f"  monitoring: Prometheus {prom.url} scraping {len(jobs)} workers every 1s; Grafana API test double {grafana.url}")
        write_grafana_files(out, prom.url)
        for r in range(s["rounds"]):
            order = BUILDS if r % 2 == 0 else tuple(reversed(BUILDS))
            procs = []
            try:
                started = []
                for i, b in enumerate(order):
                    for k, port in enumerate(ports[b]):
                        procs.append(start_worker(ARM_BUILDS[b], port, 100 * r + 10 * i + k,
                                                  out / f"worker-{b}-{k}.log", s["busy_ms"], s["idle_ms"]))
                        started.append(port)
                for port, p in zip(started, procs):
                    wait_up(f"http://127.0.0.1:{port}", p)
                last = prom.wait_for_scrapes(scrapes=4, timeout_s=40)
                # the clocked updater refreshes after its first target's scrapes
                phases = {b: ns % INTERVAL_NS for u, ns in last.items() for b in BUILDS if f":{ports[b][0]}/" in u}
                updates, w0, w1, upd_errors = asyncio.run(
                    run_updaters(prom.url, grafana.url, phases, s["window_s"], rng))
                prom.wait_for_scrapes(scrapes=2, timeout_s=20)  # the window's last collections are stored
                received = {a["id"]: a["received_ns"] for a in grafana.annotations}
                summary: dict[str, Any] = {"round": r, "order": list(order), "window_ns": [w0, w1]}
                for b in BUILDS:
                    summary[b] = measure_window(prom.url, b, w0, w1, updates[b], received, upd_errors[b],
                                                errors, jitter, stale, targets=s["workers"])
                per_round.append(summary)
                log(f"  monitoring round {r + 1}/{s['rounds']}: " + "; ".join(
                    f"{b} {summary[b]['stored']}/{summary[b]['expected']} stored, "
                    f"{summary[b]['within_1pct']:.0%} within 1%, staleness p50 "
                    f"{_fmt_ms(summary[b]['staleness_p50_ms'])}" for b in BUILDS))
                if r == s["rounds"] - 1:
                    panels = asyncio.run(check_panels(prom.url, w0, w1))
            finally:
                stop_procs(procs)
    (out / "monitoring.json").write_text(json.dumps({"settings": s, "rounds": per_round, "panels": panels}, indent=1))
    empty = [e for e, n in panels.items() if n == 0]
    if empty:
        log(f"  monitoring: {len(empty)} dashboard panel(s) returned no series: {empty}")
    extra = {"interval_ns": INTERVAL_NS, "rounds": s["rounds"], "window_s": s["window_s"],
             "workers_per_build": s["workers"], "load": f"busy event loop: CPU bursts 0..{s['busy_ms']:g} ms, pauses 0..{s['idle_ms']:g} ms",
             "panels_series": panels, "source": "monitoring/monitoring.json"}
    return make_records(errors, jitter, stale, extra)


def make_records(errors: dict[str, list[int]], jitter: dict[str, list[int]], stale: dict[str, list[int]],
                 extra: dict[str, Any]) -> list[MetricRecord]:
    """One record per metric and build; a metric with no value for a build is invalid, saying so."""
    defs = {
        "sim.monitoring.timestamp_error": ("ns", errors, "|stored timestamp - instant the value was read| per "
                                           "stored sample; a collection missing from the store = one interval"),
        "sim.monitoring.collection_interval_jitter": ("ns", jitter, "|difference of consecutive stored samples' "
                                                      "read instants - interval|"),
        "sim.monitoring.dashboard_staleness": ("ns", stale, "arrival of the update at the Grafana API double - "
                                               "read instant of the newest value it showed"),
    }
    recs = []
    for b in BUILDS:
        for metric, (unit, values, definition) in defs.items():
            if values[b]:
                recs.append(MetricRecord(metric, b, unit, values[b], source="measure.monitoring",
                                         extra=dict(extra, definition=definition)))
            else:
                recs.append(invalid(metric, b, unit, "no value measured (see monitoring/monitoring.json: "
                                    "no stored samples, or every dashboard update failed)", "measure.monitoring",
                                    **extra))
    return recs


# --- under the Locust mixed profile, on real stacks -------------------------------------------------

MIXED = {  # quick, full
    True: {"rounds": 2, "duration_s": 10.0, "warmup_s": 2.0, "users": 10},
    False: {"rounds": 4, "duration_s": 25.0, "warmup_s": 3.0, "users": 20},
}


def _updater_thread(build: str, prom_url: str, grafana_url: str, phase_ns: int | None, delay_s: float,
                    stop: threading.Event, result: dict[str, Any]) -> threading.Thread:
    """One build's dashboard updater in its own thread and event loop, until ``stop`` is set."""

    async def main() -> None:
        prom, grafana = PrometheusAPI(prom_url), GrafanaAPI(grafana_url)
        up, _ = make_updater(build, prom, grafana, dashboard(), phase_ns)
        try:
            await up.publish_dashboard()
            await asyncio.sleep(delay_s)
            up.start()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await up.stop()
        finally:
            await prom.close()
            await grafana.close()
        result.update(updates=up.updates, errors=list(up.errors))

    t = threading.Thread(target=lambda: asyncio.run(main()), name=f"updater-{build}", daemon=True)
    t.start()
    return t


def produce_mixed(out: Path, quick: bool, log: Log = print, settings: dict[str, Any] | None = None) -> list[MetricRecord]:
    """Three real stacks (clocked, baseline, aa) behind nginx, one worker each, scraped by one Prometheus
    at 1 s; the Locust mixed profile drives one stack at a time in interleaved rounds (ABA', A'BA, ...),
    and each build is judged over the windows in which its own stack was under load."""
    import contextlib

    from harness.load import abtest
    from harness.load.runner import LoadSpec, headline, run
    from harness.stack import StackError, running

    s = dict(MIXED[quick], **(settings or {}))
    out.mkdir(parents=True, exist_ok=True)
    spec = LoadSpec(profile="mixed", users=s["users"], spawn_rate=float(s["users"]), duration_s=s["duration_s"],
                    warmup_s=s["warmup_s"], think="0-50")
    errors: dict[str, list[int]] = {b: [] for b in BUILDS}
    jitter: dict[str, list[int]] = {b: [] for b in BUILDS}
    stale: dict[str, list[int]] = {b: [] for b in BUILDS}
    windows: list[dict[str, Any]] = []
    rng = random.Random(20261130)
    with contextlib.ExitStack() as es:
        stacks = {}
        for arm in BUILDS:
            try:
                stacks[arm] = es.enter_context(running(build=ARM_BUILDS[arm], workers=1, nginx=True,
                                                       write_pointer=False, run_dir=out / f"stack-{arm}"))
            except StackError as exc:
                raise RuntimeError(f"could not start the {arm} stack: {exc}") from None
        jobs = [scrape_job(b, [stacks[b].worker_urls[0].removeprefix("http://")], INTERVAL_NS,
                           {"build": ARM_BUILDS[b]}) for b in BUILDS]
        prom = es.enter_context(PrometheusServer(out / "prometheus", jobs, INTERVAL_NS))
        grafana = es.enter_context(GrafanaDouble())
        log(f"  monitoring (mixed load): 3 stacks, Prometheus {prom.url} at 1s, Grafana API test double {grafana.url}")
        write_grafana_files(out, prom.url)
        last = prom.wait_for_scrapes(scrapes=4, timeout_s=40)
        phases = {b: ns % INTERVAL_NS for u, ns in last.items() for b in BUILDS
                  if u.startswith(stacks[b].worker_urls[0] + "/")}
        for r in range(s["rounds"]):
            for arm in abtest.order(r, BUILDS):
                stop, result = threading.Event(), {}
                delay = 0.0 if builds.needs_clock(ARM_BUILDS[arm]) else rng.uniform(0, INTERVAL_NS / 1e9)
                th = _updater_thread(arm, prom.url, grafana.url, phases.get(arm), delay, stop, result)
                summ = run(spec, stacks[arm].url, out / f"round{r:02d}-{arm}",
                           label={"label": arm, "build": arm, "round": r}, progress=lambda line: None)
                stop.set()
                th.join(30)
                w0 = summ["started_ns"] + int((s["warmup_s"] + 1.5) * 1e9)
                w1 = min(summ["ended_ns"], summ["started_ns"] + int((s["duration_s"] + 1.0) * 1e9))
                windows.append({"round": r, "arm": arm, "window_ns": [w0, w1], "updates": result.get("updates", []),
                                "update_errors": result.get("errors", []), "load": headline(summ),
                                "load_valid": summ["validity"]["valid"]})
                log(f"  monitoring round {r + 1}/{s['rounds']} {arm:<8} under load: {headline(summ)}")
        prom.wait_for_scrapes(scrapes=2, timeout_s=20)
        received = {a["id"]: a["received_ns"] for a in grafana.annotations}
        for w in windows:
            w["summary"] = measure_window(prom.url, w["arm"], *w["window_ns"], w.pop("updates"), received,
                                          w["update_errors"], errors, jitter, stale)
            log(f"  monitoring round {w['round'] + 1} {w['arm']:<8}: {w['summary']['stored']}/"
                f"{w['summary']['expected']} stored, {w['summary']['within_1pct']:.0%} within 1%, staleness p50 "
                f"{_fmt_ms(w['summary']['staleness_p50_ms'])}")
        panels = asyncio.run(check_panels(prom.url, windows[0]["window_ns"][0], windows[-1]["window_ns"][1]))
    (out / "monitoring.json").write_text(json.dumps({"settings": s, "windows": windows, "panels": panels},
                                                    indent=1, default=str))
    extra = {"interval_ns": INTERVAL_NS, "rounds": s["rounds"], "window_s": s["duration_s"] - s["warmup_s"] - 0.5,
             "load": f"Locust mixed profile, {s['users']} users, one stack at a time, interleaved rounds",
             "load_invalid_windows": sum(1 for w in windows if not w["load_valid"]),
             "panels_series": panels, "source": "monitoring/monitoring.json"}
    return make_records(errors, jitter, stale, extra)


def _pct(values: list[int], q: float) -> int:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]


def _fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.0f} ms"
