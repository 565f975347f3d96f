"""Container lifecycle the usual way: ``time.monotonic()`` deadlines, ``asyncio.sleep`` between
readiness polls and between restart attempts, ``asyncio.wait_for`` around the graceful stop.
Records use ``time.time_ns()``. The plan's ``docker/container_lifecycle_clock.py`` is the clocked
twin (targets/docker/lifecycle.py)."""

from __future__ import annotations

import asyncio
import time

from core.docker.protocols import ContainerEngine
from core.docker.records import RestartResult, StartResult, StopResult
from core.docker.shared import LifecycleSettings
from core.units import NS_PER_S


class ContainerLifecycle(LifecycleSettings):
    def __init__(
        self,
        engine: ContainerEngine,
        *,
        ready_timeout_ns: int,
        ready_poll_ns: int,
        stop_grace_ns: int,
        backoff_base_ns: int,
        backoff_cap_ns: int,
        max_attempts: int = 5,
    ) -> None:
        super().__init__(ready_timeout_ns=ready_timeout_ns, ready_poll_ns=ready_poll_ns, stop_grace_ns=stop_grace_ns,
                         backoff_base_ns=backoff_base_ns, backoff_cap_ns=backoff_cap_ns, max_attempts=max_attempts)
        self.engine = engine

    async def start(self, container_id: str) -> StartResult:
        await self.engine.start(container_id)
        started = time.time_ns()
        deadline = time.monotonic() + self.ready_timeout_ns / NS_PER_S
        polls = 0
        while True:
            polls += 1
            status = await self.engine.health(container_id)
            if status == "healthy":
                return StartResult(container_id, started, time.time_ns(), polls)
            if status == "exited" or time.monotonic() >= deadline:
                return StartResult(container_id, started, None, polls)
            await asyncio.sleep(min(self.ready_poll_ns / NS_PER_S, max(0.0, deadline - time.monotonic())))

    async def stop(self, container_id: str) -> StopResult:
        requested = time.time_ns()
        await self.engine.signal(container_id, "SIGTERM")
        try:
            await asyncio.wait_for(self.engine.wait_exit(container_id), self.stop_grace_ns / NS_PER_S)
            graceful = True
        except TimeoutError:
            graceful = False
            await self.engine.kill(container_id)
            await self.engine.wait_exit(container_id)
        return StopResult(container_id, requested, time.time_ns(), graceful)

    async def restart(self, container_id: str) -> RestartResult:
        return await self.restart_with(container_id, time.time_ns(), start=self.start, stop=self.stop,
                                       pause=_sleep_ns)


async def _sleep_ns(delay_ns: int) -> None:
    await asyncio.sleep(delay_ns / NS_PER_S)
