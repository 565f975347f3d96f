"""Producers of `clockbench run`: every selected metric has one, the pure parts on constructed
data, and the real-time ones on small real runs (both builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.builds import BUILDS
from harness.commands import run as run_cmd
from harness.measure import load as load_measure
from harness.measure import load_balancing, microbench, orders
from harness.report import criteria as crit
from harness.report.criteria import Criterion
from harness.report.verdict import FAIL, INCONCLUSIVE, PASS, judge
from harness.results import MetricRecord, index


def test_every_metric_of_a_buildable_criterion_has_a_producer():
    prefixes = [p for _, ps, _ in run_cmd.PRODUCERS for p in ps]
    for c in crit.load():
        if c.not_measurable or c.missing_components():
            continue
        for m in c.metrics:
            assert any(m == p or m.startswith(p + ".") for p in prefixes), f"{c.id}: no producer writes {m}"


# --- A/A noise floor (pure) ----------------------------------------------------------------------


def _rounds_crit(threshold: float = 0.30) -> Criterion:
    return Criterion("T", 1, "x", "s", "claim", metrics=("m",), statistic="rounds", compare="improvement",
                     direction=">=", threshold=threshold)


def _rounds(base, clk, aa=None) -> dict:
    rs = [MetricRecord("m", "baseline", "ns", base, kind="rounds"), MetricRecord("m", "clocked", "ns", clk, kind="rounds")]
    if aa is not None:
        rs.append(MetricRecord("m", "aa", "ns", aa, kind="rounds"))
    return index(rs)


BASE = [1000, 1010, 990, 1005, 995, 1000]
CLK = [600, 610, 590, 605, 595, 600]  # 40% better, tightly


def test_a_quiet_aa_pair_keeps_the_verdict_and_says_so(tmp_path):
    j = judge(_rounds_crit(), _rounds(BASE, CLK, [1001, 1008, 992, 1004, 996, 1001]), root=tmp_path)
    assert j.verdict == PASS and "A/A pair within noise" in j.reason and "ci_before_aa" not in j.details


def test_a_biased_aa_pair_corrects_the_interval_by_its_bias(tmp_path):
    # the second baseline sits 15% below the first in every round: the setup, not the build,
    # moves the figures by that much, so a 40% change with a 30% threshold is no longer decided
    biased = [850, 860, 840, 855, 845, 850]
    j = judge(_rounds_crit(), _rounds(BASE, CLK, biased), root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "A/A pair's bias" in j.reason
    assert j.ci_low < 0.30 < j.ci_high and j.details["ci_before_aa"][0] > 0.30


def test_noise_does_not_rescue_a_clear_miss(tmp_path):
    j = judge(_rounds_crit(0.50), _rounds(BASE, [990, 1000, 985, 1000, 990, 995], [1002, 1009, 991, 1004, 996, 999]),
              root=tmp_path)
    assert j.verdict == FAIL


# --- paired microbenchmarks ----------------------------------------------------------------------


def _bench_json(path, scale_by_pair):
    """A paired pytest-benchmark JSON: the machine runs ``scale`` times slower in pair p, both builds."""
    benches = []
    for p, scale in enumerate(scale_by_pair):
        for build, t in (("baseline", 1e-6), ("clocked", 0.8e-6)):
            data = [t * scale * (1 + k / 1000) for k in range(3)]
            benches.append({"name": f"test_x[pair{p}-{build}]", "group": "orders.x", "params": {"build": build, "cb_pair": p},
                            "extra_info": {"build": build, "ops": 1}, "stats": {"data": data, "median": data[1]}})
    path.write_text(json.dumps({"benchmarks": benches}))
    return path


def test_paired_json_becomes_per_pair_records_and_drift_cancels(tmp_path):
    from harness.measure import pairing

    recs = index(pairing.records_from_json(_bench_json(tmp_path / "m.json", [1, 5, 2, 8, 1, 3])))
    clk, base = recs["bench.orders.x"]["clocked"], recs["bench.orders.x"]["baseline"]
    assert clk.kind == base.kind == "rounds" and clk.n == base.n == 6 and clk.extra["pairs"] == list(range(6))
    assert recs["bench.orders.x.rounds"]["clocked"].extra["pooled"] and recs["bench.orders.x.rounds"]["clocked"].n == 18
    j = judge(Criterion("T", 1, "x", "s", "claim", metrics=("bench.orders.x",), statistic="median", compare="improvement",
                        direction=">=", threshold=0.15), recs, root=tmp_path)
    assert j.verdict == PASS and abs(j.change - 0.2) < 0.005  # an 8x drift between pairs, and a tight interval


def _paired_ids(tmp_path, pairs: int, source: str) -> tuple[list[str], str]:
    """The item ids, in run order, that the pairing plugin makes of ``source`` with ``--cb-pairs``
    (collected only, in a pytest child), and that child's output for the assertion messages."""
    import subprocess
    import sys

    t = tmp_path / "test_p.py"
    t.write_text(source)
    out = subprocess.run([sys.executable, "-m", "pytest", str(t), "-p", "harness.measure.pairing", "--cb-pairs", str(pairs),
                          "--collect-only", "-q", "-p", "no:cacheprovider"], capture_output=True, text=True, cwd=tmp_path)
    return [line.split("::")[1] for line in out.stdout.splitlines() if "::" in line], out.stdout


def test_pairs_run_interleaved_abba_in_one_process(tmp_path):
    """The plugin's order on a real collection: pair 0 baseline first, pair 1 clocked first."""
    ids, out = _paired_ids(tmp_path, 2, "import pytest\n@pytest.mark.parametrize('build', ['clocked', 'baseline'])\n"
                             "def test_a(benchmark, build):\n    pass\n"
                             "def test_b_baseline(benchmark):\n    pass\ndef test_b_clocked(benchmark):\n    pass\n")
    assert ids == ["test_a[pair0-baseline]", "test_a[pair0-clocked]", "test_a[pair1-clocked]", "test_a[pair1-baseline]",
                   "test_b_baseline[pair0]", "test_b_clocked[pair0]", "test_b_clocked[pair1]", "test_b_baseline[pair1]"], out


