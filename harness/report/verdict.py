"""Verdicts, as pure functions: PASS / FAIL / INCONCLUSIVE from a 95% CI against the threshold,
INVALID and NOT MEASURED with a reason. Never a verdict from a point estimate alone."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from harness import results, stats
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
    except stats.TooFew as exc:
        return _blank(c, INCONCLUSIVE, f"too few {'repeats or values' if isinstance(exc, stats.TooFewRepeats) else 'values'} for an interval: {exc}", unit)
    except ValueError as exc:
        return _blank(c, INVALID, f"cannot compute the statistic: {exc}", unit)
    if c.compare == "absolute":
        return _with_baseline_context(c, j, index, unit, resamples, confidence)
    if j.ci_low is None:
        return j
    # A/A check: where the run measured a second baseline ("aa"), it is judged against the baseline
    # exactly as the clocked build is. Its interval should contain "no change"; when it does not,
    # the two copies of one build differ beyond chance, the setup is biased (stacks, order, ports),
    # and no verdict from that run is trusted. (The interval is not widened by the A/A reach: that
    # added a far 95% bound to both ends and reused the same baseline rounds.)
    aa = [index.get(m, {}).get("aa") for m in c.metrics]
    if not all(r is not None and r.valid for r in aa):
        return j
    try:
        a = _compute(c, [{"clocked": r, "baseline": p["baseline"]} for r, p in zip(aa, recs)], unit, resamples, confidence)
    except ValueError:
        return j
    return aa_check(j, a, c, unit)


def aa_check(j: Judgement, a: Judgement, c: Criterion, unit: str) -> Judgement:
    """Where the A/A pair (baseline against a second baseline) shows a change whose interval
    excludes zero, the setup itself moves the figures: either copy of the baseline may be the
    biased one, so the A/B interval is widened to every bias between zero and the A/A interval
    ([low - max(aa_high, 0), high - min(aa_low, 0)]) and the verdict taken again. An A/A interval containing zero leaves the judgement as it is."""
    j.details["aa"] = {"change": a.change, "ci": [a.ci_low, a.ci_high]}
    if a.ci_low is None or a.ci_high is None or j.ci_low is None or j.ci_high is None:
        return j
    if a.ci_low <= 0 <= a.ci_high:
        j.reason += f" (A/A pair within noise: [{fmt(a.ci_low, c, unit)}, {fmt(a.ci_high, c, unit)}])"
        return j
    j.details["ci_before_aa"] = [j.ci_low, j.ci_high]
    j.ci_low, j.ci_high = j.ci_low - max(a.ci_high, 0.0), j.ci_high - min(a.ci_low, 0.0)
    j.verdict = from_interval(j.ci_low, j.ci_high, c.threshold, c.direction)
    j.reason = _reason(j.verdict, c, j.ci_low, j.ci_high, unit) + (
        f" (corrected by the A/A pair's bias: baseline against itself {fmt(a.change, c, unit)} "
        f"[{fmt(a.ci_low, c, unit)}, {fmt(a.ci_high, c, unit)}])")
    return j


def _compute(c: Criterion, recs: list[dict[str, MetricRecord]], unit: str, resamples: int, confidence: float) -> Judgement:
    rng = np.random.default_rng(stats.seed_for(c.id, *c.metrics))
    if c.statistic == "sum" and c.compare == "absolute" and len(recs) == 1 and exact_count(recs[0]["clocked"]):
        return _judge_count(c, recs[0]["clocked"], unit, confidence)
    if c.compare in ("absolute", "difference") and len(recs) == 1 and all(
            share_counts(c.statistic, r) is not None for r in recs[0].values()):
        return _judge_share(c, recs[0], unit, confidence)
    if c.statistic == "rounds" or (_paired(recs) and c.statistic in PAIRED_STATS):
        return _judge_paired(c, recs, unit, confidence)
    if c.statistic in REPEAT_STATS and _in_repeats(recs):
        return _judge_repeats(c, recs, unit, confidence)
    return _judge_samples(c, recs, unit, rng, resamples, confidence)


# --- shares: exact binomial intervals ------------------------------------------------------------

FULL_PPM = 1_000_000


INDEPENDENT = results.INDEPENDENT  # extra key: a record's independent units, when fewer than its values


def units_share(k: int, n: int, units: int) -> tuple[int, int]:
    """(successes, trials) of a share of ``k`` in ``n`` values that hold only ``units`` independent
    outcomes: the observed share over ``units`` trials, successes rounded to the nearest whole one
    (Kish's effective sample size with every value of a unit the same outcome). Taking thousands of
    readings of a few tens of estimates as independent gave an interval a hundred times too narrow,
    and the verdict flipped between runs with the machine's load (SC3-CLOCK-SYNC)."""
    if not 0 <= k <= n or not 1 <= units <= n:
        raise ValueError(f"units_share: need 0 <= k <= n and 1 <= units <= n, got {k}, {n}, {units}")
    return min(units, max(0, round(k * units / n))), units


def share_counts(stat: str, r: MetricRecord) -> tuple[int, int] | None:
    """(successes, trials) where the criterion's statistic of ``r`` is a share of independent yes/no
    outcomes, else None:

    - ``share_le:x`` of independent values: the values at or below x, of all values; where the record
      says its values hold fewer independent units (``extra[INDEPENDENT]``), that share over the units;
    - the mean of a ppm record whose every value is 0 or 1,000,000 (one outcome per value: a check
      on time or not, a connection stable or not), or that share over its independent units where the
      record says its values hold fewer (the container checks of one interval: one machine stall);
    - the mean of per-round ppm shares with each round's number of requests in ``extra["requests"]``
      (pooled over rounds: the share's numerator recovered exactly from the floored ppm).
    """
    v = r.values
    if not v:
        return None
    units = r.extra.get(INDEPENDENT)
    over_units = lambda k, n: units_share(k, n, units) if isinstance(units, int) and 1 <= units < n else (k, n)  # noqa: E731
    if stat.startswith("share_le:") and r.kind != "rounds":
        limit = float(stat.split(":", 1)[1])
        return over_units(sum(1 for x in v if x <= limit), len(v))
    if stat != "mean" or r.unit != "ppm":
        return None
    req = r.extra.get("requests")
    if r.kind == "rounds" and isinstance(req, list) and len(req) == len(v) and all(
            isinstance(t, int) and t > 0 for t in req):
        ok = [-(-int(x) * t // FULL_PPM) for x, t in zip(v, req)]  # x = ok * 1e6 // t  =>  ok = ceil(x * t / 1e6)
        if any(not 0 <= k <= t or k * FULL_PPM // t != x for k, t, x in zip(ok, req, v)):
            return None  # not floored shares of these counts
        return sum(ok), sum(req)
    if r.kind != "rounds" and all(x in (0, FULL_PPM) for x in v):
        return over_units(sum(1 for x in v if x == FULL_PPM), len(v))
    return None


def _rounds_share(r: MetricRecord) -> bool:
    return r.kind == "rounds" and "requests" in r.extra


def _judge_share(c: Criterion, pair: dict[str, MetricRecord], unit: str, confidence: float) -> Judgement:
    """A share (absolute) or a difference of two builds' shares by exact binomial intervals:
    Clopper-Pearson for one share, Newcombe's square-and-add of Clopper-Pearson for a difference.
    Defined for every n >= 1 and never degenerate (0 of n and n of n included). Per-round shares
    pooled over their requests also carry the rounds' own variation: the interval is the hull of
    the pooled exact interval and the t interval over the rounds (needs ``stats.MIN_PAIRS`` rounds)."""
    clk = pair["clocked"]
    kc, nc = share_counts(c.statistic, clk)  # type: ignore[misc]
    details: dict = {"successes_clocked": kc, "n_clocked": nc}
    if c.compare == "absolute":
        iv = stats.clopper_pearson(kc, nc, confidence)
        base_pt, n_base = None, 0
    else:
        base = pair["baseline"]
        kb, nb = share_counts(c.statistic, base)  # type: ignore[misc]
        iv = stats.newcombe_difference(kc, nc, kb, nb, confidence)
        base_pt, n_base = kb / nb, nb
        details.update(successes_baseline=kb, n_baseline=nb)
    change, low, high = iv.estimate, iv.low, iv.high
    method = iv.method
    grouped = [f"{b} {r.n:,} values in {r.extra[INDEPENDENT]:,} independent units" for b, r in pair.items()
               if isinstance(r.extra.get(INDEPENDENT), int) and r.extra[INDEPENDENT] < r.n]
    if grouped:
        method += " over independent units, not values (" + "; ".join(grouped) + ")"
    if any(_rounds_share(r) for r in pair.values()):
        sc = 1.0 / FULL_PPM
        if c.compare == "absolute":
            rv = np.asarray(clk.values, dtype=float) * sc
        else:
            if clk.n != pair["baseline"].n:
                raise ValueError(f"{clk.metric}: paired rounds differ in number ({clk.n} clocked, {pair['baseline'].n} baseline)")
            rv = (np.asarray(clk.values, dtype=float) - np.asarray(pair["baseline"].values, dtype=float)) * sc
        t = _t_mean(rv, confidence)  # TooFew below MIN_PAIRS rounds: the rounds' variation is then unknown
        details["rounds_t"] = [t.low, t.high]
        low, high = min(low, t.low), max(high, t.high)
        method += f", hull with the t interval over {rv.size} rounds"
    details["method"] = method
    verdict = from_interval(low, high, c.threshold, c.direction)
    clk_pt = kc / nc
    reason = _reason(verdict, c, low, high, unit) + f" ({kc:,} of {nc:,} clocked" + (
        f", {details['successes_baseline']:,} of {n_base:,} baseline" if n_base else "") + f"; {method})"
    if verdict == INCONCLUSIVE and c.compare == "absolute" and c.direction == ">=" and 0 < c.threshold < 1:
        need = needed_for_share(c.threshold, confidence)
        details["n_needed_if_none_missed"] = need
        reason += f"; clearing {fmt(c.threshold, c, unit)} takes at least {need:,} outcomes with none missed"
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), c.statistic,
        c.compare, c.direction, c.threshold, unit, base_pt, clk_pt, change, low, high, verdict, reason,
        n_base, nc, details,
    )


def needed_for_share(threshold: float, confidence: float = 0.95) -> int:
    """The fewest outcomes, all successes, whose exact lower bound reaches ``threshold``:
    (alpha/2)^(1/n) >= threshold."""
    return math.ceil(math.log((1 - confidence) / 2) / math.log(threshold))


def exact_count(r: MetricRecord) -> bool:
    """Whether the sum of ``r`` is an exact count of events (no sampling): a count record, or
    per-round failure rates carrying each round's failed requests (``extra["failed"]``)."""
    if r.unit == "count":
        return True
    failed = r.extra.get("failed")
    return isinstance(failed, list) and len(failed) == len(r.values) and all(isinstance(x, int) for x in failed)


def _judge_count(c: Criterion, r: MetricRecord, unit: str, confidence: float) -> Judgement:
    """An exact count against its threshold ("no failed request in any round"): what was observed
    is the figure, there is no interval to take. Where the requests are known, the reason also
    gives the exact upper bound of the per-request failure rate they support."""
    failed = r.extra.get("failed")
    total = int(sum(failed)) if isinstance(failed, list) and r.unit != "count" else int(sum(r.values))
    verdict = PASS if (total <= c.threshold if c.direction == "<=" else total >= c.threshold) else FAIL
    requests = r.extra.get("requests")
    reason = f"exact count: {total:,} observed over {len(r.values)} value(s)"
    details: dict = {"method": "exact count (no sampling)", "count": total}
    if isinstance(failed, list) and isinstance(requests, list) and sum(requests) > 0:
        n = int(sum(requests))
        cp = stats.clopper_pearson(min(total, n), n, confidence)
        details["rate_ci"] = [cp.low, cp.high]
        reason = (f"exact count: {total:,} failed of {n:,} requests in {len(r.values)} round(s); the per-request "
                  f"failure rate is at most {cp.high * 1e6:,.1f} ppm (95% exact upper bound)")
    reason += f" {'meets' if verdict == PASS else 'misses'} {c.direction} {c.threshold:g}"
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), c.statistic,
        c.compare, c.direction, c.threshold, "count", None, float(total), float(total), float(total), float(total),
        verdict, reason, 0, r.n, details,
    )


