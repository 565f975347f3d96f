"""The heartbeat manager's interface, shared by both builds.

A connection is added with a synchronous ``enqueue(message)`` (the handler's outgoing queue), so
timer callbacks never await and a TestClock run stays deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Enqueue = Callable[[dict], object]


def heartbeat(timestamp_ns: int, next_ns: int) -> dict:
    """The heartbeat message: ``{"type": "heartbeat", "timestamp": ns, "next_heartbeat": ns}``."""
    return {"type": "heartbeat", "timestamp": timestamp_ns, "next_heartbeat": next_ns}


class HeartbeatManager(Protocol):
    interval_ns: int
    sent: int
    lateness_ns: list[int]  # each heartbeat's send time minus its scheduled time (the build's own time)

    def add(self, conn_id: object, enqueue: Enqueue) -> None: ...
    def remove(self, conn_id: object) -> None: ...
    def connections(self) -> int: ...
    def stop(self) -> None: ...