def test_a_benchmark_marked_more_pairs_runs_k_times_the_pairs_in_the_abba_order(tmp_path):
    """more_pairs(k) (the cheap clock reads): k * N pairs of that benchmark, the others N."""
    ids, out = _paired_ids(tmp_path, 2, "import pytest\n"
                             "@pytest.mark.more_pairs(2)\ndef test_r_baseline(benchmark):\n    pass\n"
                             "@pytest.mark.more_pairs(2)\ndef test_r_clocked(benchmark):\n    pass\n"
                             "def test_s_baseline(benchmark):\n    pass\ndef test_s_clocked(benchmark):\n    pass\n")
    r = [["test_r_baseline", "test_r_clocked"][::1 if p % 2 == 0 else -1] for p in range(4)]
    assert ids == ([f"{n}[pair{p}]" for p in range(4) for n in r[p]]
                   + ["test_s_baseline[pair0]", "test_s_clocked[pair0]", "test_s_clocked[pair1]", "test_s_baseline[pair1]"]), out


def test_more_pairs_takes_a_whole_factor():
    import pytest as _pytest

    from harness.measure.pairing import pairs_for

    assert pairs_for(10, None) == 10
    assert pairs_for(10, _pytest.mark.more_pairs(3).mark) == 30
    with _pytest.raises(ValueError):
        pairs_for(10, _pytest.mark.more_pairs(0).mark)


def test_a_third_build_marked_every_pair_runs_in_every_pair_in_the_abba_order(tmp_path):
    """The pure-Python twin and NautilusTrader's clock beside the pair: every pair, the whole slot
    reversed in odd pairs; an unmarked reference stays once, in pair 0, after both builds."""
    ids, out = _paired_ids(tmp_path, 3, "import pytest\n"
                             "def test_r_baseline(benchmark):\n    pass\ndef test_r_clocked(benchmark):\n    pass\n"
                             "@pytest.mark.every_pair\ndef test_r_clocked_pure(benchmark):\n    pass\n"
                             "@pytest.mark.every_pair\ndef test_r_nautilus(benchmark):\n    pass\n"
                             "def test_r_reference(benchmark):\n    pass\n")
    slot = ["test_r_baseline", "test_r_clocked", "test_r_clocked_pure", "test_r_nautilus"]
    assert ids == ([f"{n}[pair0]" for n in slot] + ["test_r_reference[pair0]"] + [f"{n}[pair1]" for n in slot[::-1]]
                   + [f"{n}[pair2]" for n in slot]), out


def test_paired_rows_put_every_build_beside_the_baseline_with_intervals(tmp_path):
    """Each build's ratio to the baseline and the clocked build's to it come from per-pair ratios:
    an 8x drift between pairs leaves them exact."""
    from harness import microbench
    from harness.measure import pairing

    benches = []
    for p, scale in enumerate([1, 5, 2, 8, 1, 3]):
        for build, name, t in (("baseline", "test_r_baseline", 100e-9), ("clocked", "test_r_clocked", 110e-9),
                               ("clocked (pure Python)", "test_r_clocked_pure", 440e-9),
                               ("reference", "test_r_nautilus", 220e-9)):
            data = [t * scale * (1 + k / 1000) for k in range(3)]
            benches.append({"name": f"{name}[pair{p}]", "group": "clock.r", "params": {"cb_pair": p},
                            "extra_info": {"build": build, "ops": 1}, "stats": {"data": data, "median": data[1]}})
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"benchmarks": benches}))
    rows = {r["build"]: r for r in microbench.paired_rows(pairing.records_from_json(path))}
    assert list(rows) == ["baseline", "clocked", "clocked (pure Python)", "reference (r_nautilus)"]
    assert rows["clocked"]["x baseline [95% CI]"] == "1.10x [1.10, 1.10]" and rows["clocked"]["pairs"] == "6"
    assert rows["reference (r_nautilus)"]["x baseline [95% CI]"].startswith("2.20x")
    assert rows["reference (r_nautilus)"]["clocked / this [95% CI]"] == "0.50x [0.50, 0.50]"
    assert rows["clocked (pure Python)"]["clocked / this [95% CI]"] == "0.25x [0.25, 0.25]"
    assert rows["baseline"]["x baseline [95% CI]"] == rows["clocked"]["clocked / this [95% CI]"] == "-"


# --- the load bridge (pure parts) -----------------------------------------------------------------


def _line(msec: str, rt: str, urt: str, uri: str = "/api/v1/orders", method: str = "POST") -> str:
    return (f'{msec} 201 {method} "{uri}" rt={rt} urt={urt} uct=0.000 ua="127.0.0.1:9000" '
            f"bytes=120 conn=3 reqs=7")


def test_nginx_added_latency_from_access_log_lines():
    log = "\n".join([
        _line("1000.000", "0.003", "0.002"),  # before the window: left out
        _line("1001.500", "0.004", "0.002"),
        _line("1001.600", "0.002", "0.002"),
        _line("1001.700", "0.005", "0.001, 0.002"),  # a retry: both attempts are upstream time
        _line("1001.800", "0.001", "-"),  # answered by nginx itself: no upstream
    ]).encode()
    d = load_measure.nginx_added(log, since_ns=1_001_000_000_000)
    assert d["count"] == 3 and d["min_ns"] == 0 and d["max_ns"] == 2_000_000 and d["p50_ns"] == 2_000_000
    assert d["mean_ns"] == (2_000_000 + 0 + 2_000_000) // 3
    assert load_measure.nginx_added(b"", 0) is None