# Statistics that, on paired records (kind "rounds": an interleaved A B B A ... run), are judged by
# the paired method: the geometric mean of the per-pair ratios (the per-pair median of a
# microbenchmark pair, the per-round aggregate of a load round, the per-repeat figure of a simulation).
PAIRED_STATS = ("rounds", "median", "mean", "p50")


def _paired(recs: list[dict[str, MetricRecord]]) -> bool:
    return all(r.kind == "rounds" for pair in recs for r in pair.values())


# Tail statistics of records that carry their repeats (results.REPEATS, builds alternating A B, B A,
# ...): taken per repeat and judged over the repeats by the paired method, like load rounds.
# Pooling every repeat's values into one bootstrap treated them as independent, so the spread of the
# tail from one repeat to the next was not in the interval: two quick runs of one commit gave
# EI-EMS-PRECISION -86.7% [-92.3, -81.2] and +69.9% [+19.7, +71.0].
REPEAT_STATS = ("p90", "p99", "max")


def _in_repeats(recs: list[dict[str, MetricRecord]]) -> bool:
    return all(results.carries_repeats(r) for pair in recs for r in pair.values())


def _per_repeat(c: Criterion, r: MetricRecord) -> list[float]:
    """The criterion's statistic of each repeat of ``r``; TooFew when a repeat has too few values for it."""
    need = stats.min_per_repeat(c.statistic)
    groups = results.repeat_groups(r) or []
    for i, g in enumerate(groups):
        if len(g) < need:
            raise stats.TooFewRepeats(f"{r.metric} ({r.build}): repeat {i + 1} of {len(groups)} has {len(g)} value(s); "
                               f"its {c.statistic} needs at least {need}")
    scale = _scale(c.statistic, r.unit)
    return [stats.point(c.statistic, g) * scale for g in groups]


