"""The gateway producers' pure parts: each limiter's contract replayed exactly, the records built from
the profile's per-round classification, and the profile's classification itself."""

from __future__ import annotations

from harness.load import hdr
from harness.measure.api_gateway import LIMIT, PERIOD_NS, gateway_records, ideal_count

MS = 1_000_000


def test_each_contract_is_replayed_exactly() -> None:
    burst = [0] * (LIMIT + 5)  # LIMIT + 5 sends at once
    assert ideal_count("gcra", burst) == ideal_count("sliding", burst) == ideal_count("fixed", burst) == LIMIT
    steady = [i * 10 * MS for i in range(151)]  # 100/s for 1.5 s (the limit is 20/s, bursts of 20)
    assert ideal_count("gcra", steady) == LIMIT + (1500 * MS * LIMIT) // PERIOD_NS  # burst + one per 50 ms
    assert ideal_count("sliding", steady) == 2 * LIMIT  # 20 in [0, 1 s), 20 more from 1 s on
    late = [0] * LIMIT + [PERIOD_NS - 1, PERIOD_NS]
    assert ideal_count("fixed", late) == LIMIT + 1  # the window opened at 0 closes at PERIOD_NS


def _round(total: int, reliable: int, errors: list[int]) -> dict:
    h = hdr.new()
    for e in errors:
        hdr.record(h, e)
    return {"total": total, "reliable": reliable, "statuses": {"200": reliable}, "timeout_error": hdr.encode(h)}


def test_records_from_the_rounds() -> None:
    recs = gateway_records({"clocked": [_round(1000, 990, [1 * MS, 2 * MS]), _round(500, 500, [3 * MS])],
                            "baseline": [_round(100, 90, []), {"total": 0}]}, "gateway-ab.json")  # fmt: skip
    by = {(r.metric, r.build): r for r in recs}
    share = by[("load.gateway.within_budget", "clocked")]
    assert not share.valid and "in every arm" in share.reason  # baseline's round 2 is empty: one paired round
    err = by[("load.gateway.timeout_error", "clocked")]
    assert err.valid and len(err.values) == 3 and abs(max(err.values) - 3 * MS) < 3 * MS // 100
    assert not by[("load.gateway.within_budget", "baseline")].valid  # one round: no interval
    assert "outlived their budget" in by[("load.gateway.timeout_error", "baseline")].reason
    both = gateway_records({"clocked": [_round(1000, 990, []), _round(500, 500, []), _round(400, 300, [])],
                            "baseline": [_round(100, 90, []), _round(200, 100, []), _round(300, 300, [])]}, "g")
    share = {r.build: r for r in both if r.metric == "load.gateway.within_budget"}["clocked"]
    assert share.valid and share.values == [990_000, 1_000_000, 750_000] and share.unit == "ppm" and not share.lower_is_better


def test_a_round_empty_in_one_arm_is_dropped_from_every_arm() -> None:
    """Rounds pair by position: an arm's empty round must not shift its later rounds onto the other
    arms' earlier ones (aa empty in round 1 and baseline in round 3 left clocked 3, baseline 2 values)."""
    per_arm = {"baseline": [_round(12, 12, []), _round(24, 23, []), {"total": 0}, _round(30, 15, [])],
               "clocked": [_round(12, 11, []), _round(24, 23, []), _round(48, 48, []), _round(30, 30, [])],
               "aa": [{"total": 0}, _round(36, 34, []), _round(24, 24, []), _round(30, 27, [])]}
    recs = {r.build: r for r in gateway_records(per_arm, "g") if r.metric == "load.gateway.within_budget"}
    assert {b: (r.values, r.extra["used_rounds"]) for b, r in recs.items()} == {
        "baseline": ([958_333, 500_000], [1, 3]), "clocked": ([958_333, 1_000_000], [1, 3]),
        "aa": ([944_444, 900_000], [1, 3])}


def test_the_profile_classifies_each_request() -> None:
    from loadtests.gateway_stats import GatewayStats, parse_budget_range

    st = GatewayStats(lambda started_ns: started_ns >= 10)  # the measured window starts at 10
    st.record(9, 201, 1 * MS, 5 * MS)  # warm-up: not counted
    st.record(10, 201, 4 * MS, 5 * MS)  # in time: reliable
    st.record(10, 429, 1 * MS, 5 * MS)  # a refusal in time: reliable
    st.record(10, 201, 7 * MS, 5 * MS)  # correct but late: not reliable, 2 ms error
    st.record(10, 504, 5 * MS + 300_000, 5 * MS)  # timed out 0.3 ms after the budget
    st.record(10, 500, 1 * MS, 5 * MS)  # an error: not reliable, not a timeout
    p = st.payload()
    assert (p["total"], p["reliable"]) == (5, 2)
    h = hdr.decode(p["timeout_error"])
    assert h.get_total_count() == 2 and abs(h.get_max_value() - 2 * MS) < 2 * MS // 100
    assert parse_budget_range("5-60") == (5, 60)
    for bad in ("60-5", "x", "0-5"):
        try:
            parse_budget_range(bad)
        except ValueError as exc:
            assert "--cb-budget-ms" in str(exc)
        else:
            raise AssertionError(bad)


def _empty_round_share(phase: bool, rounds: int = 4000) -> float:
    """The share of simulated quick gateway rounds (api_gateway.LOAD_QUICK: 6 users spawned over the
    0.5 s warm-up, 1.5 s measured, bursts 1-3 s apart) in which no burst starts in the measured window."""
    import random

    from harness.measure.api_gateway import LOAD_QUICK
    from loadtests.gateway_stats import THINK_S, stationary_phase_s

    users, warmup, end = LOAD_QUICK["users"], LOAD_QUICK["warmup_s"], LOAD_QUICK["duration_s"]
    lo, hi = THINK_S
    rng = random.Random(7)
    empty = 0
    for _ in range(rounds):
        seen = False
        for i in range(users):
            at = i * warmup / users + (stationary_phase_s(rng, lo, hi) if phase else 0.0)
            while at < end and not seen:
                seen = at >= warmup
                at += rng.uniform(lo, hi)
        empty += not seen
    return empty / rounds


def test_gateway_users_start_where_the_steady_state_would_be():
    """Users that all burst at once in the warm-up then think through the quick run's 1.5 s window:
    in three quick runs of 6a7c38f, 5 of the 27 arm-rounds came back empty (each dropped its round
    from every arm); simulated, 4% of them. Started at a stationary phase, under 0.1%. The phase lies
    within one think time and is the same for the same seed."""
    import random

    from loadtests.gateway_stats import stationary_phase_s

    assert _empty_round_share(phase=False) > 0.02
    assert _empty_round_share(phase=True) < 0.004
    draws = [stationary_phase_s(random.Random(s), 1.0, 3.0) for s in range(200)]
    assert all(0.0 <= d <= 3.0 for d in draws) and draws == [stationary_phase_s(random.Random(s), 1.0, 3.0) for s in range(200)]
    assert stationary_phase_s(random.Random(1), 0.0, 0.0) == 0.0
