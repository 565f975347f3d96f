"""``clockbench compare RUN_A RUN_B``: every metric's change B/A between two runs, with its 95% CI.

A run is a run directory (its metrics.json), a metrics.json file, or a pytest-benchmark JSON file
(``clockbench bench`` output, or any ``--benchmark-json``): two commits, two machines, two flag sets.

Runs, not rounds: each run contributes one run-level estimate per metric (the geometric mean of
its per-pair values; for a record that carries its repeats, ``results.REPEATS``, the geometric mean
of the per-repeat medians, its spread taken over the repeats, not over values pooled as if
independent; else the log of its median), and the interval of B/A counts how much whole
runs of the same commit differ on this machine, from the calibration file (``clockbench
calibrate``), not only each run's own spread. Where both builds were measured in pairs, the
clocked/baseline ratio of each run is compared too ("clocked/baseline" rows): the machine's
drift cancels in it, so it is the sharpest test of a change to the clocked build. Pooled rounds
(``<metric>.rounds``) are never compared; a metric whose definition version differs between the
runs is refused.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness import calibration, results, stats
from harness.report import agreement
from harness.errors import UsageError

STAT = "median"
RELATIVE = "clocked/baseline"
# Why a row is refused (Change.refused): the gate lists these rows instead of checking them.
DEFINITION_DIFFERS = "their definitions differ"
TOO_FEW_REPEATS = "too few repeats for an interval"
REPEATS_IN_ONE_RUN = "repeats in one run only"


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
    log_change: float | None = None  # log(b / a)
    se: float | None = None  # of log_change
    df: float | None = None
    calibrated: bool = False
    reference: bool = False  # a reference, A/A or pooled record: shown, never gated
    planted: str = ""
    decided_by: str = ""  # a wall-time row whose instruction count (this metric) decides instead
    floored: bool = False  # the interval is set by the instruction-count noise floor (calibration.floor_sd)
    refused: str = ""  # why no interval could be given (DEFINITION_DIFFERS, TOO_FEW_REPEATS, REPEATS_IN_ONE_RUN)


    @property
    def worsening(self) -> tuple[float, float, float] | None:
        """How much worse B is than A, as a fraction (point, low, high); negative: B is better."""
        if self.ratio is None or self.ci_low is None or self.ci_high is None:
            return None
        if self.lower_is_better:
            return self.ratio - 1, self.ci_low - 1, self.ci_high - 1
        return 1 / self.ratio - 1, 1 / self.ci_high - 1, 1 / self.ci_low - 1

    def p_worse_than(self, limit: float) -> float:
        """One-sided p-value of "B is worse than A by more than ``limit`` (a fraction)": small when
        the run-level worsening is clearly beyond it. 1.0 when nothing was compared."""
        if self.log_change is None or not self.se or self.df is None:
            return 1.0
        w = self.log_change if self.lower_is_better else -self.log_change
        t = (w - math.log1p(limit)) / self.se
        return 1.0 - stats.t_cdf(t, self.df)


WALL, INSTR = "bench.", "instr."


def instruction_twin(metric: str) -> str:
    """The instruction-count metric of a CPU-bound microbenchmark's wall time ('' for others)."""
    return INSTR + metric[len(WALL):] if metric.startswith(WALL) else ""


def mark_instruction_decided(changes: list[Change]) -> None:
    """Where a microbenchmark's instruction count was compared in both runs (it is counted only for
    the CPU-bound ones: harness/measure/instructions.py), its row decides, not the wall time: on a
    shared machine whole runs' wall-time ratios move by several percent (calibrate measured a
    run-to-run sd of 5.8% for the OMS submit), instruction counts by hundredths of a percent. The
    wall-time rows stay in the table, marked. Instructions are blind to waiting, cache misses and
    the hardware cost of a clock read, which is why only CPU-bound benchmarks have them."""
    compared = {(c.metric, c.build) for c in changes if c.log_change is not None and c.se}
    for c in changes:
        twin = instruction_twin(c.metric)
        if twin and (twin, c.build) in compared:
            c.decided_by = twin
            c.note = (c.note + "; " if c.note else "") + f"wall time, reported: {twin} decides"


