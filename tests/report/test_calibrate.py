"""`clockbench calibrate`'s pieces: the planted slowdown can't leak, the analysis counts false
alarms and power right on constructed runs, instruction counts parse and (under valgrind) hold still."""

from __future__ import annotations

import math
import random

import pytest

from harness import plant, results
from harness.cli import main
from harness.commands import calibrate as cal
from harness.results import MetricRecord


def _run(seed: int, clk_factor: float = 1.0, drift: float = 1.0, planted: str = "") -> list[MetricRecord]:
    rnd = random.Random(seed)
    run_effect = math.exp(rnd.gauss(0, 0.01))  # the ratio itself moves ~1% between runs
    walk = [drift * math.exp(rnd.gauss(0, 0.3)) for _ in range(10)]
    base = [round(10_000 * w * math.exp(rnd.gauss(0, 0.02))) for w in walk]
    clk = [round(8_000 * clk_factor * run_effect * w * math.exp(rnd.gauss(0, 0.02))) for w in walk]
    extra = {"planted": planted} if planted else {}
    return [MetricRecord("bench.orders.oms.submit_cancel", "baseline", "ns/op", base, kind="rounds", extra=dict(extra)),
            MetricRecord("bench.orders.oms.submit_cancel", "clocked", "ns/op", clk, kind="rounds", extra=dict(extra))]


def test_analysis_counts_false_alarms_and_finds_a_planted_slowdown():
    same = [_run(i, drift=[1, 2, 0.7, 1.5, 1.1, 0.9][i]) for i in range(6)]
    planted = [_run(100 + i, clk_factor=1.2, drift=[0.8, 1.7, 1.2][i], planted="oms=20%") for i in range(3)]
    res = cal.analyse(same, planted, 0.05, cal.AFFECTED["oms"])
    assert res["calibration_left_out_for_each_pair"]
    assert res["false_alarms"]["pairs"] == 15 and res["false_alarms"]["gate_failed"] <= 1
    assert res["power"]["pairs"] == 18 and res["power"]["gate_found_plant"] >= 15
    text = cal.summary(res, "oms=20%")
    assert "same-commit pairs: gate failed in" in text and "bench.orders.oms.submit_cancel" in text


def test_calibration_from_same_commit_runs():
    c = cal.calibration_from([_run(i) for i in range(4)])
    v = c.variance("bench.orders.oms.submit_cancel", "clocked/baseline")
    assert v is not None and v[1] == 4 and 0 < v[0] < 0.01
    assert c.variance("bench.orders.oms.submit_cancel", "clocked")[0] > v[0]  # levels drift, the ratio does not
    assert c.machine["id"] and c.same_machine()


def test_plant_parse_and_refusals(monkeypatch, tmp_path, capsys):
    assert plant.parse("oms=10%") == ("oms", 0.10)
    for bad in ("oms=10", "nope=5%", "oms=0%", "oms"):
        with pytest.raises(plant.PlantError):
            plant.parse(bad)
    monkeypatch.setenv(plant.ENV, "oms=10%")
    monkeypatch.delenv(plant.TOKEN_ENV, raising=False)
    with pytest.raises(plant.PlantError, match="outside `clockbench calibrate`"):
        plant.install_from_env()
    assert main(["run", "--quick", "--out", str(tmp_path / "r")]) == 2
    assert "planted slowdown runs only inside `clockbench calibrate`" in capsys.readouterr().err
    assert main(["calibrate", "--trials", "3"]) == 2  # nested: the shell already has a plant
    monkeypatch.delenv(plant.ENV)
    assert main(["calibrate", "--plant", "oms=lots"]) == 2
    assert "COMPONENT=N%" in capsys.readouterr().err


def test_slowed_wraps_and_marks():
    calls = []
    f = plant.slowed(lambda x: calls.append(x) or x * 2, 0.5, per_iteration_ns=20.0)
    assert f(21) == 42 and calls == [21] and f.clockbench_planted == 0.5 and f.__wrapped__ is not None


def test_parse_callgrind_dump():
    from harness.measure.instructions import parse_dump

    text = ("events: Ir\nsummary: 0\n\nfn=(1) main\n0 10\n+2 5\ncalls=1 0\n0 1000\n* 7\n"
            "fn=(2) 0x1234\n0x10 3\n")
    assert parse_dump(text) == 10 + 5 + 7 + 3  # the inclusive cost after calls= is not added


def test_instruction_counts_hold_still_under_valgrind(tmp_path):
    from tests.conftest import require_tool
    from harness.measure import instructions

    require_tool("valgrind")
    require_tool("cc")
    got = instructions.count("baseline", tmp_path, cases=[("test_bench_clock", "test_timestamp_ns_{build}", {})])
    counts = [e["instructions"] for e in got]
    assert len(counts) == instructions.REPEATS and all(e["ops"] == 10_000 for e in got)
    assert min(counts) > 10_000 * 10  # at least ten instructions per time read
    assert (max(counts) - min(counts)) / min(counts) < 0.01  # the same work, the same count


def test_analysis_reports_wall_time_and_instruction_gates_apart():
    def with_instr(recs, factor, seed):
        rnd = random.Random(seed)
        extra = dict(recs[0].extra)
        return recs + [MetricRecord("instr.orders.oms.submit_cancel", "baseline", "count",
                                    [5_000_000 + rnd.randint(-200, 200) for _ in range(3)], kind="rounds", extra=extra),
                       MetricRecord("instr.orders.oms.submit_cancel", "clocked", "count",
                                    [round(4_000_000 * factor) + rnd.randint(-200, 200) for _ in range(3)], kind="rounds",
                                    extra=extra)]
    same = [with_instr(_run(i), 1.0, i) for i in range(5)]
    planted = [with_instr(_run(100 + i, clk_factor=1.02, planted="oms=10%"), 1.10, 100 + i) for i in range(3)]
    res = cal.analyse(same, planted, 0.05, cal.AFFECTED["oms"])
    assert res["instructions_only"]["power"]["gate_found_plant"] == 15  # 10% more instructions: always found
    assert res["wall_time_only"]["power"]["gate_found_plant"] == 0  # +2% wall time: under the 5% threshold
    assert res["power"]["gate_found_plant"] == 15  # the gate as it runs: instructions decide
    assert "a gate on wall time alone" in cal.summary(res, "oms=10%")


def test_cpu_timed_trials_are_never_compared_with_wall_time():
    from harness.commands.compare import compare

    wall = _run(1)
    cpu = _run(2)
    cal.mark_timer(cpu, "cpu")
    assert all(r.extra["timer"] == "time.thread_time" and r.definition.endswith("cpu") for r in cpu)
    assert all(c.note.startswith("definition differs") for c in compare(wall, cpu) if c.metric.startswith("bench."))
    cal.mark_timer(wall, "wall")
    assert all("timer" not in r.extra for r in wall)
