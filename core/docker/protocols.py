"""The container family's interfaces, shared by both builds (clocked in targets/, baseline in baselines/).

The checker and the lifecycle talk to the engine only through two narrow interfaces:
``HealthProbe`` (one health check of one container) and ``ContainerEngine`` (start, health, signal,
kill, wait for exit). The real engine implements them in ``core.docker.adapters`` (docker SDK, HTTP);
unit tests implement them on a TestClock, so the scheduling and lifecycle logic runs in virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .records import Check, EngineEvent, RestartResult, StartResult, StopResult, Transition

TransitionHandler = Callable[[Transition], object]


@runtime_checkable
class HealthProbe(Protocol):
    """One health check: True when healthy, False when it answered unhealthy. Raising (any
    exception) means it did not answer; the checker's timeout also counts as not answered."""

    async def check(self, container_id: str) -> bool: ...


@runtime_checkable
class ContainerEngine(Protocol):
    """What the lifecycle needs from an engine. ``health`` is the engine's own status:
    'starting', 'healthy', 'unhealthy', 'none' (no health check) or 'exited'."""

    async def start(self, container_id: str) -> None: ...
    async def health(self, container_id: str) -> str: ...
    async def signal(self, container_id: str, signal: str) -> None: ...
    async def kill(self, container_id: str) -> None: ...
    async def wait_exit(self, container_id: str) -> int: ...


@runtime_checkable
class HealthChecker(Protocol):
    """Checks every added container each ``interval_ns`` and reports healthy/unhealthy transitions.

    ``add(cid, offset_ns)`` makes the container's schedule origin now + offset (its checks are due
    at origin + k*interval, k >= 1). Records use the build's own time (the clock, or system time).
    """

    interval_ns: int
    timeout_ns: int
    checks: list[Check]
    transitions: list[Transition]
    engine_events: list[EngineEvent]
    origins: dict[str, int]

    def add(self, container_id: str, offset_ns: int = 0) -> None: ...
    def remove(self, container_id: str) -> None: ...
    def containers(self) -> list[str]: ...
    def status(self, container_id: str) -> bool | None: ...
    def engine_event(self, container_id: str, status: str) -> None: ...
    async def stop(self) -> None: ...


@runtime_checkable
class ContainerLifecycle(Protocol):
    """Start behind a readiness gate, stop gracefully within a deadline then kill, restart with backoff."""

    async def start(self, container_id: str) -> StartResult: ...
    async def stop(self, container_id: str) -> StopResult: ...
    async def restart(self, container_id: str) -> RestartResult: ...
