"""Clocked connection tracker: each idle connection's deadline is a coarse clock timer.

Why coarse timers: thousands of keep-alive sockets each need one idle deadline, which a timing
wheel serves for one loop handle; a deadline moved by new activity costs a timestamp store
(the timer re-arms lazily when it fires early), not a cancel-and-reschedule per request.
Under a TestClock the closes happen exactly when the test advances time past the deadline.

The plan's file: ``nginx_clock_controller.py`` (``NGINXClockController``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from targets.clock import Clock, TimeEvent

from core.load_balancing.protocols import CloseCallback
from core.load_balancing.tracker_common import ConnectionTrackerBase


@dataclass
class _Conn:
    name: str
    close: CloseCallback
    kind: str
    idle_since_ns: int
    busy: bool = False
    armed: bool = False


class IdleConnectionTracker(ConnectionTrackerBase):
    """The service's connection tracker (the plan's NGINXController.connection_tracker)."""

    def __init__(self, clock: Clock, idle_timeout_ns: int) -> None:
        super().__init__(idle_timeout_ns)
        self.clock = clock
        self._conns: dict[object, _Conn] = {}
        self._names: dict[str, object] = {}
        self._next = 0
        self._running = False

    def start(self) -> None:
        self._running = True

    def stop(self) -> None:
        self._running = False
        for conn in self._conns.values():
            self._disarm(conn)

    def register(self, conn_id: object, close: CloseCallback, kind: str = "http") -> None:
        if conn_id in self._conns:
            raise ValueError(f"connection {conn_id!r} is already tracked")
        self._next += 1
        name = f"conn-idle:{kind}:{self._next}"
        conn = _Conn(name, close, kind, self.clock.timestamp_ns())
        self._conns[conn_id] = conn
        self._names[name] = conn_id
        self._arm(conn)

    def idle(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is None:
            return
        conn.busy = False
        conn.idle_since_ns = self.clock.timestamp_ns()
        if not conn.armed:
            self._arm(conn)

    def unregister(self, conn_id: object) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is not None:
            self._names.pop(conn.name, None)
            self._disarm(conn)

    def _idle_since_ns(self, conn: _Conn) -> int:
        return conn.idle_since_ns

    # --- timers ---------------------------------------------------------------------------
    def _arm(self, conn: _Conn) -> None:
        self.clock.set_timer(
            conn.name, self.idle_timeout_ns, self._on_deadline, start_time_ns=conn.idle_since_ns, coarse=True
        )
        conn.armed = True

    def _disarm(self, conn: _Conn) -> None:
        if conn.armed:
            conn.armed = False
            try:
                self.clock.cancel_timer(conn.name)
            except KeyError:
                pass

    def _on_deadline(self, event: TimeEvent) -> None:
        conn_id = self._names.get(event.name)
        conn = self._conns.get(conn_id) if conn_id is not None else None
        if conn is None:
            return
        self._disarm(conn)
        if conn.busy:
            return  # re-armed when the request in flight completes
        deadline = conn.idle_since_ns + self.idle_timeout_ns
        now = self.clock.timestamp_ns()
        if now < deadline:
            self._arm(conn)  # activity moved the deadline since this timer was set
            return
        self.unregister(conn_id)
        self.closed_idle += 1
        self.lateness_ns.append(now - deadline)
        conn.close()


class NGINXController:
    """The plan's controller: the clock and the connection tracker the service shares with nginx's pool."""

    def __init__(self, clock: Clock, idle_timeout_ns: int) -> None:
        self.clock = clock
        self.connection_tracker = IdleConnectionTracker(clock, idle_timeout_ns)
