"""The real-time producer (``sims``): EMS slice lateness (``orders``), the connection tracker
(``load_balancing``) and the heartbeats (``websocket``), each build on a fresh asyncio loop, in
alternating order over repeats, on real time: nothing is simulated except the load pattern.
"""

from __future__ import annotations

from harness import results

from . import Context, Unavailable

def produce(ctx: Context) -> list[results.MetricRecord]:
    """EMS slice lateness, the connection tracker and the heartbeats, on real time."""
    from . import load_balancing, orders, websocket

    jobs = [("sim.ems", orders.ems_slice_lateness), ("bench.lb.connection_tracker", load_balancing.connection_tracker),
            ("sim.lb", load_balancing.connection_tracker), ("sim.heartbeats", websocket.heartbeats)]
    out: list[results.MetricRecord] = []
    done = set()
    for prefix, fn in jobs:
        if fn in done or not any(m == prefix or m.startswith(prefix + ".") for m in ctx.metrics):
            continue
        done.add(fn)
        out += fn(ctx.quick, ctx.log)
    if not done:
        raise Unavailable("no selected criterion needs a real-time simulation")
    return out