def load_any(path: Path) -> list[results.MetricRecord]:
    """Records from a run directory, a metrics.json, or a pytest-benchmark JSON file."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        if (path / results.METRICS_FILE).exists():
            return results.load(path)
        if (path / "microbench.json").exists():
            return _from_bench_json(path / "microbench.json")
        raise UsageError(f"{path} has neither {results.METRICS_FILE} nor microbench.json: not a clockbench run")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None
    if isinstance(data, dict) and "benchmarks" in data:
        return _from_bench_json(path)
    try:
        return results.load(path)
    except results.RecordError as exc:
        raise UsageError(str(exc)) from None


def _from_bench_json(path: Path) -> list[results.MetricRecord]:
    data = json.loads(Path(path).read_text())
    if data.get("clockbench_pairs"):
        from harness.measure import pairing

        return pairing.records_from_json(path)
    return results.from_pytest_benchmark(path)


def _excluded(r: results.MetricRecord) -> bool:
    return bool(r.extra.get("pooled")) or r.build in ("reference", "aa")


def run_level(r: results.MetricRecord, seed: int) -> tuple[float, float, int]:
    """(log estimate, its standard error within the run, n): the geometric mean of paired values;
    for samples that carry their repeats, the geometric mean of the per-repeat medians (n: the
    repeats; stats.TooFewRepeats below ``stats.MIN_PAIRS`` of them, as in the verdicts); else the
    log of the median of independent samples (its SE from a seeded bootstrap)."""
    v = np.asarray(r.values, dtype=float)
    if (v <= 0).any():
        raise ValueError("zero or negative values: no ratio")
    if r.kind == "rounds":
        return _mean_log(v)
    groups = results.repeat_groups(r)
    if groups is not None:
        return _mean_log(per_repeat(groups))
    est = math.log(stats.point(STAT, v))
    if v.size < 2:
        return est, math.nan, 1
    boots = stats.replicates(STAT, v, 400, np.random.default_rng(seed))
    return est, float(np.log(boots).std(ddof=1)), int(v.size)


def _mean_log(v: np.ndarray) -> tuple[float, float, int]:
    logs = np.log(v)
    se = float(logs.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
    return float(logs.mean()), se, int(v.size)


def per_repeat(groups: list[list[int]]) -> np.ndarray:
    """The median of each repeat. The values of one repeat share its moment on the machine, so they
    are not independent: the run's spread is its repeats' spread, as in the verdicts
    (harness/report/verdict.py, ``_judge_repeats``). Below ``stats.MIN_PAIRS`` repeats: TooFewRepeats."""
    if len(groups) < stats.MIN_PAIRS:
        raise stats.TooFewRepeats(f"{len(groups)} repeat(s); its {STAT} is taken per repeat, and an interval over "
                                  f"the repeats needs at least {stats.MIN_PAIRS}")
    empty = [i + 1 for i, g in enumerate(groups) if not g]
    if empty:
        raise stats.TooFewRepeats(f"repeat {empty[0]} of {len(groups)} has no value; its {STAT} is taken per repeat")
    return np.asarray([stats.point(STAT, g) for g in groups], dtype=float)


def _interval(ch: Change, la: float, sa: float, na: int, lb: float, sb: float, nb: int,
              cal: calibration.Calibration | None, confidence: float) -> None:
    d = lb - la
    within = (sa**2 if math.isfinite(sa) else math.nan) + (sb**2 if math.isfinite(sb) else math.nan)
    cv = cal.variance(ch.metric, ch.build) if cal is not None else None
    if cv is not None:
        # the calibration measured how run-level estimates of one commit spread, each run's own
        # noise included: two runs differ with twice that variance (not plus the within-run
        # spread, which would count that noise twice)
        var, k = cv
        ch.se, ch.df, ch.calibrated = math.sqrt(2 * var), float(k - 1), True
        if math.isfinite(within) and within > 4 * 2 * var:
            ch.note = "these runs are much noisier than the calibration's: its interval is too narrow for them"
    elif math.isfinite(within) and min(na, nb) >= 2:
        ch.se, ch.df = math.sqrt(within), float(max(1, min(na, nb) - 1))
        ch.note = ch.note or "uncalibrated: between-run variation not counted (run clockbench calibrate)"
    else:
        ch.note = "a single value per run and no calibration: no interval"
    _apply_floor(ch)
    ch.log_change, ch.ratio = d, math.exp(d)
    if ch.se is not None and ch.df is not None:
        if ch.se == 0:
            ch.ci_low = ch.ci_high = ch.ratio
        else:
            t = stats.t_quantile(0.5 + confidence / 2, ch.df)
            ch.ci_low, ch.ci_high = math.exp(d - t * ch.se), math.exp(d + t * ch.se)


def _apply_floor(ch: Change) -> None:
    """Instruction counts: two runs differ by at least the measured same-commit floor
    (calibration.floor_sd), whatever a calibration of few runs or the runs' own repeats say. Where
    the floor sets the interval, its degrees of freedom are those of the measurement behind it."""
    fl = calibration.floor_sd(ch.metric)
    if not fl or ch.se is None or ch.df is None:
        return
    least = math.sqrt(2) * fl
    if ch.se < least:
        ch.se, ch.df, ch.floored = least, float(max(ch.df, calibration.FLOOR_DF)), True
        ch.note = (ch.note + "; " if ch.note else "") + f"instruction-count noise floor ({fl:.1%} per run)"


def compare(a: list[results.MetricRecord], b: list[results.MetricRecord], resamples: int = 400,
            confidence: float = 0.95, cal: calibration.Calibration | None = None) -> list[Change]:
    """Per metric and build: B's run-level estimate over A's with its interval; per paired metric
    also the change of the clocked/baseline ratio. ``resamples`` is kept for callers (unused)."""
    ia, ib = results.index(a), results.index(b)
    out = []
    for metric in sorted(set(ia) | set(ib)):
        builds = sorted(set(ia.get(metric, {})) | set(ib.get(metric, {})))
        for build in builds:
            ra, rb = ia.get(metric, {}).get(build), ib.get(metric, {}).get(build)
            ref = ra or rb
            ch = Change(metric, build, ref.unit, ref.lower_is_better, None, None, None, None, None)
            ch.reference = _excluded(ref)
            ch.planted = str((ra.extra.get("planted") if ra else "") or (rb.extra.get("planted") if rb else "") or "")
            why, ch.refused = _refusal(ra, rb)
            if why:
                ch.note = why
            elif ch.reference and ref.extra.get("pooled"):
                ch.note = "pooled rounds (a spread statistic's input): not compared"
            else:
                ch.a, ch.b = stats.point(STAT, ra.values), stats.point(STAT, rb.values)
                which = "A"
                try:
                    la, sa, na = run_level(ra, stats.seed_for(metric, build, "a"))
                    which = "B"
                    lb, sb, nb = run_level(rb, stats.seed_for(metric, build, "b"))
                    _interval(ch, la, sa, na, lb, sb, nb, cal, confidence)
                    if results.carries_repeats(ra):
                        ch.note = f"{STAT} per repeat ({na} repeats in A, {nb} in B)" + (f"; {ch.note}" if ch.note else "")
                except stats.TooFewRepeats as exc:
                    ch.note, ch.refused = f"{TOO_FEW_REPEATS}: run {which} has {exc}", TOO_FEW_REPEATS
                except ValueError as exc:
                    ch.note = f"ratio undefined ({exc})"
            out.append(ch)
        rel = _relative(metric, ia.get(metric, {}), ib.get(metric, {}), cal, confidence)
        if rel is not None:
            out.append(rel)
    mark_instruction_decided(out)
    return out


def _refusal(ra: results.MetricRecord | None, rb: results.MetricRecord | None) -> tuple[str, str]:
    """(note, refusal) of a metric the two runs cannot be compared on, else ("", ""); the refusal
    (Change.refused) is set where the gate must list the row rather than pass over it."""
    if ra is None or rb is None:
        return f"only in run {'A' if rb is None else 'B'}", ""
    if not ra.valid or not rb.valid:
        return "invalid: " + (ra.reason if not ra.valid else rb.reason), ""
    if ra.unit != rb.unit:
        return f"units differ ({ra.unit} vs {rb.unit})", ""
    if ra.definition != rb.definition:
        return (f"definition differs (A {ra.definition or 'unversioned'}, B {rb.definition or 'unversioned'}): "
                "what the metric measures changed, not compared"), DEFINITION_DIFFERS
    rep_a, rep_b = results.carries_repeats(ra), results.carries_repeats(rb)
    if rep_a != rep_b:
        return (f"{REPEATS_IN_ONE_RUN} ({'A' if rep_a else 'B'}): its {STAT} is taken per repeat there, "
                "over pooled values in the other, not compared"), REPEATS_IN_ONE_RUN
    return "", ""


def _relative(metric: str, by_a: dict, by_b: dict, cal, confidence: float) -> Change | None:
    """The change of a paired metric's clocked/baseline ratio between the runs."""
    pairs = [(r.get("clocked"), r.get("baseline")) for r in (by_a, by_b)]
    if not all(c is not None and bl is not None and c.kind == bl.kind == "rounds" for c, bl in pairs):
        return None
    (ca, ba), (cb, bb) = pairs
    ch = Change(metric, RELATIVE, "ratio", ca.lower_is_better, None, None, None, None, None)
    ch.planted = str(ca.extra.get("planted") or cb.extra.get("planted") or "")
    why, ch.refused = _refusal(ca, cb)
    if not why:
        why, ch.refused = _refusal(ba, bb)
    if why:
        ch.note = why
        return ch
    try:
        ia, ib = stats.paired_log_ratio(ca.values, ba.values), stats.paired_log_ratio(cb.values, bb.values)
    except ValueError as exc:  # TooFew included
        ch.note = f"no paired ratio: {exc}"
        return ch
    ch.a, ch.b = ia.estimate, ib.estimate
    _interval(ch, math.log(ia.estimate), ia.se, ia.n, math.log(ib.estimate), ib.se, ib.n, cal, confidence)
    return ch


