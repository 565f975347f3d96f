"""The capacity search: the largest number of concurrent users that still meets an SLO.

Pure logic over a ``step(users) -> Step`` function that runs (or, in tests of the search itself,
decides) one load step. Bracket by doubling from ``start`` until a step fails, then bisect between
the last pass and the first failure down to ``resolution``. A step whose load generator was
saturated is INVALID: the search stops there and says the result is bounded by the generator.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass
class Step:
    users: int
    passed: bool
    valid: bool = True
    reason: str = ""  # why invalid, or which SLO terms failed
    detail: dict = field(default_factory=dict)


@dataclass
class Search:
    capacity: int  # largest passing users (0: even the smallest step failed)
    first_fail: int | None  # smallest failing users seen (None: never failed below max_users)
    valid: bool
    reason: str
    steps: list[Step]

    def to_dict(self) -> dict:
        return asdict(self)


def search(
    step: Callable[[int], Step],
    *,
    start: int = 10,
    max_users: int = 100_000,
    resolution: float = 0.05,
    min_users: int = 1,
    guess: int | None = None,
) -> Search:
    """Bracket then bisect; stop within ``resolution`` (relative) or one user, whichever is larger.

    ``guess`` (an earlier trial's capacity of the same build): bracket around it instead of doubling
    from ``start``: a step at the guess, then up (it passed) or down (it failed) by the resolution's
    width, the width doubling each step, until the outcome flips. Each trial still ends on a measured
    pass next to a measured failure; a guess near the boundary spends two steps where doubling from
    ``start`` spent four or more (the quick run's capacity step was ~140 s of ~6 s load steps)."""
    if start < min_users or max_users < start:
        raise ValueError(f"need {min_users} <= start ({start}) <= max_users ({max_users})")
    steps: list[Step] = []

    def run(users: int) -> Step:
        s = step(users)
        steps.append(s)
        return s

    if guess is not None and guess >= min_users:
        bracket = _bracket_around(run, min(guess, max_users), max_users, resolution, min_users)
    else:
        bracket = _bracket_up(run, start, max_users)
    if isinstance(bracket, str):  # an invalid step, or the ceiling met
        lo = max((s.users for s in steps if s.valid and s.passed), default=0)
        fails = [s.users for s in steps if s.valid and not s.passed]
        return Search(lo, min(fails) if fails else None, bracket.startswith("met"), bracket, steps)
    lo, hi = bracket
    if lo == 0 and hi > min_users:
        lo = min_users - 1
    while hi - lo > max(1, int(resolution * max(lo, 1))):  # bisect
        mid = (lo + hi) // 2
        if mid <= lo:
            break
        s = run(mid)
        if not s.valid:
            return Search(max(lo, 0), hi, False, f"step at {mid} users invalid: {s.reason}", steps)
        if s.passed:
            lo = mid
        else:
            hi = mid
    return Search(max(lo, 0), hi, True, "", steps)


def _bracket_up(run: Callable[[int], Step], start: int, max_users: int) -> tuple[int, int] | str:
    """Double from ``start`` until a step fails."""
    lo, users = 0, start
    while True:
        s = run(users)
        if not s.valid:
            return f"step at {users} users invalid: {s.reason}"
        if not s.passed:
            return lo, users
        lo = users
        if users >= max_users:
            return f"met the SLO at the ceiling of {max_users} users"
        users = min(users * 2, max_users)


def _bracket_around(run: Callable[[int], Step], guess: int, max_users: int, resolution: float,
                    min_users: int) -> tuple[int, int] | str:
    """From ``guess``, up or down until the outcome flips: by the resolution's width twice, then by a
    doubling width. A guess is an earlier trial's capacity, most often off by a width or so: doubling
    from the first move (10, 12, 16, then 14 between them) spent a step more than two moves of one
    width (10, 12, 14), and the stop is then already within the resolution."""
    users, width = guess, max(1, int(resolution * guess))
    s = run(users)
    if not s.valid:
        return f"step at {users} users invalid: {s.reason}"
    up = s.passed
    moves = 0
    while True:
        if up and users >= max_users:
            return f"met the SLO at the ceiling of {max_users} users"
        if not up and users <= min_users:
            return min_users - 1, users  # even the smallest step failed
        last, users = users, (min(users + width, max_users) if up else max(users - width, min_users))
        moves += 1
        if moves >= 2:
            width *= 2
        s = run(users)
        if not s.valid:
            return f"step at {users} users invalid: {s.reason}"
        if s.passed != up:
            return (last, users) if up else (users, last)


def trial_guess(own: list[Search], just_before: Search | None = None) -> int | None:
    """Where a trial's search brackets from (None: doubling from the start): the build's own previous
    trial's capacity, else, in the first trial, the capacity the other build's search found just
    before it in the same trial (the builds differ by tens of percent, not by factors: doubling from
    the start cost the second build's first trial the 3 or 4 steps the first one spent reaching the
    boundary). Only a valid search with a capacity above zero gives a guess. The search still ends on
    a measured pass next to a measured failure within the resolution, whatever it started from."""
    prior = own[-1] if own else just_before  # the build's own trial decides where there is one
    return prior.capacity if prior is not None and prior.valid and prior.capacity > 0 else None


@dataclass
class Capacity:
    """Repeated searches: the median capacity and its spread."""

    median: float
    low: int
    high: int
    trials: list[Search]
    valid: bool
    reason: str

    def to_dict(self) -> dict:
        return {
            "median": self.median, "min": self.low, "max": self.high, "valid": self.valid,
            "reason": self.reason, "capacities": [t.capacity for t in self.trials],
            "trials": [t.to_dict() for t in self.trials],
        }


def repeated(run_search: Callable[[int], Search], trials: int) -> Capacity:
    if trials < 1:
        raise ValueError("at least one trial")
    done = [run_search(i) for i in range(trials)]
    caps = [t.capacity for t in done]
    bad = [t.reason for t in done if not t.valid]
    return Capacity(float(statistics.median(caps)), min(caps), max(caps), done, not bad, "; ".join(bad))
