"""Baseline EMS: one asyncio task per algo, ``asyncio.sleep`` until each slice is due.

Sleeps are computed against each slice's absolute scheduled time (not a fixed interval after
the previous slice), so errors do not accumulate; what remains is the loop's timer jitter and
the wall clock's steps, and no way to run a schedule faster than real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from core.order_management.algo_book import AlgoBook
from core.order_management.algos import Algo, AlgoKind, AlgoRequest, AlgoState
from core.order_management.domain import EventLog, Instrument
from core.order_management.protocols import OMS
from core.order_management.venue import SimulatedVenue


class EMS:
    """Implements ``protocols.EMS`` on system time; ``start`` needs a running asyncio loop."""

    def __init__(self, oms: OMS, venue: SimulatedVenue, *, instruments: Mapping[str, Instrument] | None = None,
                 events: EventLog | None = None) -> None:  # fmt: skip
        self.book = AlgoBook(oms, venue, instruments if instruments is not None else venue.instruments, events)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, asyncio.Event] = {}

    def start(self, request: AlgoRequest) -> Algo:
        loop = asyncio.get_running_loop()
        algo = self.book.create(request, time.time_ns())
        ev = asyncio.Event()
        ev.set()
        self._running[algo.algo_id] = ev
        self._tasks[algo.algo_id] = loop.create_task(self._run(algo))
        return algo

    async def _run(self, algo: Algo) -> None:
        book = self.book
        running = self._running[algo.algo_id]
        pov = algo.request.kind is AlgoKind.POV
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
            now = time.time_ns()
            going = book.pov_step(algo, now) if pov else book.fire_next(algo, now) is not None
            if not going:
                self._tasks.pop(algo.algo_id, None)
                return

    def get(self, algo_id: str) -> Algo:
        return self.book.get(algo_id)

    def algos(self) -> list[Algo]:
        return list(self.book.algos.values())

    def pause(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.pause(algo, time.time_ns())
        self._running[algo_id].clear()
        return algo

    def resume(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.resume(algo, time.time_ns())
        self._running[algo_id].set()
        return algo

    def cancel(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.cancel(algo, time.time_ns())
        task = self._tasks.pop(algo_id, None)
        if task is not None:
            task.cancel()
        return algo

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
