"""The connection tracker and the heartbeat manager, both builds: clocked on a TestClock (exact),
baseline on real time with short intervals."""

from __future__ import annotations

import asyncio

import pytest

import baselines.load_balancing as baseline_lb
import baselines.websocket as baseline_ws
import targets.load_balancing as clocked_lb
import targets.websocket as clocked_ws
from targets.clock import TestClock

S = 1_000_000_000


def test_clocked_tracker_closes_at_the_deadline_and_activity_moves_it():
    clock = TestClock(1_000 * S)
    t = clocked_lb.IdleConnectionTracker(clock, 10 * S)
    closed: list[str] = []
    t.register("a", lambda: closed.append("a"))
    t.register("b", lambda: closed.append("b"))
    t.register("c", lambda: closed.append("c"))
    clock.advance_by(4 * S)
    t.busy("a")
    t.idle("a")  # a's deadline is now 1014 s
    t.busy("c")  # c is in the middle of a request: never closed while busy
    clock.advance_by(6 * S - 1)
    assert closed == []
    clock.advance_by(1)  # 1010 s: b's deadline
    assert closed == ["b"]
    clock.advance_by(4 * S - 1)
    assert closed == ["b"]
    clock.advance_by(1)
    assert closed == ["b", "a"]
    assert t.deadline_ns("c") is None and t.open_count() == 1
    t.idle("c")
    assert t.deadline_ns("c") == 1014 * S + 10 * S
    t.unregister("c")
    clock.advance_by(60 * S)
    assert closed == ["b", "a"] and t.closed_idle == 2
    assert clock.timer_count == 0


def test_tracker_rejects_a_duplicate_connection_and_a_bad_timeout():
    with pytest.raises(ValueError, match="idle_timeout_ns"):
        clocked_lb.IdleConnectionTracker(TestClock(0), 0)
    t = clocked_lb.IdleConnectionTracker(TestClock(0), S)
    t.register("x", lambda: None)
    with pytest.raises(ValueError, match="already tracked"):
        t.register("x", lambda: None)


@pytest.mark.asyncio
async def test_baseline_tracker_closes_idle_connections_on_its_sweep():
    t = baseline_lb.IdleConnectionTracker(50_000_000, poll_interval_s=0.01)
    closed: list[str] = []
    t.start()
    t.register("a", lambda: closed.append("a"))
    t.register("b", lambda: closed.append("b"))
    t.busy("b")
    await asyncio.sleep(0.2)
    t.stop()
    assert closed == ["a"] and t.closed_idle == 1 and t.lateness_ns[0] >= 0


def test_clocked_heartbeats_are_exact_and_announce_the_next_one():
    clock = TestClock(5 * S)
    hb = clocked_ws.WebSocketManager(clock, 2 * S)
    got: list[dict] = []
    hb.add("ws1", got.append)
    events = clock.advance_by(6 * S)
    assert len(events) == 3
    # coarse timers may be delivered up to one wheel tick late; the TestClock delivers them exactly
    assert [m["timestamp"] for m in got] == [7 * S, 9 * S, 11 * S]
    assert [m["next_heartbeat"] for m in got] == [9 * S, 11 * S, 13 * S]
    assert all(m["type"] == "heartbeat" for m in got)
    hb.remove("ws1")
    clock.advance_by(10 * S)
    assert len(got) == 3 and hb.connections() == 0


@pytest.mark.asyncio
async def test_baseline_heartbeats_arrive_every_interval():
    hb = baseline_ws.WebSocketManager(20_000_000)
    got: list[dict] = []
    hb.add("ws1", got.append)
    await asyncio.sleep(0.11)
    hb.stop()
    assert 3 <= len(got) <= 6
    assert all(m["next_heartbeat"] - m["timestamp"] == 20_000_000 for m in got)
