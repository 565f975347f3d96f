"""Clocked heartbeats: one coarse clock timer per connection, on a fixed schedule from its start.

The schedule is start + k*interval, so heartbeats do not drift with load, ``next_heartbeat`` is
the timer's real next firing, and under a TestClock every heartbeat is reproducible.

The plan's file: ``websocket_clock_manager.py`` (``WebSocketClockManager``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

from targets.clock import Clock, TimeEvent

from core.websocket.protocols import Enqueue, heartbeat


class WebSocketManager:
    def __init__(self, clock: Clock, interval_ns: int) -> None:
        if not isinstance(interval_ns, int) or interval_ns <= 0:
            raise ValueError(f"interval_ns must be a positive int, got {interval_ns!r}")
        self.clock = clock
        self.interval_ns = interval_ns
        self.sent = 0
        self.lateness_ns: list[int] = []
        self._queues: dict[str, Enqueue] = {}
        self._names: dict[object, str] = {}
        self._next = 0

    def add(self, conn_id: object, enqueue: Enqueue) -> None:
        if conn_id in self._names:
            raise ValueError(f"connection {conn_id!r} already has heartbeats")
        self._next += 1
        name = f"ws-heartbeat:{self._next}"
        self._names[conn_id] = name
        self._queues[name] = enqueue
        self.clock.set_timer(name, self.interval_ns, self._beat, coarse=True)

    def remove(self, conn_id: object) -> None:
        name = self._names.pop(conn_id, None)
        if name is not None:
            self._queues.pop(name, None)
            try:
                self.clock.cancel_timer(name)
            except KeyError:
                pass

    def connections(self) -> int:
        return len(self._names)

    def stop(self) -> None:
        for conn_id in list(self._names):
            self.remove(conn_id)

    def _beat(self, event: TimeEvent) -> None:
        enqueue = self._queues.get(event.name)
        if enqueue is None:
            return
        now = self.clock.timestamp_ns()
        try:
            next_ns = self.clock.next_time_ns(event.name)
        except KeyError:
            next_ns = event.ts_event + self.interval_ns
        self.sent += 1
        self.lateness_ns.append(now - event.ts_event)
        enqueue(heartbeat(now, next_ns))
