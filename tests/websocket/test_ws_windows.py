"""EI-WEBSOCKET's sub-windows (harness/wsload.py, harness/measure/websocket.py): every heartbeat's
lateness falls in exactly one sub-window, the record keeps them apart in order, and the builds'
coordinators agree on one window."""

from __future__ import annotations

import threading

import pytest

from core.websocket.peer_view import PeerLog, view
from harness.measure.websocket import MAX_SAMPLES, PLAN, CommonStart, both_at_once, lateness_record
from harness.results import REPEATS, repeat_groups
from harness.wsload import lateness_by_window

S = 1_000_000_000
G = S // 2


def _log(promises: list[int], late: int) -> PeerLog:
    log = PeerLog("c")
    log.beats = [(0, 0, promises[0])] + [(p + late, 0, q) for p, q in zip(promises, promises[1:] + [promises[-1] + S])]
    return log


def test_sub_windows_split_the_windows_lateness_exactly_by_promise():
    logs = [_log([k * S // 4 + i * S for i in range(14)], late=k + 1) for k in range(4)]
    window = (S, 11 * S)
    parts = lateness_by_window(logs, window, G, 5)
    whole = sorted(x for lg in logs for x in view(lg, window, G).lateness_ns)
    assert sorted(x for p in parts for x in p) == whole and len(parts) == 5
    assert all(p == sorted(p) and p for p in parts)
    # a promise at the window's start goes to the first, at its last counted instant to the last
    edge = [_log([S, 11 * S - G], late=7)]
    assert lateness_by_window(edge, window, G, 5) == [[7], [], [], [], [7]]
    with pytest.raises(ValueError):
        lateness_by_window(logs, window, G, 0)


def _fig(by_window: list[list[int]]) -> dict:
    flat = sorted(x for w in by_window for x in w)
    return {"lateness_ns": flat, "lateness_by_window": by_window, "lateness_p50_ns": 1, "lateness_p99_ns": 2,
            "lateness_max_ns": 3}


def test_the_lateness_record_keeps_each_sub_window_in_order():
    r = lateness_record("clocked", _fig([[5, 3], [9], [1, 2, 4]]))
    assert r.extra[REPEATS] == [2, 1, 3] and repeat_groups(r) == [[3, 5], [9], [1, 2, 4]]
    assert r.extra["heartbeats_per_window"] == [2, 1, 3] and r.extra["heartbeats"] == 6


def test_a_large_window_is_subsampled_per_sub_window_keeping_its_tail():
    big = [list(range(w * 100_000, w * 100_000 + 12_000)) for w in range(4)]
    r = lateness_record("baseline", _fig(big))
    assert r.extra[REPEATS] == [MAX_SAMPLES // 4] * 4 and r.extra["heartbeats"] == 48_000
    for g, full in zip(repeat_groups(r), big):
        assert g[0] == full[0] and abs(g[int(0.99 * len(g))] - full[int(0.99 * len(full))]) <= 3


def test_quick_and_full_windows_have_enough_sub_windows_for_a_paired_interval():
    from harness import stats

    for plan in PLAN.values():
        assert plan["windows"] >= stats.MIN_PAIRS
        # a heartbeat a second per connection: each sub-window holds enough for its p99
        assert plan["connections"] * plan["window_s"] / plan["windows"] >= 10 * stats.min_per_repeat("p99")


def test_coordinators_agree_on_the_latest_start_and_a_failure_releases_the_others():
    common = CommonStart(2, timeout_s=10)
    got = {}

    def ask(name: str, earliest: int) -> None:
        got[name] = common(earliest)

    threads = [threading.Thread(target=ask, args=(n, e)) for n, e in (("a", 5), ("b", 9))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == {"a": 9, "b": 9}

    order = []

    def measure(build: str, start_at) -> dict:
        order.append(build)
        if build == "b":
            raise RuntimeError("b failed to connect")
        start_at(1)  # "a" would wait here for "b" for ever without the abort
        return {}

    with pytest.raises(RuntimeError, match="b failed"):
        both_at_once(("a", "b"), measure)
    ok = both_at_once(("b", "a"), lambda b, start_at: {"start": start_at({"a": 3, "b": 4}[b])})
    assert ok == {"b": {"start": 4}, "a": {"start": 4}}
