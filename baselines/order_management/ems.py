"""Baseline EMS: one asyncio task per algo, ``asyncio.sleep`` until each slice is due.

Sleeps are computed against each slice's absolute scheduled time (not a fixed interval after
the previous slice), so errors do not accumulate; what remains is the loop's timer jitter and
the wall clock's steps, and no way to run a schedule faster than real time. Everything but the
timer is ``core.order_management.ems_core.EMSCore``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from core.order_management.algos import Algo, AlgoRequest, AlgoState
from core.order_management.domain import EventLog, Instrument
from core.order_management.ems_core import EMSCore
from core.order_management.protocols import OMS
from core.order_management.venue import SimulatedVenue


class EMS(EMSCore):
    """Implements ``protocols.EMS`` on system time; ``start`` needs a running asyncio loop."""

    def __init__(self, oms: OMS, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 events: EventLog | None = None) -> None:  # fmt: skip
        super().__init__(time.time_ns, oms, venue, instruments=instruments, events=events)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, asyncio.Event] = {}

    def start(self, request: AlgoRequest) -> Algo:
        asyncio.get_running_loop()  # raises before any algo is created when there is no loop
        return super().start(request)

    def _started(self, algo: Algo) -> None:
        ev = asyncio.Event()
        ev.set()
        self._running[algo.algo_id] = ev
        self._tasks[algo.algo_id] = asyncio.get_running_loop().create_task(self._run(algo))

    def _paused(self, algo: Algo) -> None:
        self._running[algo.algo_id].clear()

    def _resumed(self, algo: Algo) -> None:
        self._running[algo.algo_id].set()

    def _canceled(self, algo: Algo) -> None:
        task = self._tasks.pop(algo.algo_id, None)
        if task is not None:
            task.cancel()

    async def _run(self, algo: Algo) -> None:
        book = self.book
        running = self._running[algo.algo_id]
        while True:
            await running.wait()
            if algo.state is not AlgoState.RUNNING:
                return
            delay = book.next_due(algo) - time.time_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            if algo.state is AlgoState.PAUSED or book.next_due(algo) > time.time_ns():
                continue  # paused (or resumed with a later schedule) while sleeping
            if algo.state is not AlgoState.RUNNING:
                return
            if not self.fire(algo, time.time_ns()):
                self._tasks.pop(algo.algo_id, None)
                return

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
