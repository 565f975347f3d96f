"""The peer's-view judge (core/websocket/peer_view.py): what counts as a stable connection."""

from __future__ import annotations

import pytest

from core.websocket.connection_controller import HEARTBEAT_ACK, is_ack
from core.websocket.peer_view import PeerLog, quantile, summarize, view

S = 1_000_000_000
G = S // 2  # grace: half an interval


def _log(arrivals: list[int], promise_after: int = S, **kw) -> PeerLog:
    log = PeerLog("c", **kw)
    for a in arrivals:
        log.add(a, a, a + promise_after)
    return log


def test_punctual_heartbeats_make_a_stable_connection():
    v = view(_log([0, S, 2 * S, 3 * S, 4 * S, 5 * S], opened_ns=-S), (0, 5 * S), G)
    # promises at 1..4 s fall in [0, 5 s - grace]; each arrived exactly on time
    assert (v.due, v.on_time, v.lateness_ns, v.stable) == (4, 4, (0, 0, 0, 0), True)


def test_one_heartbeat_past_the_timeout_breaks_stability_but_counts_its_lateness():
    v = view(_log([0, S, 2 * S + G + 1, 3 * S + G + 1, 4 * S + G + 1, 5 * S + G + 1]), (0, 5 * S), G)
    assert v.due == 3 and v.on_time == 2 and not v.stable  # promises at 1 s, 2 s, 3.5 s (+1 ns)
    assert v.lateness_ns[1] == G + 1  # promised at 2 s (by the 1 s beat), arrived 2.5 s + 1 ns


def test_a_missing_heartbeat_a_close_or_a_late_open_is_unstable():
    assert not view(_log([0, S, 2 * S, 4 * S, 5 * S], promise_after=S), (0, 5 * S), G).stable  # 3 s never came
    closed = _log([0, S, 2 * S, 3 * S, 4 * S, 5 * S], closed_ns=4 * S + 1)
    assert view(closed, (0, 5 * S), G).closed_in_window and not view(closed, (0, 5 * S), G).stable
    assert not view(_log([0, S, 2 * S, 3 * S, 4 * S, 5 * S], opened_ns=S), (0, 5 * S), G).stable
    assert not view(PeerLog("empty"), (0, 5 * S), G).stable  # nothing due: nothing shows it alive


def test_summary_over_connections_and_bad_input():
    logs = [_log([0, S, 2 * S, 3 * S]), _log([0, S, 2 * S + S, 3 * S + S])]
    f = summarize(logs, (0, 3 * S), G)
    assert f["connections"] == 2 and f["stable"] == 1 and f["stable_share"] == 0.5
    assert f["heartbeats_due"] == 4 and f["heartbeats_on_time"] == 3 and f["lateness_max_ns"] == S
    assert quantile([], 0.5) is None and quantile([1, 2, 3, 4], 0.5) == 2 and quantile([1, 2, 3, 4], 1.0) == 4
    with pytest.raises(ValueError, match="grace_ns"):
        view(PeerLog("x"), (0, S), -1)
    with pytest.raises(ValueError, match="empty window"):
        view(PeerLog("x"), (S, S), 0)


def test_ack_recognised_in_any_json_spelling_only():
    assert is_ack(HEARTBEAT_ACK) and is_ack('{ "type" : "heartbeat_ack", "seq": 3 }')
    assert not is_ack('{"type": "ping", "note": "heartbeat_ack"}') and not is_ack("heartbeat_ack") and not is_ack("[]")


def _fig(lag_ns):
    return {"connections": 2, "stable_flags": [1, 0], "per_conn_on_time": [1_000_000, 500_000],
            "lateness_ns": [1, 2, 3], "lateness_p50_ns": 2, "lateness_p99_ns": 3, "lateness_max_ns": 3,
            "false_disconnects": 1, "close_codes": [4008], "dead_peer_detect_ns": [5 * S], "peer_timeout_ns": 5 * S,
            "dead_peers_not_closed": [], "server_cpu_ns_per_conn_beat": 1000, "server_cpu_s": 0.1,
            "server_rss_per_conn": 30_000, "server_rss_idle": 1, "server_rss_connected": 2,
            "client_loop_lag_p99_ns": lag_ns, "machine_load_1min": [20.0, 25.0]}  # fmt: skip


def test_measure_records_are_invalid_when_the_clients_were_starved():
    from harness.measure.websocket import MAX_CLIENT_LAG_NS, PLAN, records

    ok = {r.metric: r for r in records({"clocked": _fig(MAX_CLIENT_LAG_NS // 10)}, PLAN[True])}
    assert ok["ws.stable_share"].valid and ok["ws.stable_share"].values == [1_000_000, 0]
    assert ok["ws.heartbeat.lateness"].values == [1, 2, 3] and ok["ws.false_disconnects"].values == [1]
    bad = {r.metric: r for r in records({"clocked": _fig(MAX_CLIENT_LAG_NS + 1)}, PLAN[True])}
    for m in ("ws.stable_share", "ws.heartbeat.on_time_share", "ws.heartbeat.lateness", "ws.false_disconnects"):
        assert not bad[m].valid and "starved" in bad[m].reason and "25.0" in bad[m].reason
    assert bad["ws.server.rss_per_conn"].valid  # the server's own figures stand
