"""Both builds of the websocket family, built through the switchboard (harness/builds.py).

``make_controller(build, ...)`` and ``make_reconnector(build, ...)`` build the clocked twin on a
LiveClock and the baseline on system time; both must be called inside a running loop.
"""

from __future__ import annotations

from typing import Any

from harness import builds

BUILDS = builds.BUILDS


def _clock(build: str, **kw: Any) -> Any:
    from targets.clock import LiveClock

    return LiveClock(**kw) if builds.needs_clock(build) else None


def make_controller(build: str, peer_timeout_ns: int, idle_timeout_ns: int) -> Any:
    return builds.make("ws_connections", build, clock=_clock(build, tick_ns=2_000_000),
                       peer_timeout_ns=peer_timeout_ns, idle_timeout_ns=idle_timeout_ns)  # fmt: skip


def make_reconnector(build: str, base_ns: int, cap_ns: int, seed: int) -> Any:
    # the client side is not a service component (no row): both twins come from the family's front door
    if builds.needs_clock(build):
        from targets.websocket import Reconnector

        return Reconnector(base_ns, cap_ns, clock=_clock(build), seed=seed)
    from baselines.websocket import Reconnector as Baseline

    return Baseline(base_ns, cap_ns, seed=seed)