def _judge_repeats(c: Criterion, recs: list[dict[str, MetricRecord]], unit: str, confidence: float) -> Judgement:
    """A tail statistic of records measured in repeats: the statistic of each repeat, then the paired
    interval (``_paired_interval``) over the repeats: the builds of one repeat ran one right after the
    other. Below ``stats.MIN_PAIRS`` repeats there is no interval (TooFew)."""
    details: dict = {}
    figs_all: list[dict[str, list[float]]] = []
    for pair in recs:
        figs = {b: _per_repeat(c, r) for b, r in pair.items()}
        k = {b: len(f) for b, f in figs.items()}
        if len(set(k.values())) > 1:
            raise ValueError(f"{c.metrics[0]}: the builds' repeats differ in number "
                             f"({', '.join(f'{n} {b}' for b, n in k.items())}); they are paired repeat by repeat")
        n_rep = next(iter(k.values()))
        metric = pair["clocked"].metric
        if n_rep < stats.MIN_PAIRS:
            raise stats.TooFewRepeats(f"{metric} has {n_rep} repeat(s) per build; its {c.statistic} is judged per repeat, "
                               f"and an interval over the repeats needs at least {stats.MIN_PAIRS}")
        figs_all.append(figs)
        sizes = {b: r.extra[results.REPEATS] for b, r in pair.items()}
        details[metric] = {f"{c.statistic}_per_repeat": figs, "values_per_repeat": sizes}
    pi = _paired_interval(c, recs, figs_all, confidence)  # figures already scaled by _per_repeat
    n_rep = len(figs_all[0]["clocked"])
    sizes = [n for b in figs_all[0] for n in recs[0][b].extra[results.REPEATS]]
    what = (f"{c.statistic} per repeat ({n_rep} repeats per build of {min(sizes):,}"
            + (f" to {max(sizes):,}" if max(sizes) != min(sizes) else "") + " values"
            + (f"; the {c.statistic} of {min(sizes):,} is the {_ordinal(stats.rank_from_top(c.statistic, min(sizes)))} "
               "largest)" if c.statistic != "max" else ")"))
    if c.compare == "improvement":
        for metric, iv in pi.ratios.items():
            details[metric].update(ratio=iv.estimate, ratio_ci=[iv.low, iv.high])
        details.update(ratio=pi.interval.estimate, ratio_ci=[pi.interval.low, pi.interval.high])
    method = {"improvement": f"paired t on the log ratios of the {what}",
              "difference": f"paired t on the differences of the {what}"}.get(c.compare, f"t on the mean of the {what}")
    details.update(method=method, repeats=n_rep)
    return _paired_judgement(c, recs, unit, pi, details, f" ({method})")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def fmt_abs(x: float, c: Criterion, unit: str) -> str:
    s = fmt(x, c, unit)
    return s[1:] if s.startswith("+") else s


