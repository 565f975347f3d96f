"""Both builds of the websocket family behind one driver, for the conformance suite.

``make_controller(build, ...)`` and ``make_reconnector(build, ...)`` build the clocked twin on a
LiveClock and the baseline on system time; both must be called inside a running loop.
"""

from __future__ import annotations

from typing import Any

BUILDS = ("clocked", "baseline")


def make_controller(build: str, peer_timeout_ns: int, idle_timeout_ns: int) -> Any:
    if build == "clocked":
        from targets.clock import LiveClock
        from targets.websocket.connection_controller import ConnectionController

        return ConnectionController(peer_timeout_ns, idle_timeout_ns, clock=LiveClock(tick_ns=2_000_000))
    from baselines.websocket.connection_controller import ConnectionController as Baseline

    return Baseline(peer_timeout_ns, idle_timeout_ns)


def make_reconnector(build: str, base_ns: int, cap_ns: int, seed: int) -> Any:
    if build == "clocked":
        from targets.clock import LiveClock
        from targets.websocket.connection_controller import Reconnector

        return Reconnector(base_ns, cap_ns, clock=LiveClock(), seed=seed)
    from baselines.websocket.connection_controller import Reconnector as Baseline

    return Baseline(base_ns, cap_ns, seed=seed)
