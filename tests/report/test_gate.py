"""`clockbench gate` exits non-zero on a constructed regression and zero on noise; compare reads
pytest-benchmark JSON as well as run directories."""

from __future__ import annotations

import json
import random

import pytest

from harness.builds import BUILDS
from harness.cli import main
from harness.results import MetricRecord, save


def write_run(path, center: int, spread: int, seed: int, extra=()):
    rnd = random.Random(seed)
    recs = [MetricRecord("bench.orders.pipeline", b, "ns/op", [center + rnd.randint(-spread, spread) for _ in range(40)])
            for b in BUILDS]
    recs += list(extra)
    path.mkdir()
    save(recs, path)
    return path


def test_gate_passes_on_noise(tmp_path, capsys):
    a = write_run(tmp_path / "a", 10_000, 400, seed=1)
    b = write_run(tmp_path / "b", 10_000, 400, seed=2)  # same distribution, different draw
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 0
    assert "0 regression" in capsys.readouterr().out


def test_gate_fails_on_a_regression_beyond_threshold_and_noise(tmp_path, capsys):
    a = write_run(tmp_path / "a", 10_000, 400, seed=1)
    b = write_run(tmp_path / "b", 12_000, 400, seed=2)  # 20% slower
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 1
    assert "REGRESSION bench.orders.pipeline" in capsys.readouterr().out


def test_gate_tolerates_a_regression_below_the_threshold(tmp_path):
    a = write_run(tmp_path / "a", 10_000, 100, seed=1)
    b = write_run(tmp_path / "b", 10_300, 100, seed=2)  # 3% slower, clearly measured, under 5%
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 0


def test_gate_counts_the_calibrated_run_to_run_noise(tmp_path, capsys):
    # 8% slower with a tight CI within each run, but on this machine whole runs of one commit
    # differ by about 15% (the calibration): within the noise
    from harness import calibration

    a = write_run(tmp_path / "a", 10_000, 50, seed=1)
    b = write_run(tmp_path / "b", 10_800, 50, seed=2)
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 1  # uncalibrated: flagged
    cal = calibration.Calibration(calibration.machine(), 6, {"bench.orders.pipeline|clocked": {"var": 0.15**2, "k": 6}})
    path = calibration.save(cal, tmp_path / "cal.json")
    capsys.readouterr()
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%", "--calibration", str(path)]) == 0
    assert "6 same-commit runs on this machine" in capsys.readouterr().out


def test_bare_number_threshold_is_refused(tmp_path, capsys):
    a = write_run(tmp_path / "a", 10_000, 400, seed=1)
    assert main(["gate", str(a), "--baseline", str(a), "--max-regression", "5"]) == 2
    assert "no % sign" in capsys.readouterr().err


def _paired_run(path, clk_factor: float, drift: float, seed: int, definition: str = "v1", extra=None):
    rnd = random.Random(seed)
    walk = [drift * (1 + 0.3 * rnd.random()) for _ in range(10)]
    base = [round(10_000 * w * (1 + rnd.gauss(0, 0.01))) for w in walk]
    clk = [round(8_000 * clk_factor * w * (1 + rnd.gauss(0, 0.01))) for w in walk]
    recs = [MetricRecord("bench.orders.pipeline", "baseline", "ns/op", base, kind="rounds", definition=definition,
                         extra=dict(extra or {})),
            MetricRecord("bench.orders.pipeline", "clocked", "ns/op", clk, kind="rounds", definition=definition,
                         extra=dict(extra or {})),
            MetricRecord("bench.orders.pipeline.rounds", "clocked", "ns/op", clk * 3, extra={"pooled": True}, definition=definition)]
    path.mkdir()
    save(recs, path)
    return path


