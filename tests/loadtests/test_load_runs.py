"""Real Locust runs (seconds long) against the synthetic slot service: counts that add up, the
open mode's corrected latency and rate validity, a two-worker distributed run whose histograms
merge, and the capacity search finding the capacity the service has by construction."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from harness.load import capacity, slo
from harness.load.runner import LoadError, LoadSpec, note_dead, run, summarize
from harness.load.target import Target
from harness.commands.capacity import make_step


def assert_counts_add_up(s: dict, out) -> None:
    a = s["aggregate"]
    assert a["requests"] == a["answered"] + a["failed"], a
    assert a["unaccounted"] == 0
    assert sum(e["requests"] for e in s["endpoints"].values()) == a["requests"]
    assert a["latency_ns"]["count"] == a["answered"]
    # Locust's own totals (its JSON) agree with ours when nothing is left out as warm-up
    assert s["locust"] == {"requests": a["requests"], "failures": a["failed"]}
    # the written files parse and say the same
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["aggregate"]["requests"] == a["requests"]
    assert (out / "summary.csv").read_text().count("\n") == 1 + 1 + len(s["endpoints"])


def test_closed_run_two_workers_merges_histograms(synthetic_service, tmp_path) -> None:
    with synthetic_service(slots=16, service_ms=5) as url:
        spec = LoadSpec(profile="orders", users=6, spawn_rate=20, duration_s=5, think="0-5", workers=2)
        s = run(spec, url, tmp_path, progress=lambda _l: None)
    assert_counts_add_up(s, tmp_path)
    a = s["aggregate"]
    assert a["answered"] > 100 and a["failed"] == 0
    hdr_data = json.loads((tmp_path / "hdr.json").read_text())
    assert hdr_data["mode"] == "master"
    assert len(hdr_data["processes"]) == 2  # both workers shipped histograms
    assert all(p["sent"] > 0 for p in hdr_data["processes"].values())
    assert set(s["generator"]["processes"]) == {"master", "worker0", "worker1"}
    assert 5_000_000 <= a["latency_ns"]["p50"] < 1_000_000_000  # at least the service time
    assert s["validity"]["valid"], s["validity"]


def test_open_mode_corrects_for_coordinated_omission(synthetic_service, tmp_path) -> None:
    with synthetic_service(slots=4, service_ms=20) as url:  # capacity 200 requests/s
        ok = run(LoadSpec(profile="orders", users=16, spawn_rate=50, duration_s=5, warmup_s=1, rate=80),
                 url, tmp_path / "under", progress=lambda _l: None)
        over = run(LoadSpec(profile="orders", users=6, spawn_rate=50, duration_s=5, warmup_s=1, rate=300),
                   url, tmp_path / "over", progress=lambda _l: None)
    assert ok["validity"]["valid"], ok["validity"]
    assert 0.95 * 80 <= ok["rate_achieved"] <= 1.05 * 80
    for s in (ok, over):
        a = s["aggregate"]
        assert a["requests"] == a["answered"] + a["failed"]
        for k in ("p50", "p99"):
            assert a["latency_corrected_ns"][k] >= a["latency_ns"][k]
    # beyond capacity: the senders fall behind the schedule; the corrected latency shows the
    # queue of late sends that the uncorrected figure hides, and the run is INVALID
    assert not over["validity"]["valid"]
    assert any("short of the target rate" in r for r in over["validity"]["reasons"])
    a = over["aggregate"]
    assert a["latency_corrected_ns"]["p99"] > 3 * a["latency_ns"]["p99"]


def test_generator_saturation_makes_a_run_invalid() -> None:
    hdr_data = {"hists": {}, "counts": {"Aggregated": {"sent": 10, "answered": 10, "failed": 0}},
                "processes": {"local": {"window_ns": 10**9, "sent": 10, "users_max": 5, "pid": 1}}}
    cpu = {"processes": {"locust": {"mean": 97.0, "max": 100.0, "samples": 5}}, "max_process_mean": 97.0,
           "machine_mean": 99.0, "cores": 2}
    s = summarize(LoadSpec(users=5), hdr_data, [], cpu, url="x", label={}, started_ns=0, ended_ns=1, exit_code=0)
    assert not s["validity"]["valid"]
    assert "saturated" in s["validity"]["reasons"][0] and "97%" in s["validity"]["reasons"][0]
    cpu = {**cpu, "processes": {"locust": {"mean": 50.0, "max": 60.0, "samples": 5}}, "max_process_mean": 50.0}
    s = summarize(LoadSpec(users=8), hdr_data, [], cpu, url="x", label={}, started_ns=0, ended_ns=1, exit_code=0)
    assert s["validity"]["reasons"] == ["only 5 of 8 users were running"]


def test_both_run_loops_note_dead_parts_once_a_second_keeping_the_first_sighting() -> None:
    dead: list[list[str]] = [[], ["worker-1"], ["worker-1", "nginx"]]
    calls: list[float] = []

    def watch() -> list[str]:
        calls.append(0)
        return dead[min(len(calls) - 1, len(dead) - 1)]

    died: dict[str, float] = {}
    nxt = 1.0
    for el in (0.3, 0.9, 1.05, 1.5, 2.2, 2.9, 3.4, 4.0):
        nxt = note_dead(watch, died, el, nxt)
    assert len(calls) == 4  # at 1.05, 2.2, 3.4 and 4.0: not at every poll
    assert nxt == 5.0
    assert died == {"worker-1": 2.2, "nginx": 3.4}
    assert note_dead(None, died, 9.0, 5.0) == 5.0  # nothing to watch: nothing noted, nothing rescheduled


def test_capacity_search_finds_the_synthetic_capacity(synthetic_service, tmp_path) -> None:
    """4 slots of 50 ms, shedding (503 at once when all are busy), users with no think time: a user
    has at most one request in flight, so up to 4 users are never refused; a fifth always finds the
    slots busy part of the time and, retrying at once, collects 503s by the hundred. So under
    errors<1% the capacity is 4 users, by construction, whatever the machine's timing noise."""
    terms = slo.parse("p99<1s,errors<1%")
    # a 503 takes 10 ms, so the refused users retry at a bounded rate and Locust does not saturate
    with synthetic_service(slots=4, service_ms=50, mode="shed", refuse_ms=10) as url:
        spec = LoadSpec(profile="orders", users=2, duration_s=4, warmup_s=1, think="0")
        step = make_step(spec, Target(url, "synthetic", {}, False), terms, tmp_path, "syn", log=lambda _m: None)
        res = capacity.search(step, start=2, max_users=64, resolution=0.0)
    assert res.valid, res.reason
    assert res.capacity == 4, [(s.users, s.passed, s.reason) for s in res.steps]
    assert res.first_fail == 5
    assert [s.users for s in res.steps] == [2, 4, 8, 6, 5]  # bracket by doubling, then bisect


