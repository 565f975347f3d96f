"""The clocked EMS: each algo's next slice is one clock alert, re-armed from the slice before.

Slices fire at their exact scheduled times under a ``TestClock``; under a ``LiveClock`` they
share the clock's single scheduler instead of one sleeping task per algo.
"""

from __future__ import annotations

from collections.abc import Mapping

from targets.clock import Clock, TimeEvent

from core.order_management.algo_book import AlgoBook
from core.order_management.algos import Algo, AlgoKind, AlgoRequest, AlgoState
from core.order_management.domain import EventLog, Instrument
from core.order_management.protocols import OMS
from core.order_management.venue import SimulatedVenue

_ALGO = "algo:"


class EMS:
    """Implements ``protocols.EMS`` on a ``Clock``."""

    def __init__(self, clock: Clock, oms: OMS, venue: SimulatedVenue, *,
                 instruments: Mapping[str, Instrument] | None = None, events: EventLog | None = None) -> None:  # fmt: skip
        self.clock = clock
        self.book = AlgoBook(oms, venue, instruments if instruments is not None else venue.instruments, events)
        self._now = clock.timestamp_ns

    def start(self, request: AlgoRequest) -> Algo:
        """Start working a parent order. Raises ``InvalidOrderRequest`` listing every bad field."""
        algo = self.book.create(request, self._now())
        self._arm(algo)
        return algo

    def get(self, algo_id: str) -> Algo:
        return self.book.get(algo_id)

    def algos(self) -> list[Algo]:
        return list(self.book.algos.values())

    def pause(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.pause(algo, self._now())
        self._disarm(algo)
        return algo

    def resume(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.resume(algo, self._now())
        self._arm(algo)
        return algo

    def cancel(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.cancel(algo, self._now())
        self._disarm(algo)
        return algo

    async def aclose(self) -> None:
        """Cancel the pending slice alerts (the baseline cancels its algo tasks)."""
        for algo_id in list(self.book.algos):
            name = _ALGO + algo_id
            if self.clock.has_timer(name):
                self.clock.cancel_timer(name)

    def _arm(self, algo: Algo) -> None:
        self.clock.set_time_alert(_ALGO + algo.algo_id, self.book.next_due(algo), self._on_due, allow_past=True)

    def _disarm(self, algo: Algo) -> None:
        name = _ALGO + algo.algo_id
        if self.clock.has_timer(name):
            self.clock.cancel_timer(name)

    def _on_due(self, event: TimeEvent) -> None:
        algo = self.book.algos[event.name[len(_ALGO):]]
        if algo.state is not AlgoState.RUNNING:
            return
        now = self._now()
        if algo.request.kind is AlgoKind.POV:
            going = self.book.pov_step(algo, now)
        else:
            going = self.book.fire_next(algo, now) is not None
        if going:
            self._arm(algo)