def _summary(valid: bool, p50: int, post_p50: int) -> dict:
    lat = {"p50": p50, "p90": p50 * 2, "p99": p50 * 3, "p999": p50 * 4}
    return {"validity": {"valid": valid, "reasons": [] if valid else ["load generator saturated"]},
            "aggregate": {"latency_ns": lat, "latency_corrected_ns": None, "throughput_rps": 100.0, "error_rate": 0.0},
            "endpoints": {load_measure.POST: {"latency_ns": {"p50": post_p50, "p99": post_p50 * 3}}}}


def test_rounds_invalid_in_any_arm_are_left_out_of_every_arm():
    runs = {"baseline": [_summary(True, 100, 110), _summary(True, 101, 111), _summary(True, 102, 112)],
            "clocked": [_summary(True, 90, 95), _summary(False, 91, 96), _summary(True, 92, 97)],
            "aa": [_summary(True, 100, 110), _summary(True, 100, 110), _summary(True, 100, 110)]}
    extras = {a: [load_measure.round_extra(s, {"p50_ns": 0, "mean_ns": 300_000 + i}) for i, s in enumerate(v)]
              for a, v in runs.items()}
    recs, info = load_measure.records_from_rounds(runs, extras, "ab.json")
    assert info["used_rounds"] == [0, 2] and info["dropped_rounds"] == [1]
    by = index(recs)
    assert by["load.orders.p50"]["clocked"].values == [90, 92]
    assert by["load.orders.post_p50"]["baseline"].values == [110, 112]
    assert by["load.orders.nginx_added_mean"]["aa"].values == [300_000, 300_002]
    assert all(r.kind == "rounds" and r.valid for b in by.values() for r in b.values())


def test_too_few_valid_rounds_make_invalid_records_with_the_reason():
    runs = {"baseline": [_summary(True, 1, 1), _summary(False, 1, 1)], "clocked": [_summary(True, 1, 1), _summary(True, 1, 1)]}
    extras = {a: [load_measure.round_extra(s, None) for s in v] for a, v in runs.items()}
    recs, _ = load_measure.records_from_rounds(runs, extras, "ab.json")
    by = index(recs)
    assert not by["load.orders.post_p50"]["clocked"].valid and "rounds valid" in by["load.orders.post_p50"]["clocked"].reason
    assert not by["load.orders.p50"]["baseline"].valid and "saturated" in by["load.orders.p50"]["baseline"].reason


# --- the real-time producers, small real runs ----------------------------------------------------


def test_ems_slices_fire_and_are_measured_in_both_builds():
    for build in BUILDS:
        late = orders._ems_once(build, algos=2, slices=5, duration_ns=250_000_000)
        assert len(late) == 10, build
        assert all(v >= 0 for v in late) and max(late) < 1_000_000_000, (build, late)


def test_connection_tracker_closes_every_idle_connection_in_both_builds():
    for build in BUILDS:
        late, cpu = load_balancing._tracker_once(build, conns=100, timeout_ns=200_000_000, spread_ns=50_000_000)
        assert len(late) == 100, build
        assert cpu > 0
        # never before the deadline (a small allowance for the two time sources), never absurdly late
        assert all(-5_000_000 < v < 3_000_000_000 for v in late), (build, min(late), max(late))


