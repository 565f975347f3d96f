"""Health-gated membership and replacement of unhealthy containers (the plan's
``docker/docker_clock_integration.py``), build-neutral: it reads no time and waits on nothing
itself. It listens to a HealthChecker's transitions: a container joins the members (the ones that
may get traffic) when it turns healthy, leaves them when it turns unhealthy, and is then restarted
by the ContainerLifecycle (readiness gate, graceful stop, backoff), one restart at a time per
container. Both builds' checker and lifecycle plug in; the times come from their records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from .protocols import ContainerLifecycle, HealthChecker
from .records import RestartResult, Transition

MembersHandler = Callable[[frozenset[str]], object]


@dataclass(frozen=True)
class Replacement:
    container: str
    unhealthy_at_ns: int  # when the checker reported it unhealthy (it left the members then)
    result: RestartResult | None  # None when the restart raised (error in ``error``)
    error: str = ""


class ContainerSupervisor:
    def __init__(self, checker: HealthChecker, lifecycle: ContainerLifecycle, *,
                 on_members: MembersHandler | None = None, restart: bool = True) -> None:
        self.checker = checker
        self.lifecycle = lifecycle
        self.on_members = on_members
        self.restart_unhealthy = restart
        self.members: set[str] = set()
        self.replacements: list[Replacement] = []
        self._restarting: dict[str, asyncio.Task[None]] = {}
        checker.on_transition = self.handle  # type: ignore[attr-defined]

    def handle(self, transition: Transition) -> None:
        """A checker transition: update the members, start a replacement on 'unhealthy'."""
        if transition.via != "check":
            return  # the engine's events are recorded by the checker; the gate follows its own probes
        cid = transition.container
        before = frozenset(self.members)
        if transition.healthy:
            self.members.add(cid)
        else:
            self.members.discard(cid)
            if self.restart_unhealthy and cid not in self._restarting:
                task = asyncio.get_running_loop().create_task(self._replace(cid, transition.at_ns))
                self._restarting[cid] = task
        if frozenset(self.members) != before and self.on_members is not None:
            self.on_members(frozenset(self.members))

    async def _replace(self, cid: str, unhealthy_at_ns: int) -> None:
        try:
            result = await self.lifecycle.restart(cid)
            self.replacements.append(Replacement(cid, unhealthy_at_ns, result))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded; the checker keeps reporting its health
            self.replacements.append(Replacement(cid, unhealthy_at_ns, None, f"{type(exc).__name__}: {exc}"))
        finally:
            self._restarting.pop(cid, None)

    def restarting(self) -> list[str]:
        return list(self._restarting)

    async def stop(self) -> None:
        tasks = list(self._restarting.values())
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.checker.stop()