def _check_n(c: Criterion, r: MetricRecord) -> None:
    """Below a method's minimum n there is no interval: TooFew (the verdict is INCONCLUSIVE)."""
    if c.statistic == "sum" and r.unit == "count":
        return  # an exact count: no sampling, no interval needed
    if r.n < 2:
        raise stats.TooFew(f"{r.metric} ({r.build}) has {r.n} value(s); a confidence interval needs at least 2")
    stats.check_samples(c.statistic, r.n, f"{r.metric} ({r.build})")
    units = r.extra.get(INDEPENDENT)
    if isinstance(units, int) and 1 <= units < r.n and not c.statistic.startswith("share_le:"):
        # Values that one event decides together (the browser's readings and order stamps of one sync
        # estimate) are that many outcomes: a bootstrap of the values took them as independent, and
        # EI-DASHBOARD-SYNC's p99 had intervals 0.3% wide that five quick runs put at 0.60-0.81 ms and
        # a full run at 1.12 ms, PASS then FAIL. The bootstrap still resamples values when there are
        # enough units; what it needs, it needs in units.
        need = stats.min_samples(c.statistic)
        if units < need:
            raise stats.TooFew(f"{r.metric} ({r.build}): its {r.n:,} values hold {units} independent unit(s) (values "
                               f"one event decides together, results.INDEPENDENT); a {c.statistic} needs {need:,}")


