"""The EMS both builds share (as ``OMSCore`` is the OMS's): the algo book and every state change.

A build supplies only its time source (``now``) and its timer: what happens when an algo is
started, paused, resumed or canceled (``_started``/``_paused``/``_resumed``/``_canceled``) and
when its next slice is due (call ``fire``). The clocked EMS arms one clock alert per algo; the
baseline runs one ``asyncio.sleep`` task per algo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .algo_book import AlgoBook
from .algos import Algo, AlgoKind, AlgoRequest
from .domain import EventLog, Instrument
from .protocols import OMS
from .venue import SimulatedVenue


class EMSCore:
    """Implements ``protocols.EMS`` given ``now`` (ns) and the four timer hooks."""

    def __init__(self, now: Callable[[], int], oms: OMS, venue: SimulatedVenue, *,
                 instruments: Mapping[str, Instrument] | None = None, events: EventLog | None = None) -> None:  # fmt: skip
        self.book = AlgoBook(oms, venue, instruments if instruments is not None else venue.instruments, events)
        self._now = now

    def number_after(self, base: int) -> None:
        """Number the next algos base + 1, base + 2, ... (see ``OMSCore.number_after``)."""
        if not isinstance(base, int) or isinstance(base, bool) or base < self.book._ids:
            raise ValueError(f"base must be an int >= the current algo number {self.book._ids}, got {base!r}")
        self.book._ids = base

    def start(self, request: AlgoRequest) -> Algo:
        """Start working a parent order. Raises ``InvalidOrderRequest`` listing every bad field."""
        return self.launch(self.prepare(request))

    def prepare(self, request: AlgoRequest) -> Algo:
        """Validate and number an algo without starting it: a service writes it durably first, then
        calls ``launch`` (or ``withdraw`` when the write failed, leaving no trace)."""
        return self.book.create(request, self._now())

    def launch(self, algo: Algo) -> Algo:
        self._started(algo)
        return algo

    def withdraw(self, algo: Algo) -> None:
        """Forget a prepared, never-launched algo (its durable write failed): as if never requested."""
        self.book.withdraw(algo)

    def get(self, algo_id: str) -> Algo:
        return self.book.get(algo_id)

    def algos(self) -> list[Algo]:
        return list(self.book.algos.values())

    def pause(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.pause(algo, self._now())
        self._paused(algo)
        return algo

    def resume(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.resume(algo, self._now())
        self._resumed(algo)
        return algo

    def cancel(self, algo_id: str) -> Algo:
        algo = self.book.get(algo_id)
        self.book.cancel(algo, self._now())
        self._canceled(algo)
        return algo

    def fire(self, algo: Algo, now: int) -> bool:
        """The algo's due step at ``now`` (next slice, or a POV step); whether it has more to do."""
        if algo.request.kind is AlgoKind.POV:
            return self.book.pov_step(algo, now)
        return self.book.fire_next(algo, now) is not None

    # --- the build's timer -------------------------------------------------------------------
    def _started(self, algo: Algo) -> None:  # pragma: no cover - defined by each build
        raise NotImplementedError

    def _paused(self, algo: Algo) -> None:  # pragma: no cover - defined by each build
        raise NotImplementedError

    def _resumed(self, algo: Algo) -> None:  # pragma: no cover - defined by each build
        raise NotImplementedError

    def _canceled(self, algo: Algo) -> None:  # pragma: no cover - defined by each build
        raise NotImplementedError
