"""``clockbench compare RUN_A RUN_B``: every metric's ratio B/A with its 95% bootstrap CI.

A run is a run directory (its metrics.json), a metrics.json file, or a pytest-benchmark JSON file
(``clockbench bench`` output, or any ``--benchmark-json``): two commits, two machines, two flag sets.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness import results
from harness.errors import UsageError
from harness.report import stats

STAT = "median"


@dataclass
class Change:
    metric: str
    build: str
    unit: str
    lower_is_better: bool
    a: float | None
    b: float | None
    ratio: float | None  # b / a
    ci_low: float | None
    ci_high: float | None
    note: str = ""

    @property
    def worsening(self) -> tuple[float, float, float] | None:
        """How much worse B is than A, as a fraction (point, low, high); negative: B is better."""
        if self.ratio is None or self.ci_low is None or self.ci_high is None:
            return None
        if self.lower_is_better:
            return self.ratio - 1, self.ci_low - 1, self.ci_high - 1
        return 1 - self.ratio, 1 - self.ci_high, 1 - self.ci_low


def load_any(path: Path) -> list[results.MetricRecord]:
    """Records from a run directory, a metrics.json, or a pytest-benchmark JSON file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        if (path / results.METRICS_FILE).exists():
            return results.load(path)
        if (path / "microbench.json").exists():
            return results.from_pytest_benchmark(path / "microbench.json")
        raise UsageError(f"{path} has neither {results.METRICS_FILE} nor microbench.json: not a clockbench run")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict) and "benchmarks" in data:
        return results.from_pytest_benchmark(path)
    try:
        return results.load(path)
    except results.RecordError as exc:
        raise UsageError(str(exc)) from None


def compare(a: list[results.MetricRecord], b: list[results.MetricRecord], resamples: int = 2000,
            confidence: float = 0.95) -> list[Change]:
    ia, ib = results.index(a), results.index(b)
    out = []
    for metric in sorted(set(ia) | set(ib)):
        for build in sorted(set(ia.get(metric, {})) | set(ib.get(metric, {}))):
            ra, rb = ia.get(metric, {}).get(build), ib.get(metric, {}).get(build)
            ref = ra or rb
            ch = Change(metric, build, ref.unit, ref.lower_is_better, None, None, None, None, None)
            if ra is None or rb is None:
                ch.note = f"only in run {'A' if rb is None else 'B'}"
            elif not ra.valid or not rb.valid:
                ch.note = "invalid: " + (ra.reason if not ra.valid else rb.reason)
            elif ra.unit != rb.unit:
                ch.note = f"units differ ({ra.unit} vs {rb.unit})"
            else:
                ch.a, ch.b = stats.point(STAT, ra.values), stats.point(STAT, rb.values)
                if ch.a > 0 and ch.b >= 0:
                    ch.ratio = ch.b / ch.a
                    rng = np.random.default_rng(stats.seed_for(metric, build))
                    with np.errstate(divide="ignore", invalid="ignore"):
                        boots = stats.replicates(STAT, rb.values, resamples, rng) / stats.replicates(STAT, ra.values, resamples, rng)
                    ch.ci_low, ch.ci_high = stats.interval(boots, confidence)
                    if ra.n < 2 or rb.n < 2:
                        ch.note = "a single value per run: no interval, no noise estimate"
                else:
                    ch.note = "ratio undefined (zero in run A)"
            out.append(ch)
    return out


def table(changes: list[Change]) -> str:
    rows = [("metric", "build", "A", "B", "B/A", "95% CI", "note")]
    for c in changes:
        f = (lambda v: "-" if v is None or not math.isfinite(v) else f"{v:,.4g}")
        ci = f"[{c.ci_low:.3f}, {c.ci_high:.3f}]" if c.ci_low is not None and math.isfinite(c.ci_low) else "-"
        rows.append((c.metric, c.build, f(c.a) + f" {c.unit}" if c.a is not None else "-",
                     f(c.b) + f" {c.unit}" if c.b is not None else "-",
                     f"{c.ratio:.3f}x" if c.ratio is not None else "-", ci, c.note))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(x.ljust(k) for x, k in zip(r, w)).rstrip() for r in rows)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="every metric's ratio between two runs, with its 95%% CI",
                       description="Compares two runs (run directories, metrics.json or pytest-benchmark JSON "
                                   "files): per metric and build, the median of B over the median of A with a "
                                   "bootstrap CI. Below 1.000x a time got shorter.")
    p.add_argument("run_a", type=Path, metavar="RUN_A")
    p.add_argument("run_b", type=Path, metavar="RUN_B")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    changes = compare(load_any(args.run_a), load_any(args.run_b))
    if not changes:
        raise UsageError("the two runs have no metric in common")
    if args.json:
        print(json.dumps([asdict(c) for c in changes], indent=1))
    else:
        print(f"A = {args.run_a}\nB = {args.run_b}\n")
        print(table(changes))
    return 0
