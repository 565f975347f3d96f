"""``clockbench gate RUN --baseline RUN_B --max-regression 5%``: the plan's automated rollback
trigger. Exits 1 when a metric got worse beyond both the threshold and the noise floor."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from harness import results
from harness.errors import UsageError
from harness.commands.compare import Change, compare, load_any
from harness.report import stats


def parse_pct(text: str) -> float:
    t = text.strip()
    try:
        v = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise UsageError(f"--max-regression: {text!r} is not a percentage such as 5% or 0.05") from None
    if not 0 <= v < 10:
        raise UsageError(f"--max-regression: {text!r} is out of range")
    return v


def noise_floor(records: list[results.MetricRecord], metric: str, build: str) -> float:
    """A/A noise of a metric: how far a second run of the same build ("aa") sits from it, if the
    run measured one; otherwise 0 (the CI alone then carries the noise)."""
    by = results.index(records).get(metric, {})
    aa, same = by.get("aa"), by.get(build)
    if aa is None or same is None or not aa.valid or not same.valid or build == "aa":
        return 0.0
    x, y = stats.point("median", aa.values), stats.point("median", same.values)
    return abs(x / y - 1) if y else math.inf


def regressions(changes: list[Change], max_regression: float, base: list[results.MetricRecord],
                new: list[results.MetricRecord]) -> list[tuple[Change, float, float]]:
    """(change, worsening, noise) for each metric worse beyond the threshold and the noise: the
    whole CI of the worsening above ``max_regression``, and its estimate above the A/A floor."""
    out = []
    for c in changes:
        w = c.worsening
        if w is None or c.build == "aa":
            continue
        point, low, _ = w
        noise = max(noise_floor(base, c.metric, c.build), noise_floor(new, c.metric, c.build))
        if math.isfinite(low) and low > max_regression and point > noise:
            out.append((c, point, noise))
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gate", help="exit non-zero if RUN regressed against a baseline run beyond a threshold and the noise",
                       description="Compares RUN with --baseline (run directories, metrics.json or pytest-benchmark "
                                   "JSON) and exits 1 when any metric got worse by more than --max-regression with its "
                                   "whole 95% CI, and by more than the A/A noise floor where the runs measured one.")
    p.add_argument("run", type=Path, metavar="RUN")
    p.add_argument("--baseline", type=Path, required=True, metavar="RUN_B")
    p.add_argument("--max-regression", default="5%", help="largest tolerated worsening (default 5%%)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    limit = parse_pct(args.max_regression)
    base, new = load_any(args.baseline), load_any(args.run)
    changes = compare(base, new)
    compared = [c for c in changes if c.worsening is not None]
    if not compared:
        raise UsageError("no metric could be compared between the two runs")
    bad = regressions(changes, limit, base, new)
    for c, w, noise in bad:
        print(f"REGRESSION {c.metric} ({c.build}): {w * 100:+.1f}% worse, 95% CI of the ratio "
              f"[{c.ci_low:.3f}, {c.ci_high:.3f}], threshold {limit * 100:.1f}%, noise floor {noise * 100:.1f}%")
    print(f"gate: {len(compared)} metric(s) compared, {len(bad)} regression(s) beyond {limit * 100:.1f}% and the noise")
    return 1 if bad else 0
