"""WebSocket measurements: the Clock's heartbeat timers in-process, and stability on real connections.

``heartbeats`` (for the FD-HEARTBEAT-* goals, through the ``sims`` producer): harness/heartbeats.py's
LiveClock coarse timers against asyncio sleep loops; per repeat: CPU per wall second, beats missing,
p99 lateness, the share of due beats delivered.

``produce`` (the ``websocket`` producer, for PM-/SC2-WEBSOCKET-STABILITY and EI-WEBSOCKET): real
connections per build, as ``connections`` below describes.

For each build (order alternating with the repeat), a stack (two uvicorn workers behind nginx, on
the run's PostgreSQL and Redis) and ``harness/wsload.py``'s clients through nginx: every live
client's view of every heartbeat over a measured window, dead peers (two that stop reading, two
frozen), and the worker's CPU and memory. A light orders load (Locust ``orders`` profile) runs
beside the window so the heartbeats share the service with its real work.

Records (metric, unit, one value per ...):
- ``ws.stable_share`` ppm, per live connection: 1,000,000 if stable over the window, else 0
  (stable: never closed, every heartbeat promised in the window arrived before the client's
  timeout, the promise plus half an interval; see core/websocket/peer_view.py);
- ``ws.heartbeat.on_time_share`` ppm, per live connection: its heartbeats on time over those due;
- ``ws.heartbeat.lateness`` ns, per heartbeat: arrival minus the promised ``next_heartbeat``
  (an even subsample of the sorted values when there are more than 20,000; exact p50/p99/max in
  ``extra``);
- ``ws.false_disconnects`` count: live clients closed by anyone during the window and settle;
- ``ws.dead_peer.detect`` ns, per dead peer: its close by the server minus its last ack;
- ``ws.server.cpu_per_conn_beat`` ns/op and ``ws.server.rss_per_conn`` bytes: the worker's CPU in
  the window (minus its idle rate) per heartbeat due, and its resident memory added per connection.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

from harness import results
from harness.builds import BUILDS
from harness.results import MetricRecord

from . import Context, Log, OrdersLoad, StartFailed, Unavailable, alternate, enter_all

MS = 1_000_000
MAX_SAMPLES = 20_000

# quick: a minute for both builds; full: the 10,000 connections (about 2-3 minutes per build).
PLAN = {
    True: {"connections": 1_000, "processes": 2, "window_s": 10.0, "repeats": 1, "nginx_workers": 2, "orders_users": 5},
    False: {"connections": 10_000, "processes": 4, "window_s": 30.0, "repeats": 1, "nginx_workers": 4, "orders_users": 10},
}
HEARTBEAT_MS = 1_000
PEER_TIMEOUT_MS = 5_000  # five heartbeats: a client process starved for a second or two is not dead
WORKERS = 2  # uvicorn workers behind nginx, as the stack runs for the load tests
GRACE_NS = HEARTBEAT_MS * MS // 2  # the client's timeout: the promise plus half an interval
MAX_CLIENT_LAG_NS = GRACE_NS // 2  # beyond it the clients, not the server, decide what is late


def _subsample(sorted_values: list[int]) -> list[int]:
    if len(sorted_values) <= MAX_SAMPLES:
        return sorted_values
    step = len(sorted_values) / MAX_SAMPLES
    return [sorted_values[int(i * step)] for i in range(MAX_SAMPLES)]


# Plain HTTP requests a worker must still take beside the plan's WebSocket connections: the orders load
# beside them and the measure's own reads (/api/v1/ws/closes).
HTTP_HEADROOM = 2_000


def stack_args(plan: dict) -> list[str]:
    """The service's arguments for the plan (pure). ``--limit-concurrency`` counts open WebSocket
    connections too: at its default (2,000) a worker holding 5,000 of a full run's 10,000 clients
    refused every plain request with a 503, the measure's read of the closes included (the full run's
    websocket step failed so). Sized for every client on one worker, as nginx need not split them evenly."""
    return ["--heartbeat-ms", str(HEARTBEAT_MS), "--ws-peer-timeout-ms", str(PEER_TIMEOUT_MS),
            "--ws-idle-timeout-ms", "900000",  # no idle close: connecting 10,000 takes a minute or two
            "--limit-concurrency", str(plan["connections"] + HTTP_HEADROOM)]


def stack_for(build: str, plan: dict, out: Path) -> Any:
    """The build's stack as a context manager: two uvicorn workers behind nginx, sized for the plan."""
    from harness.stack import running

    args = stack_args(plan)
    return running(build=build, workers=WORKERS, nginx=True, service_args=args, run_dir=out / "stack",
                   nginx_worker_processes=plan["nginx_workers"], nginx_worker_connections=19_000,
                   write_pointer=False)  # fmt: skip


