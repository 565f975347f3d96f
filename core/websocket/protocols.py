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


# --- the connection controller (the plan's connection_clock_controller.py) ------------------------
# Pure logic (deadlines, close reasons, the backoff schedule) is in core/websocket/connection_controller.py.

CloseCallback = Callable[[str], object]  # called once with the reason ("peer_timeout" or "idle")


class ConnectionDeadlines(Protocol):
    """Closes connections whose peer fell silent or that stayed idle (server side).

    ``open`` starts tracking with a close callback; ``seen`` on every frame from the peer moves the
    liveness deadline (it must be O(1): it runs once per message); ``active`` on an application
    message moves the idle deadline too; ``forget`` when the connection ended for another reason.
    The callback is called at most once, after the connection is forgotten.
    """

    peer_timeout_ns: int
    idle_timeout_ns: int
    closed: dict[str, int]  # connections closed, by reason
    lateness_ns: list[int]  # per close: close time minus its deadline, in the build's own time

    def open(self, conn_id: object, close: CloseCallback) -> None: ...
    def seen(self, conn_id: object) -> None: ...
    def active(self, conn_id: object) -> None: ...
    def forget(self, conn_id: object) -> None: ...
    def remaining_ns(self, conn_id: object) -> int | None: ...
    def count(self) -> int: ...
    def stop(self) -> None: ...


class ReconnectBackoff(Protocol):
    """Waits the backoff before each reconnect attempt (client side); ``reset`` after a success."""

    base_ns: int
    cap_ns: int
    attempts: int  # attempts since the last reset
    delays_ns: list[int]  # every delay waited, in order

    async def wait(self) -> int: ...
    def reset(self) -> None: ...
