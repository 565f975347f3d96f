"""Container health checks the usual way: one asyncio task per container, check then sleep.

This is how teams write a poller (and how Docker's own health monitor waits: the interval runs
from the end of one probe to the start of the next): ``while True: check; await
asyncio.sleep(interval)``, with ``asyncio.wait_for`` as the timeout and ``time.time_ns()`` for the
records. The checks drift by each check's duration, and a busy loop delays them further. The
plan's ``docker/health_check_clock.py`` is the clocked twin (targets/docker/health_check.py).
"""

from __future__ import annotations

import asyncio
import time

from core.docker.protocols import HealthProbe, TransitionHandler
from core.docker.shared import CheckerState
from core.units import NS_PER_S


class ContainerHealthChecker(CheckerState):
    def __init__(
        self,
        probe: HealthProbe,
        *,
        interval_ns: int,
        timeout_ns: int,
        unhealthy_after: int = 1,
        on_transition: TransitionHandler | None = None,
    ) -> None:
        super().__init__(probe, interval_ns=interval_ns, timeout_ns=timeout_ns, unhealthy_after=unhealthy_after,
                         on_transition=on_transition)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def add(self, container_id: str, offset_ns: int = 0) -> None:
        if container_id in self._tasks:
            raise ValueError(f"container {container_id!r} is already checked")
        self.check_offset(offset_ns)
        self.origins[container_id] = time.time_ns() + offset_ns
        self._tasks[container_id] = asyncio.get_running_loop().create_task(self._watch(container_id, offset_ns))

    def remove(self, container_id: str) -> None:
        task = self._tasks.pop(container_id, None)
        if task is not None:
            task.cancel()
        self._tracker.forget(container_id)

    def containers(self) -> list[str]:
        return list(self._tasks)

    def engine_event(self, container_id: str, status: str) -> None:
        self.engine_event_at(container_id, status, time.time_ns())

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, cid: str, offset_ns: int) -> None:
        interval_s = self.interval_ns / NS_PER_S
        timeout_s = self.timeout_ns / NS_PER_S
        await asyncio.sleep((offset_ns + self.interval_ns) / NS_PER_S)
        while cid in self._tasks:  # stop()/remove() take it out (a cancel alone can be lost in wait_for on 3.11)
            start = time.time_ns()
            answered = healthy = False
            try:
                healthy = bool(await asyncio.wait_for(self.probe.check(cid), timeout_s))
                answered = True
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - timeout, refused, engine error: not answered
                pass
            end = time.time_ns()
            if cid not in self._tasks:
                return  # removed while its check was in flight
            self.record(cid, None, start, end, answered, healthy)
            await asyncio.sleep(interval_s)
