"""The gateway profile's per-request classification, apart from Locust (importable in tests without
gevent's monkey-patching): reliable answers, and the timeout error of the ones that missed their budget."""

from __future__ import annotations

import random
from collections.abc import Callable

from harness.load import hdr

THINK_S = (1.0, 3.0)  # a gateway user's idle between bursts (loadtests/gateway.py GatewayUser.think_s)


def stationary_phase_s(rng: random.Random, lo: float, hi: float) -> float:
    """Pure: how long a closed-mode user waits before its first burst so that the users' bursts arrive
    from the start as they do in the steady state. Users that all begin with a burst fire together in
    the warm-up and then think through the first seconds: with 1-3 s of think and a quick run's 1.5 s
    window, 5 of the 27 arm-rounds of three quick runs came back empty. In the steady state a user is
    at a uniform point of a think time drawn in proportion to its length (the longer thinks hold more
    of the time), which is what this draws."""
    if hi <= 0:
        return 0.0
    think = (lo * lo + rng.random() * (hi * hi - lo * lo)) ** 0.5  # length-biased draw from [lo, hi]
    return rng.uniform(0.0, think)


CORRECT = {200, 201, 429}  # a served request, or the limiter's refusal (which the client can act on)


def parse_budget_range(text: str) -> tuple[int, int]:
    """``"5-60"`` -> (5, 60) ms, with a clear error."""
    try:
        lo, hi = (int(x) for x in str(text).split("-"))
    except ValueError:
        raise ValueError(f"--cb-budget-ms {text!r}: expected MIN-MAX whole milliseconds, e.g. 5-60") from None
    if not 1 <= lo <= hi:
        raise ValueError(f"--cb-budget-ms {text!r}: need 1 <= MIN <= MAX")
    return lo, hi


class GatewayStats:
    """One Locust process's classification since its last report (or the whole run, alone)."""

    def __init__(self, measuring: Callable[[int], bool]) -> None:
        self.measuring = measuring  # is a request started at this monotonic ns in the measured window?
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.reliable = 0
        self.statuses: dict[str, int] = {}
        self.error = hdr.new()

    def record(self, started_ns: int, status: int, latency_ns: int, budget_ns: int) -> None:
        if not self.measuring(started_ns):
            return
        self.total += 1
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if status in CORRECT and latency_ns <= budget_ns:
            self.reliable += 1
        if status == 504 or latency_ns > budget_ns:
            hdr.record(self.error, max(1, abs(latency_ns - budget_ns)))

    def payload(self) -> dict:
        return {"total": self.total, "reliable": self.reliable, "statuses": dict(self.statuses),
                "timeout_error": hdr.encode(self.error)}  # fmt: skip
