"""Execution algorithms as pure data and arithmetic: requests, slices, and how a parent splits.

Both EMS builds use these; they differ only in how they wait for a slice's time (a clock alert
or an asyncio sleep). All splits are exact: slice quantities always sum to the parent's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from . import limits as lim
from .domain import Instrument, OrderValidationError, Side


class AlgoKind(str, Enum):
    TWAP = "TWAP"  # equal slices at equal intervals
    VWAP = "VWAP"  # slices weighted by a volume profile
    POV = "POV"  # a share of the volume the venue reports


class AlgoState(str, Enum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    CANCELED = "CANCELED"


@dataclass(frozen=True, slots=True)
class AlgoRequest:
    """A parent order to work over ``duration_ns``.

    TWAP needs ``slices``; VWAP needs ``profile`` (weights summing exactly to 1, one per slice);
    POV needs ``participation_rate`` (0 < rate <= 1) and checks the venue's volume every
    ``interval_ns``.
    """

    instrument: str
    side: Side
    quantity: int
    kind: AlgoKind
    duration_ns: int
    slices: int = 0
    profile: tuple[Decimal, ...] = ()
    participation_rate: Decimal | None = None
    interval_ns: int = 0
    client_algo_id: str | None = None


@dataclass(slots=True)
class Slice:
    """One child order of an algo: when it was due, when it actually fired, what it sent and got."""

    index: int
    quantity: int
    scheduled_ns: int
    fired_ns: int | None = None
    child_order_id: str | None = None
    filled_qty: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "quantity": self.quantity,
            "scheduled_ns": self.scheduled_ns,
            "fired_ns": self.fired_ns,
            "child_order_id": self.child_order_id,
            "filled_qty": self.filled_qty,
        }


@dataclass(slots=True)
class Algo:
    """A running (or finished) algo and its slices. For POV, slices are added as volume arrives."""

    algo_id: str
    request: AlgoRequest
    start_ns: int
    end_ns: int
    state: AlgoState = AlgoState.RUNNING
    slices: list[Slice] = field(default_factory=list)
    next_index: int = 0  # next slice to fire (TWAP/VWAP)
    sent_qty: int = 0
    filled_qty: int = 0
    paused_at_ns: int | None = None
    next_due_ns: int = 0  # POV: when it next looks at the volume
    start_volume: int = 0  # POV: venue volume when it started
    volume_seen: int = 0  # POV: venue volume counted so far (excluding paused stretches)

    def as_dict(self) -> dict[str, object]:
        return {**self.head_dict(), "slices": [s.as_dict() for s in self.slices]}

    def head_dict(self) -> dict[str, object]:
        """Everything but the slices (a response streams those in parts: up to 10,000 of them)."""
        r = self.request
        return {
            "algo_id": self.algo_id,
            "client_algo_id": r.client_algo_id,
            "kind": r.kind.value,
            "instrument": r.instrument,
            "side": r.side.value,
            "quantity": r.quantity,
            "state": self.state.value,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "sent_qty": self.sent_qty,
            "filled_qty": self.filled_qty,
        }


def split_even(quantity: int, n: int) -> list[int]:
    """``n`` slices as equal as whole units allow, the remainder spread evenly (sum is exact)."""
    return [(quantity * (i + 1)) // n - (quantity * i) // n for i in range(n)]


def split_weighted(quantity: int, weights: tuple[Decimal, ...]) -> list[int]:
    """Slices proportional to cumulative ``weights`` (which sum to 1), rounded so the sum is exact."""
    out = []
    cum = Decimal(0)
    prev = 0
    for i, w in enumerate(weights):
        cum += w
        upto = quantity if i == len(weights) - 1 else int(quantity * cum)
        out.append(upto - prev)
        prev = upto
    return out


def slice_times(start_ns: int, duration_ns: int, n: int) -> list[int]:
    """Slice ``i`` is due at the end of its bucket: start + duration*(i+1)/n, the last exactly at the end."""
    return [start_ns + (duration_ns * (i + 1)) // n for i in range(n)]


def default_vwap_profile(n: int) -> tuple[Decimal, ...]:
    """A U-shaped intraday profile (heavier at the open and close), ``n`` weights summing exactly to 1."""
    if n < 1:
        raise ValueError("n must be >= 1")
    raw = [Decimal(1 + abs(2 * i - (n - 1))) for i in range(n)]
    total = sum(raw)
    weights = [(r / total).quantize(Decimal("0.000001")) for r in raw[:-1]]
    weights.append(Decimal(1) - sum(weights))
    return tuple(weights)


def validate_algo(req: AlgoRequest, instruments: Mapping[str, Instrument]) -> list[OrderValidationError]:
    """Every field error of an algo request (empty when valid)."""
    errs: list[OrderValidationError] = []
    inst = instruments.get(req.instrument) if isinstance(req.instrument, str) else None
    lot = inst.lot_size if inst is not None else 1
    if inst is None:
        errs.append(OrderValidationError("instrument", f"unknown instrument {req.instrument!r}"))
    if req.side.__class__ is not Side:
        errs.append(OrderValidationError("side", f"must be BUY or SELL, got {req.side!r}"))
    if not isinstance(req.quantity, int) or isinstance(req.quantity, bool) or req.quantity <= 0:
        errs.append(OrderValidationError("quantity", f"must be a whole number > 0, got {req.quantity!r}"))
    elif req.quantity > lim.MAX_QUANTITY:
        errs.append(OrderValidationError("quantity", f"must be at most {lim.MAX_QUANTITY} (the limit), got {req.quantity}"))
    elif req.quantity % lot:
        errs.append(OrderValidationError("quantity", f"must be a multiple of the lot size {lot}"))
    if req.client_algo_id is not None and lim.id_problem(req.client_algo_id):
        errs.append(OrderValidationError("client_algo_id", lim.id_problem(req.client_algo_id)))  # type: ignore[arg-type]
    if not isinstance(req.duration_ns, int) or req.duration_ns <= 0:
        errs.append(OrderValidationError("duration_ns", f"must be an int of nanoseconds > 0, got {req.duration_ns!r}"))
    elif req.duration_ns > lim.MAX_ALGO_DURATION_NS:
        errs.append(OrderValidationError("duration_ns", f"must be at most {lim.MAX_ALGO_DURATION_NS} ns (the limit, "
                                                         f"one week), got {req.duration_ns}"))  # fmt: skip
    kind = req.kind
    if kind is AlgoKind.TWAP:
        if not isinstance(req.slices, int) or req.slices < 1:
            errs.append(OrderValidationError("slices", f"TWAP needs slices >= 1, got {req.slices!r}"))
        elif req.slices > lim.MAX_SLICES:
            errs.append(OrderValidationError("slices", f"must be at most {lim.MAX_SLICES} (the limit), got {req.slices}"))
        elif isinstance(req.quantity, int) and 0 < req.quantity // lot < req.slices:
            errs.append(OrderValidationError("slices", f"{req.slices} slices cannot split a quantity of {req.quantity}"))
    elif kind is AlgoKind.VWAP:
        if not req.profile:
            errs.append(OrderValidationError("profile", "VWAP needs a volume profile"))
        elif len(req.profile) > lim.MAX_SLICES:
            errs.append(OrderValidationError("profile", f"at most {lim.MAX_SLICES} weights (the limit of slices), "
                                                        f"got {len(req.profile)}"))  # fmt: skip
        elif not all(isinstance(w, Decimal) and w >= 0 for w in req.profile):
            errs.append(OrderValidationError("profile", "weights must be Decimals >= 0"))
        elif sum(req.profile) != 1:
            errs.append(OrderValidationError("profile", f"weights must sum to exactly 1, they sum to {sum(req.profile)}"))
    elif kind is AlgoKind.POV:
        rate = req.participation_rate
        if not isinstance(rate, Decimal) or not 0 < rate <= 1:
            errs.append(OrderValidationError("participation_rate", f"must be a Decimal in (0, 1], got {rate!r}"))
        if not isinstance(req.interval_ns, int) or req.interval_ns <= 0:
            errs.append(OrderValidationError("interval_ns", f"POV needs an interval_ns > 0, got {req.interval_ns!r}"))
        elif req.interval_ns < lim.MIN_INTERVAL_NS:
            errs.append(OrderValidationError("interval_ns", f"must be at least {lim.MIN_INTERVAL_NS} ns (the limit), "
                                                            f"got {req.interval_ns}"))  # fmt: skip
        elif isinstance(req.duration_ns, int) and req.interval_ns > req.duration_ns:
            errs.append(OrderValidationError("interval_ns", "must not be longer than duration_ns"))
        elif isinstance(req.duration_ns, int) and req.duration_ns // req.interval_ns > lim.MAX_ALGO_STEPS:
            errs.append(OrderValidationError("interval_ns", f"duration_ns / interval_ns must be at most "
                                                            f"{lim.MAX_ALGO_STEPS} steps (the limit), got "
                                                            f"{req.duration_ns // req.interval_ns}"))  # fmt: skip
    else:
        errs.append(OrderValidationError("kind", f"must be TWAP, VWAP or POV, got {kind!r}"))
    return errs


def plan_slices(req: AlgoRequest, start_ns: int, lot_size: int = 1) -> list[Slice]:
    """The full schedule of a TWAP or VWAP in whole lots (POV slices are decided as volume arrives)."""
    lots = req.quantity // lot_size
    if req.kind is AlgoKind.TWAP:
        qtys = [q * lot_size for q in split_even(lots, req.slices)]
    elif req.kind is AlgoKind.VWAP:
        qtys = [q * lot_size for q in split_weighted(lots, req.profile)]
    else:
        return []
    times = slice_times(start_ns, req.duration_ns, len(qtys))
    return [Slice(i, q, t) for i, (q, t) in enumerate(zip(qtys, times))]


def pov_target(algo: Algo, volume_now: int, lot_size: int = 1) -> int:
    """How much a POV algo should send now: its rate of the volume seen (whole lots), less what it
    sent, capped at the parent's quantity."""
    req = algo.request
    seen = algo.volume_seen + (volume_now - algo.start_volume)
    want = int(req.participation_rate * seen) // lot_size * lot_size  # type: ignore[operator]
    return max(0, min(want, req.quantity) - algo.sent_qty)
