"""One monitored worker: an ASGI app on uvicorn serving ``/metrics`` from one build's collector,
with the stack's figures as its source and, optionally, a busy event loop.

    python -m harness.measure.monitoring_worker --build clocked --port 9101 --busy-ms 20

The source reads the worker's figures (orders by state, order latency quantiles, positions,
heartbeats sent, open connections: a small seeded random walk standing in for the stack's state)
and the *probe*: ``clockbench_monitor_value_taken_seconds``, the wall time (``time.time_ns()``, the
harness's reading, the same for both builds) at which the figures were read. Prometheus stores the
probe like any figure, so at the consumer each sample's stored timestamp can be compared with the
instant its value was really taken.

The busy loop stands in for request handling on the same event loop: CPU bursts of 0..busy_ms
(uniform, seeded), each followed by a pause of 0..idle_ms, so timers and sleeps wake late as they
do in a loaded service.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from core.monitoring.figures import Figure

STATES = ("new", "open", "partially_filled", "filled", "cancelled")
PROBE = "clockbench_monitor_value_taken_seconds"


class StackFigures:
    """The figures source: a seeded random walk over the stack's figures, plus the probe."""

    def __init__(self, seed: int = 7, instruments: int = 8, extra_series: int = 0) -> None:
        self.rng = random.Random(seed)
        self.orders = {s: 0 for s in STATES}
        self.positions = {f"SYM{i:03d}": 0 for i in range(instruments + extra_series)}
        self.heartbeats = 0
        self.connections = 10
        self.reads = 0

    def step(self) -> None:
        rng = self.rng
        self.orders[rng.choice(STATES)] += 1
        sym = rng.choice(list(self.positions))
        self.positions[sym] += rng.choice((-100, 100))
        self.heartbeats += self.connections
        self.connections = max(0, self.connections + rng.choice((-1, 0, 1)))

    def __call__(self) -> Sequence[Figure]:
        taken = time.time_ns()  # the probe: when these values were read
        self.reads += 1
        figs = [Figure(PROBE, "Wall time at which this collection read the figures (measurement probe)", (),
                       taken / 1e9)]
        figs += [Figure("clockbench_stack_orders", "Orders held, by state", (("state", s),), float(n))
                 for s, n in self.orders.items()]
        figs += [Figure("clockbench_stack_order_latency_seconds", "Order latency quantiles", (("quantile", q),), v)
                 for q, v in (("0.5", 0.00025), ("0.99", 0.0012))]
        figs += [Figure("clockbench_stack_position", "Net position, by instrument", (("instrument", s),), float(q))
                 for s, q in self.positions.items()]
        figs.append(Figure("clockbench_stack_heartbeats_total", "Heartbeats sent", (), float(self.heartbeats), "counter"))
        figs.append(Figure("clockbench_stack_connections", "Open connections", (), float(self.connections)))
        return figs


def build_monitoring(build: str, source: Any, interval_ns: int) -> tuple[Any, Any]:
    """(collector, sync) of one build (through harness.builds), the collector attached to the sync."""
    from harness import builds
    from harness.measure import live_clock

    clock = live_clock(build)
    collector = builds.make("monitoring", build, clock=clock, source=source, interval_ns=interval_ns)
    sync = builds.make("monitoring_sync", build, clock=clock, interval_ns=interval_ns)
    sync.attach_collector(collector)
    return collector, sync


async def busy_loop(rng: random.Random, busy_ms: float, idle_ms: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        end = time.perf_counter() + rng.uniform(0, busy_ms) / 1e3
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(rng.uniform(0, idle_ms) / 1e3)


def make_app(build: str, interval_ns: int, seed: int, busy_ms: float, idle_ms: float, extra_series: int) -> Any:
    figures = StackFigures(seed, extra_series=extra_series)
    state: dict[str, Any] = {}

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    collector, sync = build_monitoring(build, figures, interval_ns)
                    collector.start()
                    stop = asyncio.Event()
                    tasks = [asyncio.create_task(_stepper(figures, stop))]
                    if busy_ms > 0:
                        tasks.append(asyncio.create_task(busy_loop(random.Random(seed + 1), busy_ms, idle_ms, stop)))
                    state.update(collector=collector, sync=sync, stop=stop, tasks=tasks)
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    state["stop"].set()
                    state["collector"].stop()
                    for t in state["tasks"]:
                        t.cancel()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics":
            body = state["collector"].expose()
            ctype = b"text/plain; version=0.0.4; charset=utf-8"
            status = 200
        elif scope["path"] == "/health":
            body, ctype, status = b'{"status":"ok"}', b"application/json", 200
        else:
            body, ctype, status = b'{"error":"not found"}', b"application/json", 404
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
        await send({"type": "http.response.body", "body": body})

    return app


async def _stepper(figures: StackFigures, stop: asyncio.Event) -> None:
    """The stack's state moves on its own, 20 times a second."""
    while not stop.is_set():
        figures.step()
        await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="a monitored worker: /metrics from one build's collector")
    p.add_argument("--build", choices=("clocked", "baseline"), required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--interval-ms", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--busy-ms", type=float, default=0.0, help="CPU burst length bound (0: no busy loop)")
    p.add_argument("--idle-ms", type=float, default=10.0, help="pause between bursts, bound")
    p.add_argument("--extra-series", type=int, default=0, help="more position series (to reach N series)")
    a = p.parse_args(argv)
    import uvicorn

    app = make_app(a.build, a.interval_ms * 1_000_000, a.seed, a.busy_ms, a.idle_ms, a.extra_series)
    uvicorn.run(app, host=a.host, port=a.port, log_level="warning", lifespan="on", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
