"""The containers producer without an engine: every criterion metric is an INVALID record that says
why (the report then shows the reason instead of a figure)."""

from __future__ import annotations

from harness.backends import docker_engine
from harness.measure import docker as measure


def test_no_engine_gives_invalid_records_with_the_reason(monkeypatch) -> None:
    monkeypatch.setattr(docker_engine, "find_dockerd", lambda: None)
    records = measure.produce(True, log=lambda _s: None)
    assert {(r.metric, r.build) for r in records} == {(m, b) for m in measure.METRICS for b in measure.BUILDS}
    assert all(not r.valid and "dockerd not installed" in r.reason for r in records)


def test_checker_cpu_counts_only_steady_state_checks() -> None:
    for build in measure.BUILDS:
        figures = measure.checker_cpu(build, 20, interval_ns=100_000_000, duration_ns=300_000_000)
        # only the window's checks: at most one per container per interval of the window's wall time
        # (+1 for a check in flight at each edge); the busy machine may stretch the window, not the count
        bound = 20 * (figures["wall_ns"] // 100_000_000 + 2)
        assert 0 < figures["checks"] <= bound and figures["answered"] == figures["checks"]
        assert figures["cpu_per_check_ns"] > 0


def test_access_log_parse_and_last_request_to_a_dead_worker(tmp_path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        '1700000000.100 200 GET "/health" rt=0.001 urt=0.001 uct=0.000 ua="127.0.0.1:9001" bytes=2 conn=1 reqs=1\n'
        '1700000000.200 200 POST "/api/v1/orders" rt=0.002 urt=0.001, 0.001 uct=- ua="127.0.0.1:9002, 127.0.0.1:9001" bytes=2 conn=2 reqs=1\n'
        '1700000000.300 502 GET "/api/v1/orders/W1-O5" rt=0.001 urt=0.001 uct=- ua="127.0.0.1:9002" bytes=2 conn=3 reqs=1\n'
        '1700000000.400 200 GET "/health" rt=0.001 urt=0.001 uct=0.000 ua="127.0.0.1:9001" bytes=2 conn=4 reqs=1\n'
        'a line that is not ours\n'
    )
    lines = measure.access_lines(log)
    assert [x[0] for x in lines] == [1_700_000_000_100_000_000, 1_700_000_000_200_000_000,
                                     1_700_000_000_300_000_000, 1_700_000_000_400_000_000]
    assert lines[1][1:] == (200, "/api/v1/orders", "127.0.0.1:9002, 127.0.0.1:9001")
    t0 = 1_700_000_000_000_000_000
    # the retry through the shared upstream counts; the per-worker route (W1-...) does not
    assert measure.last_traffic_ns(lines, 9002, t0, t0 + 10**9) == t0 + 200_000_000
    assert measure.last_traffic_ns(lines, 9001, t0, t0 + 350_000_000) == t0 + 200_000_000
    assert measure.last_traffic_ns(lines, 9003, t0, t0 + 10**9) is None
    assert measure.access_lines(tmp_path / "missing.log") == []


def test_each_plan_gives_every_build_the_faults_its_p99_needs() -> None:
    """EI-DOCKER-HEALTH judges a p99 of one value per fault: each plan's faults must fit its soaks
    (seeded_faults raises otherwise) and add up to stats.min_samples('p99') per build."""
    from core.docker.records import seeded_faults
    from harness.stats import min_samples

    interval = 500_000_000  # the producer's check interval; a fault lasts two of them
    for plan in measure.PLAN.values():
        soak = plan["soak_s"] * 1_000_000_000
        assert len(seeded_faults(1, 2 * interval, soak - 2 * interval, 2 * interval, plan["faults"])) == plan["faults"]
        assert plan["containers"] * plan["faults"] * len(plan["schedule"]) >= min_samples("p99")
        assert {clocked_first for busy, clocked_first in plan["schedule"] if busy} == {True, False}


def test_the_worker_death_trials_run_in_the_last_busy_repeat() -> None:
    """Each build's worker-death trial runs inside its own busy soak of one repeat (both builds the
    same repeat, so the kill disturbs each build's load alike): the last busy one, after a busy
    repeat that keeps the stack undisturbed; none without a busy soak."""
    assert measure.death_soak(((False, True), (True, False), (True, True))) == 2
    assert measure.death_soak(((False, True), (True, False), (False, False), (True, True), (False, True))) == 3
    assert measure.death_soak(((False, True), (False, False))) is None
    for plan in measure.PLAN.values():
        at = measure.death_soak(plan["schedule"])
        assert at is not None and plan["schedule"][at][0]
        assert any(busy for busy, _first in plan["schedule"][:at])
