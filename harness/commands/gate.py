"""``clockbench gate RUN --baseline RUN_B --max-regression 5%``: the plan's automated rollback
trigger. Exits 1 when a metric got worse beyond the threshold, with this machine's run-to-run
noise counted and the family-wise false-alarm rate over every checked metric held at 5% (Holm).

What is checked: for a paired metric, the clocked/baseline ratio (the machine's drift cancels in
it) and the clocked build's own level; for an unpaired one, the clocked build's level. Reference,
A/A and pooled records are shown by ``compare`` but never checked, nor is a metric whose
definition version differs between the runs (it is listed as refused). A record that carries its
repeats is judged per repeat (``compare.run_level``); where it has fewer than ``stats.MIN_PAIRS``
repeats, or carries them in one run only, its clocked level has no interval and is listed as
refused too. Where a CPU-bound
microbenchmark's instructions were counted in both runs (``instr.*``), they decide and its wall
time is reported only, unless ``--wall-time``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from harness import stats
from harness.errors import UsageError
from harness.commands.compare import (DEFINITION_DIFFERS, RELATIVE, Change, add_calibration_option, compare, load_any,
                                      load_calibration)

ALPHA = 0.05


def parse_pct(text: str) -> float:
    """"5%" -> 0.05. A bare number is refused: "5" used to be read as 500%."""
    t = text.strip()
    if not t.endswith("%"):
        raise UsageError(f"--max-regression: {text!r} has no % sign; write it as a percentage such as 5%")
    try:
        v = float(t[:-1]) / 100
    except ValueError:
        raise UsageError(f"--max-regression: {text!r} is not a percentage such as 5%") from None
    if not 0 <= v < 10 or not math.isfinite(v):
        raise UsageError(f"--max-regression: {text!r} is out of range (0% to 1000%)")
    return v


def checked(c: Change, paired: set[str] = frozenset(), wall_time: bool = False) -> bool:  # type: ignore[assignment]
    """Whether the gate judges this row (see the module docstring). The level of a paired metric
    is judged only with a calibration: whole runs shift on a shared machine (the same commit's
    clocked level moved 3-12x between two runs here), and only the calibration counts that; its
    clocked/baseline ratio, where the shift cancels, is judged either way."""
    if c.reference or c.build not in (RELATIVE, "clocked") or c.log_change is None:
        return False
    if c.decided_by and not wall_time:
        return False  # its instruction count is gated instead (compare.mark_instruction_decided)
    if c.se is None or c.se <= 0 or c.df is None:
        return False
    return not (c.build == "clocked" and c.metric in paired and not c.calibrated)


def paired_metrics(changes: list[Change]) -> set[str]:
    return {c.metric for c in changes if c.build == RELATIVE and c.log_change is not None}


def regressions(changes: list[Change], max_regression: float, alpha: float = ALPHA,
                wall_time: bool = False) -> list[tuple[Change, float, float]]:
    """(change, worsening, p) of each checked metric that Holm's procedure finds worse than
    ``max_regression``, over all checked metrics at family-wise level ``alpha``."""
    paired = paired_metrics(changes)
    rows = [c for c in changes if checked(c, paired, wall_time)]
    ps = [c.p_worse_than(max_regression) for c in rows]
    out = []
    for c, p, reject in zip(rows, ps, stats.holm(ps, alpha)):
        if reject:
            w = c.worsening
            out.append((c, w[0] if w else math.nan, p))
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="exit non-zero if RUN regressed against a baseline run beyond a threshold and the noise",
                       description="Compares RUN with --baseline (run directories, metrics.json or pytest-benchmark "
                                   "JSON) and exits 1 when a metric got worse by more than --max-regression, tested "
                                   "per metric against this machine's run-to-run noise (the calibration file of "
                                   "`clockbench calibrate`) with Holm's correction over every checked metric, so "
                                   "the chance of any false alarm is at most 5%. Checked: clocked/baseline ratios "
                                   "of paired metrics and the clocked build's levels; never reference, A/A or pooled "
                                   "records, nor metrics whose definition changed between the runs.")
    p.add_argument("run", type=Path, metavar="RUN")
    p.add_argument("--baseline", type=Path, required=True, metavar="RUN_B")
    p.add_argument("--max-regression", default="5%", help="largest tolerated worsening, with a %% sign (default 5%%)")
    add_calibration_option(p)
    p.add_argument("--wall-time", action="store_true",
                   help="also gate the wall time of microbenchmarks whose instructions were counted (by default "
                        "their instruction counts decide: wall time on a shared machine moves by several percent "
                        "between runs; instructions miss waiting, cache effects and the clock's hardware cost)")
    p.add_argument("--allow-planted", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def gate(base, new, limit: float, cal, allow_planted: bool = False,
         wall_time: bool = False) -> tuple[list[Change], list, list[Change], list[Change], list[str]]:
    """(checked rows, regressions, refused rows, levels not gated, microbenchmarks whose instruction
    count decides instead of their wall time). Pure apart from the records given."""
    changes = compare(base, new, cal=cal)
    planted = sorted({c.planted for c in changes if c.planted})
    if planted and not allow_planted:
        raise UsageError(f"a run carries a planted slowdown ({', '.join(planted)}): it was made by `clockbench calibrate` "
                         "to test the gate, and is never gated")
    paired = paired_metrics(changes)
    rows = [c for c in changes if checked(c, paired, wall_time)]
    skipped = [c for c in changes if c.build == "clocked" and c.metric in paired and not c.calibrated
               and not c.reference and c.log_change is not None and (wall_time or not c.decided_by)]
    refused = [c for c in changes if c.refused == DEFINITION_DIFFERS or (
        c.refused and c.build == "clocked" and not c.reference)]
    for c in skipped:
        c.note = "level not gated: uncalibrated (the ratio row is)"
    by_instr = [] if wall_time else sorted({c.metric for c in changes if c.decided_by})
    return rows, regressions(changes, limit, wall_time=wall_time), refused, skipped, by_instr


def run(args: argparse.Namespace) -> int:
    limit = parse_pct(args.max_regression)
    cal = load_calibration(args.calibration)
    base, new = load_any(args.baseline), load_any(args.run)
    rows, bad, refused, skipped, by_instr = gate(base, new, limit, cal, args.allow_planted, args.wall_time)
    for c in refused:
        print(f"REFUSED {c.metric} ({c.build}): {c.note}")
    if not rows:
        why = sorted({c.refused for c in refused})
        raise UsageError("no metric could be compared between the two runs" + (
            f" ({len(refused)} refused: {'; '.join(why)})" if refused else ""))
    for c, w, p in bad:
        print(f"REGRESSION {c.metric} ({c.build}): {w * 100:+.1f}% worse, 95% CI of B/A [{c.ci_low:.3f}, {c.ci_high:.3f}], "
              f"p = {p:.2g} for 'worse than {limit * 100:g}%' (Holm over {len(rows)} metrics)")
    uncal = sum(1 for c in rows if not c.calibrated)
    print(f"calibration: {cal.describe() if cal else 'none for this machine (run clockbench calibrate)'}"
          + (f"; {uncal} of {len(rows)} checked metric(s) uncalibrated: between-run variation not counted" if uncal else ""))
    if by_instr:
        print(f"{len(by_instr)} microbenchmark(s) gated by instruction count, their wall time reported only "
              f"(--wall-time gates it too): {', '.join(by_instr)}")
    if skipped:
        print(f"{len(skipped)} clocked level(s) of paired metrics not gated: uncalibrated, and whole runs shift on this "
              "machine (their clocked/baseline ratios are gated)")
    print(f"gate: {len(rows)} metric(s) checked, {len(bad)} regression(s) beyond {limit * 100:g}% "
          f"(family-wise false-alarm rate held at {ALPHA:.0%} by Holm)")
    return 1 if bad else 0