def _judge_samples(c, recs, unit, rng, resamples, confidence) -> Judgement:
    stat = c.statistic
    if stat == "mean" and len(recs) == 1:
        return _judge_mean(c, recs[0], unit, confidence)
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


def _judge_paired(c: Criterion, recs: list[dict[str, MetricRecord]], unit: str, confidence: float) -> Judgement:
    """Paired records (the builds' values matched by position: rounds, pairs): the paired interval
    (``_paired_interval``) over their values."""
    pi = _paired_interval(c, recs, [{b: r.values for b, r in pair.items()} for pair in recs], confidence,
                          _scale(c.statistic, recs[0]["clocked"].unit))
    details: dict = {"method": "paired t on differences" if c.compare == "difference" else pi.interval.method}
    if c.compare == "improvement":
        for metric, iv in pi.ratios.items():
            details[metric] = {"ratio": iv.estimate, "ratio_ci": [iv.low, iv.high], "pairs": iv.n}
        details.update(ratio=pi.interval.estimate, ratio_ci=[pi.interval.low, pi.interval.high])
    return _paired_judgement(c, recs, unit, pi, details)


@dataclass(frozen=True)
class PairedInterval:
    """A paired criterion's change and interval, with the point figures (one metric only) and the
    interval as ``stats`` gave it (for an improvement: the combined ratio, and each metric's)."""

    change: float
    low: float
    high: float
    baseline: float | None
    clocked: float | None
    interval: stats.Interval
    ratios: dict[str, stats.Interval] = field(default_factory=dict)


