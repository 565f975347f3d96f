"""The clocked health checker on a TestClock against simulated endpoints with seeded faults.

Used by the determinism test (the digest is the same in every process) and as a quick way to see
the checker's behaviour without an engine: ``simulate_checks(seed=1)``. The endpoints are
simulated (this module's ``SimulatedEndpoints``), never a real engine.
"""

from __future__ import annotations

import hashlib
import random

from core.docker.records import NS_PER_MS, NS_PER_S, detection, on_time, seeded_faults
from targets.clock import Clock, TestClock, run_virtual

from .health_check import ContainerHealthChecker


class SimulatedEndpoints:
    """HealthProbe for simulated containers: each check takes a seeded latency on the clock and
    answers unhealthy while its container is inside one of its faults."""

    def __init__(self, clock: Clock, faults: dict[str, list[tuple[int, int]]], seed: int,
                 latency_ns: tuple[int, int] = (200_000, 3 * NS_PER_MS)) -> None:
        self.clock = clock
        self.faults = faults
        self.rng = random.Random(seed)
        self.latency_ns = latency_ns

    async def check(self, container_id: str) -> bool:
        await self.clock.sleep(self.rng.randrange(*self.latency_ns))
        now = self.clock.timestamp_ns()
        return not any(down <= now < up for down, up in self.faults.get(container_id, ()))


def simulate_checks(seed: int = 1, containers: int = 20, duration_ns: int = 120 * NS_PER_S,
                    interval_ns: int = NS_PER_S, faults_per_container: int = 3) -> dict:
    """Run the checker in virtual time; returns the summary and a digest of every record."""
    clock = TestClock(1_700_000_000 * NS_PER_S)
    start = clock.timestamp_ns()
    rng = random.Random(seed)
    ids = [f"c{i:04d}" for i in range(containers)]
    faults = {cid: seeded_faults(rng.randrange(1 << 30), start + 2 * interval_ns, start + duration_ns,
                                 5 * interval_ns, faults_per_container) for cid in ids}
    probe = SimulatedEndpoints(clock, faults, seed)
    checker = ContainerHealthChecker(probe, clock=clock, interval_ns=interval_ns, timeout_ns=interval_ns // 2)

    async def main() -> None:
        for cid in ids:
            checker.add(cid, offset_ns=rng.randrange(interval_ns))
        await clock.sleep(duration_ns)
        await checker.stop()

    run_virtual(main(), clock)
    h = hashlib.sha256()
    for c in checker.checks:
        h.update(f"{c.container},{c.due_ns},{c.start_ns},{c.end_ns},{c.answered},{c.healthy};".encode())
    for t in checker.transitions:
        h.update(f"{t.container},{t.healthy},{t.at_ns};".encode())
    scheduled = on_time_count = 0
    latencies: list[int] = []
    for cid in ids:
        mine = [c for c in checker.checks if c.container == cid]
        ot = on_time(mine, checker.origins[cid], interval_ns, start + duration_ns - interval_ns)
        scheduled += ot.scheduled
        on_time_count += ot.on_time
        det = detection([t for t in checker.transitions if t.container == cid], faults[cid], interval_ns)
        latencies += det.latencies_ns
    return {
        "checks": len(checker.checks),
        "transitions": len(checker.transitions),
        "scheduled": scheduled,
        "on_time": on_time_count,
        "detect_latency_max_ns": max(latencies) if latencies else None,
        "digest": h.hexdigest(),
    }
