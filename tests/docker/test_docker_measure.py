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