def _paired_interval(c: Criterion, recs: list[dict[str, MetricRecord]], figs: list[dict[str, Sequence[float]]],
                     confidence: float, scale: float = 1.0) -> PairedInterval:
    """The interval of figures paired by position, ``figs[i][build]`` standing for ``recs[i][build]``
    (per-round values, per-repeat statistics): a t interval on the per-pair log ratios combined over
    the metrics (improvement), on the per-pair differences (difference), on the figures (absolute
    mean) or order statistics (absolute median). One core for rounds and repeats, so the two cannot
    drift apart. ``scale`` (ppm as a share) applies to differences and absolute figures; a ratio has
    no unit."""
    lib = lower_is_better(c.statistic, recs[0]["clocked"])
    if c.compare == "improvement":
        ratios: dict[str, stats.Interval] = {}
        for pair, f in zip(recs, figs):
            clk, base = pair["clocked"], pair["baseline"]
            if base.unit != clk.unit:
                raise ValueError(f"{clk.metric}: baseline in {base.unit}, clocked in {clk.unit}")
            ratios[clk.metric] = stats.paired_log_ratio(f["clocked"], f["baseline"], confidence)
        iv = stats.combine_log(list(ratios.values()), confidence)
        change, low, high = (1 - iv.estimate, 1 - iv.high, 1 - iv.low) if lib else (iv.estimate - 1, iv.low - 1, iv.high - 1)
        gm = lambda v: float(np.exp(np.mean(np.log(v))))  # noqa: E731
        base_pt, clk_pt = (gm(figs[0]["baseline"]), gm(figs[0]["clocked"])) if len(recs) == 1 else (None, None)
    else:
        if len(recs) != 1:
            raise ValueError(f"{'an absolute' if c.compare == 'absolute' else 'a difference'} criterion takes exactly one metric")
        f, ratios = figs[0], {}
        if c.compare == "absolute":
            vals = np.asarray(f["clocked"], dtype=float) * scale
            iv = stats.median_ci(vals, confidence) if c.statistic in ("median", "p50") else _t_mean(vals, confidence)
            base_pt, clk_pt = None, iv.estimate
        else:
            if len(f["clocked"]) != len(f["baseline"]):
                raise ValueError(f"{recs[0]['clocked'].metric}: paired values differ in number "
                                 f"({len(f['clocked'])} clocked, {len(f['baseline'])} baseline)")
            iv = _t_mean((np.asarray(f["clocked"], dtype=float) - np.asarray(f["baseline"], dtype=float)) * scale, confidence)
            base_pt, clk_pt = float(np.mean(f["baseline"])) * scale, float(np.mean(f["clocked"])) * scale
        change, low, high = iv.estimate, iv.low, iv.high
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the interval is not finite")
    return PairedInterval(change, low, high, base_pt, clk_pt, iv, ratios)


def _paired_judgement(c: Criterion, recs: list[dict[str, MetricRecord]], unit: str, pi: PairedInterval,
                      details: dict, note: str = "") -> Judgement:
    verdict = from_interval(pi.low, pi.high, c.threshold, c.direction)
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), c.statistic,
        c.compare, c.direction, c.threshold, unit, pi.baseline, pi.clocked, pi.change, pi.low, pi.high, verdict,
        _reason(verdict, c, pi.low, pi.high, unit) + note,
        recs[0]["baseline"].n if "baseline" in recs[0] else 0, recs[0]["clocked"].n, details,
    )


def _judge_mean(c: Criterion, pair: dict[str, MetricRecord], unit: str, confidence: float) -> Judgement:
    """Means of independent values by a t interval (Welch for two builds): the bootstrap of a mean
    undercovers at the sizes the harness has (tests/report/test_stats_coverage.py)."""
    clk, base = pair["clocked"], pair.get("baseline")
    sc = _scale("mean", clk.unit)
    a = np.asarray(clk.values, dtype=float) * sc
    b = np.asarray(base.values, dtype=float) * sc if base is not None and c.compare != "absolute" else None
    iv = stats.welch_mean(a, b, c.compare, confidence)
    change, low, high = iv.estimate, iv.low, iv.high
    if c.compare == "improvement":
        lib = lower_is_better("mean", clk)
        change, low, high = (1 - change, 1 - high, 1 - low) if lib else (change - 1, low - 1, high - 1)
    verdict = from_interval(low, high, c.threshold, c.direction)
    return Judgement(
        c.id, c.phase, c.component, c.section, c.statement, c.definition, list(c.metrics), "mean",
        c.compare, c.direction, c.threshold, unit, float(b.mean()) if b is not None else None, float(a.mean()),
        change, low, high, verdict, _reason(verdict, c, low, high, unit), b.size if b is not None else 0, a.size,
        {"method": iv.method},
    )


