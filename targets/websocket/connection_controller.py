"""Clocked connection controller and reconnect backoff (the plan's connection_clock_controller.py).

Each connection's deadline is one coarse clock timer (a timing-wheel slot): no task per
connection. ``seen``/``active`` only store the clock's time, O(1) per message; the timer is
moved lazily when it fires early (activity pushed the deadline on), so a busy connection costs
one re-arm per timeout period, not one per message. Under a TestClock every close happens
exactly at its deadline, for any number of connections in one advance.
"""

from __future__ import annotations


from core.websocket.connection_controller import (
    CLOSE_REASONS,
    BackoffState,
    CloseCallback,
    check_positive_ns,
    due,
)
from targets.clock import Clock, TimeEvent


class _Conn:
    __slots__ = ("name", "close", "last_seen", "last_active", "armed_for")

    def __init__(self, name: str, close: CloseCallback, now: int) -> None:
        self.name = name
        self.close = close
        self.last_seen = now
        self.last_active = now
        self.armed_for = 0  # the deadline the pending timer fires at


class ConnectionController:
    """Per-connection liveness and idle deadlines on the Clock's coarse timers."""

    def __init__(self, peer_timeout_ns: int, idle_timeout_ns: int, *, clock: Clock) -> None:
        self.peer_timeout_ns = check_positive_ns("peer_timeout_ns", peer_timeout_ns)
        self.idle_timeout_ns = check_positive_ns("idle_timeout_ns", idle_timeout_ns)
        self.clock = clock
        self.closed: dict[str, int] = {reason: 0 for reason in CLOSE_REASONS}
        self.lateness_ns: list[int] = []
        self._conns: dict[object, _Conn] = {}
        self._ids: dict[str, object] = {}
        self._next = 0

    def open(self, conn_id: object, close: CloseCallback) -> None:
        if conn_id in self._conns:
            raise ValueError(f"connection {conn_id!r} is already open")
        if not callable(close):
            raise TypeError("close must be callable")
        self._next += 1
        conn = _Conn(f"ws-conn:{self._next}", close, self.clock.timestamp_ns())
        self._arm(conn, due(conn.last_seen, conn.last_active, self.peer_timeout_ns, self.idle_timeout_ns).deadline_ns)
        self._conns[conn_id] = conn
        self._ids[conn.name] = conn_id

    def seen(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.last_seen = self.clock.timestamp_ns()

    def active(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.last_seen = conn.last_active = self.clock.timestamp_ns()

    def forget(self, conn_id: object) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is not None:
            del self._ids[conn.name]
            if self.clock.has_timer(conn.name):
                self.clock.cancel_timer(conn.name)

    def remaining_ns(self, conn_id: object) -> int | None:
        conn = self._conns.get(conn_id)
        if conn is None:
            return None
        d = due(conn.last_seen, conn.last_active, self.peer_timeout_ns, self.idle_timeout_ns)
        return max(0, d.deadline_ns - self.clock.timestamp_ns())

    def count(self) -> int:
        return len(self._conns)

    def stop(self) -> None:
        for conn_id in list(self._conns):
            self.forget(conn_id)

    # --- timers -------------------------------------------------------------------------------
    def _arm(self, conn: _Conn, deadline_ns: int) -> None:
        # A one-shot coarse timer: first firing start + interval = deadline, stopping there.
        interval = self.peer_timeout_ns
        self.clock.set_timer(conn.name, interval, self._on_due, deadline_ns - interval, deadline_ns, coarse=True)
        conn.armed_for = deadline_ns

    def _on_due(self, event: TimeEvent) -> None:
        conn_id = self._ids.get(event.name)
        if conn_id is None:
            return
        conn = self._conns[conn_id]
        d = due(conn.last_seen, conn.last_active, self.peer_timeout_ns, self.idle_timeout_ns)
        now = self.clock.timestamp_ns()
        if now < d.deadline_ns:  # the peer spoke since the timer was set: move it on
            self._arm(conn, d.deadline_ns)
            return
        self.forget(conn_id)
        self.closed[d.reason] += 1
        self.lateness_ns.append(now - d.deadline_ns)
        conn.close(d.reason)


class Reconnector(BackoffState):
    """Client side: ``await wait()`` sleeps the next backoff on the clock before a reconnect."""

    def __init__(self, base_ns: int, cap_ns: int, *, clock: Clock, seed: int | None = None) -> None:
        super().__init__(base_ns, cap_ns, seed=seed)
        self.clock = clock

    async def wait(self) -> int:
        delay = self.next_delay_ns()
        await self.clock.sleep(delay)
        return delay