def test_a_real_paired_run_records_pairs_definitions_and_machine_state(tmp_path):
    """A tiny benchmark file through the plugin, for real: paired records, each pair's machine
    state, a definition version that changes when the benchmark's code does."""
    import subprocess
    import sys

    from harness.measure import pairing

    def run_once(body: str):
        t = tmp_path / "test_tiny.py"
        t.write_text("import pytest\n@pytest.mark.parametrize('build', ['clocked', 'baseline'])\n"
                     "def test_tiny(benchmark, build):\n    benchmark.group = 'tiny'\n"
                     "    benchmark.extra_info['build'] = build\n" + body)
        out = tmp_path / "b.json"
        p = subprocess.run([sys.executable, "-m", "pytest", str(t), "-q", "-p", "no:cacheprovider", "-p", "harness.measure.pairing",
                            "--cb-pairs", "3", "--benchmark-enable", "--benchmark-only", f"--benchmark-json={out}",
                            "--benchmark-max-time=0.01", "--benchmark-min-rounds=3"], capture_output=True, text=True, cwd=tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        return index(pairing.records_from_json(out))

    recs = run_once("    benchmark(sum, range(1000 if build == 'clocked' else 2000))\n")
    clk, base = recs["bench.tiny"]["clocked"], recs["bench.tiny"]["baseline"]
    assert clk.kind == "rounds" and clk.n == base.n == 3 and len(clk.extra["machine_per_pair"]) == 3
    assert all(0.0 <= s["others_cpu_share"] <= 1.0 and len(s["load_avg"]) == 3 for s in clk.extra["machine_per_pair"])
    assert clk.definition and clk.definition != base.definition  # each build's benchmark is its own definition
    again = run_once("    benchmark(sum, range(1001 if build == 'clocked' else 2000))\n")
    assert again["bench.tiny"]["clocked"].definition != clk.definition  # what it measures changed


def test_measure_makes_the_rounds_and_the_first_call_only(tmp_path):
    """pairing.measure: one unmeasured first call (calibration and warm-up), then the rounds, at least
    --benchmark-min-rounds and as many as fill --benchmark-max-time at the first call's duration;
    no call after them (pytest-benchmark's own benchmark() makes one, only to return a result), the
    last round's result returned. A round too short for one call per round, and a disabled
    benchmark, go through benchmark() as before. The timer is a fake one that only the function
    advances (and 1 ns per reading), so the durations and counts are exact."""
    import subprocess
    import sys

    (tmp_path / "fakeclock.py").write_text("NOW = [0.0]\ndef timer():\n    NOW[0] += 1e-9\n    return NOW[0]\n")
    t = tmp_path / "test_m.py"
    t.write_text("import json\nimport fakeclock\nfrom harness.measure.pairing import measure\n"
                 "def test_m(benchmark, request):\n"
                 "    calls = []\n"
                 "    def fn(s):\n        calls.append(1)\n        fakeclock.NOW[0] += s\n        return len(calls)\n"
                 "    got = measure(benchmark, fn, float(request.config.getoption('--secs')))\n"
                 "    rounds = benchmark.stats.stats.rounds if benchmark.enabled else 0\n"
                 f"    open({str(tmp_path / 'calls.json')!r}, 'w').write(json.dumps({{'calls': len(calls), 'rounds': rounds,"
                 " 'got': got}))\n")
    (tmp_path / "conftest.py").write_text("def pytest_addoption(parser):\n    parser.addoption('--secs')\n")

    def run(secs: float, *extra: str) -> dict:
        p = subprocess.run([sys.executable, "-m", "pytest", str(t), "-q", "-p", "no:cacheprovider", f"--secs={secs}",
                            "--benchmark-timer=fakeclock.timer", "--benchmark-max-time=0.02", "--benchmark-min-rounds=3",
                            "--benchmark-warmup=off", *extra], capture_output=True, text=True, cwd=tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        return json.loads((tmp_path / "calls.json").read_text())

    assert run(0.002, "--benchmark-enable", "--benchmark-only") == {"calls": 11, "rounds": 10, "got": 11}  # 1 + 0.02 / 0.002
    assert run(0.05, "--benchmark-enable", "--benchmark-only") == {"calls": 4, "rounds": 3, "got": 4}  # the min rounds
    # 10 us a call: benchmark() calibrates (one more call), times 2,000 rounds, and calls once more for the result
    assert run(1e-5, "--benchmark-enable", "--benchmark-only") == {"calls": 2003, "rounds": 2000, "got": 2003}
    assert run(0.002, "--benchmark-disable") == {"calls": 1, "rounds": 0, "got": 1}


def test_machine_state_between_snapshots():
    from harness import machine_state

    with machine_state.Watch() as w:
        sum(range(200_000))
    s = w.state
    assert set(s) >= {"load_avg", "steal_share", "others_cpu_share", "busy", "cpus"} and s["seconds"] > 0
    assert machine_state.describe({"microbench": dict(s, busy=True)})[0].startswith("microbench: other processes used")
    assert machine_state.describe({"microbench": dict(s, busy=False)}) == []


def test_an_ended_child_process_counts_as_this_run_not_as_other_processes():
    """A step's own child that ran and exited between the snapshots is the run's CPU: before the
    fix its seconds showed as "other processes", and every step with a child looked busy."""
    import subprocess
    import sys

    from harness import machine_state

    a = machine_state.snapshot()
    subprocess.run([sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"],
                   check=True)
    b = machine_state.snapshot()
    assert b.own - a.own >= 0.3, (a.own, b.own)  # the child's 0.4 s of CPU, less the clock's tick


_BURNER = """import os, sys, time
if os.fork():
    os._exit(0)  # the burner is orphaned: init adopts it, as the container engine's shims
t = time.process_time()
while time.process_time() - t < float(sys.argv[1]):
    pass
open(sys.argv[2], "w").close()
time.sleep(30)
"""


def _orphan_burner(cpu_s: float, done: Path) -> None:
    """A process outside this one's tree (forked off and orphaned) that burns ``cpu_s`` of CPU,
    then says so in ``done`` and idles until killed (found again by ``done`` in its command line)."""
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _BURNER, str(cpu_s), str(done)], check=True)


def _kill_burners(tag: str) -> None:
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        if tag in " ".join(p.info["cmdline"] or []):
            p.kill()


def _wait_for(path: Path) -> None:
    import time

    deadline = time.monotonic() + 20
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never came"
        time.sleep(0.02)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="other processes are counted from /proc (Linux)")
def test_other_processes_count_and_this_runs_orphans_do_not(tmp_path):
    """An idle quick run's frontend and containers steps said "other processes used 39-45% of the
    CPUs": the browser's helpers and the engine's shims and payloads leave this run's tree as they
    start, and counting everything but the tree made them others. A process that was outside the
    tree before the interval counts; one orphaned by this run during it does not."""
    from harness import machine_state

    tag = str(tmp_path)
    try:
        _orphan_burner(0.5, tmp_path / "outside-done")  # outside the tree before the interval
        a = machine_state.snapshot()
        _orphan_burner(0.4, tmp_path / "orphan-done")  # this run's own, orphaned during it
        _wait_for(tmp_path / "outside-done")
        _wait_for(tmp_path / "orphan-done")
        b = machine_state.snapshot()
    finally:
        _kill_burners(tag)
    used = machine_state.others_between(a, b)
    assert used is not None and 0.3 <= used < 0.8, used  # the outside burner's 0.5 s, not the orphan's 0.4 more
    state = machine_state.between(a, b)
    assert state["others_from"] == "/proc" and state["not_this_tree_cpu_share"] >= state["others_cpu_share"]
    judged = state["others_cpu_share"] * state["seconds"] * state["cpus"]  # what "busy" is decided on
    assert 0.3 <= judged < 0.8, (judged, state)


def test_without_nginx_the_run_says_so_once_and_drives_the_workers(monkeypatch):
    import shutil as _shutil

    from harness.commands import run as run_cmd

    from harness.stack import nginx as nginx_mod
    from harness.stack.errors import StackError

    real_which = _shutil.which

    def no_nginx(explicit=None):
        raise StackError("nginx is not installed")

    monkeypatch.setattr(nginx_mod, "find_nginx", no_nginx)
    notices, missing = run_cmd.tool_notices()
    assert len(notices) == 1 and "nginx is not installed" in notices[0] and "nginx-light" in notices[0]
    assert "nginx" in missing
    monkeypatch.undo()
    assert run_cmd.tool_notices(nginx_wanted=False)[1] == {"nginx": "this run was made with --no-nginx (run without it)"}
    if real_which("nginx"):
        assert run_cmd.tool_notices() == ([], {})


