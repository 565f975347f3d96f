"""Verdict logic on constructed data: every verdict reachable, boundaries right."""

from __future__ import annotations

import random

import pytest

from harness.report.criteria import Criterion
from harness.report.verdict import (FAIL, INCONCLUSIVE, INVALID, NOT_MEASURED, PASS, from_interval, judge)
from harness.results import MetricRecord, index, invalid


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


def test_multi_metric_geomean(tmp_path):
    r = index([MetricRecord("a", "baseline", "ns/op", samples(1000, 10)), MetricRecord("a", "clocked", "ns/op", samples(500, 10, seed=5)),
               MetricRecord("b", "baseline", "ns/op", samples(1000, 10, seed=6)), MetricRecord("b", "clocked", "ns/op", samples(2000, 10, seed=7))])
    j = judge(crit(metrics=("a", "b"), threshold=0.0), r, root=tmp_path, resamples=500)
    assert abs(j.change) < 0.02  # 0.5x and 2x cancel in the geometric mean
    assert j.verdict == INCONCLUSIVE
