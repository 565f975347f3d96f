"""One conformance suite for both builds of the connection controller and the reconnect backoff.

Real time for both builds (a LiveClock for the clocked one): deadlines are asserted as "not
before, and within a generous slack after", since the machine is shared. The clocked build is
then tested exactly under a TestClock, including thousands of connections in one advance, and
its close sequence is compared across two processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.websocket.connection_controller import CLOSE_CODES, IDLE, PEER_TIMEOUT, backoff_ns, due
from wskit import BUILDS, make_controller, make_reconnector

MS = 1_000_000
SLACK_NS = 1_000 * MS  # how late a close may come on a busy 2-core machine; never early


async def _closes(ctl, ids, *, keep_alive=(), active=(), until_ns: int, step_s: float = 0.02):
    """Open ``ids``; until ``until_ns`` (monotonic) call seen() on keep_alive and active() on active
    every step; return {id: (reason, monotonic close time)} and the longest gap between two steps.

    The gap says whether the scenario held: a machine that starved this loop for longer than a
    timeout left the "live" peers silent for real, and a close of one of them is then right."""
    got: dict[object, tuple[str, int]] = {}
    t0 = time.monotonic_ns()
    for i in ids:
        ctl.open(i, lambda reason, i=i: got.setdefault(i, (reason, time.monotonic_ns() - t0)))
    last = t0
    max_gap = 0
    while (now := time.monotonic_ns()) - t0 < until_ns:
        max_gap = max(max_gap, now - last)
        last = now
        for i in keep_alive:
            ctl.seen(i)
        for i in active:
            ctl.active(i)
        await asyncio.sleep(step_s)
    return got, max_gap


async def _closes_unstarved(make, timeout_ns: int, *args, attempts: int = 3, **kwargs):
    """``_closes`` on a fresh controller, again (up to ``attempts``) while the machine starved the
    keep-alive loop for half a timeout or more; the scenario's precondition, not its outcome, decides."""
    for _ in range(attempts):
        ctl = make()
        got, gap = await _closes(ctl, *args, **kwargs)
        if gap < timeout_ns // 2:
            return ctl, got
        ctl.stop()
    pytest.fail(f"the machine starved the keep-alive loop for {gap / MS:.0f} ms in {attempts} attempts")


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_a_silent_peer_is_closed_at_its_deadline_and_a_live_one_is_not(build):
    ctl, got = await _closes_unstarved(lambda: make_controller(build, 400 * MS, 10_000 * MS), 400 * MS,
                                       ["silent", "live"], keep_alive=["live"], until_ns=1_500 * MS)
    assert set(got) == {"silent"}
    reason, at = got["silent"]
    assert reason == PEER_TIMEOUT
    assert 400 * MS <= at <= 400 * MS + SLACK_NS
    assert ctl.closed == {PEER_TIMEOUT: 1, IDLE: 0}
    assert len(ctl.lateness_ns) == 1 and 0 <= ctl.lateness_ns[0] <= SLACK_NS
    assert ctl.count() == 1 and ctl.remaining_ns("live") is not None
    ctl.stop()
    assert ctl.count() == 0


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_heartbeat_acks_keep_the_peer_alive_but_not_the_connection_busy(build):
    # seen() (an ack) moves only the liveness deadline: the idle deadline still closes the connection.
    ctl, got = await _closes_unstarved(lambda: make_controller(build, 400 * MS, 700 * MS), 400 * MS,
                                       ["acks-only", "trading"], keep_alive=["acks-only"], active=["trading"],
                                       until_ns=1_800 * MS)
    assert set(got) == {"acks-only"}
    reason, at = got["acks-only"]
    assert reason == IDLE
    assert 700 * MS <= at <= 700 * MS + SLACK_NS
    ctl.stop()


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_forget_cancels_the_deadline_and_the_callback_runs_once(build):
    ctl = make_controller(build, 50 * MS, 50 * MS)
    calls: list[str] = []
    ctl.open("a", calls.append)
    ctl.open("b", calls.append)
    ctl.forget("a")
    ctl.forget("a")  # twice: harmless
    ctl.forget("nobody")
    await asyncio.sleep(0.4)
    assert calls == [PEER_TIMEOUT]
    assert ctl.count() == 0 and ctl.remaining_ns("b") is None
    ctl.seen("b")  # after the close: ignored
    ctl.active("b")


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_remaining_shrinks_and_seen_restores_it(build):
    ctl = make_controller(build, 1_000 * MS, 5_000 * MS)
    ctl.open("c", lambda reason: None)
    first = ctl.remaining_ns("c")
    assert 0 < first <= 1_000 * MS
    await asyncio.sleep(0.05)
    later = ctl.remaining_ns("c")
    assert later < first
    ctl.seen("c")
    assert ctl.remaining_ns("c") > later
    ctl.stop()


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_bad_arguments_are_refused_with_the_name(build):
    with pytest.raises(ValueError, match="peer_timeout_ns"):
        make_controller(build, 0, 1)
    with pytest.raises(ValueError, match="idle_timeout_ns"):
        make_controller(build, 1, -5)
    ctl = make_controller(build, MS, MS)
    ctl.open("x", lambda reason: None)
    with pytest.raises(ValueError, match="already open"):
        ctl.open("x", lambda reason: None)
    with pytest.raises(TypeError):
        ctl.open("y", None)
    ctl.stop()
    with pytest.raises(ValueError, match="cap_ns"):
        make_reconnector(build, 10 * MS, MS, seed=1)


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_a_thousand_silent_peers_all_close_none_early(build):
    n = 1000
    ctl, got = await _closes_unstarved(lambda: make_controller(build, 600 * MS, 10_000 * MS), 600 * MS,
                                       range(n), keep_alive=range(0, n, 2), until_ns=1_800 * MS, step_s=0.05)
    assert set(got) == set(range(1, n, 2))  # every silent one, no live one
    assert all(reason == PEER_TIMEOUT and 600 * MS <= at <= 600 * MS + SLACK_NS for reason, at in got.values())
    ctl.stop()


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.asyncio
async def test_reconnect_backoff_grows_is_capped_and_resets(build):
    r = make_reconnector(build, MS, 8 * MS, seed=3)
    t0 = time.monotonic_ns()
    delays = [await r.wait() for _ in range(6)]
    waited = time.monotonic_ns() - t0
    assert r.attempts == 6 and r.delays_ns == delays
    assert waited >= sum(delays)  # it really waited
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c * MS // 2 <= d <= c * MS for d, c in zip(delays, ceilings))
    # the same seed gives the same delays in both builds: the schedule is the shared pure logic
    rng = random.Random(3)
    assert delays == [backoff_ns(k, MS, 8 * MS, rng) for k in range(1, 7)]
    r.reset()
    assert r.attempts == 0
    assert MS // 2 <= await r.wait() <= MS


