"""Verdict logic on constructed data: every verdict reachable, boundaries right."""

from __future__ import annotations

import random

import pytest

from harness.report.criteria import Criterion
from harness.report.verdict import (FAIL, INCONCLUSIVE, INVALID, NOT_MEASURED, PASS, from_interval, judge,
                                    units_share)
from harness.results import INDEPENDENT, MetricRecord, index, invalid

FULL = 1_000_000  # a ppm share of one


@pytest.mark.parametrize(
    "low, high, threshold, direction, expected",
    [
        (0.31, 0.40, 0.30, ">=", PASS),
        (0.30, 0.40, 0.30, ">=", PASS),  # touching the threshold from above clears "30%+"
        (0.10, 0.29, 0.30, ">=", FAIL),
        (0.10, 0.30, 0.30, ">=", INCONCLUSIVE),  # reaches the threshold only at its top
        (0.20, 0.40, 0.30, ">=", INCONCLUSIVE),
        (0.0, 0.0, 0.0, "<=", PASS),
        (1.0, 3.0, 0.0, "<=", FAIL),
        (0.0, 2.0, 0.0, "<=", INCONCLUSIVE),  # touches the limit at its bottom, rises above it
        (-1.0, 2.0, 0.0, "<=", INCONCLUSIVE),
    ],
)
def test_from_interval(low, high, threshold, direction, expected):
    assert from_interval(low, high, threshold, direction) == expected


def test_from_interval_rejects_bad_input():
    with pytest.raises(ValueError):
        from_interval(float("nan"), 1.0, 0.0, ">=")
    with pytest.raises(ValueError):
        from_interval(2.0, 1.0, 0.0, ">=")
    with pytest.raises(ValueError):
        from_interval(0.0, 1.0, 0.0, ">")


def crit(**kw) -> Criterion:
    base = dict(id="T", phase=1, component="x", section="s", statement="a claim", metrics=("m",),
                statistic="median", compare="improvement", direction=">=", threshold=0.30)
    base.update(kw)
    return Criterion(**base)


def samples(center: int, spread: int, n: int = 60, seed: int = 1) -> list[int]:
    rnd = random.Random(seed)
    return [center + rnd.randint(-spread, spread) for _ in range(n)]


def recs(base: list[int], clocked: list[int], metric: str = "m", unit: str = "ns/op") -> dict:
    return index([MetricRecord(metric, "baseline", unit, base), MetricRecord(metric, "clocked", unit, clocked)])


def test_pass_when_the_whole_interval_clears(tmp_path):
    j = judge(crit(), recs(samples(10_000, 300), samples(5_000, 300, seed=2)), root=tmp_path, resamples=500)
    assert j.verdict == PASS and j.ci_low >= 0.30 and 0.45 < j.change < 0.55


def test_fail_when_the_whole_interval_misses(tmp_path):
    j = judge(crit(), recs(samples(10_000, 300), samples(9_500, 300, seed=2)), root=tmp_path, resamples=500)
    assert j.verdict == FAIL and j.ci_high < 0.30


def test_inconclusive_when_noise_straddles(tmp_path):
    # a true 30% improvement measured with large noise
    j = judge(crit(), recs(samples(10_000, 6_000, n=40), samples(7_000, 5_000, n=40, seed=3)), root=tmp_path, resamples=500)
    assert j.verdict == INCONCLUSIVE and j.ci_low < 0.30 < j.ci_high


def test_higher_is_better_metric(tmp_path):
    r = index([MetricRecord("m", "baseline", "ops/s", samples(1000, 20), lower_is_better=False),
               MetricRecord("m", "clocked", "ops/s", samples(1500, 20, seed=4), lower_is_better=False)])
    j = judge(crit(threshold=0.25), r, root=tmp_path, resamples=500)
    assert j.verdict == PASS and 0.45 < j.change < 0.55


def test_invalid_measurement_gives_invalid_with_reason(tmp_path):
    r = index([MetricRecord("m", "baseline", "ns", [1, 2]), invalid("m", "clocked", "ns", "load generator saturated (CPU 97%)")])
    j = judge(crit(), r, root=tmp_path)
    assert j.verdict == INVALID and "saturated" in j.reason and j.ci_low is None