def test_queue_latency_follows_littles_law(synthetic_service, tmp_path) -> None:
    """FIFO queue, 2 slots of 40 ms, 4 users without think time: throughput is 2/40ms = 50/s and
    (Little's law) each request takes 4 * 40 / 2 = 80 ms in steady state."""
    with synthetic_service(slots=2, service_ms=40) as url:
        s = run(LoadSpec(profile="orders", users=4, spawn_rate=50, duration_s=5, warmup_s=1, think="0"),
                url, tmp_path, progress=lambda _l: None)
    a = s["aggregate"]
    assert 40 <= a["throughput_rps"] <= 52
    assert 78_000_000 <= a["latency_ns"]["p50"] <= 100_000_000


def test_remote_worker_joins_with_the_printed_command_and_shares_the_rate(synthetic_service, tmp_path) -> None:
    """One local worker plus one "remote" worker (started from the join command the runner prints,
    as another machine would run it): the master waits for both, the open-mode rate of 40/s is split
    over the two (each paces 20/s, so the total stays 40/s), and both workers' histograms merge."""
    import os
    import subprocess
    import time

    from harness.load.runner import ROOT, remote_worker_command
    from harness.ports import free_port

    lines: list[str] = []
    with synthetic_service(slots=16, service_ms=2) as url:
        spec = LoadSpec(profile="orders", users=8, spawn_rate=40, duration_s=5, warmup_s=1, rate=40, workers=1,
                        expect_workers=1, master_port=free_port(), worker_wait_s=20)
        join = remote_worker_command(spec, "127.0.0.1", spec.master_port)
        assert join.startswith("PYTHONPATH=. python -m locust -f loadtests/orders.py ") and " --worker " in join
        env = {**os.environ, "PATH": f"{os.path.dirname(__import__('sys').executable)}:{os.environ.get('PATH', '')}"}
        remote = subprocess.Popen(["bash", "-c", "exec env " + join], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            s = run(spec, url, tmp_path, progress=lines.append)
        finally:
            deadline = time.monotonic() + 15
            while remote.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if remote.poll() is None:
                remote.kill()
            remote.wait()
    assert any(join in line for line in lines)  # the user is told what to run on the other machine
    assert json.loads((tmp_path / "commands.json").read_text())["remote_worker"] == join
    assert remote.returncode == 0  # the remote worker ran and quit with the master
    hdr_data = json.loads((tmp_path / "hdr.json").read_text())
    assert len(hdr_data["processes"]) == 2 and all(p["sent"] > 0 for p in hdr_data["processes"].values())
    assert s["generator"]["remote_workers_not_sampled"] == 1
    assert 0.9 * 40 <= s["rate_achieved"] <= 1.1 * 40, s["rate_achieved"]
    a = s["aggregate"]
    assert a["requests"] == a["answered"] + a["failed"] and a["failed"] == 0
    assert s["validity"]["valid"], s["validity"]


def test_a_run_where_most_requests_fail_is_invalid(synthetic_service, tmp_path) -> None:
    """1 slot shedding, 8 users without think time: most requests get 503. The default error-rate rule
    (1%) makes the run INVALID with the figure, and `--max-error-rate 1` turns the rule off."""
    with synthetic_service(slots=1, service_ms=20, mode="shed", refuse_ms=2) as url:
        s = run(LoadSpec(profile="orders", users=8, spawn_rate=50, duration_s=4, warmup_s=1, think="0"),
                url, tmp_path / "default", progress=lambda _l: None)
        off = run(LoadSpec(profile="orders", users=8, spawn_rate=50, duration_s=4, warmup_s=1, think="0", max_error_rate=1.0),
                  url, tmp_path / "off", progress=lambda _l: None)
    assert s["aggregate"]["error_rate"] > 0.5
    assert not s["validity"]["valid"]
    assert any("failed" in r and "--max-error-rate" in r for r in s["validity"]["reasons"]), s["validity"]
    assert not any("--max-error-rate" in r for r in off["validity"]["reasons"]), off["validity"]


def test_a_target_killed_mid_run_makes_the_run_invalid(tmp_path) -> None:
    """The target dies 2 s into a 5 s run: the watch sees it, /health no longer answers afterwards,
    and the run is INVALID saying so (it used to print "valid" with most requests failed)."""
    import subprocess
    import sys
    import threading
    from pathlib import Path

    here = Path(__file__).resolve().parent
    proc = subprocess.Popen([sys.executable, str(here / "synthetic.py"), "--slots", "8", "--service-ms", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("PORT "), line
        url = f"http://127.0.0.1:{int(line.split()[1])}"
        killer = threading.Timer(2.0, proc.kill)
        killer.start()
        s = run(LoadSpec(profile="orders", users=4, spawn_rate=50, duration_s=5, warmup_s=1, think="0-5"),
                url, tmp_path, progress=lambda _l: None,
                watch=lambda: ["synthetic service"] if proc.poll() is not None else [])
        killer.join()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
    reasons = s["validity"]["reasons"]
    assert not s["validity"]["valid"]
    assert any("synthetic service died" in r for r in reasons), reasons
    assert any("no longer answered" in r for r in reasons), reasons


def test_a_session_runs_many_tests_in_one_process_each_measured_alone(synthetic_service, tmp_path) -> None:
    """Session: one Locust process, tests started over its web API. Each test's counts add up and
    agree with Locust's own (nothing carried over from the test before), the warm-up is left out,
    the figures are the service's (2 slots of 40 ms: at most 50/s, and 4 users queue for ~80 ms), and
    the process is the same one. (Windows can run long: the stop waits for requests in flight.)"""
    from harness.load.runner import Session

    with synthetic_service(slots=2, service_ms=40) as url:
        spec = LoadSpec(profile="orders", users=4, spawn_rate=50, duration_s=3, think="0")
        with Session(spec, url, tmp_path / "session") as sess:
            first = sess.run(spec, tmp_path / "a")
            second = sess.run(spec, tmp_path / "b")
            warm = replace(spec, duration_s=4, warmup_s=1)
            little = sess.run(warm, tmp_path / "c")
            pid = sess.proc.pid
            with pytest.raises(LoadError, match="profile"):
                sess.run(replace(spec, profile="gateway"), tmp_path / "d")
    for s, out in ((first, tmp_path / "a"), (second, tmp_path / "b")):
        assert_counts_add_up(s, out)
        assert s["validity"]["valid"], s["validity"]
        assert s["session"]["pid"] == pid
        assert 2.5 <= s["window_s"] <= 3.0 + 2.0
    a = little["aggregate"]
    assert 2.5 <= little["window_s"] <= 3.0 + 2.0  # 4 s less the warm-up second, plus the stop
    assert a["throughput_rps"] <= 52
    assert a["latency_ns"]["p50"] >= 78_000_000


def test_a_session_ends_a_fractional_duration_on_time(synthetic_service, tmp_path) -> None:
    """Locust's run time counts whole seconds; a session's test of 2.5 s stops at 2.5 s (its
    --cb-stop-after), not at 3, and the next test in the same process is not cut short by the
    whole-second timer of the one before."""
    from harness.load.runner import Session

    with synthetic_service(slots=2, service_ms=20) as url:
        spec = LoadSpec(profile="orders", users=2, spawn_rate=50, duration_s=2.5, warmup_s=0.5, think="0")
        with Session(spec, url, tmp_path / "session") as sess:
            t0 = time.monotonic()
            short = sess.run(spec, tmp_path / "a")
            took = time.monotonic() - t0
            longer = sess.run(replace(spec, duration_s=3.0), tmp_path / "b")
    assert took < 2.95, took  # a whole-second run time would take at least 3 s
    assert 1.8 <= short["window_s"] <= 2.4, short["window_s"]  # 2.5 s less the half-second warm-up
    assert 2.3 <= longer["window_s"] <= 3.4, longer["window_s"]
    for s in (short, longer):
        assert s["validity"]["valid"], s["validity"]


def test_capacity_search_in_a_session_finds_the_synthetic_capacity(synthetic_service, tmp_path) -> None:
    """The capacity test above, every step in one session's process: the same capacity and steps."""
    from harness.load.runner import Session

    terms = slo.parse("p99<1s,errors<1%")
    with synthetic_service(slots=4, service_ms=50, mode="shed", refuse_ms=10) as url:
        spec = LoadSpec(profile="orders", users=2, duration_s=3, warmup_s=1, think="0")
        with Session(spec, url, tmp_path / "session") as sess:
            step = make_step(spec, Target(url, "synthetic", {}, False), terms, tmp_path, "syn", log=lambda _m: None,
                             session=sess)
            res = capacity.search(step, start=2, max_users=64, resolution=0.0)
    assert res.valid, res.reason
    assert res.capacity == 4, [(s.users, s.passed, s.reason) for s in res.steps]
    assert [s.users for s in res.steps] == [2, 4, 8, 6, 5]
