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