def table(changes: list[Change]) -> str:
    rows = [("metric", "build", "A", "B", "B/A", "95% CI", "note")]
    for c in changes:
        f = (lambda v: "-" if v is None or not math.isfinite(v) else f"{v:,.4g}")
        ci = f"[{c.ci_low:.3f}, {c.ci_high:.3f}]" if c.ci_low is not None and math.isfinite(c.ci_low) else "-"
        unit = "" if c.unit == "ratio" else f" {c.unit}"
        note = c.note + (" [calibrated]" if c.calibrated else "") + (f" [PLANTED {c.planted}]" if c.planted else "")
        rows.append((c.metric, c.build, f(c.a) + unit if c.a is not None else "-",
                     f(c.b) + unit if c.b is not None else "-",
                     f"{c.ratio:.3f}x" if c.ratio is not None else "-", ci, note.strip()))
    w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(x.ljust(k) for x, k in zip(r, w)).rstrip() for r in rows)


def add_calibration_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration", type=Path, metavar="FILE",
                   help="calibration file (default: this machine's, reports/calibration/<machine>.json, if it exists)")


def load_calibration(path: Path | None) -> calibration.Calibration | None:
    try:
        return calibration.load(path)
    except calibration.CalibrationError as exc:
        raise UsageError(str(exc)) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="every metric's change between two runs, with its 95%% CI",
                       description="Compares two runs (run directories, metrics.json or pytest-benchmark JSON "
                                   "files): per metric and build, B's run-level estimate over A's with a 95% CI "
                                   "that counts this machine's run-to-run variation (from `clockbench calibrate`); "
                                   "for paired metrics also the change of the clocked/baseline ratio. Below 1.000x "
                                   "a time got shorter. Metrics whose definition changed are refused. Where a "
                                   "CPU-bound microbenchmark's instructions were counted (instr.*), that row decides "
                                   "and its wall-time row is marked as reported only. Where both runs have a report.json, "
                                   "a verdicts section follows: each criterion's two verdicts and the share that agree "
                                   "among those both runs judged from a non-degenerate interval.")
    p.add_argument("run_a", type=Path, metavar="RUN_A")
    p.add_argument("run_b", type=Path, metavar="RUN_B")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    add_calibration_option(p)
    p.set_defaults(func=run)


