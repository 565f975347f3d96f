"""Verdicts, as pure functions: PASS / FAIL / INCONCLUSIVE from a 95% CI against the threshold,
INVALID and NOT MEASURED with a reason. Never a verdict from a point estimate alone."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from harness.report import stats
from harness.report.criteria import ROOT, Criterion
from harness.results import MetricRecord

PASS, FAIL, INCONCLUSIVE, INVALID, NOT_MEASURED = "PASS", "FAIL", "INCONCLUSIVE", "INVALID", "NOT MEASURED"
VERDICTS = (PASS, FAIL, INCONCLUSIVE, INVALID, NOT_MEASURED)
NOT_BUILT = "component not built yet"


def from_interval(low: float, high: float, threshold: float, direction: str) -> str:
    """PASS when the whole interval clears the threshold (touching it counts as clearing: the
    plan says "30%+"), FAIL when the whole interval misses it, INCONCLUSIVE when it straddles."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("a verdict needs a finite confidence interval")
    if low > high:
        raise ValueError(f"confidence interval is reversed: {low} > {high}")
    if direction == ">=":
        if low >= threshold:
            return PASS
        if high < threshold:
            return FAIL
        return INCONCLUSIVE
    if direction == "<=":
        if high <= threshold:
            return PASS
        if low > threshold:
            return FAIL
        return INCONCLUSIVE
    raise ValueError(f"direction must be '>=' or '<=', not {direction!r}")


@dataclass
class Judgement:
    id: str
    phase: int
    component: str
    section: str
    statement: str
    definition: str
    metrics: list[str]
    statistic: str
    compare: str
    direction: str
    threshold: float | None
    unit: str
    baseline: float | None
    clocked: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    reason: str
    n_baseline: int = 0
    n_clocked: int = 0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("baseline", "clocked", "change", "ci_low", "ci_high", "threshold"):
            v = d[k]
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d


def _blank(c: Criterion, verdict: str, reason: str, unit: str = "") -> Judgement:
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), c.statistic,
        c.compare, c.direction, None if c.not_measurable else c.threshold, unit,
        None, None, None, None, None, verdict, reason,
    )