def test_paired_ratio_finds_a_clocked_slowdown_through_machine_drift(tmp_path, capsys):
    from harness import calibration

    cal = calibration.Calibration(calibration.machine(), 8, {"bench.orders.pipeline|clocked": {"var": 0.4**2, "k": 8},
                                                             "bench.orders.pipeline|clocked/baseline": {"var": 0.01**2, "k": 8}})
    path = calibration.save(cal, tmp_path / "cal.json")
    a = _paired_run(tmp_path / "a", 1.0, 1.0, seed=1)
    same = _paired_run(tmp_path / "same", 1.0, 2.0, seed=2)  # the whole run twice as slow: the machine, not the code
    slow = _paired_run(tmp_path / "slow", 1.15, 0.7, seed=3)  # clocked 15% slower, on a faster machine state
    assert main(["gate", str(same), "--baseline", str(a), "--calibration", str(path), "--max-regression", "5%"]) == 0
    capsys.readouterr()
    assert main(["gate", str(slow), "--baseline", str(a), "--calibration", str(path), "--max-regression", "5%"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION bench.orders.pipeline (clocked/baseline)" in out and ".rounds" not in out


def test_gate_refuses_a_metric_whose_definition_changed(tmp_path, capsys):
    a = _paired_run(tmp_path / "a", 1.0, 1.0, seed=1, definition="v1")
    b = _paired_run(tmp_path / "b", 1.5, 1.0, seed=2, definition="v2")
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 2
    captured = capsys.readouterr()
    assert "REFUSED bench.orders.pipeline" in captured.out and "definition" in captured.err
    assert main(["compare", str(a), str(b)]) == 0
    assert "definition differs (A v1, B v2)" in capsys.readouterr().out


def test_gate_refuses_a_planted_run(tmp_path, capsys):
    a = _paired_run(tmp_path / "a", 1.0, 1.0, seed=1)
    b = _paired_run(tmp_path / "b", 1.1, 1.0, seed=2, extra={"planted": "oms=10%"})
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 2
    assert "planted" in capsys.readouterr().err


def test_compare_reads_pytest_benchmark_json(tmp_path, capsys):
    def bench_json(path, scale):
        data = {"benchmarks": [{"name": f"test_x[{b}]", "group": "clock.now", "extra_info": {"build": b},
                                "stats": {"median": 1e-6 * scale, "iqr": 1e-8, "rounds": 5,
                                          "data": [1e-6 * scale * (1 + k / 100) for k in range(5)]}}
                               for b in BUILDS]}
        path.write_text(json.dumps(data))
        return path
    a, b = bench_json(tmp_path / "a.json", 1.0), bench_json(tmp_path / "b.json", 2.0)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "bench.clock.now" in out and "2.000x" in out
    assert main(["gate", str(b), "--baseline", str(a)]) == 1


def test_compare_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nope"), str(tmp_path / "nope2")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _with_instructions(path, wall_factor: float, instr_factor: float, seed: int):
    """A paired wall-time record and the same benchmark's instruction counts."""
    rnd = random.Random(seed)
    base = [round(10_000 * (1 + rnd.gauss(0, 0.01))) for _ in range(10)]
    clk = [round(8_000 * wall_factor * (1 + rnd.gauss(0, 0.01))) for _ in range(10)]
    ib = [5_000_000 + rnd.randint(-50, 50) for _ in range(3)]
    ic = [round(4_000_000 * instr_factor) + rnd.randint(-50, 50) for _ in range(3)]
    recs = [MetricRecord("bench.orders.oms.submit_cancel", "baseline", "ns/op", base, kind="rounds"),
            MetricRecord("bench.orders.oms.submit_cancel", "clocked", "ns/op", clk, kind="rounds"),
            MetricRecord("instr.orders.oms.submit_cancel", "baseline", "count", ib, kind="rounds"),
            MetricRecord("instr.orders.oms.submit_cancel", "clocked", "count", ic, kind="rounds")]
    path.mkdir()
    save(recs, path)
    return path


def test_instruction_counts_decide_where_they_exist_wall_time_still_reported(tmp_path, capsys):
    a = _with_instructions(tmp_path / "a", 1.0, 1.0, seed=1)
    wall_only = _with_instructions(tmp_path / "w", 1.25, 1.0, seed=2)  # the machine, not the code: wall time moved
    slower = _with_instructions(tmp_path / "s", 1.0, 1.10, seed=3)  # 10% more work, hidden in wall-time noise
    assert main(["gate", str(wall_only), "--baseline", str(a), "--max-regression", "5%"]) == 0
    out = capsys.readouterr().out
    assert "gated by instruction count" in out and "bench.orders.oms.submit_cancel" in out
    assert main(["gate", str(wall_only), "--baseline", str(a), "--max-regression", "5%", "--wall-time"]) == 1
    assert "REGRESSION bench.orders.oms.submit_cancel (clocked/baseline)" in capsys.readouterr().out
    assert main(["gate", str(slower), "--baseline", str(a), "--max-regression", "5%"]) == 1
    assert "REGRESSION instr.orders.oms.submit_cancel" in capsys.readouterr().out
    assert main(["compare", str(a), str(wall_only)]) == 0
    assert "wall time, reported: instr.orders.oms.submit_cancel decides" in capsys.readouterr().out


def test_instruction_counts_have_a_noise_floor(tmp_path, capsys):
    """Instruction counts of one commit move by up to ~1% between runs (the process's layout); a
    calibration of runs that happened to hold still must not make compare flag such a shift, and
    a 10% slowdown is still found."""
    from harness import calibration
    from harness.commands.compare import compare, load_any

    a = _with_instructions(tmp_path / "a", 1.0, 1.0, seed=1)
    shifted = _with_instructions(tmp_path / "b", 1.0, 1.006, seed=2)  # +0.6% in the clocked build's count
    slower = _with_instructions(tmp_path / "s", 1.0, 1.10, seed=3)
    still = {"instr.orders.oms.submit_cancel|clocked": {"var": 1e-8, "k": 5},  # the runs that held still
             "instr.orders.oms.submit_cancel|clocked/baseline": {"var": 1e-8, "k": 5}}
    cal = calibration.Calibration(calibration.machine(), 5, still)
    rows = [c for c in compare(load_any(a), load_any(shifted), cal=cal) if c.metric.startswith("instr.")
            and c.build in ("clocked", "clocked/baseline")]
    assert rows and all(c.floored and c.ci_low < 1 < c.ci_high for c in rows), [(c.build, c.ci_low, c.ci_high) for c in rows]
    assert all("noise floor" in c.note for c in rows)
    path = calibration.save(cal, tmp_path / "cal.json")
    assert main(["gate", str(shifted), "--baseline", str(a), "--max-regression", "5%", "--calibration", str(path)]) == 0
    assert main(["gate", str(slower), "--baseline", str(a), "--max-regression", "5%", "--calibration", str(path)]) == 1
    assert "REGRESSION instr.orders.oms.submit_cancel" in capsys.readouterr().out
    wide = {k: {"var": 0.02**2, "k": 5} for k in still}  # a calibration wider than the floor is used as it is
    cal2 = calibration.Calibration(calibration.machine(), 5, wide)
    assert not any(c.floored for c in compare(load_any(a), load_any(shifted), cal=cal2)
                   if c.metric.startswith("instr.") and c.build in ("clocked", "clocked/baseline"))


def _repeats_run(path, medians: dict[str, list[int]], seed: int, repeats: bool = True, n: int = 51):
    """A samples record per build whose values come in repeats, each repeat's values within 5% of its
    median; ``repeats=False`` writes the same values without ``results.REPEATS`` (pooled, as before)."""
    from harness.results import grouped

    rnd = random.Random(seed)
    recs, groups = [], {}
    for b, meds in medians.items():
        groups[b] = [[m + rnd.randint(-m // 20, m // 20) for _ in range(n)] for m in meds]
        values, extra = grouped(groups[b])
        recs.append(MetricRecord("ws.latency", b, "ns", values, extra=extra if repeats else {}))
    path.mkdir()
    save(recs, path)
    return path, groups


STEADY = {"baseline": [1000, 1150, 900, 1050], "clocked": [1000, 1150, 900, 1050]}


def test_records_in_repeats_are_compared_per_repeat_where_pooling_them_was_decisive(tmp_path, capsys):
    """The clocked build's repeats scatter by a fifth around +9%: pooled as independent values the
    gate flagged a regression; over the repeats the interval holds 1.0 and nothing is flagged."""
    import math
    import statistics

    from harness import stats
    from harness.commands.compare import compare, load_any

    scattered = {"baseline": STEADY["baseline"], "clocked": [1230, 960, 1200, 1080]}
    a, ga = _repeats_run(tmp_path / "a", STEADY, seed=1)
    b, gb = _repeats_run(tmp_path / "b", scattered, seed=2)
    ch = next(c for c in compare(load_any(a), load_any(b)) if c.build == "clocked")
    la = [math.log(statistics.median(g)) for g in ga["clocked"]]
    lb = [math.log(statistics.median(g)) for g in gb["clocked"]]
    d = statistics.mean(lb) - statistics.mean(la)
    half = stats.t_quantile(0.975, 3) * math.sqrt(statistics.variance(la) / 4 + statistics.variance(lb) / 4)
    assert (ch.ratio, ch.ci_low, ch.ci_high) == pytest.approx((math.exp(d), math.exp(d - half), math.exp(d + half)))
    assert ch.ci_low < 1 < ch.ci_high and ch.note.startswith("median per repeat (4 repeats in A, 4 in B)")
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 0
    pa, _ = _repeats_run(tmp_path / "pa", STEADY, seed=1, repeats=False)
    pb, _ = _repeats_run(tmp_path / "pb", scattered, seed=2, repeats=False)
    assert main(["gate", str(pb), "--baseline", str(pa), "--max-regression", "5%"]) == 1  # the same values, pooled
    capsys.readouterr()
    slow, _ = _repeats_run(tmp_path / "slow", {"baseline": STEADY["baseline"],
                                               "clocked": [m * 3 // 2 for m in STEADY["clocked"]]}, seed=3)
    assert main(["gate", str(slow), "--baseline", str(a), "--max-regression", "5%"]) == 1
    assert "REGRESSION ws.latency (clocked)" in capsys.readouterr().out


def test_records_with_too_few_or_one_sided_repeats_get_no_interval_and_the_gate_refuses_them(tmp_path, capsys):
    from harness.commands.compare import compare, load_any

    a, _ = _repeats_run(tmp_path / "a", STEADY, seed=1)
    two, _ = _repeats_run(tmp_path / "two", {b: m[:2] for b, m in STEADY.items()}, seed=2)
    rows = {c.build: c for c in compare(load_any(two), load_any(a))}
    assert rows["clocked"].ci_low is None and rows["clocked"].ratio is None
    assert rows["clocked"].note == ("too few repeats for an interval: run A has 2 repeat(s); its median is taken per "
                                    "repeat, and an interval over the repeats needs at least 3")
    assert main(["gate", str(two), "--baseline", str(a), "--max-regression", "5%"]) == 2
    captured = capsys.readouterr()
    assert "REFUSED ws.latency (clocked): too few repeats for an interval: run B has 2 repeat(s)" in captured.out
    assert "(baseline)" not in captured.out and "too few repeats" in captured.err
    pooled, _ = _repeats_run(tmp_path / "pooled", STEADY, seed=2, repeats=False)
    rows = {c.build: c for c in compare(load_any(a), load_any(pooled))}
    assert rows["clocked"].ratio is None and rows["clocked"].note.startswith("repeats in one run only (A)")
    assert main(["gate", str(pooled), "--baseline", str(a), "--max-regression", "5%"]) == 2
    assert "REFUSED ws.latency (clocked): repeats in one run only (A)" in capsys.readouterr().out
