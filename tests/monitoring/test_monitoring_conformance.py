"""One conformance suite for both monitoring builds (collector, updater, sync), then the clocked
build's exact behaviour on a TestClock and its determinism across processes.

Live tests use short intervals and assert behaviour, never timing figures (the machine is shared)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.monitoring.dashboards import dashboard, panel_queries
from core.monitoring.schedule import next_at_phase, phase_of, shared_schedule
from monkit import NS, START, CountingSource, FakeGrafana, FakePrometheus, make, make_sync, make_updater
from targets.clock import LiveClock, TestClock, run_virtual

BUILDS = ["clocked", "baseline"]
MS = 1_000_000


def parse(body: bytes) -> list[tuple[str, dict, float, float | None]]:
    return [(s.name, s.labels, s.value, s.timestamp) for fam in text_string_to_metric_families(body.decode())
            for s in fam.samples]


async def wait_for(cond, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


# --- both builds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDS)
def test_collector_rejects_bad_arguments(build: str) -> None:
    clock = TestClock(START)
    with pytest.raises(ValueError, match="interval_ns"):
        make(build, CountingSource(), 0, clock)
    with pytest.raises(ValueError, match="keep"):
        make(build, CountingSource(), NS, clock, keep=0)


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_collector_collects_on_its_own_and_exposes_every_figure(build: str) -> None:
    source = CountingSource()
    c = make(build, source, 20 * MS, LiveClock())
    assert parse(c.expose()) == []  # nothing collected yet: nothing to serve
    c.start()
    try:
        await wait_for(lambda: len(c.collections) >= 3)
    finally:
        c.stop()
    samples = parse(c.expose())
    names = {(n, tuple(sorted(lbl.items()))) for n, lbl, _, _ in samples}
    assert names == {("clockbench_stack_orders", (("state", "open"),)), ("clockbench_stack_orders", (("state", "filled"),)),
                     ("clockbench_stack_position", (("instrument", "AAPL"),)), ("clockbench_stack_heartbeats_total", ()),
                     ("clockbench_stack_connections", ())}
    latest = max(v for n, lbl, v, _ in samples if n == "clockbench_stack_orders" and lbl == {"state": "open"})
    assert latest == float(source.reads)  # the newest collection is served
    assert list(c.collections) == sorted(c.collections) and len(c.scrapes) == 2


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_a_failing_source_is_recorded_and_the_collections_go_on(build: str) -> None:
    c = make(build, CountingSource(fail_every=2), 10 * MS, LiveClock())
    c.start()
    try:
        await wait_for(lambda: len(c.collections) >= 3 and len(c.errors) >= 2)
    finally:
        c.stop()
    assert all("source failed" in e for e in c.errors)


@pytest.mark.parametrize("build", BUILDS)
def test_sync_scrape_config_keeps_explicit_timestamps(build: str) -> None:
    s = make_sync(build, NS, TestClock(START))
    job = s.scrape_config("stack", ["127.0.0.1:9100"], {"build": build})
    assert job["honor_timestamps"] is True and job["scrape_interval"] == "1000ms"
    assert job["static_configs"] == [{"targets": ["127.0.0.1:9100"], "labels": {"build": build}}]
    with pytest.raises(ValueError):
        s.scrape_config("stack", [])


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_updater_publishes_the_dashboard_then_one_annotation_per_update(build: str) -> None:
    prom, grafana = FakePrometheus(), FakeGrafana()
    prom.newest = (START, 1.5)
    u = make_updater(build, prom, grafana, 20 * MS, LiveClock())
    answer = await u.publish_dashboard()
    assert answer["status"] == "success" and grafana.dashboards[0]["overwrite"] is True
    assert grafana.dashboards[0]["dashboard"]["uid"] == u.model["uid"]
    u.start()
    try:
        await wait_for(lambda: len(u.updates) >= 3)
    finally:
        await u.stop()
    n_panels = len(panel_queries(u.model))
    for rec, ann in zip(u.updates, grafana.annotations):
        assert rec.series == (1,) * n_panels and rec.newest_stored_ns == START // MS * MS and rec.newest_value == 1.5
        # the annotation shows the build's instant: the clocked one the due time, the baseline the wall
        # clock when it started (7 us after due_ns crossed a millisecond once in CI: this read due_ns)
        at = u._instant(rec.due_ns, rec.started_ns)
        assert ann["time"] == at // MS and ann["dashboardUID"] == u.model["uid"] and ann["text"]
        assert rec.started_ns <= rec.published_ns
    assert list(u.errors) == []


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_updater_records_a_failed_update_and_goes_on(build: str) -> None:
    class Broken(FakeGrafana):
        async def annotate(self, payload):  # type: ignore[no-untyped-def]
            raise RuntimeError("Grafana said 500")

    u = make_updater(build, FakePrometheus(), Broken(), 10 * MS, LiveClock())
    u.start()
    try:
        await wait_for(lambda: len(u.errors) >= 2)
    finally:
        await u.stop()
    assert not u.updates and "Grafana said 500" in u.errors[0]


# --- the clocked build on a TestClock: exact instants -------------------------------------------


def test_clocked_collections_fall_exactly_on_the_grid_and_samples_carry_their_instant() -> None:
    clock = TestClock(START)
    c = make("clocked", CountingSource(), NS, clock, phase_ns=250 * MS)
    c.start()
    clock.advance_time(START + 10 * NS)
    first = next_at_phase(START, NS, 250 * MS)
    assert list(c.collections) == [first + k * NS for k in range(10)]
    stamps = sorted({ts for n, _, _, ts in parse(c.expose()) if n == "clockbench_stack_connections"})
    assert [round(ts * 1000) for ts in stamps] == [t // MS for t in list(c.collections)[-4:]]  # keep=4, exact ms


def test_clocked_scrapes_serve_unserved_collections_then_the_newest_again() -> None:
    clock = TestClock(START)
    c = make("clocked", CountingSource(), NS, clock)
    c.start()

    def served() -> list[int]:
        return sorted({round(ts * 1000) for n, _, _, ts in parse(c.expose()) if n == "clockbench_stack_connections"})

    clock.advance_time(START + NS)
    assert served() == [c.collections[-1] // MS]
    clock.advance_time(START + 3 * NS)  # a scrape missed: the next one carries both collections
    assert served() == [t // MS for t in list(c.collections)[-2:]]
    assert served() == [c.collections[-1] // MS]  # nothing new: the newest again (Prometheus ignores it)


def test_clocked_schedule_does_not_drift_however_long_a_collection_takes() -> None:
    clock = TestClock(START)
    source = CountingSource()
    c = make("clocked", source, NS, clock)
    c.start()
    for _ in range(5):  # the loop is busy: each advance lands 700 ms past a due instant
        clock.advance_time(clock.timestamp_ns() + NS + 700 * MS)
    due = list(c.scheduled)
    assert all(t % NS == 0 for t in due) and due == [due[0] + k * NS for k in range(len(due))]


def test_clocked_sync_learns_the_scrape_phase_and_aligns_collection_and_refresh() -> None:
    clock = TestClock(START)
    c = make("clocked", CountingSource(), NS, clock)
    u = make_updater("clocked", FakePrometheus(), FakeGrafana(), NS, clock)
    s = make_sync("clocked", NS, clock)
    s.attach_collector(c)
    s.attach_updater(u)
    c.start()
    for k in range(1, 4):  # scrapes arrive at phase .600 (one 3 ms late)
        clock.advance_time(START - START % NS + k * NS + 600 * MS + (3 * MS if k == 2 else 0))
        c.expose()
    assert s.schedule == shared_schedule(NS, 600 * MS, 100 * MS, 100 * MS)
    assert (u.phase_ns, c.phase_ns) == (700 * MS, 500 * MS)
    before = len(c.collections)
    clock.advance_time(clock.timestamp_ns() + 3 * NS)
    assert [t % NS for t in list(c.collections)[before:]] == [500 * MS] * 3
    assert s.alignments == 1


def test_phase_of_is_a_circular_median() -> None:
    assert phase_of([10 * NS - 5 * MS, 11 * NS + 2 * MS, 12 * NS + 1 * MS], NS) == 1 * MS
    assert phase_of([5 * NS + 300 * MS], NS) == 300 * MS


def test_clocked_updates_query_every_panel_at_their_scheduled_instant() -> None:
    clock = TestClock(START)
    prom, grafana = FakePrometheus(), FakeGrafana()
    u = make_updater("clocked", prom, grafana, NS, clock, phase_ns=100 * MS)

    async def main() -> None:
        u.start()
        await clock.sleep(5 * NS)
        await u.stop()

    run_virtual(main(), clock)
    first = next_at_phase(START, NS, 100 * MS)
    assert [r.due_ns for r in u.updates] == [first + k * NS for k in range(5)]
    assert {at for _, at in prom.queries} == {r.due_ns for r in u.updates}  # one consistent instant each
    assert [a["time"] for a in grafana.annotations] == [r.due_ns // MS for r in u.updates]


def test_clocked_run_is_bit_for_bit_reproducible_across_processes() -> None:
    here = Path(__file__).parent
    outs = [subprocess.run([sys.executable, str(here / "monkit.py")], capture_output=True, text=True, timeout=120,
                           cwd=here.parent.parent) for _ in range(2)]
    for o in outs:
        assert o.returncode == 0, o.stderr
    digests = [o.stdout.split()[1] for o in outs]
    events = int(outs[0].stdout.split()[3])
    assert events > 50 and len(digests[0]) == 64
    assert digests[0] == digests[1]


def test_dashboard_model_has_a_query_per_panel() -> None:
    model = dashboard()
    assert len(panel_queries(model)) == len(model["panels"]) >= 5
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])


def test_clocked_sync_ignores_arrival_jitter_but_follows_a_real_phase_shift() -> None:
    clock = TestClock(START)
    c = make("clocked", CountingSource(), NS, clock)
    s = make_sync("clocked", NS, clock)
    s.attach_collector(c)
    c.start()
    base = START - START % NS
    for k, jitter in enumerate([0, 40, 10, 80, 30, 60], start=1):  # arrivals at phase .600 + up to 80 ms
        clock.advance_time(base + k * NS + 600 * MS + jitter * MS)
        c.expose()
    assert s.alignments == 1 and s.schedule.scrape_phase_ns == 610 * MS
    for k in range(7, 10):  # Prometheus restarted: scrapes now come at phase .200
        clock.advance_time(base + k * NS + 200 * MS)
        c.expose()
    assert s.alignments == 2 and s.schedule.scrape_phase_ns == 200 * MS and c.phase_ns == 100 * MS