def _note_for(metric: str, notes: dict[str, str]) -> str:
    """The producer's explanation for a metric prefix (longest matching prefix)."""
    best = ""
    for prefix in notes:
        if (metric == prefix or metric.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return notes[best] if best else ""


def display_unit(stat: str, unit: str) -> str:
    if stat.startswith("share_le:") or stat == "iqr_rel":
        return "share" if stat.startswith("share_le:") else "ratio"
    if unit == "ppm":
        return "share"
    return unit


def _scale(stat: str, unit: str) -> float:
    """ppm values read as fractions (shares) except where the statistic already is one."""
    if unit == "ppm" and not (stat.startswith("share_le:") or stat == "iqr_rel"):
        return 1e-6
    return 1.0


def lower_is_better(stat: str, record: MetricRecord) -> bool:
    if stat.startswith("share_le:"):
        return False
    if stat == "iqr_rel":
        return True
    return record.lower_is_better


def judge(
    c: Criterion,
    index: dict[str, dict[str, MetricRecord]],
    *,
    notes: dict[str, str] | None = None,
    root: Path = ROOT,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> Judgement:
    """The verdict of one criterion from the run's records (``{metric: {build: record}}``)."""
    notes = notes or {}
    if c.not_measurable:
        return _blank(c, NOT_MEASURED, f"not measurable here: {c.reason}")
    missing = c.missing_components(root)
    if missing:
        return _blank(c, NOT_MEASURED, f"{NOT_BUILT}: {', '.join(missing)} does not exist")
    need = ("clocked",) if c.compare == "absolute" else ("clocked", "baseline")
    recs: list[dict[str, MetricRecord]] = []
    for m in c.metrics:
        by_build = index.get(m, {})
        for b in need:
            r = by_build.get(b)
            if r is None:
                why = _note_for(m, notes) or "no producer in this run wrote it"
                return _blank(c, NOT_MEASURED, f"no {b} measurement of {m}: {why}")
            if not r.valid:
                return _blank(c, INVALID, f"{m} ({b}) is invalid: {r.reason}", r.unit)
        recs.append({b: by_build[b] for b in need})
    unit = display_unit(c.statistic, recs[0]["clocked"].unit)
    try:
        j = _compute(c, recs, unit, resamples, confidence)
    except ValueError as exc:
        return _blank(c, INVALID, f"cannot compute the statistic: {exc}", unit)
    if c.compare == "absolute":
        return _with_baseline_context(c, j, index, unit, resamples, confidence)
    if j.ci_low is None:
        return j
    # A/A noise floor: where the run measured a second baseline ("aa"), judge it against the
    # baseline exactly as the clocked build is judged; how far that change reaches from zero is
    # the noise any real change must clear, and the interval is widened by it on both sides.
    aa = [index.get(m, {}).get("aa") for m in c.metrics]
    if not all(r is not None and r.valid for r in aa):
        return j
    try:
        a = _compute(c, [{"clocked": r, "baseline": p["baseline"]} for r, p in zip(aa, recs)], unit, resamples, confidence)
    except ValueError:
        return j
    noise = max(abs(x) for x in (a.change, a.ci_low, a.ci_high))
    return widen(j, c, noise, unit)


def _compute(c: Criterion, recs: list[dict[str, MetricRecord]], unit: str, resamples: int, confidence: float) -> Judgement:
    rng = np.random.default_rng(stats.seed_for(c.id, *c.metrics))
    if c.statistic == "rounds":
        return _judge_rounds(c, recs, unit, resamples, confidence)
    return _judge_samples(c, recs, unit, rng, resamples, confidence)


def widen(j: Judgement, c: Criterion, noise: float, unit: str) -> Judgement:
    """The judgement with its interval widened by an A/A noise floor (in the change's units) and
    the verdict taken again from the widened interval: a change within the noise of the threshold
    is INCONCLUSIVE however narrow its own interval."""
    if not math.isfinite(noise):
        j.details["aa_noise"] = None
        j.verdict, j.reason = INCONCLUSIVE, "the A/A pair (baseline against itself) gave no finite noise floor"
        return j
    low, high = j.ci_low - noise, j.ci_high + noise
    j.details.update(aa_noise=noise, ci_before_noise=[j.ci_low, j.ci_high])
    j.ci_low, j.ci_high = low, high
    j.verdict = from_interval(low, high, c.threshold, c.direction)
    j.reason = _reason(j.verdict, c, low, high, unit) + f" (CI widened by the A/A noise floor ±{fmt_abs(noise, c, unit)})"
    return j


def fmt_abs(x: float, c: Criterion, unit: str) -> str:
    s = fmt(x, c, unit)
    return s[1:] if s.startswith("+") else s


def _check_n(c: Criterion, r: MetricRecord) -> None:
    if r.n < 2 and r.unit != "count":
        raise ValueError(f"{r.metric} ({r.build}) has {r.n} value(s); a confidence interval needs at least 2")


def _judge_samples(c, recs, unit, rng, resamples, confidence) -> Judgement:
    stat = c.statistic
    changes_point: list[float] = []
    change_boots: list[np.ndarray] = []
    base_pts: list[float] = []
    clk_pts: list[float] = []
    details: dict = {}
    for pair in recs:
        clk = pair["clocked"]
        _check_n(c, clk)
        scale = _scale(stat, clk.unit)
        cp = stats.point(stat, clk.values) * scale
        cb = stats.replicates(stat, clk.values, resamples, rng) * scale
        clk_pts.append(cp)
        if c.compare == "absolute":
            changes_point.append(cp)
            change_boots.append(cb)
            details[clk.metric] = {"clocked": cp, "n_clocked": clk.n}
            continue
        base = pair["baseline"]
        _check_n(c, base)
        if base.unit != clk.unit:
            raise ValueError(f"{clk.metric}: baseline in {base.unit}, clocked in {clk.unit}")
        bp = stats.point(stat, base.values) * scale
        bb = stats.replicates(stat, base.values, resamples, rng) * scale
        base_pts.append(bp)
        details[clk.metric] = {"baseline": bp, "clocked": cp, "n_baseline": base.n, "n_clocked": clk.n}
        if c.compare == "difference":
            changes_point.append(cp - bp)
            change_boots.append(cb - bb)
        else:  # improvement, combined over metrics through the ratio's geometric mean
            with np.errstate(divide="ignore", invalid="ignore"):
                changes_point.append(math.log(cp / bp) if cp > 0 and bp > 0 else float("nan"))
                change_boots.append(np.log(cb / bb))
    lib = lower_is_better(stat, recs[0]["clocked"])
    if c.compare == "improvement":
        if not all(math.isfinite(x) for x in changes_point):
            raise ValueError("a ratio with a zero or negative figure is undefined")
        ratio = math.exp(sum(changes_point) / len(changes_point))
        ratio_boots = np.exp(np.mean(np.vstack(change_boots), axis=0))
        change = (1 - ratio) if lib else (ratio - 1)
        boots = (1 - ratio_boots) if lib else (ratio_boots - 1)
    else:
        change = sum(changes_point) / len(changes_point)
        boots = np.mean(np.vstack(change_boots), axis=0)
    low, high = stats.interval(boots, confidence)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the bootstrap gave no finite interval")
    # the point estimate must lie in a percentile interval for a coherent report; it always does
    # for smooth statistics, and a degenerate distribution gives low == high == change.
    verdict = from_interval(low, high, c.threshold, c.direction)
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), stat,
        c.compare, c.direction, c.threshold, unit,
        (sum(base_pts) / len(base_pts)) if len(recs) == 1 and base_pts else None,
        clk_pts[0] if len(recs) == 1 else None,
        change, low, high, verdict, _reason(verdict, c, low, high, unit),
        recs[0]["baseline"].n if "baseline" in recs[0] else 0, recs[0]["clocked"].n, details,
    )


