"""`clockbench compare` of two runs' report.json: per criterion the two verdicts, and the share that
agree among the criteria both runs judged from a non-degenerate interval."""

from __future__ import annotations

import json

from harness.cli import main
from harness.report.agreement import agreement, non_degenerate
from harness.results import MetricRecord, save


def crit(cid: str, verdict: str, lo: float | None = -0.1, hi: float | None = 0.2, change: float | None = 0.05) -> dict:
    return {"id": cid, "verdict": verdict, "ci_low": lo, "ci_high": hi, "change": change}


REPORT_A = {"criteria": [
    crit("C-PASS", "PASS", 0.3, 0.5),
    crit("C-FAIL", "FAIL", -0.4, -0.1),
    crit("C-FLIP", "INCONCLUSIVE", -0.1, 0.4),
    crit("C-COUNT", "PASS", 0.0, 0.0),  # an exact count: a point, not counted
    crit("C-FEW", "INCONCLUSIVE", None, None, None),  # too few values: no interval
    crit("C-NM", "NOT MEASURED", None, None, None),
    crit("C-ONLY-A", "PASS", 0.1, 0.2),
]}
REPORT_B = {"criteria": [
    crit("C-PASS", "PASS", 0.31, 0.52),
    crit("C-FAIL", "FAIL", -0.5, -0.2),
    crit("C-FLIP", "PASS", 0.25, 0.4),
    crit("C-COUNT", "PASS", 0.0, 0.0),
    crit("C-FEW", "PASS", 0.2, 0.3),  # judged in B only: listed as changed, not counted
    crit("C-NM", "NOT MEASURED", None, None, None),
]}


def test_share_counts_only_criteria_with_an_interval_in_both_runs():
    res = agreement(REPORT_A, REPORT_B)
    assert res["counted"] == 3 and res["agree"] == 2
    assert abs(res["share"] - 2 / 3) < 1e-12
    assert res["disagree"] == ["C-FLIP"]
    assert res["changed_not_counted"] == ["C-FEW", "C-ONLY-A"]
    rows = {r["id"]: r for r in res["criteria"]}
    assert rows["C-COUNT"]["not_counted"] == "no interval in either run" and rows["C-COUNT"]["agree"]
    assert rows["C-FEW"]["not_counted"] == "no interval in run A"
    assert rows["C-ONLY-A"]["not_counted"] == "only in run A" and rows["C-ONLY-A"]["b"] is None


def test_identical_reports_agree_fully_and_no_interval_gives_no_share():
    res = agreement(REPORT_A, REPORT_A)
    assert res["share"] == 1.0 and res["disagree"] == []
    none = agreement({"criteria": [crit("X", "INVALID", None, None)]}, {"criteria": [crit("X", "INVALID", None, None)]})
    assert none["counted"] == 0 and none["share"] is None


def test_non_degenerate():
    assert non_degenerate(crit("X", "INCONCLUSIVE", -1.0, 1.0))
    assert not non_degenerate(crit("X", "PASS", 0.5, 0.5))
    assert not non_degenerate(crit("X", "INVALID", -1.0, 1.0))
    assert not non_degenerate(crit("X", "PASS", float("-inf"), 1.0))
    assert not non_degenerate(crit("X", "PASS", "nope", 1.0))


def _run_dir(path, report: dict | None, center: int):
    path.mkdir()
    save([MetricRecord("bench.orders.pipeline", b, "ns/op", [center + i for i in range(40)]) for b in ("baseline", "clocked")],
         path)
    if report is not None:
        (path / "report.json").write_text(json.dumps(report))
    return path


def test_compare_prints_the_verdict_section_and_its_json(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", REPORT_A, 10_000)
    b = _run_dir(tmp_path / "b", REPORT_B, 10_100)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "verdicts: 2 of 3 agree (67%)" in out
    assert "C-FLIP" in out and "DIFFERS" in out
    assert main(["compare", str(a), str(b), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["verdicts"]["counted"] == 3 and d["verdicts"]["disagree"] == ["C-FLIP"]
    assert {c["metric"] for c in d["changes"]} == {"bench.orders.pipeline"}


def test_compare_without_reports_says_the_verdicts_were_not_compared(tmp_path, capsys):
    a = _run_dir(tmp_path / "a", REPORT_A, 10_000)
    b = _run_dir(tmp_path / "b", None, 10_000)
    assert main(["compare", str(a), str(b)]) == 0
    assert "verdicts: not compared" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdicts"] is None