def test_own_deployments_come_in_pairs_and_as_urls():
    import argparse

    import pytest

    from harness.commands import run as run_cmd
    from harness.errors import UsageError

    def ns(**kw):
        return argparse.Namespace(**{"target_baseline": None, "target_clocked": None, "target_aa": None, **kw})

    assert run_cmd.own_targets(ns()) == {}
    got = run_cmd.own_targets(ns(target_baseline="http://a:1", target_clocked="http://b:2"))
    assert got == {"baseline": "http://a:1", "clocked": "http://b:2", "aa": "http://a:1"}
    with pytest.raises(UsageError, match="go together"):
        run_cmd.own_targets(ns(target_baseline="http://a:1"))
    with pytest.raises(UsageError, match="http://"):
        run_cmd.own_targets(ns(target_baseline="a:1", target_clocked="http://b:2"))


def test_load_rounds_run_while_the_machine_was_busy_are_listed():
    import harness.measure.load as lm

    def summary(busy: bool) -> dict:
        lat = {"p50": 1000, "p90": 2000, "p99": 3000, "p999": 4000}
        return {"aggregate": {"latency_ns": lat, "latency_corrected_ns": None, "throughput_rps": 100.0, "error_rate": 0.0,
                              "requests": 1000, "failures": 0},
                "validity": {"valid": True, "reasons": []}, "machine": {"busy": busy}}

    runs = {a: [summary(False), summary(a == "aa"), summary(False)] for a in ("baseline", "clocked", "aa")}
    recs, info = lm.records_from_rounds(runs, {a: [{"post_p50": 1, "post_p99": 2}] * 3 for a in runs}, "ab.json")
    assert info["busy_rounds"] == [1]
    assert all(r.extra.get("busy_rounds") == [1] for r in recs if r.valid and r.kind == "rounds")


# --- quick mode gives each judged statistic its minimum n -----------------------------------------


def test_quick_ems_slices_give_each_repeat_a_p99_and_enough_repeats():
    from harness import stats

    for quick in (True, False):
        algos, slices, _, repeats = orders.EMS_SIZES[quick]
        assert algos * slices >= stats.min_per_repeat("p99") and repeats >= stats.MIN_PAIRS


def test_repeats_alternate_which_build_goes_first():
    from harness.measure import in_repeats

    calls = []
    got, order = in_repeats(4, lambda b, rep: calls.append((rep, b)) or f"{b}{rep}")
    a, b = BUILDS
    assert [c[1] for c in calls] == [a, b, b, a, a, b, b, a] and [c[0] for c in calls] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert order == [(a, b), (b, a), (a, b), (b, a)]
    assert got == {a: [f"{a}{r}" for r in range(4)], b: [f"{b}{r}" for r in range(4)]}


def test_each_repeat_runs_with_the_earlier_heap_collected_and_frozen():
    """A full collection inside a measured repeat must not scan the harness's own objects (their
    ~53 ms landed in one repeat's CPU time): each run sees the heap from before it frozen, and
    garbage left by the run before it already collected; after the repeats nothing stays frozen."""
    import gc

    from harness.measure import in_repeats, own_heap

    class Cycle:  # garbage only the cyclic collector frees
        def __init__(self) -> None:
            self.me = self

    seen = []

    def run(build: str, rep: int) -> int:
        seen.append((gc.get_freeze_count(), sum(isinstance(o, Cycle) for o in gc.get_objects())))
        Cycle()  # left for the next run's start to collect
        return rep

    frozen_before = gc.get_freeze_count()
    in_repeats(2, run)
    assert all(frozen > frozen_before for frozen, _ in seen)  # the heap from before is frozen
    assert all(cycles == 0 for _, cycles in seen)  # the previous run's garbage was collected first
    assert gc.get_freeze_count() == frozen_before
    with pytest.raises(RuntimeError), own_heap():  # a failed run leaves nothing frozen either
        raise RuntimeError("the run failed")
    assert gc.get_freeze_count() == frozen_before


def test_ems_records_carry_each_repeat_in_the_order_run():
    from harness.results import REPEATS, repeat_groups

    calls = []

    def fake(build, algos, slices, duration_ns):
        calls.append(build)
        k = len(calls)
        return [k * 1000 + i for i in range(algos * slices - 1)] + [-k]  # one slice early

    recs = {r.build: r for r in orders.ems_slice_lateness(True, lambda _m: None, run=fake)}
    algos, slices, dur_s, repeats = orders.EMS_SIZES[True]
    a, b = BUILDS
    assert calls == [a, b, b, a, a, b, b, a][: 2 * repeats]
    for build, r in recs.items():
        runs = [i + 1 for i, c in enumerate(calls) if c == build]  # this build's calls, in order
        assert r.extra[REPEATS] == [algos * slices] * repeats and r.kind == "samples"
        assert [g[0] for g in repeat_groups(r)] == [k * 1000 for k in runs]
        assert [g[-1] for g in repeat_groups(r)] == runs  # abs() of the early slice, kept in its repeat
        assert r.extra["early"] == repeats and r.extra["first_in_repeat"] == [a, b, a, b][:repeats]


def test_quick_pooled_select_rounds_reach_the_iqr_minimum():
    import ast
    from pathlib import Path

    from harness import stats

    src = (Path(microbench.BENCH_DIR) / "test_bench_database.py").read_text()
    rounds = next(n.value.value for n in ast.parse(src).body if isinstance(n, ast.Assign)
                  and getattr(n.targets[0], "id", "") == "SELECT_MIN_ROUNDS")
    assert "@pytest.mark.benchmark(min_rounds=SELECT_MIN_ROUNDS)" in src
    assert rounds * microbench.MICROBENCH_PAIRS[True] >= stats.min_samples("iqr_rel")