def measure_build(build: str, plan: dict, out: Path, log: Any, s: Any) -> dict:
    """One build's clients against its running stack ``s``."""
    from harness import wsload

    pids = [p.pid for p in s.state.processes if p.role.startswith("worker")]
    beside = None
    if plan["orders_users"]:
        def beside() -> OrdersLoad:  # stopped at the window's end; the limit only bounds a hung run
            return OrdersLoad(s.url, ["--users", str(plan["orders_users"]), "--duration", f"{plan['window_s'] + 180:g}"],
                              out / "orders")
    fig = wsload.run(s.url, s.worker_urls, pids, plan["connections"], processes=plan["processes"],
                     window_s=plan["window_s"], grace_ns=GRACE_NS, peer_timeout_ns=PEER_TIMEOUT_MS * MS,
                     stop_reading=2, vanish=2, out=out / "clients", log=log, beside=beside)  # fmt: skip
    fig["orders_beside"] = (out / "orders" / "load.log").exists()
    log(f"    {build}: " + wsload.describe(fig))
    return fig


def starved(fig: dict) -> str:
    """Why a build's client-side figures cannot be trusted, or "" (pure).

    The clients are the instrument: a client process whose event loop runs late sees heartbeats
    late (and acks them late, so the server closes it as dead) through no fault of the server. Like
    a saturated load generator, that makes the run INVALID rather than a verdict on the build."""
    lag = fig.get("client_loop_lag_p99_ns")
    if lag is None:
        return "the client processes recorded no event-loop lag"
    if lag > MAX_CLIENT_LAG_NS:
        load = fig.get("machine_load_1min") or [0, 0]
        return (f"the client processes were starved: event-loop lag p99 {lag / MS:.0f} ms > {MAX_CLIENT_LAG_NS / MS:.0f} ms "
                f"(machine load {max(load):.1f} on {os.cpu_count()} CPUs): the peers' view measures the machine")  # fmt: skip
    return ""


def records(figs: dict[str, dict], plan: dict) -> list[MetricRecord]:
    """Metric records from each build's figures (pure but for the CPU count in a reason)."""
    out: list[MetricRecord] = []
    for build, fig in figs.items():
        why = starved(fig)
        if why:
            extra = {k: v for k, v in fig.items() if k not in ("lateness_ns", "stable_flags", "per_conn_on_time")}
            for metric, unit in (("ws.stable_share", "ppm"), ("ws.heartbeat.on_time_share", "ppm"),
                                 ("ws.heartbeat.lateness", "ns"), ("ws.false_disconnects", "count")):
                out.append(results.invalid(metric, build, unit, why, "measure.websocket", **extra))
            out += [r for r in _records_of(build, fig, plan) if r.metric not in
                    ("ws.stable_share", "ws.heartbeat.on_time_share", "ws.heartbeat.lateness", "ws.false_disconnects")]
            continue
        out += _records_of(build, fig, plan)
    return out


def _records_of(build: str, fig: dict, plan: dict) -> list[MetricRecord]:
    out: list[MetricRecord] = []
    extra = {k: v for k, v in fig.items() if k not in ("lateness_ns", "stable_flags", "per_conn_on_time")}
    extra.update(heartbeat_interval_ns=HEARTBEAT_MS * MS, connections_requested=plan["connections"],
                 client_processes=plan["processes"])  # fmt: skip
    src = "measure.websocket"
    out.append(MetricRecord("ws.stable_share", build, "ppm", [1_000_000 * f for f in fig["stable_flags"]],
                            lower_is_better=False, source=src, extra=extra))  # fmt: skip
    out.append(MetricRecord("ws.heartbeat.on_time_share", build, "ppm", fig["per_conn_on_time"],
                            lower_is_better=False, source=src, extra={"connections": fig["connections"]}))  # fmt: skip
    out.append(MetricRecord("ws.heartbeat.lateness", build, "ns", _subsample(fig["lateness_ns"]), source=src,
                            extra={"heartbeats": len(fig["lateness_ns"]), "p50_ns": fig["lateness_p50_ns"],
                                   "p99_ns": fig["lateness_p99_ns"], "max_ns": fig["lateness_max_ns"]}))  # fmt: skip
    out.append(MetricRecord("ws.false_disconnects", build, "count", [fig["false_disconnects"]], source=src,
                            extra={"close_codes": fig["close_codes"]}))  # fmt: skip
    if fig["dead_peer_detect_ns"]:
        out.append(MetricRecord("ws.dead_peer.detect", build, "ns", fig["dead_peer_detect_ns"], source=src,
                                extra={"peer_timeout_ns": fig["peer_timeout_ns"],
                                       "not_closed": fig["dead_peers_not_closed"]}))  # fmt: skip
    if fig["server_cpu_ns_per_conn_beat"] is not None:
        out.append(MetricRecord("ws.server.cpu_per_conn_beat", build, "ns/op", [fig["server_cpu_ns_per_conn_beat"]],
                                source=src, extra={"server_cpu_s": fig["server_cpu_s"]}))  # fmt: skip
    out.append(MetricRecord("ws.server.rss_per_conn", build, "bytes", [max(0, fig["server_rss_per_conn"])],
                            source=src, extra={"rss_idle": fig["server_rss_idle"],
                                               "rss_connected": fig["server_rss_connected"]}))  # fmt: skip
    return out


