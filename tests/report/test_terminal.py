"""The terminal summary: one aligned line per criterion, in a stable order, within the terminal's width."""

from __future__ import annotations

from harness.report import terminal
from harness.report.verdict import Judgement


def _j(cid: str, phase: int, verdict: str, change=None, lo=None, hi=None, reason="r") -> Judgement:
    return Judgement(cid, phase, "x", "s", "statement", "", ["m"], "median", "improvement", ">=", 0.3, "ns",
                     1.0, 1.0, change, lo, hi, verdict, reason)


def test_order_is_stable_and_lines_fit():
    js = [_j("B-2", 1, "FAIL", -0.1, -0.2, 0.0), _j("A-1", 1, "PASS", 0.5, 0.4, 0.6), _j("Z-0", 0, "NOT MEASURED", reason="x" * 300),
          _j("C-3", 2, "INCONCLUSIVE", 0.2, -0.1, 0.5)]
    lines = terminal.summary(js, width=80)
    again = terminal.summary(list(reversed(js)), width=80)
    assert lines == again
    assert all(len(line) <= 80 for line in lines)
    body = [line for line in lines if line.startswith("  ")]
    assert [line[15:].split()[0] for line in body] == ["A-1", "B-2", "C-3", "Z-0"]
    assert "+50.0%  [+40.0%, +60.0%]  goal >= +30.0%" in body[0]
    assert lines[-1] == "1 PASS, 1 FAIL, 1 INCONCLUSIVE, 1 NOT MEASURED"