def test_not_measured_when_component_missing(tmp_path):
    j = judge(crit(requires=("targets/nothing_here",)), recs([1, 2], [1, 2]), root=tmp_path)
    assert j.verdict == NOT_MEASURED and "component not built yet" in j.reason


def test_not_measured_when_no_record_with_the_producer_note(tmp_path):
    j = judge(crit(), {}, root=tmp_path, notes={"m": "load not available: no nginx"})
    assert j.verdict == NOT_MEASURED and "no nginx" in j.reason


def test_not_measurable_carries_its_reason(tmp_path):
    j = judge(crit(not_measurable=True, reason="judged by people"), {}, root=tmp_path)
    assert j.verdict == NOT_MEASURED and "judged by people" in j.reason


def test_too_few_values_are_inconclusive_with_the_reason_never_a_degenerate_interval(tmp_path):
    j = judge(crit(), recs([10], [5]), root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "at least 2" in j.reason and j.ci_low is None
    j = judge(crit(), recs([10, 11], [5, 6]), root=tmp_path)  # n = 2 used to get a bootstrap interval
    assert j.verdict == INCONCLUSIVE and "at least 30" in j.reason and j.ci_low is None
    paired = index([MetricRecord("m", "baseline", "ns", [10, 11], kind="rounds"),
                    MetricRecord("m", "clocked", "ns", [5, 6], kind="rounds")])
    j = judge(crit(statistic="rounds"), paired, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "at least 3" in j.reason and j.ci_low is None


def test_absolute_share_and_exact_count(tmp_path):
    lateness = [0] * 995 + [50_000] * 5  # ppm of the interval: 99.5% within 1%
    r = index([MetricRecord("late", "clocked", "ppm", lateness)])
    j = judge(crit(metrics=("late",), statistic="share_le:10000", compare="absolute", threshold=0.99), r, root=tmp_path, resamples=500)
    assert j.verdict in (PASS, INCONCLUSIVE) and abs(j.change - 0.995) < 1e-9
    c = index([MetricRecord("calls", "clocked", "count", [3])])
    j = judge(crit(metrics=("calls",), statistic="sum", compare="absolute", direction="<=", threshold=0), c, root=tmp_path)
    assert j.verdict == FAIL and j.change == 3


def test_rounds_use_the_paired_t_on_log_ratios(tmp_path):
    r = index([MetricRecord("ab", "baseline", "ns", [1000, 1010, 990, 1005, 995, 1000], kind="rounds"),
               MetricRecord("ab", "clocked", "ns", [600, 610, 590, 605, 595, 600], kind="rounds")])
    j = judge(crit(metrics=("ab",), statistic="rounds"), r, root=tmp_path, resamples=500)
    assert j.verdict == PASS and abs(j.change - 0.4) < 0.01 and "paired t" in j.details["method"]


def test_paired_microbenchmark_records_use_the_paired_method_and_drift_cancels(tmp_path):
    drift = [1, 3, 2, 5, 1, 4, 2, 6, 1, 3]  # the machine slows whole stretches by up to 6x
    r = index([MetricRecord("m", "baseline", "ns/op", [1000 * d + k for k, d in enumerate(drift)], kind="rounds"),
               MetricRecord("m", "clocked", "ns/op", [600 * d + k for k, d in enumerate(drift)], kind="rounds")])
    j = judge(crit(), r, root=tmp_path)
    assert j.verdict == PASS and abs(j.change - 0.4) < 0.01 and j.ci_high - j.ci_low < 0.01


def _t95(xs: list[float]) -> tuple[float, float, float]:
    """mean and 95% t interval of ``xs``, worked out here apart from the harness."""
    from harness import stats

    n = len(xs)
    m = sum(xs) / n
    half = stats.t_quantile(0.975, n - 1) * (sum((x - m) ** 2 for x in xs) / (n - 1)) ** 0.5 / n ** 0.5
    return m, m - half, m + half


def test_paired_rounds_judge_differences_and_absolute_levels_by_t_or_order_statistics(tmp_path):
    base, clk = [1000, 1040, 980, 1010, 1050, 990], [900, 950, 870, 905, 960, 880]
    r = index([MetricRecord("m", "baseline", "ns", base, kind="rounds"),
               MetricRecord("m", "clocked", "ns", clk, kind="rounds")])
    d = judge(crit(statistic="mean", compare="difference", direction="<=", threshold=-50), r, root=tmp_path)
    m, lo, hi = _t95([c - b for c, b in zip(clk, base)])
    assert (d.change, d.ci_low, d.ci_high) == pytest.approx((m, lo, hi)) and d.verdict == PASS
    assert d.details["method"] == "paired t on differences" and d.baseline == pytest.approx(sum(base) / 6)
    a = judge(crit(statistic="mean", compare="absolute", direction="<=", threshold=920), r, root=tmp_path)
    assert (a.change, a.ci_low, a.ci_high) == pytest.approx(_t95(clk)) and a.details["method"] == "t on the mean"
    assert a.verdict == INCONCLUSIVE and a.ci_low < 920 < a.ci_high
    med = judge(crit(statistic="median", compare="absolute", direction="<=", threshold=1000), r, root=tmp_path)
    # six values: the 95% interval of the median runs from the smallest to the largest
    assert (med.change, med.ci_low, med.ci_high) == (902.5, 870, 960) and med.verdict == PASS
    assert med.details["method"] == "order statistics"


def test_multi_metric_geomean(tmp_path):
    r = index([MetricRecord("a", "baseline", "ns/op", samples(1000, 10)), MetricRecord("a", "clocked", "ns/op", samples(500, 10, seed=5)),
               MetricRecord("b", "baseline", "ns/op", samples(1000, 10, seed=6)), MetricRecord("b", "clocked", "ns/op", samples(2000, 10, seed=7))])
    j = judge(crit(metrics=("a", "b"), threshold=0.0), r, root=tmp_path, resamples=500)
    assert abs(j.change) < 0.02  # 0.5x and 2x cancel in the geometric mean
    assert j.verdict == INCONCLUSIVE


def test_shares_get_exact_intervals_at_small_n(tmp_path):
    """24 samples used to be INCONCLUSIVE "too few values"; now an exact binomial interval decides
    where 24 outcomes can, and says how many it would take where they cannot."""
    c = crit(metrics=("err",), statistic="share_le:10", compare="absolute", threshold=0.99)
    all_ok = index([MetricRecord("err", "clocked", "ns", [3] * 24)])
    j = judge(c, all_ok, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and j.ci_high == 1.0 and j.ci_low == pytest.approx(0.025 ** (1 / 24))
    assert "Clopper-Pearson" in j.reason and "368 outcomes" in j.reason
    five_missed = index([MetricRecord("err", "clocked", "ns", [3] * 19 + [50] * 5)])
    j = judge(c, five_missed, root=tmp_path)
    assert j.verdict == FAIL and j.ci_high < 0.99
    j = judge(crit(metrics=("err",), statistic="share_le:10", compare="absolute", threshold=0.80), all_ok, root=tmp_path)
    assert j.verdict == PASS  # 24 of 24: the exact lower bound 0.857 clears 80%


def test_binary_ppm_means_and_differences_are_shares(tmp_path):
    on = [1_000_000] * 158 + [0] * 2
    late = [1_000_000] * 130 + [0] * 30
    r = index([MetricRecord("slots", "clocked", "ppm", on, lower_is_better=False),
               MetricRecord("slots", "baseline", "ppm", late, lower_is_better=False)])
    j = judge(crit(metrics=("slots",), statistic="mean", compare="difference", threshold=0.003), r, root=tmp_path)
    assert j.verdict == PASS and "Newcombe" in j.reason and j.change == pytest.approx(28 / 160)
    j = judge(crit(metrics=("slots",), statistic="mean", compare="absolute", threshold=0.998), r, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and j.ci_low < 0.998 < j.ci_high
    # a mean of values that are not yes/no outcomes keeps its t interval (and its minimum n)
    r = index([MetricRecord("slots", "clocked", "ppm", [999_000] * 10 + [998_000] * 10)])
    j = judge(crit(metrics=("slots",), statistic="mean", compare="absolute", threshold=0.99), r, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "at least 50" in j.reason


def test_round_shares_with_request_counts_pool_exactly_and_keep_the_rounds_variation(tmp_path):
    def rec(build, ok, total):
        return MetricRecord("gw", build, "ppm", [k * 1_000_000 // t for k, t in zip(ok, total)], kind="rounds",
                            lower_is_better=False, extra={"requests": total})
    r = index([rec("clocked", [3000, 2999, 3001], [3000, 3001, 3001]), rec("baseline", [2700, 2750, 2725], [3000, 3001, 3001])])
    j = judge(crit(metrics=("gw",), statistic="mean", compare="absolute", threshold=0.995), r, root=tmp_path)
    assert j.verdict == PASS and j.details["successes_clocked"] == 9000 and j.details["n_clocked"] == 9002
    j = judge(crit(metrics=("gw",), statistic="mean", compare="difference", threshold=0.005), r, root=tmp_path)
    assert j.verdict == PASS and "hull with the t interval over 3 rounds" in j.reason
    # the rounds disagree far beyond binomial chance: the t over rounds widens the interval
    r = index([rec("clocked", [3000, 2700, 3001], [3000, 3001, 3001])])
    j = judge(crit(metrics=("gw",), statistic="mean", compare="absolute", threshold=0.95), r, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and j.details["rounds_t"][0] < j.ci_high
    two = index([rec("clocked", [3000, 3001], [3000, 3001])])
    j = judge(crit(metrics=("gw",), statistic="mean", compare="absolute", threshold=0.95), two, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "at least 3" in j.reason and j.ci_low is None


def test_zero_failures_in_rounds_is_an_exact_count(tmp_path):
    c = crit(metrics=("load.orders.errors",), statistic="sum", compare="absolute", direction="<=", threshold=0)
    ok = MetricRecord("load.orders.errors", "clocked", "ppm", [0, 0, 0], kind="rounds",
                      extra={"failed": [0, 0, 0], "requests": [4000, 4100, 3900]})
    j = judge(c, index([ok]), root=tmp_path)
    assert j.verdict == PASS and "0 failed of 12,000 requests" in j.reason and "at most 307.4 ppm" in j.reason
    bad = MetricRecord("load.orders.errors", "clocked", "ppm", [0, 250, 0], kind="rounds",
                       extra={"failed": [0, 1, 0], "requests": [4000, 4000, 3900]})
    assert judge(c, index([bad]), root=tmp_path).verdict == FAIL
    # without the counts a rate rounded to ppm is not an exact count: no verdict from 3 values
    bare = MetricRecord("load.orders.errors", "clocked", "ppm", [0, 0, 0], kind="rounds")
    assert judge(c, index([bare]), root=tmp_path).verdict == INCONCLUSIVE


def test_load_round_records_carry_the_exact_failure_counts(tmp_path):
    from harness.load.records import records_for_rounds

    def summary(answered, failed):
        return {"validity": {"valid": True, "reasons": []},
                "aggregate": {"latency_ns": {"p50": 1, "p90": 2, "p99": 3, "p999": 4}, "throughput_rps": 100.0,
                              "error_rate": failed / (answered + failed), "answered": answered, "failed": failed}}
    recs = records_for_rounds("orders", "clocked", [summary(5000, 0), summary(4000, 0)], "test")
    err = next(r for r in recs if r.metric == "load.orders.errors")
    assert err.extra["failed"] == [0, 0] and err.extra["requests"] == [5000, 4000]
    c = crit(metrics=("load.orders.errors",), statistic="sum", compare="absolute", direction="<=", threshold=0)
    assert judge(c, index([err]), root=tmp_path).verdict == PASS


def test_a_verdict_hanging_on_the_threshold_is_marked_marginal():
    from harness.report.verdict import Judgement, add_margin

    def j(low, high, verdict):
        return Judgement("T", 1, "x", "s", "", "", ["m"], "median", "improvement", ">=", 0.30, "ns",
                         None, None, (low + high) / 2, low, high, verdict, "r")
    c = crit()
    near = add_margin(j(0.306, 0.406, PASS), c)  # 0.12 half-widths from the threshold: not marginal
    assert not near.details.get("marginal")
    near = add_margin(j(0.302, 0.402, PASS), c)
    assert near.details["marginal"] and "marginal" in near.reason and near.verdict == PASS
    far = add_margin(j(0.35, 0.45, PASS), c)
    assert not far.details.get("marginal") and far.details["margin_half_widths"] == pytest.approx(1.0)
    straddle = add_margin(j(0.10, 0.301, INCONCLUSIVE), c)
    assert straddle.details["marginal"]


def test_a_share_of_grouped_values_is_judged_over_its_independent_units(tmp_path):
    """Thousands of readings of 32 sync estimates are 32 outcomes: 7,529 of 7,529 readings within
    the limit, over 32 estimates, cannot clear 99.9% (it takes 3,688 outcomes with none missed);
    taken as independent readings the same data passed. A share well below it still fails."""
    c = crit(metrics=("err",), statistic="share_le:10", compare="absolute", threshold=0.999)
    values = [3] * 7529
    as_readings = judge(c, index([MetricRecord("err", "clocked", "ns", values)]), root=tmp_path)
    assert as_readings.verdict == PASS and as_readings.n_clocked == 7529
    grouped = index([MetricRecord("err", "clocked", "ns", values, extra={INDEPENDENT: 32})])
    j = judge(c, grouped, root=tmp_path)
    assert j.verdict == INCONCLUSIVE and j.n_clocked == 32 and j.details["successes_clocked"] == 32
    assert "independent units" in j.reason and "7,529 values in 32" in j.reason
    low = index([MetricRecord("err", "clocked", "ns", [3] * 6200 + [50] * 1329, extra={INDEPENDENT: 32})])
    j = judge(c, low, root=tmp_path)
    assert j.verdict == FAIL and j.details["successes_clocked"] == 26 and j.ci_high < 0.999


def test_a_tail_of_values_few_events_decide_has_no_interval(tmp_path):
    """1,000 order stamps under 2 sync estimates are 2 outcomes, not 1,000: a p99 of them is not
    decided (a bootstrap of the values gave intervals 0.3% wide, PASS in quick runs, FAIL in a full
    one); the same values without the units are judged, and enough units are judged too."""
    c = crit(metrics=("stamp",), statistic="p99", compare="absolute", direction="<=", threshold=1_000_000)
    values = [900_000 + i for i in range(1000)]
    assert judge(c, index([MetricRecord("stamp", "clocked", "ns", values)]), root=tmp_path).verdict == PASS
    j = judge(c, index([MetricRecord("stamp", "clocked", "ns", values, extra={INDEPENDENT: 2})]), root=tmp_path)
    assert j.verdict == INCONCLUSIVE and "2 independent unit(s)" in j.reason and "needs 500" in j.reason
    enough = judge(c, index([MetricRecord("stamp", "clocked", "ns", values, extra={INDEPENDENT: 600})]), root=tmp_path)
    assert enough.verdict == PASS


def test_checks_on_time_that_a_stall_delays_together_are_judged_per_interval(tmp_path):
    """The container checks of one interval are one outcome (a machine stall delays them together):
    11 late of 2,643 in one group took the share from PASS to FAIL as independent checks; over the 66
    intervals they are 66 outcomes, 0 or 1 of them missed, and 99.8% is not decided either way.
    A difference between builds is judged over the same units."""
    c = crit(metrics=("ok",), statistic="mean", compare="absolute", threshold=0.998)
    late11 = [FULL] * 2632 + [0] * 11
    as_checks = judge(c, index([MetricRecord("ok", "clocked", "ppm", late11, lower_is_better=False)]), root=tmp_path)
    assert as_checks.verdict == FAIL and as_checks.n_clocked == 2643
    for values in (late11, [FULL] * 2643):
        j = judge(c, index([MetricRecord("ok", "clocked", "ppm", values, lower_is_better=False,
                                         extra={INDEPENDENT: 66})]), root=tmp_path)
        assert j.verdict == INCONCLUSIVE and j.n_clocked == 66 and "66 independent units" in j.reason
    d = crit(metrics=("ok",), statistic="mean", compare="difference", threshold=0.003)
    pair = [MetricRecord("ok", "clocked", "ppm", [FULL] * 2643, lower_is_better=False, extra={INDEPENDENT: 66}),
            MetricRecord("ok", "baseline", "ppm", [FULL] * 1800 + [0] * 843, lower_is_better=False, extra={INDEPENDENT: 66})]
    j = judge(d, index(pair), root=tmp_path)
    assert j.verdict == PASS and j.details["n_clocked"] == 66 and j.details["n_baseline"] == 66
    assert j.details["successes_baseline"] == 45


@pytest.mark.parametrize("k, n, units, expected", [(0, 10, 3, (0, 3)), (10, 10, 3, (3, 3)), (5, 10, 4, (2, 4)),
                                                   (7523, 7529, 32, (32, 32)), (6200, 7529, 32, (26, 32))])
def test_units_share_keeps_the_observed_share_over_the_units(k, n, units, expected):
    assert units_share(k, n, units) == expected


@pytest.mark.parametrize("k, n, units", [(11, 10, 3), (-1, 10, 3), (5, 10, 0), (5, 10, 11)])
def test_units_share_rejects_impossible_counts(k, n, units):
    with pytest.raises(ValueError):
        units_share(k, n, units)


# --- tail statistics of records measured in repeats (results.REPEATS) ------------------------------


def _tail_crit(**kw) -> Criterion:
    return crit(statistic="p99", threshold=0.20, **kw)


def _repeats(build: str, repeats: list[list[int]], metric: str = "m") -> MetricRecord:
    from harness.results import grouped

    values, extra = grouped(repeats)
    return MetricRecord(metric, build, "ns", values, extra=extra)


def _repeat_values(p99: int, n: int = 260, seed: int = 0) -> list[int]:
    """``n`` values whose nearest-rank p99 is exactly ``p99`` (the three largest at or above it)."""
    rnd = random.Random(seed)
    body = [rnd.randint(1, p99 // 2) for _ in range(n - 3)]
    return body + [p99, p99 + 1, p99 + 2]


def test_a_p99_in_repeats_is_judged_per_repeat_by_the_paired_t_on_log_ratios(tmp_path):
    import math

    from harness import stats

    base = [1_000_000, 1_200_000, 900_000, 1_100_000]
    clk = [500_000, 700_000, 480_000, 520_000]
    j = judge(_tail_crit(), index([_repeats("baseline", [_repeat_values(p, seed=i) for i, p in enumerate(base)]),
                                   _repeats("clocked", [_repeat_values(p, seed=9 + i) for i, p in enumerate(clk)])]),
              root=tmp_path)
    logs = [math.log(c / b) for c, b in zip(clk, base)]
    m = sum(logs) / 4
    se = (sum((x - m) ** 2 for x in logs) / 3) ** 0.5 / 2
    t = stats.t_quantile(0.975, 3)
    assert j.verdict == PASS
    assert j.change == pytest.approx(1 - math.exp(m))
    assert (j.ci_low, j.ci_high) == pytest.approx((1 - math.exp(m + t * se), 1 - math.exp(m - t * se)))
    assert j.details["repeats"] == 4 and j.details["m"]["p99_per_repeat"]["clocked"] == clk
    assert "p99 per repeat (4 repeats per build of 260 values; the p99 of 260 is the 3rd largest)" in j.reason
    assert j.n_clocked == j.n_baseline == 4 * 260  # every value kept in the record


def test_repeats_whose_tails_disagree_are_inconclusive_where_pooling_them_was_decisive(tmp_path):
    """The failure the grouping fixes: two quick runs of one commit gave FAIL and INCONCLUSIVE with
    intervals apart. Here the clocked p99 beats the baseline's by far in two repeats and loses by far
    in the third: pooled as independent values the bootstrap decides; per repeat it cannot."""
    base = [_repeat_values(p, seed=i) for i, p in enumerate([1_000_000, 1_000_000, 1_000_000])]
    clk = [_repeat_values(p, seed=5 + i) for i, p in enumerate([300_000, 300_000, 3_000_000])]
    grouped = judge(_tail_crit(), index([_repeats("baseline", base), _repeats("clocked", clk)]), root=tmp_path)
    assert grouped.verdict == INCONCLUSIVE and grouped.ci_low < 0.20 < grouped.ci_high
    pooled = judge(_tail_crit(), index([MetricRecord("m", "baseline", "ns", [v for g in base for v in g]),
                                        MetricRecord("m", "clocked", "ns", [v for g in clk for v in g])]),
                   root=tmp_path, resamples=500)
    assert pooled.verdict in (PASS, FAIL) and pooled.ci_high - pooled.ci_low < grouped.ci_high - grouped.ci_low


def test_too_few_repeats_is_inconclusive_and_says_why(tmp_path):
    two = judge(_tail_crit(), index([_repeats("baseline", [_repeat_values(1_000_000, seed=s) for s in (1, 2)]),
                                     _repeats("clocked", [_repeat_values(400_000, seed=s) for s in (3, 4)])]),
                root=tmp_path)
    assert two.verdict == INCONCLUSIVE and two.ci_low is None
    assert "m has 2 repeat(s) per build" in two.reason and "needs at least 3" in two.reason
    # each repeat needs 100 values for its p99 not to be its maximum
    small = judge(_tail_crit(), index([_repeats("baseline", [_repeat_values(1_000_000, 99, s) for s in (1, 2, 3)]),
                                       _repeats("clocked", [_repeat_values(400_000, 260, s) for s in (4, 5, 6)])]),
                  root=tmp_path)
    assert small.verdict == INCONCLUSIVE and "repeat 1 of 3 has 99 value(s); its p99 needs at least 100" in small.reason


def test_a_p99_in_repeats_judged_as_a_difference_or_an_absolute_level_takes_the_t_over_its_repeats(tmp_path):
    base = [1_000_000, 1_200_000, 900_000, 1_100_000]
    clk = [500_000, 700_000, 480_000, 520_000]
    both = index([_repeats("baseline", [_repeat_values(p, seed=i) for i, p in enumerate(base)]),
                  _repeats("clocked", [_repeat_values(p, seed=9 + i) for i, p in enumerate(clk)])])
    d = judge(crit(statistic="p99", compare="difference", direction="<=", threshold=0), both, root=tmp_path)
    assert (d.change, d.ci_low, d.ci_high) == pytest.approx(_t95([c - b for c, b in zip(clk, base)]))
    assert d.verdict == PASS and (d.baseline, d.clocked) == pytest.approx((sum(base) / 4, sum(clk) / 4))
    assert "paired t on the differences of the p99 per repeat (4 repeats per build of 260 values" in d.reason
    a = judge(crit(statistic="p99", compare="absolute", direction="<=", threshold=600_000), both, root=tmp_path)
    assert (a.change, a.ci_low, a.ci_high) == pytest.approx(_t95(clk)) and a.verdict == INCONCLUSIVE
    assert "t on the mean of the p99 per repeat" in a.reason and a.details["repeats"] == 4


def test_builds_with_different_numbers_of_repeats_are_not_paired(tmp_path):
    j = judge(_tail_crit(), index([_repeats("baseline", [_repeat_values(1_000_000, seed=s) for s in (1, 2, 3)]),
                                   _repeats("clocked", [_repeat_values(400_000, seed=s) for s in (4, 5, 6, 7)])]),
              root=tmp_path)
    assert j.verdict == INVALID and "repeats differ in number (4 clocked, 3 baseline)" in j.reason


def test_only_tail_statistics_of_records_in_repeats_are_judged_per_repeat(tmp_path):
    base = [_repeat_values(1_000_000, seed=s) for s in (1, 2)]
    clk = [_repeat_values(400_000, seed=s) for s in (3, 4)]
    both = index([_repeats("baseline", base), _repeats("clocked", clk)])
    # the median of the same records: the values pooled, as before (two repeats are no obstacle)
    med = judge(crit(statistic="median", threshold=0.2), both, root=tmp_path, resamples=500)
    assert med.verdict == PASS and "repeat" not in med.reason
    # a p99 of records without their repeats: the pooled bootstrap, as before
    plain = judge(_tail_crit(), index([MetricRecord("m", "baseline", "ns", [v for g in base for v in g]),
                                       MetricRecord("m", "clocked", "ns", [v for g in clk for v in g])]),
                  root=tmp_path, resamples=500)
    assert plain.ci_low is not None and "repeat" not in plain.reason


def test_a_record_in_repeats_must_account_for_every_value():
    from harness.results import REPEATS, RecordError, repeat_groups

    r = MetricRecord("m", "clocked", "ns", [1, 2, 3, 4, 5], extra={REPEATS: [2, 0, 3]})
    assert repeat_groups(r) == [[1, 2], [], [3, 4, 5]]
    for bad in ([2, 2], [2, -1, 4], [2.0, 3], "5"):
        with pytest.raises(RecordError, match=REPEATS):
            MetricRecord("m", "clocked", "ns", [1, 2, 3, 4, 5], extra={REPEATS: bad})
    assert repeat_groups(MetricRecord("m", "clocked", "ns", [1])) is None