def test_due_and_backoff_pure_logic():
    assert due(0, 0, 10, 20).reason == PEER_TIMEOUT and due(0, 0, 10, 20).deadline_ns == 10
    assert due(0, 0, 30, 20).reason == IDLE
    assert due(0, 0, 20, 20).reason == PEER_TIMEOUT  # a tie: the dead peer is the graver news
    assert due(100, 0, 30, 20).deadline_ns == 20
    assert CLOSE_CODES[PEER_TIMEOUT] != CLOSE_CODES[IDLE]
    rng = random.Random(0)
    for attempt in range(1, 200):
        d = backoff_ns(attempt, 10, 1_000, rng)
        ceiling = min(1_000, 10 << (attempt - 1)) if attempt <= 62 else 1_000
        assert ceiling - ceiling // 2 <= d <= ceiling
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="attempt"):
            backoff_ns(bad, 10, 100, rng)  # type: ignore[arg-type]


# --- clocked build, exactly under a TestClock ---------------------------------------------------


def _scenario(n: int) -> list[tuple[int, object, str]]:
    """n connections on a TestClock: some silent, some acking, some trading, some forgotten."""
    from targets.clock import TestClock
    from targets.websocket import ConnectionController

    clock = TestClock(1_000 * MS)
    ctl = ConnectionController(1_000 * MS, 5_000 * MS, clock=clock)
    out: list[tuple[int, object, str]] = []
    for i in range(n):
        ctl.open(i, lambda reason, i=i: out.append((clock.timestamp_ns(), i, reason)))
    for step in range(1, 13):  # every 500 ms: acks from i % 3 == 1, trades from i % 3 == 2
        clock.advance_time(1_000 * MS + step * 500 * MS)
        for i in range(n):
            if i % 3 == 1:
                ctl.seen(i)
            elif i % 3 == 2 and i % 7:
                ctl.active(i)
        if step == 4:
            for i in range(1, n, 33):  # live (acking) ones, forgotten as if they had closed
                ctl.forget(i)
    clock.advance_time(60_000 * MS)
    return out


