"""The connection tracker's interface, shared by the clocked and the baseline builds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

CloseCallback = Callable[[], object]


class ConnectionTracker(Protocol):
    """Closes connections that stay idle past their deadline (keep-alive HTTP and WebSockets).

    A connection is ``register``-ed with a close callback, marked ``busy`` while a request is in
    flight and ``idle`` when it is done; ``idle_timeout_ns`` after it last went idle (and stayed
    idle) the tracker calls its close callback once. ``unregister`` forgets it (peer closed).
    """

    idle_timeout_ns: int
    closed_idle: int  # connections closed for idleness
    lateness_ns: list[int]  # for each close: actual close time minus its deadline, in the build's own time

    def register(self, conn_id: object, close: CloseCallback, kind: str = "http") -> None: ...
    def idle(self, conn_id: object) -> None: ...
    def busy(self, conn_id: object) -> None: ...
    def unregister(self, conn_id: object) -> None: ...
    def open_count(self, kind: str | None = None) -> int: ...
    def deadline_ns(self, conn_id: object) -> int | None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
