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
) -> Search:
    """Bracket then bisect; stop within ``resolution`` (relative) or one user, whichever is larger."""
    if start < min_users or max_users < start:
        raise ValueError(f"need {min_users} <= start ({start}) <= max_users ({max_users})")
    steps: list[Step] = []

    def run(users: int) -> Step:
        s = step(users)
        steps.append(s)
        return s

    lo, hi = 0, None
    users = start
    while True:  # bracket
        s = run(users)
        if not s.valid:
            return Search(lo, hi, False, f"step at {users} users invalid: {s.reason}", steps)
        if not s.passed:
            hi = users
            break
        lo = users
        if users >= max_users:
            return Search(lo, None, True, f"met the SLO at the ceiling of {max_users} users", steps)
        users = min(users * 2, max_users)
    if lo == 0 and hi is not None and hi > min_users:
        lo_floor = min_users - 1
    else:
        lo_floor = lo
    lo = lo_floor
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
