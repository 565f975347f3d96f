"""WebSocket measurement: heartbeats, harness/heartbeats.py's LiveClock coarse timers against asyncio
sleep loops; per repeat: CPU per wall second, beats missing, p99 lateness, the share of due beats
delivered."""

from __future__ import annotations

from harness.builds import BUILDS
from harness.results import MetricRecord

from . import Log, alternate


# --- heartbeats ---------------------------------------------------------------------------------


def heartbeats(quick: bool, log: Log = print) -> list[MetricRecord]:
    from harness.heartbeats import RUNS

    n, wall_ns, repeats = (10_000, 2_000_000_000, 3) if quick else (10_000, 3_000_000_000, 5)
    runs: dict[str, list[dict]] = {b: [] for b in BUILDS}
    for rep in range(repeats):
        for b in alternate(rep):
            runs[b].append(RUNS[b](n, duration_ns=wall_ns))
    tick = runs["clocked"][0].get("tick_ns")
    log(f"  heartbeats: {repeats} repeats x {n} heartbeats of 1s for {wall_ns / 1e9:g}s per build")
    out = []
    for b in BUILDS:
        rs = runs[b]
        extra = {"timers": n, "wall_s": wall_ns / 1e9, "repeats": repeats, "tick_ns": tick,
                 "runs": [{k: v for k, v in r.items()} for r in rs]}
        out.append(MetricRecord("sim.heartbeats.cpu", b, "ppm", [round(r["cpu_per_wall_s"] * 1e6) for r in rs],
                                source="sims.heartbeats", extra=dict(extra, definition="CPU seconds per wall second, ppm")))
        out.append(MetricRecord("sim.heartbeats.beats_missing", b, "count", [int(r["beats_missing"]) for r in rs],
                                source="sims.heartbeats", extra=extra))
        p99 = [int(r["lateness_p99_ns"]) for r in rs if r["lateness_p99_ns"] is not None]
        if p99:
            out.append(MetricRecord("sim.heartbeats.lateness_p99", b, "ns", p99, source="sims.heartbeats", extra=extra))
        share = [round(1e6 * r["beats_delivered"] / r["beats_due"]) for r in rs if r["beats_due"]]
        if share:
            out.append(MetricRecord("sim.heartbeats.delivered_share", b, "ppm", share, lower_is_better=False,
                                    source="sims.heartbeats", extra=extra))
    return out
