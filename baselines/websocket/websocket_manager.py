"""Baseline heartbeats: a task per connection, ``await asyncio.sleep(interval)`` then send with
``time.time_ns()``; the next heartbeat is announced as now + interval (the loop's own drift shows).

The plan's file: ``websocket_clock_manager.py`` (``WebSocketClockManager``); the name is build-neutral here, the same in both builds.
"""

from __future__ import annotations

import asyncio
import time

from core.websocket.protocols import Enqueue, heartbeat


class WebSocketManager:
    def __init__(self, interval_ns: int) -> None:
        if not isinstance(interval_ns, int) or interval_ns <= 0:
            raise ValueError(f"interval_ns must be a positive int, got {interval_ns!r}")
        self.interval_ns = interval_ns
        self.sent = 0
        self.lateness_ns: list[int] = []
        self._tasks: dict[object, asyncio.Task[None]] = {}

    def add(self, conn_id: object, enqueue: Enqueue) -> None:
        if conn_id in self._tasks:
            raise ValueError(f"connection {conn_id!r} already has heartbeats")
        self._tasks[conn_id] = asyncio.get_running_loop().create_task(self._loop(enqueue))

    def remove(self, conn_id: object) -> None:
        task = self._tasks.pop(conn_id, None)
        if task is not None:
            task.cancel()

    def connections(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        for conn_id in list(self._tasks):
            self.remove(conn_id)

    async def _loop(self, enqueue: Enqueue) -> None:
        interval_s = self.interval_ns / 1e9
        expected = time.time_ns() + self.interval_ns
        while True:
            await asyncio.sleep(interval_s)
            now = time.time_ns()
            self.sent += 1
            self.lateness_ns.append(now - expected)
            expected = now + self.interval_ns
            enqueue(heartbeat(now, now + self.interval_ns))
