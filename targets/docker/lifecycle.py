"""Clocked container lifecycle (the plan's ``docker/container_lifecycle_clock.py``).

Start behind a readiness gate (the container counts as up once the engine says 'healthy', polled
at start + k*poll on the clock, until a deadline), stop gracefully (SIGTERM, then kill once the
clock's deadline passes), restart with exponential backoff between attempts. Every instant comes
from the clock and every wait is a clock timer, so a TestClock runs it all in virtual time.
"""

from __future__ import annotations

from core.docker.protocols import ContainerEngine
from core.docker.records import RestartResult, StartResult, StopResult
from core.docker.shared import LifecycleSettings
from targets.clock import Clock


class ContainerLifecycle(LifecycleSettings):
    def __init__(
        self,
        engine: ContainerEngine,
        *,
        clock: Clock,
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
        self.clock = clock

    async def start(self, container_id: str) -> StartResult:
        await self.engine.start(container_id)
        started = self.clock.timestamp_ns()
        deadline = started + self.ready_timeout_ns
        polls = 0
        k = 0
        while True:
            polls += 1
            status = await self.engine.health(container_id)
            now = self.clock.timestamp_ns()
            if status == "healthy":
                return StartResult(container_id, started, now, polls)
            if status == "exited" or now >= deadline:
                return StartResult(container_id, started, None, polls)
            k += 1
            due = started + k * self.ready_poll_ns
            if due <= now:  # a slow poll: skip the slots already past, stay on the grid
                k = (now - started) // self.ready_poll_ns + 1
                due = started + k * self.ready_poll_ns
            await self.clock.sleep_until(min(due, deadline))

    async def stop(self, container_id: str) -> StopResult:
        requested = self.clock.timestamp_ns()
        await self.engine.signal(container_id, "SIGTERM")
        try:
            async with self.clock.timeout_at(requested + self.stop_grace_ns):
                await self.engine.wait_exit(container_id)
            graceful = True
        except TimeoutError:
            graceful = False
            await self.engine.kill(container_id)
            await self.engine.wait_exit(container_id)
        return StopResult(container_id, requested, self.clock.timestamp_ns(), graceful)

    async def restart(self, container_id: str) -> RestartResult:
        return await self.restart_with(container_id, self.clock.timestamp_ns(), start=self.start, stop=self.stop,
                                       pause=self.clock.sleep)
