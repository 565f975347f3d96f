"""Pure statistics: nearest-rank percentile, bootstrap CI coverage on known distributions, the A/B
judgment against an A/A noise floor, SLO parsing and the capacity search's bracket-and-bisect."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness import stats
from harness.load import abtest, capacity, slo


def test_percentile_nearest_rank() -> None:
    xs = list(range(1, 101))
    assert stats.percentile(xs, 50) == 50
    assert stats.percentile(xs, 99) == 99
    assert stats.percentile(xs, 99.9) == 100
    assert stats.percentile(xs, 0) == 1
    assert stats.percentile([7], 50) == 7
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile(xs, 101)


def test_bootstrap_is_reproducible_with_its_seed() -> None:
    xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    assert stats.bootstrap_ci(xs, seed=4) == stats.bootstrap_ci(xs, seed=4)


def test_paired_log_ratio_is_the_geometric_mean_of_pair_ratios() -> None:
    base = [100.0, 200.0, 400.0]  # the machine drifts 4x over the run; each pair moves together
    clk = [80.0, 160.0, 320.0]
    iv = stats.paired_log_ratio(clk, base)
    assert iv.estimate == pytest.approx(0.8) and iv.low == pytest.approx(0.8) and iv.high == pytest.approx(0.8)
    with pytest.raises(stats.TooFew):
        stats.paired_log_ratio([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        stats.paired_log_ratio([1.0, 0.0, 2.0], [1.0, 1.0, 1.0])


def test_judge_needs_the_ci_to_exclude_one_and_a_quiet_aa_pair() -> None:
    clear = abtest.judge("p99", (0.8, 0.75, 0.85), (1.0, 0.97, 1.04), lower_is_better=True)
    assert clear.beyond_noise and clear.better is True and clear.aa_ok
    biased = abtest.judge("p99", (0.8, 0.75, 0.85), (0.8, 0.76, 0.84), lower_is_better=True)
    assert not biased.beyond_noise and biased.better is None and not biased.aa_ok
    small_bias = abtest.judge("p99", (0.8, 0.75, 0.85), (1.01, 1.005, 1.015), lower_is_better=True)
    assert small_bias.beyond_noise and not small_bias.aa_ok
    straddles = abtest.judge("p99", (0.9, 0.7, 1.1), None, lower_is_better=True)
    assert not straddles.beyond_noise
    worse_tput = abtest.judge("throughput", (0.8, 0.75, 0.85), (1.0, 0.99, 1.01), lower_is_better=False)
    assert worse_tput.better is False


def _summary(p50: int, p99: int, rps: float, err: float, valid: bool = True) -> dict:
    lat = {"p50": p50, "p90": p99, "p99": p99, "p999": p99}
    return {"aggregate": {"latency_ns": lat, "latency_corrected_ns": None, "throughput_rps": rps, "error_rate": err},
            "validity": {"valid": valid, "reasons": [] if valid else ["load generator saturated"]}}


def test_ab_analysis_pairs_rounds_and_drops_invalid_ones() -> None:
    base = [_summary(1000 + i, 5000 + 10 * i, 100.0, 0.0) for i in range(6)]
    clk = [_summary(800 + i, 4000 + 10 * i, 120.0, 0.0) for i in range(6)]
    aa = [_summary(1001 + i, 5005 + 10 * i, 100.5, 0.0) for i in range(6)]
    clk[3] = _summary(1, 1, 1.0, 0.0, valid=False)
    res = abtest.analyse({"baseline": base, "clocked": clk, "aa": aa}, seed=1)
    assert res["dropped_rounds"] == [3] and len(res["used_rounds"]) == 5
    p50 = res["metrics"]["p50"]
    used = (0, 1, 2, 4, 5)
    geo = np.exp(np.mean([np.log((800 + i) / (1000 + i)) for i in used]))
    assert p50["ratio"] == pytest.approx(geo)
    assert p50["beyond_noise"] and p50["clocked_better"]
    assert res["metrics"]["throughput"]["clocked_better"]
    assert "no errors" in res["metrics"]["errors"]["note"]
    assert abtest.order(0) == ["baseline", "clocked", "aa"] and abtest.order(1) == ["aa", "clocked", "baseline"]


def test_a_round_counts_only_where_every_arm_can_use_it() -> None:
    per_arm = {"baseline": [1, 0, 1, 1], "clocked": [1, 1, 0, 1, 1], "aa": [1, 1, 1, 1]}
    assert abtest.rounds_in_every_arm(per_arm, bool) == [0, 3]  # round 4: the baseline arm has none
    assert abtest.rounds_in_every_arm({}, bool) == []


def test_slo_parse_and_evaluate() -> None:
    terms = slo.parse("p99<50ms, errors<1%")
    assert [(t.metric, t.op, t.limit) for t in terms] == [("p99", "<", 50_000_000), ("errors", "<", 0.01)]
    ok, lines = slo.evaluate(terms, _summary(1_000_000, 49_000_000, 10.0, 0.005))
    assert ok and len(lines) == 2
    ok, lines = slo.evaluate(terms, _summary(1_000_000, 51_000_000, 10.0, 0.005))
    assert not ok and "VIOLATED" in lines[0]
    assert slo.parse("p999<=2s,rps>100")[0].limit == 2_000_000_000
    for bad, needle in [("", "empty"), ("p99<50", "unit"), ("p98<5ms", "unknown metric"),
                        ("errors<150%", "between"), ("p99=5ms", "expected")]:
        with pytest.raises(slo.SLOError, match=needle):
            slo.parse(bad)


@pytest.mark.parametrize("true_capacity,start", [(37, 10), (3, 10), (0, 5), (500, 1), (10, 10)])
def test_capacity_search_finds_the_boundary_of_a_monotone_step(true_capacity: int, start: int) -> None:
    seen = []

    def step(users: int) -> capacity.Step:
        seen.append(users)
        return capacity.Step(users, users <= true_capacity)

    res = capacity.search(step, start=start, max_users=10_000, resolution=0.0)
    assert res.valid and res.capacity == true_capacity
    assert res.first_fail == true_capacity + 1
    assert len(seen) <= 2 * math.ceil(math.log2(max(true_capacity, 2) + 2)) + 4


def test_capacity_search_with_resolution_and_ceiling_and_invalid_steps() -> None:
    res = capacity.search(lambda u: capacity.Step(u, u <= 1000), start=10, max_users=100_000, resolution=0.05)
    assert res.capacity <= 1000 < res.first_fail and res.first_fail - res.capacity <= 0.05 * res.capacity + 1
    top = capacity.search(lambda u: capacity.Step(u, True), start=10, max_users=100)
    assert top.capacity == 100 and top.first_fail is None and "ceiling" in top.reason
    sat = capacity.search(lambda u: capacity.Step(u, True, valid=u < 40, reason="generator saturated"), start=10)
    assert not sat.valid and sat.capacity == 20 and "generator saturated" in sat.reason
    rep = capacity.repeated(lambda i: capacity.Search(10 + i, 11 + i, True, "", []), 3)
    assert (rep.median, rep.low, rep.high, rep.valid) == (11, 10, 12, True)


@pytest.mark.parametrize("true_capacity,guess", [(5, 5), (5, 4), (5, 9), (37, 20), (37, 60), (0, 3), (3, 1)])
def test_a_guessed_search_ends_on_the_same_boundary_in_fewer_steps_near_it(true_capacity: int, guess: int) -> None:
    def search(**kw):  # type: ignore[no-untyped-def]
        seen: list[int] = []

        def step(users: int) -> capacity.Step:
            seen.append(users)
            return capacity.Step(users, users <= true_capacity)

        return capacity.search(step, start=4, max_users=10_000, resolution=0.0, **kw), seen

    cold, cold_steps = search()
    warm, warm_steps = search(guess=guess)
    assert warm.valid and (warm.capacity, warm.first_fail) == (cold.capacity, cold.first_fail) == (true_capacity, true_capacity + 1)
    assert true_capacity in warm_steps or true_capacity == 0  # a measured pass ...
    assert true_capacity + 1 in warm_steps  # ... next to a measured failure
    if guess in (true_capacity, true_capacity + 1):
        assert len(warm_steps) == 2 < len(cold_steps)


def test_a_guess_a_width_off_moves_by_that_width_twice_before_doubling() -> None:
    """At the quick run's resolution (0.25) a trial's guess is most often a width or so off its
    capacity: two moves of one width reach a failure within the resolution in three steps, where
    doubling at once took four (10, 12, 16, then 14); far off, the width still doubles."""
    def steps(true_capacity: int, guess: int) -> tuple[capacity.Search, list[int]]:
        seen: list[int] = []

        def step(users: int) -> capacity.Step:
            seen.append(users)
            return capacity.Step(users, users <= true_capacity)

        return capacity.search(step, start=8, max_users=512, resolution=0.25, guess=guess), seen

    near, near_steps = steps(13, 10)
    assert near_steps == [10, 12, 14] and (near.capacity, near.first_fail) == (12, 14)
    down, down_steps = steps(9, 12)
    assert down_steps == [12, 9, 10] and (down.capacity, down.first_fail) == (9, 10)
    far, far_steps = steps(40, 10)
    assert far_steps[:5] == [10, 12, 14, 18, 26] and far.capacity >= 40 * 0.75 and far.first_fail > 40


def test_a_guessed_search_stops_at_the_ceiling_and_on_an_invalid_step() -> None:
    top = capacity.search(lambda u: capacity.Step(u, True), start=4, max_users=20, guess=15)
    assert top.valid and top.capacity == 20 and top.first_fail is None and "ceiling" in top.reason
    bad = capacity.search(lambda u: capacity.Step(u, u <= 10, valid=u != 11, reason="generator saturated"),
                          start=4, max_users=100, resolution=0.0, guess=9)  # 9, 10, then 11
    assert not bad.valid and bad.capacity == 10 and "generator saturated" in bad.reason


def test_a_trial_brackets_from_its_own_last_capacity_else_from_the_other_builds_in_the_same_trial() -> None:
    def found(cap: int, valid: bool = True) -> capacity.Search:
        return capacity.Search(cap, cap + 1, valid, "" if valid else "generator saturated", [])

    assert capacity.trial_guess([]) is None  # the very first search: doubling from --start-users
    assert capacity.trial_guess([], found(24)) == 24  # the second build's first trial: the first build's
    assert capacity.trial_guess([found(30)], found(24)) == 30  # a later trial: the build's own
    # nothing to start from: an invalid or empty search, the build's own deciding where there is one
    assert capacity.trial_guess([], found(24, valid=False)) is None
    assert capacity.trial_guess([], found(0)) is None
    assert capacity.trial_guess([found(30, valid=False)], found(24)) is None


@pytest.mark.parametrize("argv, users", [(["load", "--users", "10", "--duration", "3.5", "--warmup", "0.5"], 10),
                                         (["capacity", "--start-users", "8", "--duration", "3.5", "--warmup", "0.5"], 8),
                                         (["load", "--users", "20", "--duration", "30"], 20)])
def test_a_command_line_load_starts_every_user_inside_its_warm_up(argv: list[str], users: int) -> None:
    """`clockbench load`/`ab`/`capacity` and the run's producers share one spawn rule: all users up
    within 80% of the warm-up. The commands' own formula capped the ramp at one second, so a 0.5 s
    warm-up's users went on starting for another half second of the measured window."""
    from harness.cli import build_parser
    from harness.commands.load import spec_from

    spec = spec_from(build_parser().parse_args(argv), users=users)
    assert spec.users == users and users / spec.spawn_rate <= 0.8 * spec.warmup_s + 1e-9
