"""The clocked EMS: each algo's next slice is one clock alert, re-armed from the slice before.

Slices fire at their exact scheduled times under a ``TestClock``; under a ``LiveClock`` they
share the clock's single scheduler instead of one sleeping task per algo. Everything but the
timer is ``core.order_management.ems_core.EMSCore``.
"""

from __future__ import annotations

from collections.abc import Mapping

from targets.clock import Clock, TimeEvent

from core.order_management.algos import Algo, AlgoState
from core.order_management.domain import EventLog, Instrument
from core.order_management.ems_core import EMSCore
from core.order_management.protocols import OMS
from core.order_management.venue import SimulatedVenue

_ALGO = "algo:"


class EMS(EMSCore):
    """Implements ``protocols.EMS`` on a ``Clock``."""

    def __init__(self, clock: Clock, oms: OMS, venue: SimulatedVenue, *,
                 instruments: Mapping[str, Instrument] | None = None, events: EventLog | None = None) -> None:  # fmt: skip
        super().__init__(clock.timestamp_ns, oms, venue, instruments=instruments, events=events)
        self.clock = clock

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

    _started = _resumed = _arm
    _paused = _canceled = _disarm

    def _on_due(self, event: TimeEvent) -> None:
        algo = self.book.algos[event.name[len(_ALGO):]]
        if algo.state is not AlgoState.RUNNING:
            return
        if self.fire(algo, self._now()):
            self._arm(algo)
