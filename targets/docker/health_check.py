"""Clocked container health checks (the plan's ``docker/health_check_clock.py``).

Each container gets one recurring clock timer, set once, due at origin + k*interval: no task per
container and no drift, whatever a check costs or however late the loop runs. A timer firing
starts that one check (a short task bounded by the clock's timeout); if the previous check of the
container is still in flight the slot is skipped and counted, so checks never pile up. Every
check's due instant, start, end and outcome are stamped with the clock; transitions come from the
shared tracker. The engine's own health events can be fed in too (``engine_event``), stamped and
tracked apart (``via="engine"``). On a TestClock the whole schedule is reproducible.
"""

from __future__ import annotations

import asyncio

from core.docker.protocols import HealthProbe, TransitionHandler
from core.docker.shared import CheckerState
from targets.clock import Clock, TimeEvent


class ContainerHealthChecker(CheckerState):
    def __init__(
        self,
        probe: HealthProbe,
        *,
        clock: Clock,
        interval_ns: int,
        timeout_ns: int,
        unhealthy_after: int = 1,
        on_transition: TransitionHandler | None = None,
    ) -> None:
        super().__init__(probe, interval_ns=interval_ns, timeout_ns=timeout_ns, unhealthy_after=unhealthy_after,
                         on_transition=on_transition)
        self.clock = clock
        self._timer_of: dict[str, str] = {}
        self._container_of: dict[str, str] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def add(self, container_id: str, offset_ns: int = 0) -> None:
        if container_id in self._timer_of:
            raise ValueError(f"container {container_id!r} is already checked")
        self.check_offset(offset_ns)
        origin = self.clock.timestamp_ns() + offset_ns
        name = f"health:{container_id}"
        self.clock.set_timer(name, self.interval_ns, self._due, start_time_ns=origin)
        self._timer_of[container_id] = name
        self._container_of[name] = container_id
        self.origins[container_id] = origin

    def remove(self, container_id: str) -> None:
        name = self._timer_of.pop(container_id, None)
        if name is None:
            return
        self._container_of.pop(name, None)
        if self.clock.has_timer(name):
            self.clock.cancel_timer(name)
        task = self._in_flight.pop(container_id, None)
        if task is not None:
            task.cancel()
        self._tracker.forget(container_id)

    def containers(self) -> list[str]:
        return list(self._timer_of)

    def engine_event(self, container_id: str, status: str) -> None:
        """The engine reported a health status (its ``health_status`` event), stamped by the clock."""
        self.engine_event_at(container_id, status, self.clock.timestamp_ns())

    async def stop(self) -> None:
        for cid in list(self._timer_of):
            name = self._timer_of.pop(cid)
            self._container_of.pop(name, None)
            if self.clock.has_timer(name):
                self.clock.cancel_timer(name)
        tasks = list(self._in_flight.values())
        self._in_flight.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # --- internals ---------------------------------------------------------------------------
    def _due(self, event: TimeEvent) -> None:
        cid = self._container_of.get(event.name)
        if cid is None:
            return
        if cid in self._in_flight:
            self.skipped += 1
            return
        task = asyncio.get_running_loop().create_task(self._check(cid, event.ts_event))
        self._in_flight[cid] = task
        task.add_done_callback(lambda _t, cid=cid: self._in_flight.pop(cid, None) if self._in_flight.get(cid) is _t else None)

    async def _check(self, cid: str, due_ns: int) -> None:
        start = self.clock.timestamp_ns()
        answered = healthy = False
        try:
            async with self.clock.timeout_at(start + self.timeout_ns):
                healthy = bool(await self.probe.check(cid))
            answered = True
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - no answer (timeout, refused, engine error) is an outcome
            pass
        end = self.clock.timestamp_ns()
        if cid not in self._timer_of:
            return  # removed while in flight
        self.record(cid, due_ns, start, end, answered, healthy)