def test_capacity_trials_are_paired_and_quick_runs_enough_of_them():
    from harness import stats
    from harness.load.records import capacity_record

    for quick in (True, False):
        args = load_measure.CAPACITY_SEARCH[quick]
        assert int(args[args.index("--trials") + 1]) >= stats.MIN_PAIRS
    caps = {"baseline": [40, 52, 44], "clocked": [60, 70, 66]}
    recs = [capacity_record("orders", b, {"median": sorted(v)[1], "min": min(v), "max": max(v), "valid": True,
                                          "capacities": v}, "p99<50ms", "x", paired=True) for b, v in caps.items()]
    assert all(r.kind == "rounds" and not r.lower_is_better for r in recs)
    c = Criterion("TO-CAPACITY", 0, "capacity", "s", "claim", metrics=("capacity.orders.users",), statistic="median",
                  compare="improvement", direction=">=", threshold=0.2)
    j = judge(c, index(recs))
    assert j.details["method"] == "paired t on log ratios"
    assert j.ci_low is not None and j.ci_low < j.change < j.ci_high
    assert abs(j.change - ((60 / 40 * 70 / 52 * 66 / 44) ** (1 / 3) - 1)) < 1e-9  # geometric mean of per-trial ratios
    two = [capacity_record("orders", b, {"median": 1, "min": 1, "max": 1, "valid": True, "capacities": v[:2]},
                           "p99<50ms", "x", paired=True) for b, v in caps.items()]
    j2 = judge(c, index(two))  # two trials: too few for the paired interval
    assert j2.verdict == INCONCLUSIVE and "too few" in j2.reason


def test_entering_stacks_at_once_starts_them_together_and_stops_every_started_one():
    import contextlib
    import threading

    import pytest

    from harness.measure import StartFailed, enter_all

    together = threading.Barrier(3, timeout=5)  # only passes when all three are entering at once
    events: list[str] = []

    @contextlib.contextmanager
    def stack(name: str, fail: bool = False):
        together.wait()
        if fail:
            raise RuntimeError(f"{name} would not start")
        events.append(f"up {name}")
        try:
            yield name.upper()
        finally:
            events.append(f"down {name}")

    with contextlib.ExitStack() as es:
        got = enter_all(es, {k: (lambda k=k: stack(k)) for k in ("a", "b", "c")})
        assert got == {"a": "A", "b": "B", "c": "C"}
    assert sorted(events[:3]) == ["up a", "up b", "up c"] and events[3:] == ["down c", "down b", "down a"]

    together.reset()
    events.clear()
    with pytest.raises(StartFailed) as info:
        with contextlib.ExitStack() as es:
            enter_all(es, {"a": lambda: stack("a"), "b": lambda: stack("b", fail=True), "c": lambda: stack("c")})
    assert info.value.key == "b" and "would not start" in str(info.value.error)
    assert sorted(e for e in events if e.startswith("down")) == ["down a", "down c"]  # the started ones stopped


def test_a_run_records_each_steps_time_and_the_load_average(tmp_path, monkeypatch):
    import argparse
    import time

    from harness.commands import run as run_cmd
    from harness.measure import Unavailable

    def slow(ctx):
        time.sleep(0.3)
        raise Unavailable("nothing to measure in this test")

    monkeypatch.setattr(run_cmd, "PRODUCERS", [("static", ("static",), slow), ("replay", ("sim.orders",), slow)])
    monkeypatch.setattr(run_cmd.environment, "collect", lambda **kw: {"commit": "test"})
    args = argparse.Namespace(skip=["replay"], criteria=crit.CRITERIA_FILE, phase="1", out=tmp_path / "r", quick=True,
                              nginx=True, target_baseline=None, target_clocked=None, target_aa=None)
    assert run_cmd._run(args) == 0
    for name in ("run.json", "report.json"):
        t = json.loads((tmp_path / "r" / name).read_text())["timings"]
        steps = {s["name"]: s for s in t["steps"]}
        assert steps["static"]["seconds"] >= 0.3 and steps["replay"]["status"] == "unavailable"
        assert steps["replay"]["seconds"] < 0.3  # skipped: not run
        assert len(steps["static"]["loadavg_start"]) == 3 and t["total_s"] >= t["measure_s"] >= 0.3
        assert t["judge_s"] is not None


