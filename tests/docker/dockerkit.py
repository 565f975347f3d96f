"""Test doubles for the container family's narrow engine interfaces (TEST DOUBLES, not an engine:
the real engine is exercised in test_docker_engine.py). They use only the running event loop's time
and timers, so the same double serves the clocked build on a VirtualTimeLoop (virtual time) and the
baseline on a normal loop (real time). Builds are made here, side by side, with the same arguments.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harness.builds import make
from targets.clock import Clock

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


def loop_ns() -> int:
    return round(asyncio.get_running_loop().time() * NS_PER_S)


class ScriptedProbe:
    """HealthProbe: each check takes ``latency_ns``; unhealthy inside a fault window (loop time,
    relative to ``origin``), hangs forever for containers in ``hang``, raises for ``refuse``."""

    def __init__(self, latency_ns: int = 0) -> None:
        self.latency_ns = latency_ns
        self.faults: dict[str, list[tuple[int, int]]] = {}
        self.down: set[str] = set()
        self.hang: set[str] = set()
        self.refuse: set[str] = set()
        self.script: dict[str, list[bool]] = {}  # the next outcomes of a container, before any other rule
        self.calls = 0

    async def check(self, container_id: str) -> bool:
        self.calls += 1
        if container_id in self.hang:
            await asyncio.Event().wait()
        if self.latency_ns:
            await asyncio.sleep(self.latency_ns / NS_PER_S)
        if container_id in self.refuse:
            raise ConnectionRefusedError(container_id)
        if self.script.get(container_id):
            return self.script[container_id].pop(0)
        now = loop_ns()
        if container_id in self.down:
            return False
        return not any(d <= now < u for d, u in self.faults.get(container_id, ()))


@dataclass
class FakeContainer:
    ready_after_ns: int = 0  # from start to 'healthy'
    term_exit_ns: int | None = 0  # SIGTERM -> exit after this; None: ignores SIGTERM
    bad_starts: int = 0  # the first N starts never become healthy
    running: bool = False
    started_at: int = 0
    starts: int = 0
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    log: list[str] = field(default_factory=list)


class FakeEngine:
    """ContainerEngine double: containers become healthy ``ready_after_ns`` after a start, exit
    ``term_exit_ns`` after SIGTERM (or never), exit at once on kill."""

    def __init__(self) -> None:
        self.containers: dict[str, FakeContainer] = {}

    def add(self, cid: str, **kw: object) -> FakeContainer:
        c = FakeContainer(**kw)  # type: ignore[arg-type]
        c.exited.set()
        self.containers[cid] = c
        return c

    async def start(self, container_id: str) -> None:
        c = self.containers[container_id]
        c.running, c.started_at = True, loop_ns()
        c.starts += 1
        c.exited = asyncio.Event()
        c.log.append("start")

    async def health(self, container_id: str) -> str:
        c = self.containers[container_id]
        if not c.running:
            return "exited"
        if c.starts <= c.bad_starts:
            return "starting"
        return "healthy" if loop_ns() - c.started_at >= c.ready_after_ns else "starting"

    def _exit(self, c: FakeContainer, how: str) -> None:
        if c.running:
            c.running = False
            c.log.append(how)
            c.exited.set()

    async def signal(self, container_id: str, signal: str) -> None:
        c = self.containers[container_id]
        c.log.append(signal)
        if c.running and c.term_exit_ns is not None:
            asyncio.get_running_loop().call_later(c.term_exit_ns / NS_PER_S, self._exit, c, "exit")

    async def kill(self, container_id: str) -> None:
        self._exit(self.containers[container_id], "killed")

    async def wait_exit(self, container_id: str) -> int:
        c = self.containers[container_id]
        await c.exited.wait()
        return 0 if c.log[-1] == "exit" else 137


def make_checker(build: str, probe: object, clock: Clock | None = None, **kw: object):
    """The build's checker through the switchboard (the clocked one on ``clock``)."""
    return make("containers", build, clock=clock if build == "clocked" else None, probe=probe, **kw)


def make_lifecycle(build: str, engine: object, clock: Clock | None = None, **kw: object):
    return make("container_lifecycle", build, clock=clock if build == "clocked" else None, engine=engine, **kw)
