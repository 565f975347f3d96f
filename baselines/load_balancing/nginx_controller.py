"""Baseline connection tracker: a sweep task every ``poll_interval_s`` closing connections whose
``time.time()`` idle age passed the timeout — how idle reaping is usually written without a clock.

The plan's file: ``nginx_clock_controller.py`` (``NGINXClockController``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from core.load_balancing.protocols import CloseCallback
from core.load_balancing.tracker_common import ConnectionTrackerBase


@dataclass
class _Conn:
    close: CloseCallback
    kind: str
    idle_since: float
    busy: bool = False


class IdleConnectionTracker(ConnectionTrackerBase):
    def __init__(self, idle_timeout_ns: int, poll_interval_s: float = 1.0) -> None:
        super().__init__(idle_timeout_ns)
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        self.poll_interval_s = poll_interval_s
        self._conns: dict[object, _Conn] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def register(self, conn_id: object, close: CloseCallback, kind: str = "http") -> None:
        if conn_id in self._conns:
            raise ValueError(f"connection {conn_id!r} is already tracked")
        self._conns[conn_id] = _Conn(close, kind, time.time())

    def idle(self, conn_id: object) -> None:
        conn = self._conns.get(conn_id)
        if conn is not None:
            conn.busy = False
            conn.idle_since = time.time()

    def unregister(self, conn_id: object) -> None:
        self._conns.pop(conn_id, None)

    def _idle_since_ns(self, conn: _Conn) -> int:
        return int(conn.idle_since * 1e9)

    def sweep(self) -> int:
        """Close every connection idle past the timeout now; returns how many."""
        now = time.time()
        timeout_s = self.idle_timeout_ns / 1e9
        due = [(cid, c) for cid, c in self._conns.items() if not c.busy and now - c.idle_since >= timeout_s]
        for cid, conn in due:
            del self._conns[cid]
            self.closed_idle += 1
            self.lateness_ns.append(int((now - conn.idle_since - timeout_s) * 1e9))
            conn.close()
        return len(due)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            with contextlib.suppress(Exception):
                self.sweep()


class NGINXController:
    def __init__(self, idle_timeout_ns: int, poll_interval_s: float = 1.0) -> None:
        self.connection_tracker = IdleConnectionTracker(idle_timeout_ns, poll_interval_s)
