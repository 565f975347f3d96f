"""`clockbench gate` exits non-zero on a constructed regression and zero on noise; compare reads
pytest-benchmark JSON as well as run directories."""

from __future__ import annotations

import json
import random

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


def test_gate_respects_the_aa_noise_floor(tmp_path):
    # 8% slower with a tight CI, but this machine's A/A runs differ by 15%: within the noise
    aa = [MetricRecord("bench.orders.pipeline", "aa", "ns/op", [11_500 + i for i in range(40)])]
    a = write_run(tmp_path / "a", 10_000, 50, seed=1, extra=aa)
    b = write_run(tmp_path / "b", 10_800, 50, seed=2)
    assert main(["gate", str(b), "--baseline", str(a), "--max-regression", "5%"]) == 0


def test_gate_bad_threshold_is_a_usage_error(tmp_path, capsys):
    a = write_run(tmp_path / "a", 10_000, 400, seed=1)
    assert main(["gate", str(a), "--baseline", str(a), "--max-regression", "lots"]) == 2
    assert "not a percentage" in capsys.readouterr().err


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