def _judge_rounds(c, recs, unit, resamples, confidence) -> Judgement:
    from harness.load.stats import ratio_ci  # the project's one bootstrap over paired rounds

    if len(recs) != 1:
        raise ValueError("a rounds statistic takes exactly one metric")
    clk, base = recs[0]["clocked"], recs[0].get("baseline")
    if c.compare == "absolute":
        vals = np.asarray(clk.values, dtype=float) * _scale("sum", clk.unit)
        total = float(vals.sum())
        # an absolute judgment over rounds is of their total (counts) across every round
        verdict = from_interval(total, total, c.threshold, c.direction)
        return Judgement(c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics),
                         "rounds", c.compare, c.direction, c.threshold, unit, None, total, total, total, total,
                         verdict, _reason(verdict, c, total, total, unit), 0, clk.n)
    if base is None or clk.kind != "rounds" or base.kind != "rounds":
        raise ValueError(f"{clk.metric}: the rounds statistic needs per-round records of both builds")
    ratio, low_r, high_r = ratio_ci(clk.values, base.values, confidence=confidence, resamples=resamples,
                                    seed=stats.seed_for(c.id, clk.metric))
    if not (math.isfinite(low_r) and math.isfinite(high_r)):
        raise ValueError("the bootstrap over rounds gave no finite interval")
    if clk.lower_is_better:
        change, low, high = 1 - ratio, 1 - high_r, 1 - low_r
    else:
        change, low, high = ratio - 1, low_r - 1, high_r - 1
    verdict = from_interval(low, high, c.threshold, c.direction)
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), "rounds",
        c.compare, c.direction, c.threshold, unit,
        float(np.mean(base.values)), float(np.mean(clk.values)), change, low, high, verdict,
        _reason(verdict, c, low, high, unit), base.n, clk.n, {"ratio": ratio, "ratio_ci": [low_r, high_r]},
    )


def _with_baseline_context(c: Criterion, j: Judgement, index: dict, unit: str, resamples: int,
                           confidence: float) -> Judgement:
    """An absolute criterion is judged on the clocked build alone; where the baseline was measured
    too, its figure is reported beside it, so a level the baseline reaches as well reads as such."""
    base = [index.get(m, {}).get("baseline") for m in c.metrics]
    if j.verdict not in (PASS, FAIL, INCONCLUSIVE) or not all(r is not None and r.valid for r in base):
        return j
    try:
        b = _compute(c, [{"clocked": r} for r in base], unit, resamples, confidence)
    except ValueError:
        return j
    if b.ci_low is None:
        return j
    j.baseline = b.change
    j.reason += f"; the baseline build measured {fmt(b.change, c, unit)} (95% CI [{fmt(b.ci_low, c, unit)}, {fmt(b.ci_high, c, unit)}])"
    return j


def _reason(verdict: str, c: Criterion, low: float, high: float, unit: str) -> str:
    iv = f"95% CI [{fmt(low, c, unit)}, {fmt(high, c, unit)}]"
    need = f"{c.direction} {fmt(c.threshold, c, unit)}"
    if verdict == PASS:
        return f"{iv} clears {need}"
    if verdict == FAIL:
        return f"{iv} misses {need} entirely"
    return f"{iv} straddles {need}: more rounds or less noise needed to decide"


def value_kind(compare: str, unit: str) -> str:
    """How a change reads: a relative change, a share (or share difference), or a plain number."""
    if compare == "improvement":
        return "relative"
    if unit == "share":
        return "share" if compare == "absolute" else "points"
    return "number"


def fmt(x: float | None, c: Criterion, unit: str) -> str:
    """A change (or threshold) as a reader expects it: +31.2%, 99.10%, +0.30 pts, 1,234 ns."""
    if x is None or not math.isfinite(x):
        return "-"
    kind = value_kind(c.compare, unit)
    if kind == "relative":
        return f"{x * 100:+.1f}%"
    if kind == "share":
        return f"{x * 100:.2f}%"
    if kind == "points":
        return f"{x * 100:+.2f} pts"
    if unit in ("ns", "ns/op") and abs(x) >= 1000:
        for u, sc in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
            if abs(x) >= sc:
                return f"{x / sc:,.4g} {u}{'/op' if unit == 'ns/op' else ''}"
    if abs(x) >= 1e6:  # no scientific notation for a reader: 1,000,000 ppm, not 1e+06 ppm
        return f"{x:,.0f} {unit}".strip()
    return f"{x:,.6g} {unit}".strip()


def judge_all(criteria: list[Criterion], index, **kw) -> list[Judgement]:
    return [judge(c, index, **kw) for c in criteria]
