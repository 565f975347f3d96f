"""Real WebSocket clients against ``/ws/market``, split over processes: the peer's view of heartbeats.

``run(url, connections, ...)`` (the coordinator) starts ``processes`` client processes (the
open-files limit here is 20,000 per process and cannot be raised, so 10,000 connections need
several), waits until every client is connected, then tells all of them the measured window.
Each client records every heartbeat's arrival (``time.time_ns()``, the machine's wall clock, the
same the server stamps with) against the ``next_heartbeat`` the previous one promised, and acks
each heartbeat. Optional dead peers:

- ``stop_reading``: clients that, at a set instant inside the window, stop reading and acking
  (their socket stays open; the server can only learn it from the missing acks);
- ``vanish``: clients in a process of their own that is frozen with SIGSTOP at that instant (no
  read, no ack, no close frame, no FIN: a hung or partitioned host, as far as loopback allows),
  and killed after the run.

The server's own record of each close (``GET /api/v1/ws/closes`` on every worker) gives when each
dead peer was closed: detection time = close time - the instant it fell silent. The workers' CPU
and resident memory are sampled with psutil around the window and around the connecting.

A client process is ``python -m harness.wsload client ...``; it prints ``ready N`` when its N
clients are connected, reads ``go START END SILENT`` on stdin, and writes its logs as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from collections.abc import Callable
from typing import Any

from core.websocket.connection_controller import HEARTBEAT_ACK
from core.websocket.peer_view import PeerLog, summarize, view

NS = 1_000_000_000
MS = 1_000_000
CONNECT_CONCURRENCY = 50
BESIDE_LEAD_S = 6.0  # the orders load's head start: Locust takes a few seconds to start its users


# --- one client process ----------------------------------------------------------------------------


async def _client(url: str, cid: str, log: PeerLog, sem: asyncio.Semaphore, ready: list, silent: dict | None,
                  connected: asyncio.Event, total: int, failures: list) -> None:  # fmt: skip
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        async with sem:
            ws = await connect(f"{url}?client={cid}", compression=None, ping_interval=None, open_timeout=60,
                               close_timeout=2, max_queue=16)  # fmt: skip
            await ws.recv()  # welcome
    except Exception as exc:  # noqa: BLE001 - a failed connect is a figure, not a crash
        failures.append(f"{cid}: {type(exc).__name__}: {exc}"[:200])
        ready.append(cid)
        if len(ready) == total:
            connected.set()
        return
    log.opened_ns = time.time_ns()
    ready.append(cid)
    if len(ready) == total:
        connected.set()
    add = log.beats.append
    now = time.time_ns
    try:
        while True:
            if silent is not None and silent.get("at") is not None:
                # stop reading and acking at the silent instant: the socket stays open
                await asyncio.sleep(max(0, silent["at"] - now()) / NS)
                silent["since"] = now()
                await silent["release"].wait()
                return
            raw = await ws.recv()
            arrived = now()
            if raw.startswith('{"type": "heartbeat"'):
                msg = json.loads(raw)
                add((arrived, msg["next_heartbeat"]))
                await ws.send(HEARTBEAT_ACK)
    except ConnectionClosed as exc:
        log.closed_ns = now()
        rcvd = exc.rcvd
        log.close_code = rcvd.code if rcvd is not None else 1006
        log.close_reason = rcvd.reason if rcvd is not None else "no close frame"
    except asyncio.CancelledError:
        pass
    finally:
        if silent is not None:
            ws.transport.abort()  # a dead peer sends no close frame
        else:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except BaseException:  # noqa: BLE001 - closing at the end of the run, whatever happens
                ws.transport.abort()


async def _loop_lag(start: int, end: int, out: list[int]) -> None:
    """This client process's own event-loop lag over the window: how late a 50 ms sleep wakes.
    A client that does not run cannot see a heartbeat arrive, so a large lag voids its view."""
    await asyncio.sleep(max(0, start - time.time_ns()) / NS)
    while time.time_ns() < end:
        t0 = time.monotonic_ns()
        await asyncio.sleep(0.05)
        out.append(time.monotonic_ns() - t0 - 50 * MS)


async def _client_process(args: argparse.Namespace) -> dict:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    logs = [PeerLog(f"{args.prefix}-{i}") for i in range(args.n)]
    silent = [{"at": None, "since": None, "release": asyncio.Event()} for _ in range(args.stop_reading)]
    ready: list[str] = []
    failures: list[str] = []
    connected = asyncio.Event()
    t0 = time.time_ns()
    tasks = [
        asyncio.create_task(_client(args.url, log.conn, log, sem, ready, silent[i] if i < len(silent) else None,
                                    connected, args.n, failures))  # fmt: skip
        for i, log in enumerate(logs)
    ]
    await connected.wait()
    connect_s = (time.time_ns() - t0) / NS
    print(f"ready {args.n - len(failures)} {len(failures)}", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    parts = line.split()
    if len(parts) != 4 or parts[0] != "go":
        raise SystemExit(f"harness.wsload client: expected 'go START END SILENT' on stdin, got {line!r}")
    start, end, silent_at = (int(p) for p in parts[1:])
    for s in silent:
        s["at"] = silent_at
    lag: list[int] = []
    monitor = asyncio.create_task(_loop_lag(start, end, lag))
    # run until the window's end plus the settle the coordinator asked for, then stop
    await asyncio.sleep(max(0, end + args.settle_ms * MS - time.time_ns()) / NS)
    for s in silent:
        s["release"].set()
    monitor.cancel()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, monitor, return_exceptions=True)
    return {
        "loop_lag_ns": lag,
        "prefix": args.prefix, "connections": args.n, "connect_failures": failures, "connect_s": connect_s,
        "window": [start, end], "silent": [{"client": logs[i].conn, "since_ns": s["since"]} for i, s in enumerate(silent)],
        "logs": [[log.conn, log.opened_ns, log.closed_ns, log.close_code, log.close_reason,
                  [b for beat in log.beats for b in beat]] for log in logs],
    }  # fmt: skip


def _client_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.wsload client")
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--stop-reading", type=int, default=0)
    p.add_argument("--settle-ms", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    result = asyncio.run(_client_process(args))
    args.out.write_text(json.dumps(result))
    return 0


# --- the coordinator ---------------------------------------------------------------------------------


def _logs_from(result: dict) -> list[PeerLog]:
    out = []
    for conn, opened, closed, code, reason, flat in result["logs"]:
        log = PeerLog(conn, opened_ns=opened, closed_ns=closed, close_code=code, close_reason=reason)
        # the client keeps (arrived, promised); the judge's triple wants a timestamp it does not use
        log.beats = [(flat[i], 0, flat[i + 1]) for i in range(0, len(flat), 2)]
        out.append(log)
    return out


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _proc_sample(pids: list[int]) -> tuple[float, int]:
    """(CPU seconds, resident bytes) summed over ``pids``."""
    import psutil

    cpu, rss = 0.0, 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            t = p.cpu_times()
            cpu += t.user + t.system
            rss += p.memory_info().rss
        except psutil.Error:
            pass
    return cpu, rss


def settle_after_window_ms(window_s: float, peer_timeout_ns: int, grace_ns: int, dead_peers: bool) -> int:
    """How long the clients stay after the window (pure): long enough for the last heartbeat promised
    in it (``grace_ns``) and for the dead peers, silent from a third into the window, to be closed by
    the server (peer timeout + grace + 1.5 s after falling silent). Counted from the window's end
    instead of from their silence, it kept every build's clients 5.5 s longer in --quick."""
    live = grace_ns // MS + 1000
    if not dead_peers:
        return live
    after_silence = (peer_timeout_ns + grace_ns) // MS + 1500
    return max(live, after_silence - int(window_s * 1000) + int(window_s * 1000) // 3)


def lateness_by_window(logs: list[PeerLog], window: tuple[int, int], grace_ns: int, windows: int) -> list[list[int]]:
    """The lateness of every heartbeat promised in ``window`` (as ``view`` counts them: promise in
    [start, end - grace], the next heartbeat's arrival minus it), split by its promise into ``windows``
    equal sub-windows, each sorted (pure). Together they are exactly the window's lateness values."""
    start, end = window
    if windows < 1:
        raise ValueError(f"windows must be >= 1, got {windows}")
    span = end - grace_ns - start + 1
    if span <= 0:
        raise ValueError(f"window {window} is shorter than the grace {grace_ns}")
    out: list[list[int]] = [[] for _ in range(windows)]
    for log in logs:
        beats = sorted(log.beats)
        for i in range(len(beats) - 1):
            promise = beats[i][2]
            if start <= promise <= end - grace_ns:
                out[(promise - start) * windows // span].append(beats[i + 1][0] - promise)
    return [sorted(w) for w in out]


def run(
    url: str,
    worker_urls: list[str],
    server_pids: list[int],
    connections: int,
    *,
    processes: int = 4,
    window_s: float = 10.0,
    grace_ns: int,
    peer_timeout_ns: int,
    stop_reading: int = 0,
    vanish: int = 0,
    out: Path,
    log: Any = print,
    beside: Any = None,
    windows: int = 1,
    start_at: Callable[[int], int] | None = None,
) -> dict:
    """Connect ``connections`` clients over ``processes`` processes, measure a window, return figures.

    ``beside()`` (optional, e.g. the orders load) is started with the client processes, so its own
    start-up overlaps their connecting; the window opens once every client is connected and it has
    run ``BESIDE_LEAD_S``. It must return an object with ``stop()``, called at the window's end.
    ``windows``: the lateness is also given split into that many equal sub-windows of the window
    (``lateness_by_window``, by promise). ``start_at(earliest_ns)`` (optional) returns when the window
    opens, no earlier than ``earliest_ns``: coordinators of several stacks agree there on one window."""
    out.mkdir(parents=True, exist_ok=True)
    ws_url = url.replace("http://", "ws://").rstrip("/") + "/ws/market"
    if connections < processes:
        processes = max(1, connections)
    share = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    settle_ms = settle_after_window_ms(window_s, peer_timeout_ns, grace_ns, bool(stop_reading or vanish))
    cpu_idle, rss_idle = _proc_sample(server_pids)
    time.sleep(1.0)  # the workers' CPU with no WebSocket at all, subtracted from the window's
    idle_rate = _proc_sample(server_pids)[0] - cpu_idle
    cpu_idle += idle_rate
    specs = [(f"p{i}", n, stop_reading if i == 0 else 0) for i, n in enumerate(share)]
    if vanish:
        specs.append(("vanish", vanish, 0))
    procs = []
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    for prefix, n, silent in specs:
        cmd = [sys.executable, "-m", "harness.wsload", "client", "--url", ws_url, "--n", str(n), "--prefix", prefix,
               "--stop-reading", str(silent), "--settle-ms", str(settle_ms), "--out", str(out / f"clients-{prefix}.json")]  # fmt: skip
        procs.append((prefix, subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)))
    failures = 0
    companion = None
    try:
        companion = beside() if beside is not None else None
        lead_until = time.time_ns() + int(BESIDE_LEAD_S * NS)
        for prefix, proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            if not line or line[0] != "ready":
                raise RuntimeError(f"client process {prefix} did not connect (exit {proc.poll()})")
            failures += int(line[2])
        connect_s = time.monotonic() - t0
        log(f"    {connections + vanish} WebSocket clients in {len(procs)} processes connected in {connect_s:.1f}s"
            f" ({failures} failed)")
        cpu_conn, rss_conn = _proc_sample(server_pids)
        # the load beside has had a few seconds to reach its users before the window
        start = max(time.time_ns() + 500 * MS, lead_until if companion is not None else 0)
        if start_at is not None:
            start = max(start, start_at(start))
        end = start + int(window_s * NS)
        silent_at = start + (end - start) // 3 if (stop_reading or vanish) else end
        for _, proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"go {start} {end} {silent_at}\n")
            proc.stdin.flush()
        time.sleep(max(0, start - time.time_ns()) / NS)
        cpu0, _ = _proc_sample(server_pids)
        load_start = os.getloadavg()[0]
        vanished = None
        if vanish:
            time.sleep(max(0, silent_at - time.time_ns()) / NS)
            vanished = procs[-1][1]
            vanished.send_signal(signal.SIGSTOP)
            vanish_at = time.time_ns()
        time.sleep(max(0, end - time.time_ns()) / NS)
        cpu1, rss_window = _proc_sample(server_pids)
        load_end = os.getloadavg()[0]
        if companion is not None:
            companion.stop()
            companion = None
        time.sleep(max(0, end + settle_ms * MS - time.time_ns()) / NS)
        closes = []
        for w in worker_urls:
            closes += _get_json(w.rstrip("/") + "/api/v1/ws/closes")["closes"]
        if vanished is not None:
            vanished.send_signal(signal.SIGCONT)  # thawed after the closes were read: it writes its logs
        results = []
        for prefix, proc in procs:
            if proc.wait(timeout=120) != 0:
                raise RuntimeError(f"client process {prefix} failed (exit {proc.returncode})")
            results.append(json.loads((out / f"clients-{prefix}.json").read_text()))
    finally:
        if companion is not None:
            companion.stop()
        for _, proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # each dead peer: the instant it fell silent (stopped reading, or frozen)
    silent_ids = {sp["client"]: sp["since_ns"] for r in results for sp in r["silent"]}
    if vanish:
        silent_ids.update({f"vanish-{i}": vanish_at for i in range(vanish)})
    all_logs = {lg.conn: lg for r in results for lg in _logs_from(r)}
    live_logs = [lg for cid, lg in all_logs.items() if cid not in silent_ids]
    figures = summarize(live_logs, (start, end), grace_ns)
    views = [view(lg, (start, end), grace_ns) for lg in live_logs]
    lateness = sorted(x for v in views for x in v.lateness_ns)
    false_disconnects = sum(1 for lg in live_logs if lg.closed_ns is not None and lg.closed_ns <= end + settle_ms * MS)
    closed_by_server = {c["client"]: c for c in closes}
    detect, over_deadline, undetected, gone_before = [], [], [], []
    for cid, since in sorted(silent_ids.items()):
        c = closed_by_server.get(cid)
        lg = all_logs.get(cid)
        if lg is not None and lg.closed_ns is not None and (since is None or lg.closed_ns <= since):
            gone_before.append(cid)  # its connection had already ended before it was to fall silent
            continue
        if c is None or since is None or lg is None:
            undetected.append(cid)
            continue
        # its last sign of life: the ack sent on the last heartbeat it read before falling silent
        last = max((b[0] for b in lg.beats if b[0] <= since), default=lg.opened_ns or since)
        detect.append(c["closed_ns"] - last)
        over_deadline.append(c["closed_ns"] - last - peer_timeout_ns)
    n_live = len(live_logs)
    lags = sorted(x for r in results for x in r.get("loop_lag_ns", []))
    beats = figures["heartbeats_due"] or 1
    return {
        **figures,
        "requested": connections,
        "processes": len(procs),
        "connect_failures": failures,
        "connect_s": connect_s,
        "false_disconnects": false_disconnects,
        "close_codes": sorted({lg.close_code for lg in live_logs if lg.close_code is not None}),
        "lateness_ns": lateness,
        "lateness_by_window": lateness_by_window(live_logs, (start, end), grace_ns, windows),
        "window_bounds_ns": [start, end],
        "stable_flags": [int(v.stable) for v in views],
        "per_conn_on_time": [1_000_000 * v.on_time // v.due if v.due else 0 for v in views],
        "dead_peers": len(silent_ids),
        "dead_peer_detect_ns": detect,
        "dead_peer_over_deadline_ns": over_deadline,
        "dead_peers_not_closed": undetected,
        "dead_peers_gone_before_silence": gone_before,
        "peer_timeout_ns": peer_timeout_ns,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_idle_per_s": idle_rate,
        "server_cpu_ns_per_conn_beat": int(max(0.0, cpu1 - cpu0 - idle_rate * window_s) * NS / beats) if n_live else None,
        "server_rss_idle": rss_idle,
        "server_rss_connected": rss_conn,
        "server_rss_per_conn": (rss_conn - rss_idle) // max(1, connections + vanish - failures),
        "server_cpu_connecting_s": cpu_conn - cpu_idle,
        "server_rss_window_end": rss_window,
        "window_s": window_s,
        "settle_ms": settle_ms,
        "machine_load_1min": [load_start, load_end],
        "client_loop_lag_p99_ns": lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else None,
        "client_loop_lag_max_ns": lags[-1] if lags else None,  # runnable processes: above the CPU count, all share
    }


def describe(fig: dict) -> str:
    """One line of the figures for progress output."""
    ms = lambda v: "-" if v is None else f"{v / MS:.1f}ms"  # noqa: E731
    det = sorted(fig["dead_peer_detect_ns"])
    return (f"{fig['connections']} live conns: stable {fig['stable']}/{fig['connections']}, heartbeats on time "
            f"{fig['heartbeats_on_time']}/{fig['heartbeats_due']}, lateness p50 {ms(fig['lateness_p50_ns'])} "
            f"p99 {ms(fig['lateness_p99_ns'])} max {ms(fig['lateness_max_ns'])}, false disconnects "
            f"{fig['false_disconnects']}, dead peers closed {len(det)}/{fig['dead_peers'] - len(fig['dead_peers_gone_before_silence'])} "
            f"(max {ms(det[-1] if det else None)} after their last ack; timeout {ms(fig['peer_timeout_ns'])}), server CPU "
            f"{fig['server_cpu_ns_per_conn_beat'] or 0:,} ns/conn/beat, RSS {fig['server_rss_per_conn']:,} B/conn, "
            f"machine load {fig['machine_load_1min'][1]:.1f} on {os.cpu_count()} CPUs, client loop lag p99 "
            f"{ms(fig['client_loop_lag_p99_ns'])}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        raise SystemExit(_client_main(sys.argv[2:]))
    print("usage: python -m harness.wsload client --url WS_URL --n N --prefix P --out FILE", file=sys.stderr)
    raise SystemExit(2)
