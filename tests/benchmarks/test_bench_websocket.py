"""WebSocket connection controller microbenchmarks, both builds (issue 16).

``websocket.rearm``: one ``seen()`` per message over 10,000 open connections, the cost every
message pays to move its connection's deadline (clocked: a clock read and a store; the timer moves
only when it fires; baseline: a ``time.monotonic_ns()`` store, the watchdog task re-sleeps later).
``websocket.open_forget``: opening and forgetting 1,000 connections (clocked: a coarse timer each;
baseline: a watchdog task each). Server CPU per connection per heartbeat on real connections is
measured by ``clockbench run`` (harness/measure/websocket.py), not here.
Each benchmark checks a postcondition, so it fails under --benchmark-disable if it did nothing.
"""

from __future__ import annotations

import asyncio
from itertools import repeat

import pytest

N_OPEN = 10_000
N_CYCLE = 1_000
S = 1_000_000_000


def _make(build: str):
    from harness import builds
    from targets.clock import LiveClock

    clock = LiveClock() if builds.needs_clock(build) else None
    return builds.make("ws_connections", build, clock=clock, peer_timeout_ns=60 * S, idle_timeout_ns=600 * S)


def _mark(benchmark, group: str, build: str, ops: int) -> None:
    benchmark.group = group
    benchmark.extra_info["build"] = build
    benchmark.extra_info["ops"] = ops


@pytest.fixture
def loop():
    lp = asyncio.new_event_loop()
    asyncio.set_event_loop(lp)
    yield lp
    lp.run_until_complete(asyncio.sleep(0))
    lp.close()
    asyncio.set_event_loop(None)


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_rearm_on_every_message(benchmark, loop, build) -> None:
    _mark(benchmark, "websocket.rearm", build, N_OPEN)

    async def setup():
        ctl = _make(build)
        for i in range(N_OPEN):
            ctl.open(i, lambda reason: None)
        return ctl

    ctl = loop.run_until_complete(setup())
    seen = ctl.seen
    ids = range(N_OPEN)

    def every_connection_speaks() -> None:
        for i in ids:
            seen(i)

    benchmark(every_connection_speaks)
    assert ctl.count() == N_OPEN and ctl.remaining_ns(0) > 59 * S  # the deadline moved, nobody closed
    ctl.stop()


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_open_and_forget(benchmark, loop, build) -> None:
    _mark(benchmark, "websocket.open_forget", build, N_CYCLE)
    ctl = loop.run_until_complete(asyncio.sleep(0, _make(build)))
    opened = []

    def cycle() -> None:
        async def go() -> None:
            for _ in repeat(None, N_CYCLE):
                ctl.open(len(opened), lambda reason: None)
                opened.append(1)
            for i in range(len(opened) - N_CYCLE, len(opened)):
                ctl.forget(i)

        loop.run_until_complete(go())

    benchmark(cycle)
    assert len(opened) >= N_CYCLE and ctl.count() == 0 and sum(ctl.closed.values()) == 0
