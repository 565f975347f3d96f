"""``clockbench run``'s monitoring producer end to end, shortened: three real stacks, each under its
own Locust mixed profile, the three at once, a real Prometheus scraping them, samples read back through its API.

Run without nginx (``--no-nginx``): each stack is one worker driven directly and no nginx is started
(the quick run with nginx is what ``clockbench run --quick`` does). Skips on a laptop without
Prometheus, PostgreSQL or Redis; fails under CI=true."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.backends.prometheus import find_binary
from harness.measure.monitoring import BUILDS, produce
from tests.conftest import missing

MS = 1_000_000
S = 1_000_000_000


def test_producer_judges_every_build_under_the_mixed_profile_without_nginx(
        tmp_path: Path, postgres_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if find_binary() is None:
        missing("Prometheus", "no prometheus binary (apt-get install prometheus)")
    monkeypatch.setenv("CLOCKBENCH_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("CLOCKBENCH_REDIS_URL", redis_url)
    lines: list[str] = []
    recs = produce(tmp_path, quick=True, log=lines.append, nginx=False,
                   settings={"rounds": 1, "max_rounds": 1, "duration_s": 16.0, "warmup_s": 1.0, "users": 4,
                             "workers": 3})
    by = {(r.metric, r.build): r for r in recs}
    assert {b for _, b in by} == set(BUILDS) and len(by) == 12  # three monitoring metrics and the throughput
    assert all(r.valid for r in recs), [r.reason for r in recs if not r.valid]
    for b in BUILDS:  # one round: one throughput per build, from its own Locust process kept for every round
        assert by[("load.mixed.throughput", b)].values[0] > 0 and by[("load.mixed.throughput", b)].n == 1
        assert (tmp_path / f"locust-{b}" / "session-command.json").exists()
    data = json.loads((tmp_path / "monitoring.json").read_text())
    assert data["nginx"] is False and data["settings"]["workers"] == 1  # one worker: the only one Locust reaches
    for arm in BUILDS:  # no nginx was started for any stack
        assert not (tmp_path / f"stack-{arm}" / "nginx").exists()
    assert [w["arm"] for w in data["windows"]] == ["clocked", "baseline", "aa"]  # one round, three arms
    # loaded at once: every build judged over the same window, inside each arm's own loaded window
    assert len({tuple(w["window_ns"]) for w in data["windows"]}) == 1
    w0, w1 = data["windows"][0]["window_ns"]
    assert w1 > w0 and all(o[0] <= w0 and w1 <= o[1] for o in (w["own_window_ns"] for w in data["windows"]))
    for w in data["windows"]:
        assert w["summary"]["stored"] >= 3 and w["summary"]["updates"] >= 1, w
        assert "requests" in w["load"]  # the load really ran against this arm
    # the clocked build stamps each sample with its collection instant; the baseline is stamped by the scrape
    clocked = by[("sim.monitoring.timestamp_error", "clocked")].values
    baseline = by[("sim.monitoring.timestamp_error", "baseline")].values
    assert sorted(clocked)[len(clocked) // 2] < 10 * MS
    assert sorted(baseline)[len(baseline) // 2] > sorted(clocked)[len(clocked) // 2]
    assert all(0 <= v <= S for v in clocked + baseline)
    assert data["panels"] and all(n >= 1 for n in data["panels"].values()), data["panels"]
