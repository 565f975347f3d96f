"""Clocked container lifecycle (the plan's ``docker/container_lifecycle_clock.py``).

Start behind a readiness gate (the container counts as up once the engine says 'healthy', polled
at start + k*poll on the clock, until a deadline), stop gracefully (SIGTERM, then kill once the
clock's deadline passes), restart with exponential backoff between attempts. Every instant comes
from the clock and every wait is a clock timer, so a TestClock runs it all in virtual time.
"""

from __future__ import annotations

from core.docker.protocols import ContainerEngine
from core.docker.records import RestartResult, StartResult, StopResult, backoff_ns, check_positive_ns
from targets.clock import Clock


class ContainerLifecycle:
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
        self.engine = engine
        self.clock = clock
        self.ready_timeout_ns = check_positive_ns("ready_timeout_ns", ready_timeout_ns)
        self.ready_poll_ns = check_positive_ns("ready_poll_ns", ready_poll_ns)
        self.stop_grace_ns = check_positive_ns("stop_grace_ns", stop_grace_ns)
        self.backoff_base_ns = check_positive_ns("backoff_base_ns", backoff_base_ns)
        self.backoff_cap_ns = check_positive_ns("backoff_cap_ns", backoff_cap_ns)
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts

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
        began = self.clock.timestamp_ns()
        delays: list[int] = []
        await self.stop(container_id)
        for attempt in range(self.max_attempts):
            if attempt:
                delay = backoff_ns(attempt - 1, self.backoff_base_ns, self.backoff_cap_ns)
                delays.append(delay)
                await self.clock.sleep(delay)
            result = await self.start(container_id)
            if result.ready:
                return RestartResult(container_id, began, result.ready_ns, attempt + 1, tuple(delays))
            await self.stop(container_id)
        return RestartResult(container_id, began, None, self.max_attempts, tuple(delays))
