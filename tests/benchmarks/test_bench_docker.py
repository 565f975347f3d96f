"""Container family benchmarks (issue 15), both builds.

- Checker CPU per container per check at 10, 100 and 1,000 checked containers, real time (the
  round's wall time is fixed by design; compare ``extra_info["cpu_per_check_ns"]``). 1,000
  containers are modelled as 1,000 check schedules with a probe that answers at once (NullProbe):
  the figure is the checker's own cost (timers or sleeping tasks, timeouts, records), not the
  probe's I/O, which is the same in both builds. ``clockbench run`` repeats it next to the real
  engine soaks (harness/measure/docker.py).
- Container start-to-healthy through each build's lifecycle (readiness gate) on a private engine.
"""

from __future__ import annotations

import asyncio

import pytest

from core.docker.records import NS_PER_MS, NS_PER_S
from harness.measure.docker import checker_cpu


@pytest.mark.parametrize("n", [10, 100, 1000])
@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_checker_cpu_per_check(benchmark, build: str, n: int) -> None:
    duration = NS_PER_S if benchmark.disabled else 3 * NS_PER_S
    size = min(n, 100) if benchmark.disabled else n
    benchmark.group = f"docker.checker_cpu[{n}]"
    benchmark.extra_info["build"] = build
    figures = benchmark.pedantic(checker_cpu, args=(build, size), kwargs={"duration_ns": duration},
                                 rounds=1, iterations=1)
    benchmark.extra_info["note"] = "wall time is fixed; compare extra_info cpu_per_check_ns"
    benchmark.extra_info.update(figures)
    assert figures["checks"] > 0 and figures["answered"] == figures["checks"]
    assert figures["cpu_per_check_ns"] > 0


@pytest.mark.parametrize("build", ["clocked", "baseline"])
def test_start_to_healthy(benchmark, build: str, docker_engine) -> None:
    from core.docker.adapters import SdkEngine
    from harness.backends.docker_engine import create_health_payload
    from harness.ports import free_port

    client = docker_engine.client()
    engine = SdkEngine(client)

    def make():
        return (create_health_payload(client, free_port(), health_interval_ns=100 * NS_PER_MS, start=False).id,), {}

    def start(cid: str) -> int:
        if build == "clocked":
            from targets.clock import LiveClock
            from targets.docker import ContainerLifecycle

            lc = ContainerLifecycle(engine, clock=LiveClock(), **LIFECYCLE)
        else:
            from baselines.docker import ContainerLifecycle as BaselineLifecycle

            lc = BaselineLifecycle(engine, **LIFECYCLE)
        result = asyncio.run(lc.start(cid))
        assert result.ready, result
        return result.ready_ns - result.started_ns

    benchmark.group = "docker.start_to_healthy"
    benchmark.extra_info["build"] = build
    took = benchmark.pedantic(start, setup=make, rounds=1 if benchmark.disabled else 3, iterations=1)
    assert took > 0
    for c in client.containers.list(all=True, filters={"label": "clockbench=payload"}):
        c.remove(force=True)


LIFECYCLE = dict(ready_timeout_ns=30 * NS_PER_S, ready_poll_ns=20 * NS_PER_MS, stop_grace_ns=NS_PER_S,
                 backoff_base_ns=100 * NS_PER_MS, backoff_cap_ns=NS_PER_S)