def _report_of(path: Path) -> dict | None:
    """The report.json of a run directory (or beside a metrics.json), None when there is none."""
    path = Path(path)
    p = path / "report.json" if path.is_dir() else path.parent / "report.json"
    if not path.is_dir() and path.name != results.METRICS_FILE or not p.exists():
        return None
    try:
        d = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p} is not JSON: {exc}") from None
    return d if isinstance(d, dict) and isinstance(d.get("criteria"), list) else None


def verdicts(path_a: Path, path_b: Path) -> dict | None:
    """The verdict-agreement section (harness/report/agreement.py) when both runs have a report."""
    ra, rb = _report_of(path_a), _report_of(path_b)
    if ra is None or rb is None:
        return None
    return agreement.agreement(ra, rb)


def run(args: argparse.Namespace) -> int:
    cal = load_calibration(args.calibration)
    changes = compare(load_any(args.run_a), load_any(args.run_b), cal=cal)
    if not changes:
        raise UsageError("the two runs have no metric in common")
    ver = verdicts(args.run_a, args.run_b)
    if args.json:
        print(json.dumps({"changes": [asdict(c) for c in changes], "verdicts": ver}, indent=1))
    else:
        print(f"A = {args.run_a}\nB = {args.run_b}")
        print(f"calibration: {cal.describe() if cal else 'none for this machine (run clockbench calibrate): intervals count each run’s own spread only'}\n")
        print(table(changes))
        print("\n" + (agreement.summary(ver) if ver is not None else
                      "verdicts: not compared (a report.json in both runs is needed; `clockbench run` writes it)"))
    return 0