def test_hashing_the_load_definition_does_not_import_locust():
    """Importing loadtests.orders brings Locust's gevent monkey-patching into the run's process, after
    which the containers step's asyncio on a thread failed ('cannot be called from a running event
    loop'); the definition hash reads the modules' text instead."""
    import subprocess
    import sys

    code = ("import sys\nfrom harness.commands import run\n"
            "fns = {n: f for n, _, f in run.PRODUCERS}\n"
            "hashes = [run.definition_of(n, fns[n]) for n in run.DEFINED_BY]\n"
            "assert all(hashes), hashes\n"
            "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_definition_hash_changes_with_a_defining_module_and_says_when_one_is_missing(monkeypatch):
    from harness.commands import run as run_cmd

    fn = dict((n, f) for n, _, f in run_cmd.PRODUCERS)["load"]
    before = run_cmd.definition_of("load", fn)
    monkeypatch.setitem(run_cmd.DEFINED_BY, "load", run_cmd.DEFINED_BY["load"] + ("harness.no_such_module",))
    assert run_cmd.definition_of("load", fn) != before


def test_instruction_counts_of_both_builds_run_side_by_side_into_a_fresh_folder(tmp_path):
    """Both builds' valgrind processes at once, into a folder that does not exist yet (the run's)."""
    import os
    import shutil

    import pytest

    from harness.measure import instructions

    if shutil.which("valgrind") is None:
        if os.environ.get("CI"):
            pytest.fail("valgrind is not installed (CI=true: a skip would hide it)")
        pytest.skip("valgrind is not installed")
    lines: list[str] = []
    recs = instructions.produce(tmp_path / "run" / "instructions", lines.append,
                                cases=[("test_bench_clock", "test_timestamp_ns_{build}", {})])
    assert sorted(r.build for r in recs) == ["baseline", "clocked"]
    assert all(len(r.values) == instructions.REPEATS and min(r.values) > 0 for r in recs)
    assert any("at once" in line for line in lines)


def test_the_order_benchmarks_are_counted_at_their_counted_sizes(tmp_path):
    """The counted call takes COUNTED_SIZES' fills, not the timed round's, and says so in its ops."""
    import os
    import re
    import shutil

    import pytest

    from harness.measure import instructions

    if shutil.which("valgrind") is None:
        if os.environ.get("CI"):
            pytest.fail("valgrind is not installed (CI=true: a skip would hide it)")
        pytest.skip("valgrind is not installed")
    size = instructions.COUNTED_SIZES["test_bench_orders"]["PMS_FILLS"]
    timed = re.search(r"^PMS_FILLS = (\d+)", (instructions.BENCH_DIR / "test_bench_orders.py").read_text(), re.M)
    assert timed and size < int(timed.group(1))
    got = instructions.count("clocked", tmp_path, cases=[("test_bench_orders", "test_bench_pms_apply_fill", {"build": None})])
    assert [e["ops"] for e in got] == [size] * instructions.REPEATS
    assert all(e["instructions"] > size * 1_000 for e in got)  # a fill is thousands of instructions, not a no-op


def test_quick_mode_leaves_out_only_benchmarks_no_criterion_judges():
    """Each benchmark function a --quick -k term names records groups (``"<family>.<name>"`` literals
    in its body) none of which a criterion judges; a term that names no function would deselect nothing."""
    import ast
    import re
    from pathlib import Path

    judged = {m.removeprefix("bench.").removesuffix(".rounds") for c in crit.load(crit.CRITERIA_FILE)
              for m in c.metrics if m.startswith("bench.")}
    terms = re.findall(r"not (\w+)", microbench.MICROBENCH_QUICK_DESELECT)
    funcs = []
    for f in sorted(Path(microbench.BENCH_DIR).glob("test_*.py")):
        text = f.read_text()
        funcs += [(n.name, ast.get_source_segment(text, n) or "") for n in ast.walk(ast.parse(text))
                  if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    for term in terms:
        if term.endswith("timers"):  # the TestClock sizes: parameter ids of the judged function (10000 kept)
            assert term != "10000timers"
            continue
        named = [(name, src) for name, src in funcs if term in name]
        assert named, f"--quick deselects {term!r}, which names no benchmark"
        for name, src in named:
            groups = set(re.findall(r'"([a-z_]+(?:\.[a-z_]+)+)"', src))
            assert groups and not groups & judged, f"{name} records {groups & judged or 'no group'}"


def test_the_replay_processes_run_at_once_and_agree(tmp_path):
    from harness.measure import Context

    ctx = Context(tmp_path, True, "all", {"sim.orders.replay_mismatch"}, log=lambda s: None)
    (rec,) = orders.produce_replay(ctx)
    assert rec.metric == "sim.orders.replay_mismatch" and rec.values == [0]
    assert len(set(rec.extra["digests"])) == 1 and len(rec.extra["digests"]) == 3
    assert all("digest" in (tmp_path / f"replay_{i}.txt").read_text() for i in range(3))


def test_the_environment_is_collected_beside_the_load_independent_steps_and_before_the_others(tmp_path, monkeypatch):
    import argparse
    import time

    from harness.commands import run as run_cmd
    from harness.measure import Unavailable

    seen: dict[str, float] = {}

    def producer(name: str):  # type: ignore[no-untyped-def]
        def fn(ctx):  # type: ignore[no-untyped-def]
            seen[name + "_start"] = time.monotonic()
            time.sleep(0.4)
            seen[name + "_end"] = time.monotonic()
            raise Unavailable("nothing to measure in this test")
        return fn

    def collect(**kw):  # type: ignore[no-untyped-def]
        seen["env_start"] = time.monotonic()
        time.sleep(0.6)
        seen["env_end"] = time.monotonic()
        return {"commit": "test"}

    monkeypatch.setattr(run_cmd, "PRODUCERS", [("static", ("static",), producer("static")),
                                               ("sims", ("sim.ems",), producer("sims"))])
    monkeypatch.setattr(run_cmd.environment, "collect", collect)
    args = argparse.Namespace(skip=[], criteria=crit.CRITERIA_FILE, phase="1", out=tmp_path / "r", quick=True,
                              nginx=True, target_baseline=None, target_clocked=None, target_aa=None)
    assert run_cmd._run(args) == 0
    assert seen["env_start"] < seen["static_end"]  # beside the parse
    assert seen["env_end"] <= seen["sims_start"]  # never during a timed step
    assert json.loads((tmp_path / "r" / "run.json").read_text())["environment"] == {"commit": "test"}


def test_the_cli_imports_no_producer_and_a_lazy_producer_hashes_as_its_function():
    """Every `python -m harness ...` child of a run builds the whole CLI: it must not pay for the
    producers' imports (pandas, the monitoring stack); the definition hash is the function's own."""
    import subprocess
    import sys

    code = ("import sys\nimport harness.cli as c\nc.build_parser()\n"
            "print(sorted(m for m in ('pandas', 'harness.measure.monitoring', 'harness.report.render') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    lazy = dict((n, f) for n, _, f in run_cmd.PRODUCERS)["replay"]
    assert isinstance(lazy, run_cmd.Producer) and lazy.resolve() is orders.produce_replay
    assert run_cmd.definition_of("replay", lazy) == run_cmd.definition_of("replay", orders.produce_replay)


def test_the_progress_estimate_takes_a_step_that_failed_last_time_from_an_older_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOCKBENCH_RUNS_DIR", str(tmp_path))
    for name, capacity_status, load_s in (("20261130T080000-a-run", "ok", 90.0), ("20261130T090000-b-run", "failed", 80.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({"quick": True, "phase": "all", "producers": [
            {"name": "load", "status": "ok", "seconds": load_s},
            {"name": "capacity", "status": capacity_status, "seconds": 70.0}]}))
    assert run_cmd.earlier_timings(True, "all") == {"load": 80.0, "capacity": 70.0}  # load from the newest
    assert run_cmd.earlier_timings(False, "all") == {}
    assert "2.5 min left" in run_cmd._eta({"load": 80.0, "capacity": 70.0},
                                          [("load", (), None), ("capacity", (), None)], [])


def test_function_sources_match_ast_segments(tmp_path):
    """The one-parse-per-file sources give what ast.get_source_segment gives (the metric definitions
    hash them), non-ASCII text, one-line and nested functions included."""
    import ast

    from harness.measure import pairing

    src = ('"""é\x0c\x1c\u2028"""\n\ndef one(x): return "ü" + x\n\n\nasync def two(a,\n        b):\n    """ö"""\n'
           '    def inner():\n        return "→"\n    return inner\n\n\nclass K:\n    def m(self):  # ß\n        pass\n')
    path = tmp_path / "m.py"
    path.write_text(src, encoding="utf-8")
    got = pairing.function_sources(str(path))
    want = {n.name: ast.get_source_segment(src, n) for n in ast.walk(ast.parse(src))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert got == want and set(got) == {"one", "two", "inner", "m"}
    assert pairing.function_source(str(path), "two").startswith("async def two(a,\n")
    assert pairing.function_source(str(tmp_path / "absent.py"), "one") == ""


def test_load_independent_steps_come_first_and_the_instruction_counts_are_among_them():
    """The environment thread runs beside the load-independent steps only while none of the others
    has started, and the instruction counts' valgrind processes (both CPUs) must not share the
    machine with a timed step: every load-independent producer runs before every other one."""
    from harness.commands import run as run_cmd

    names = [name for name, _, _ in run_cmd.PRODUCERS]
    first = names[:len(run_cmd.LOAD_INDEPENDENT)]
    assert set(first) == run_cmd.LOAD_INDEPENDENT and "instructions" in run_cmd.LOAD_INDEPENDENT


def test_100k_heartbeats_are_a_full_runs_measurement_and_quick_says_why(tmp_path):
    from harness.measure import Context, Unavailable, websocket

    need = {"sim.heartbeats100k.cpu"}
    with pytest.raises(Unavailable, match="full run.*without --quick"):
        websocket.produce_heartbeats_100k(Context(out=tmp_path, quick=True, phase="1", metrics=need))
    with pytest.raises(Unavailable, match="no selected criterion"):
        websocket.produce_heartbeats_100k(Context(out=tmp_path, quick=False, phase="1", metrics={"sim.heartbeats.cpu"}))
    # the criteria the step serves are judged from it alone: the 10k step's prefix is not theirs
    prefixes = {p for name, ps, _ in run_cmd.PRODUCERS for p in ps}
    for c in crit.load(crit.CRITERIA_FILE):
        if c.id.endswith("-100K"):
            assert all(m.startswith("sim.heartbeats100k.") for m in c.metrics)
    assert "sim.heartbeats100k" in prefixes and not "sim.heartbeats100k.cpu".startswith("sim.heartbeats.")


def test_heartbeat_records_pair_the_builds_by_repeat(monkeypatch):
    """A test double stands in for the real-time runs (harness/heartbeats.py, minutes at 100,000):
    each call returns its own figures, so the records show which run went where."""
    from harness import heartbeats
    from harness.measure import websocket

    calls: list[str] = []

    def fake(build):
        def run(n, duration_ns):
            calls.append(build)
            k = len(calls)
            return {"cpu_per_wall_s": k / 100, "beats_missing": 0, "lateness_p99_ns": k * 1000,
                    "beats_delivered": n, "beats_due": n, "tick_ns": 10_000_000 if build == "clocked" else None}
        return run

    monkeypatch.setattr(heartbeats, "RUNS", {b: fake(b) for b in BUILDS})
    recs = {(r.metric, r.build): r for r in websocket.heartbeat_records("sim.heartbeats100k", 100_000, 3 * 10**9, 4,
                                                                       log=lambda _m: None)}
    a, b = BUILDS
    assert calls == [a, b, b, a, a, b, b, a]
    for build in BUILDS:
        runs = [i + 1 for i, c in enumerate(calls) if c == build]
        assert recs[("sim.heartbeats100k.cpu", build)].values == [k * 10_000 for k in runs]
        assert recs[("sim.heartbeats100k.cpu", build)].kind == "rounds"
        assert recs[("sim.heartbeats100k.lateness_p99", build)].values == [k * 1000 for k in runs]
        assert recs[("sim.heartbeats100k.beats_missing", build)].values == [0] * 4
        assert recs[("sim.heartbeats100k.cpu", build)].extra["timers"] == 100_000


def test_one_stalled_heartbeat_repeat_does_not_decide_the_lateness_interval():
    """FD-HEARTBEAT-LATENESS judges the median of the repeats' p99s by its order-statistic interval.
    An idle quick run had two stalled repeats among six (p99 11.1 and 11.7 ms, the rest 8.6-8.9): with
    6 repeats the interval spans the highest value, so one stalled repeat leaves the criterion
    INCONCLUSIVE; the repeats the run takes must leave out the highest (and lowest) value."""
    from harness.measure import websocket
    from harness.stats import median_ci

    repeats = websocket.HEARTBEATS_10K["repeats"]
    ms = 1_000_000
    one_stall = [int(8.7 * ms)] * (repeats - 1) + [int(11.7 * ms)]
    assert median_ci(one_stall).high < 10 * ms
    assert median_ci(one_stall[:5] + [int(11.7 * ms)]).high > 10 * ms  # what 6 repeats gave