def connections(out: Path, quick: bool, log: Any = print) -> list[MetricRecord]:
    """Both builds, alternating which goes first over the repeats; the records of the last repeat's
    figures pooled per build (connections and heartbeats of every repeat)."""
    plan = PLAN[quick]
    log(f"  websocket: {plan['connections']:,} real connections through nginx per build, {plan['window_s']:g} s window, "
        f"heartbeat {HEARTBEAT_MS} ms, peer timeout {PEER_TIMEOUT_MS} ms")  # fmt: skip
    figs: dict[str, dict] = {}
    for rep in range(plan["repeats"]):
        with contextlib.ExitStack() as es:
            try:  # both stacks at once (one after the other they spent most of it waiting); each idles
                # through the other's window, and both are stopped together after the pair
                stacks = enter_all(es, {b: functools.partial(stack_for, b, plan, out / f"{b}-{rep}") for b in BUILDS})
            except StartFailed as exc:
                raise exc.error from None
            for build in alternate(rep):
                fig = measure_build(build, plan, out / f"{build}-{rep}", log, stacks[build])
                merge(figs, build, fig)
    return records(figs, plan)


def merge(figs: dict[str, dict], build: str, fig: dict) -> None:
    """Pool a repeat's figures into the build's (connections and heartbeats of every repeat)."""
    if build in figs:
        prev = figs[build]
        for key in ("lateness_ns", "stable_flags", "per_conn_on_time", "dead_peer_detect_ns"):
            prev[key] = sorted(prev[key] + fig[key]) if key == "lateness_ns" else prev[key] + fig[key]
    else:
        figs[build] = fig


def produce(ctx: Context) -> list[MetricRecord]:
    """The ``websocket`` producer: real WebSocket clients through nginx against each build's stack."""
    if not any(m.startswith("ws.") for m in ctx.metrics):
        raise Unavailable("no selected criterion needs the WebSocket measurement")
    from harness.stack import StackError
    from harness.stack.nginx import find_nginx

    try:
        find_nginx()
    except StackError as exc:
        raise Unavailable(f"nginx is needed in front of the service: {exc}") from None
    return connections(ctx.out / "websocket", ctx.quick, ctx.log)


# --- heartbeats ---------------------------------------------------------------------------------


def heartbeats(quick: bool, log: Log = print) -> list[MetricRecord]:
    from harness.heartbeats import RUNS

    # 6 repeats: FD-HEARTBEAT-LATENESS is a median over repeats, and the order-statistic interval
    # of a median needs 6 values (harness/stats.py MIN_MEDIAN_N; 3 left it INCONCLUSIVE). The
    # quick window is 1.5 s (a 1 s interval: every timer beats at least once per repeat), so six
    # repeats cost about 9 s more than three of 2 s.
    n, wall_ns, repeats = (10_000, 1_500_000_000, 6) if quick else (10_000, 3_000_000_000, 6)
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
        # one value per repeat, the builds alternating which goes first: paired by repeat ("rounds")
        out.append(MetricRecord("sim.heartbeats.cpu", b, "ppm", [round(r["cpu_per_wall_s"] * 1e6) for r in rs],
                                kind="rounds", source="sims.heartbeats", extra=dict(extra, definition="CPU seconds per wall second, ppm")))
        out.append(MetricRecord("sim.heartbeats.beats_missing", b, "count", [int(r["beats_missing"]) for r in rs],
                                source="sims.heartbeats", extra=extra))
        p99 = [int(r["lateness_p99_ns"]) for r in rs if r["lateness_p99_ns"] is not None]
        if p99:
            out.append(MetricRecord("sim.heartbeats.lateness_p99", b, "ns", p99, kind="rounds" if len(p99) == len(rs) else "samples",
                                    source="sims.heartbeats", extra=extra))
        share = [round(1e6 * r["beats_delivered"] / r["beats_due"]) for r in rs if r["beats_due"]]
        if share:
            out.append(MetricRecord("sim.heartbeats.delivered_share", b, "ppm", share, lower_is_better=False,
                                    kind="rounds" if len(share) == len(rs) else "samples",
                                    source="sims.heartbeats", extra=extra))
    return out
