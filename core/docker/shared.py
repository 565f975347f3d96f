"""What both builds' checker and lifecycle share, apart from how they read and wait on time.

``CheckerState`` holds a health checker's settings and records and turns outcomes into
transitions; ``LifecycleSettings`` validates a lifecycle's deadlines and runs the restart loop
(stop, then start attempts with backoff). Each build passes its own time in: the clocked twin its
Clock's reading and timers, the baseline ``time.time_ns()`` and ``asyncio.sleep``. Nothing here
reads time itself, so the two builds differ only where the plan says they should.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .protocols import HealthProbe, TransitionHandler
from .records import (
    Check,
    EngineEvent,
    HealthTracker,
    RestartResult,
    StartResult,
    StopResult,
    Transition,
    backoff_ns,
    check_positive_ns,
)


class CheckerState:
    """A checker's settings, records (checks, transitions, engine events, schedule origins) and the
    two trackers: its own probes' and the engine's health events'."""

    def __init__(self, probe: HealthProbe, *, interval_ns: int, timeout_ns: int, unhealthy_after: int = 1,
                 on_transition: TransitionHandler | None = None) -> None:
        self.probe = probe
        self.interval_ns = check_positive_ns("interval_ns", interval_ns)
        self.timeout_ns = check_positive_ns("timeout_ns", timeout_ns)
        self.on_transition = on_transition
        self.checks: list[Check] = []
        self.transitions: list[Transition] = []
        self.engine_events: list[EngineEvent] = []
        self.origins: dict[str, int] = {}
        self.skipped = 0  # slots skipped because a check was still in flight (a sleep loop never skips)
        self._tracker = HealthTracker(unhealthy_after)
        self._engine_tracker = HealthTracker(1)

    @staticmethod
    def check_offset(offset_ns: object) -> None:
        if not isinstance(offset_ns, int) or offset_ns < 0:
            raise ValueError(f"offset_ns must be an int >= 0, got {offset_ns!r}")

    def status(self, container_id: str) -> bool | None:
        return self._tracker.status(container_id)

    def engine_event_at(self, container_id: str, status: str, now_ns: int) -> None:
        """The engine reported a health status (its ``health_status`` event) at ``now_ns``."""
        self.engine_events.append(EngineEvent(container_id, status, now_ns))
        if status in ("healthy", "unhealthy"):
            self._report(self._engine_tracker.observe(container_id, status == "healthy", now_ns, "engine"))

    def record(self, cid: str, due_ns: int | None, start_ns: int, end_ns: int, answered: bool, healthy: bool) -> None:
        """One finished check: recorded, and its outcome tracked (not answered counts as unhealthy)."""
        ok = answered and healthy
        self.checks.append(Check(cid, due_ns, start_ns, end_ns, answered, ok))
        self._report(self._tracker.observe(cid, ok, end_ns))

    def _report(self, transition: Transition | None) -> None:
        if transition is None:
            return
        self.transitions.append(transition)
        if self.on_transition is not None:
            self.on_transition(transition)


class LifecycleSettings:
    """A lifecycle's deadlines (validated) and its restart loop; the build supplies ``start``,
    ``stop`` and how to read the time and wait."""

    def __init__(self, *, ready_timeout_ns: int, ready_poll_ns: int, stop_grace_ns: int, backoff_base_ns: int,
                 backoff_cap_ns: int, max_attempts: int = 5) -> None:
        self.ready_timeout_ns = check_positive_ns("ready_timeout_ns", ready_timeout_ns)
        self.ready_poll_ns = check_positive_ns("ready_poll_ns", ready_poll_ns)
        self.stop_grace_ns = check_positive_ns("stop_grace_ns", stop_grace_ns)
        self.backoff_base_ns = check_positive_ns("backoff_base_ns", backoff_base_ns)
        self.backoff_cap_ns = check_positive_ns("backoff_cap_ns", backoff_cap_ns)
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        self.max_attempts = max_attempts

    async def restart_with(self, container_id: str, began_ns: int, *,
                           start: Callable[[str], Awaitable[StartResult]],
                           stop: Callable[[str], Awaitable[StopResult]],
                           pause: Callable[[int], Awaitable[object]]) -> RestartResult:
        """Stop, then start attempts until one is ready, ``pause(delay_ns)`` with backoff between them."""
        delays: list[int] = []
        await stop(container_id)
        for attempt in range(self.max_attempts):
            if attempt:
                delay = backoff_ns(attempt - 1, self.backoff_base_ns, self.backoff_cap_ns)
                delays.append(delay)
                await pause(delay)
            result = await start(container_id)
            if result.ready:
                return RestartResult(container_id, began_ns, result.ready_ns, attempt + 1, tuple(delays))
            await stop(container_id)
        return RestartResult(container_id, began_ns, None, self.max_attempts, tuple(delays))
