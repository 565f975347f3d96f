"""What an EMS does when a slice is due, shared by both builds (time is given, never read).

The clocked EMS calls these from clock alerts and timers; the baseline from asyncio tasks.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import limits as lim
from .algos import Algo, AlgoKind, AlgoRequest, AlgoState, Slice, plan_slices, pov_target, validate_algo
from .domain import (
    AlgoStateError,
    EventLog,
    Instrument,
    InvalidOrderRequest,
    OrderRequest,
    OrderType,
    OrderValidationError,
    TimeInForce,
    UnknownAlgoError,
)
from .protocols import OMS
from .venue import SimulatedVenue


class AlgoBook:
    """Algos by id, and the effects of firing slices, pausing, resuming and canceling."""

    def __init__(self, oms: OMS, venue: SimulatedVenue, instruments: Mapping[str, Instrument],
                 events: EventLog | None = None) -> None:  # fmt: skip
        self.oms = oms
        self.venue = venue
        self.instruments = instruments
        self.events = events
        self.algos: dict[str, Algo] = {}
        self._ids = 0
        self._client_ids: set[str] = set()

    def create(self, req: AlgoRequest, now_ns: int) -> Algo:
        errors = validate_algo(req, self.instruments)
        if req.client_algo_id is not None and req.client_algo_id in self._client_ids:
            errors.append(OrderValidationError("client_algo_id", f"{req.client_algo_id!r} is already used"))
        active = sum(1 for a in self.algos.values() if a.state in (AlgoState.RUNNING, AlgoState.PAUSED))
        if active >= lim.MAX_ACTIVE_ALGOS:
            errors.append(OrderValidationError("kind", f"{active} algos are running or paused: at most "
                                                       f"{lim.MAX_ACTIVE_ALGOS} at once (the limit of active algos)"))  # fmt: skip
        if errors:
            raise InvalidOrderRequest(errors)
        self._ids += 1
        algo = Algo(f"{getattr(self.oms, 'id_prefix', '')}A{self._ids}", req, now_ns, now_ns + req.duration_ns)
        if req.client_algo_id is not None:
            self._client_ids.add(req.client_algo_id)
        algo.slices = plan_slices(req, now_ns, self.instruments[req.instrument].lot_size)
        if req.kind is AlgoKind.POV:
            algo.start_volume = self.venue.traded_volume(req.instrument)
            algo.next_due_ns = min(now_ns + req.interval_ns, algo.end_ns)
        self.algos[algo.algo_id] = algo
        if self.events is not None:
            self.events.emit(now_ns, "algo", algo.algo_id, "RUNNING", req.kind, req.instrument, req.side,
                             req.quantity, req.duration_ns)  # fmt: skip
        return algo

    def withdraw(self, algo: Algo) -> None:
        """Remove a created, never-started algo (see ``EMSCore.withdraw``); its client id is free again."""
        if algo.slices and any(s.fired_ns is not None for s in algo.slices):
            raise ValueError(f"{algo.algo_id} has fired slices; only an algo never started can be withdrawn")
        if self.algos.get(algo.algo_id) is algo:
            del self.algos[algo.algo_id]
        if algo.request.client_algo_id is not None:
            self._client_ids.discard(algo.request.client_algo_id)

    def get(self, algo_id: str) -> Algo:
        algo = self.algos.get(algo_id)
        if algo is None:
            raise UnknownAlgoError(algo_id)
        return algo

    def fire(self, algo: Algo, sl: Slice, now_ns: int) -> None:
        """Send one slice as a MARKET IOC child order through the OMS and record when it fired."""
        sl.fired_ns = now_ns
        req = algo.request
        child = self.oms.submit(
            OrderRequest(f"{algo.algo_id}-{sl.index}", req.instrument, req.side, sl.quantity,
                         OrderType.MARKET, None, TimeInForce.IOC),  # fmt: skip
            parent_algo_id=algo.algo_id,
        )
        sl.child_order_id = child.order_id
        sl.filled_qty = child.filled_qty
        algo.sent_qty += sl.quantity
        algo.filled_qty += child.filled_qty
        if self.events is not None:
            self.events.emit(now_ns, "slice", algo.algo_id, sl.index, sl.scheduled_ns, sl.fired_ns, sl.quantity,
                             child.order_id, child.filled_qty)  # fmt: skip

    def fire_next(self, algo: Algo, now_ns: int) -> Slice | None:
        """TWAP/VWAP: fire the next planned slice; returns the one after it (None when done)."""
        sl = algo.slices[algo.next_index]
        algo.next_index += 1
        if sl.quantity:
            self.fire(algo, sl, now_ns)
        else:
            sl.fired_ns = now_ns  # a zero-weight bucket: nothing to send
        if algo.next_index == len(algo.slices):
            self.finish(algo, now_ns, AlgoState.COMPLETED)
            return None
        return algo.slices[algo.next_index]

    def pov_step(self, algo: Algo, now_ns: int) -> bool:
        """POV: send what the participation rate allows now; True while the algo goes on
        (``algo.next_due_ns`` then says when to look again)."""
        due = algo.next_due_ns
        instrument = algo.request.instrument
        qty = pov_target(algo, self.venue.traded_volume(instrument), self.instruments[instrument].lot_size)
        if qty:
            sl = Slice(len(algo.slices), qty, due)
            algo.slices.append(sl)
            self.fire(algo, sl, now_ns)
        if algo.sent_qty >= algo.request.quantity or due >= algo.end_ns:
            self.finish(algo, now_ns, AlgoState.COMPLETED)
            return False
        algo.next_due_ns = min(due + algo.request.interval_ns, algo.end_ns)
        return True

    @staticmethod
    def next_due(algo: Algo) -> int:
        """When the algo next needs to act."""
        if algo.request.kind is AlgoKind.POV:
            return algo.next_due_ns
        return algo.slices[algo.next_index].scheduled_ns

    def pause(self, algo: Algo, now_ns: int) -> None:
        if algo.state is not AlgoState.RUNNING:
            raise AlgoStateError(algo.algo_id, algo.state.value, "pause")
        algo.state = AlgoState.PAUSED
        algo.paused_at_ns = now_ns
        if algo.request.kind is AlgoKind.POV:
            algo.volume_seen += self.venue.traded_volume(algo.request.instrument) - algo.start_volume
        if self.events is not None:
            self.events.emit(now_ns, "algo", algo.algo_id, "PAUSED")

    def resume(self, algo: Algo, now_ns: int) -> int:
        """Back to RUNNING; the rest of the schedule moves later by the time spent paused (returned)."""
        if algo.state is not AlgoState.PAUSED:
            raise AlgoStateError(algo.algo_id, algo.state.value, "resume")
        shift = now_ns - algo.paused_at_ns  # type: ignore[operator]
        algo.state = AlgoState.RUNNING
        algo.paused_at_ns = None
        algo.end_ns += shift
        for sl in algo.slices[algo.next_index:]:
            sl.scheduled_ns += shift
        if algo.request.kind is AlgoKind.POV:
            algo.start_volume = self.venue.traded_volume(algo.request.instrument)
            algo.next_due_ns += shift
        if self.events is not None:
            self.events.emit(now_ns, "algo", algo.algo_id, "RUNNING", shift)
        return shift

    def cancel(self, algo: Algo, now_ns: int) -> None:
        if algo.state in (AlgoState.COMPLETED, AlgoState.CANCELED):
            raise AlgoStateError(algo.algo_id, algo.state.value, "cancel")
        self.finish(algo, now_ns, AlgoState.CANCELED)

    def finish(self, algo: Algo, now_ns: int, state: AlgoState) -> None:
        algo.state = state
        if self.events is not None:
            self.events.emit(now_ns, "algo", algo.algo_id, state, algo.sent_qty, algo.filled_qty)
