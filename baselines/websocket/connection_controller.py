"""Baseline connection controller and reconnect backoff (the plan's connection_clock_controller.py,
before the plan): a watchdog task per connection that sleeps until its deadline, re-reads
``time.monotonic()`` and sleeps again if the peer spoke meanwhile; backoff on ``asyncio.sleep``.
This is how per-connection timeouts are commonly written with asyncio."""

from __future__ import annotations

import asyncio
import time

from core.websocket.connection_controller import (
    CLOSE_REASONS,
    BackoffState,
    CloseCallback,
    check_positive_ns,
    due,
)


def _current_task() -> asyncio.Task | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # stopped from outside a running loop (shutdown)
        return None


class _Conn:
    __slots__ = ("close", "last_seen", "last_active", "task")

    def __init__(self, close: CloseCallback, now: int) -> None:
        self.close = close
        self.last_seen = now
        self.last_active = now
        self.task: asyncio.Task[None] | None = None


class ConnectionController:
    """Per-connection liveness and idle deadlines, one watchdog task each."""

    def __init__(self, peer_timeout_ns: int, idle_timeout_ns: int) -> None:
        self.peer_timeout_ns = check_positive_ns("peer_timeout_ns", peer_timeout_ns)
        self.idle_timeout_ns = check_positive_ns("idle_timeout_ns", idle_timeout_ns)
        self.closed: dict[str, int] = {reason: 0 for reason in CLOSE_REASONS}
        self.lateness_ns: list[int] = []
        self._conns: dict[object, _Conn] = {}

    def open(self, conn_id: object, close: CloseCallback) -> None:
        if conn_id in self._conns:
            raise ValueError(f"connection {conn_id!r} is already open")
        if not callable(close):
            raise TypeError("close must be callable")
        conn = _Conn(close, time.monotonic_ns())
        conn.task = asyncio.get_running_loop().create_task(self._watch(conn_id, conn))
        self._conns[conn_id] = conn

    def seen(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.last_seen = time.monotonic_ns()

    def active(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.last_seen = conn.last_active = time.monotonic_ns()

    def forget(self, conn_id: object) -> None:
        conn = self._conns.pop(conn_id, None)
        if conn is not None and conn.task is not None and conn.task is not _current_task():
            conn.task.cancel()

    def remaining_ns(self, conn_id: object) -> int | None:
        conn = self._conns.get(conn_id)
        if conn is None:
            return None
        d = due(conn.last_seen, conn.last_active, self.peer_timeout_ns, self.idle_timeout_ns)
        return max(0, d.deadline_ns - time.monotonic_ns())

    def count(self) -> int:
        return len(self._conns)

    def stop(self) -> None:
        for conn_id in list(self._conns):
            self.forget(conn_id)

    async def _watch(self, conn_id: object, conn: _Conn) -> None:
        while True:
            d = due(conn.last_seen, conn.last_active, self.peer_timeout_ns, self.idle_timeout_ns)
            now = time.monotonic_ns()
            if now >= d.deadline_ns:
                break
            await asyncio.sleep((d.deadline_ns - now) / 1e9)
        if self._conns.get(conn_id) is not conn:
            return
        self.forget(conn_id)
        self.closed[d.reason] += 1
        self.lateness_ns.append(now - d.deadline_ns)
        conn.close(d.reason)


class Reconnector(BackoffState):
    """Client side: ``await wait()`` sleeps the next backoff with ``asyncio.sleep`` before a reconnect."""

    async def wait(self) -> int:
        delay = self.next_delay_ns()
        await asyncio.sleep(delay / 1e9)
        return delay