def test_testclock_closes_exactly_at_each_deadline_thousands_in_one_advance():
    from targets.clock import TestClock
    from targets.websocket import ConnectionController

    clock = TestClock(0)
    ctl = ConnectionController(1_000 * MS, 5_000 * MS, clock=clock)
    got: list[tuple[int, int, str]] = []
    n = 5_000
    for i in range(n):
        clock.advance_time(i * 100)  # opened 100 ns apart
        ctl.open(i, lambda reason, i=i: got.append((clock.timestamp_ns(), i, reason)))
    clock.advance_time(1_000 * MS - 1)
    assert got == [] and ctl.count() == n
    clock.advance_time(2_000 * MS)  # one advance: every deadline falls in it
    assert got == [(1_000 * MS + i * 100, i, PEER_TIMEOUT) for i in range(n)]
    assert ctl.lateness_ns == [0] * n and ctl.closed[PEER_TIMEOUT] == n and ctl.count() == 0
    assert clock.timer_count == 0


def test_testclock_seen_rearms_lazily_and_idle_closes_exactly():
    from targets.clock import TestClock
    from targets.websocket import ConnectionController

    clock = TestClock(0)
    ctl = ConnectionController(1_000 * MS, 3_000 * MS, clock=clock)
    got: list[tuple[int, str]] = []
    ctl.open("c", lambda reason: got.append((clock.timestamp_ns(), reason)))
    for t in range(100, 2_900, 100):  # an ack every 100 ms: one timer, moved only when it fires
        clock.advance_time(t * MS)
        ctl.seen("c")
        assert clock.timer_count == 1
    clock.advance_time(10_000 * MS)
    assert got == [(3_000 * MS, IDLE)]  # acks never made it active: idle at open + 3 s exactly
    assert ctl.remaining_ns("c") is None


def test_testclock_scenario_is_exact_and_reproducible():
    out = _scenario(3_000)
    assert out == _scenario(3_000)
    reasons = {i: (t, r) for t, i, r in out}
    assert 1 not in reasons and 34 not in reasons and 4 in reasons  # forgotten / not
    assert reasons[3] == (2_000 * MS, PEER_TIMEOUT)  # silent: open + 1 s
    assert reasons[4] == (1_000 * MS + 5_000 * MS, IDLE)  # acks only: open + idle timeout
    assert reasons[2][1] == PEER_TIMEOUT and reasons[2][0] == 1_000 * MS + 6_000 * MS + 1_000 * MS  # last trade + 1 s
    assert reasons[14] == (2_000 * MS, PEER_TIMEOUT)  # i % 7 == 0: never traded


_DIGEST_CODE = (
    "import hashlib, sys; sys.path.insert(0, {path!r}); from test_websocket_conformance import _scenario; "
    "print(hashlib.sha256(repr(_scenario(3_000)).encode()).hexdigest(), len(_scenario(3_000)))"
)


def test_testclock_digest_is_identical_across_processes():
    here = Path(__file__).parent
    code = _DIGEST_CODE.format(path=str(here))
    outs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           cwd=here.parent.parent).stdout.split() for _ in range(2)]  # fmt: skip
    assert outs[0] == outs[1]
    digest, count = outs[0]
    assert int(count) > 1_000  # a non-empty close sequence
    assert digest == hashlib.sha256(repr(_scenario(3_000)).encode()).hexdigest()