def _t_mean(vals: np.ndarray, confidence: float) -> stats.Interval:
    n = int(vals.size)
    if n < stats.MIN_PAIRS:
        raise stats.TooFew(f"{n} value(s); a t interval needs at least {stats.MIN_PAIRS}")
    m = float(vals.mean())
    se = float(vals.std(ddof=1) / math.sqrt(n))
    t = stats.t_quantile(0.5 + confidence / 2, n - 1)
    return stats.Interval(m, m - t * se, m + t * se, n, "t on the mean", se, n - 1)


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


# Power of a decision: a true change this many half-widths from the threshold is decided (PASS or
# FAIL) 80% of the time by an interval as wide as this run's: (z_0.975 + z_0.80) / z_0.975.
MDE_FACTOR = (1.959964 + 0.841621) / 1.959964


def add_mde(j: Judgement, c: Criterion) -> Judgement:
    """The smallest distance from the threshold this run could have decided (80% power)."""
    if j.ci_low is None or j.ci_high is None or c.threshold is None or j.verdict not in (PASS, FAIL, INCONCLUSIVE):
        return j
    mde = MDE_FACTOR * (j.ci_high - j.ci_low) / 2
    j.details["mde"] = mde
    unit = j.unit
    j.reason += f"; this run decides a change at least {fmt_abs(mde, c, unit)} from the threshold (80% power)"
    return j


# A verdict whose interval end lies this close to the threshold (as a share of the interval's
# half-width) is "marginal": a repeat run moves that end by about a half-width, so it decides the
# other way (or not at all) nearly half the time. Said in the reason, kept in details; the
# verdict itself is not changed.
MARGINAL = 0.10


def add_margin(j: Judgement, c: Criterion) -> Judgement:
    """Mark a verdict that hangs on an interval end within ``MARGINAL`` half-widths of the threshold."""
    if j.ci_low is None or j.ci_high is None or c.threshold is None or j.verdict not in (PASS, FAIL, INCONCLUSIVE):
        return j
    half = (j.ci_high - j.ci_low) / 2
    if half <= 0:
        return j
    gap = min(abs(j.ci_low - c.threshold), abs(j.ci_high - c.threshold)) / half
    j.details["margin_half_widths"] = gap
    if gap < MARGINAL:
        j.details["marginal"] = True
        j.reason += (f"; marginal: an interval end lies {gap:.2f} half-widths from the threshold, so a repeat run "
                     "may well judge it otherwise")
    return j


def judge_all(criteria: list[Criterion], index, **kw) -> list[Judgement]:
    return [add_margin(add_mde(judge(c, index, **kw), c), c) for c in criteria]


def chance_summary(js: list[Judgement], confidence: float = 0.95) -> dict:
    """How many decisive verdicts chance alone would give among the criteria judged: each interval
    is decisive with probability 1 - confidence when the true change sits on the threshold, and
    criteria judging the same measurement count once."""
    judged = [j for j in js if j.verdict in (PASS, FAIL, INCONCLUSIVE) and j.ci_low is not None]
    by_metrics: dict[tuple, list[str]] = {}
    for j in judged:
        by_metrics.setdefault((tuple(sorted(j.metrics)), j.statistic, j.compare), []).append(j.id)
    distinct = len(by_metrics)
    expected = distinct * (1.0 - confidence)
    # the 95th percentile of a Poisson(expected) count: "up to this many is chance"
    k, cum, term = 0, math.exp(-expected), math.exp(-expected)
    while cum < 0.95:
        k += 1
        term *= expected / k
        cum += term
    return {"judged": len(judged), "distinct_measurements": distinct, "expected_by_chance": expected,
            "chance_up_to": k, "decisive": sum(1 for j in judged if j.verdict in (PASS, FAIL)),
            "marginal": [j.id for j in judged if j.details.get("marginal")],
            "same_measurement": [ids for ids in by_metrics.values() if len(ids) > 1]}
